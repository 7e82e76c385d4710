"""Pilot tests of the lists read again when the network changes (``screens/_listread.py``): off
the UI thread, keeping the cursor and the filter, showing what another process added or deleted
under a filter, and an item added here shown once the list has it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.notes import NotesScreen

SIZE = (100, 30)


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], seconds: float = 10.0
) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def labels(app: PlntuiApp) -> list[str]:
    return [row.record.label for row in app.screen.catalog.visible]  # type: ignore[attr-defined]


def record_threads(screen: Any) -> list[str]:
    """Wrap the screen's ``_read_list``: the names of the threads each read ran on."""
    threads: list[str] = []
    read = screen._read_list

    def traced(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return read(*args, **kwargs)

    screen._read_list = traced
    return threads


async def test_a_change_elsewhere_reaches_a_filtered_list_read_off_the_ui_thread(
    app: PlntuiApp, home: Path
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        screen = app.screen
        assert isinstance(screen, ContactsScreen)
        await pilot.press("slash", "o")
        box = screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: box.value == "o")
        assert labels(app) == ["Ada Lovelace", "Grace Hopper", "Linus Torvalds"]
        await pilot.press("enter", "down")  # back in the list, on Grace Hopper
        await wait_for(pilot, lambda: screen.table.current.label == "Grace Hopper")  # type: ignore[union-attr]
        threads = record_threads(screen)
        other = Network.open(home)  # another process
        other.add("contacts", {"name": "Bob Kahn", "org": "DARPA"})
        linus = next(c for c in other.contacts() if c.label == "Linus Torvalds")
        other.remove("contacts", linus.id)
        other.add("contacts", {"name": "Tim Berners-Lee"})  # no "o": stays filtered out
        await wait_for(pilot, lambda: labels(app) == ["Ada Lovelace", "Bob Kahn", "Grace Hopper"])
        assert box.value == "o"
        assert screen.table.current.label == "Grace Hopper"  # type: ignore[union-attr]
        assert threads and threading.main_thread().name not in threads


async def test_typing_in_a_note_while_the_list_is_read_again_keeps_the_edit(
    app: PlntuiApp, home: Path
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        await pilot.press("enter")  # into the first note's body
        body = screen.query_one("#body", TextArea)
        await wait_for(pilot, lambda: body.has_focus)
        threads = record_threads(screen)
        body.move_cursor(body.document.end)
        await pilot.press(*"more")
        Network.open(home).add("notes", {"title": "Another note", "body": "x"})  # elsewhere
        await wait_for(pilot, lambda: "Another note" in labels(app))
        await wait_for(pilot, lambda: body.text == "# Books\n\n- SICP\nmore")
        assert body.has_focus and screen.table.current.label == "Reading list"  # type: ignore[union-attr]
        await wait_for(
            pilot,
            lambda: "more" in Network.open(home).get("notes", screen._note_id).values["body"],  # type: ignore[arg-type]
        )
        assert threads and threading.main_thread().name not in threads


async def test_a_note_added_here_opens_at_once_and_the_list_follows(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        await pilot.press("a")
        await pilot.press(*"Zebra facts", "enter")
        title = screen.query_one("#title", Input)
        body = screen.query_one("#body", TextArea)
        await wait_for(pilot, lambda: title.value == "Zebra facts" and body.has_focus)
        await wait_for(pilot, lambda: "Zebra facts" in labels(app))
        await wait_for(pilot, lambda: screen.table.current.label == "Zebra facts")  # type: ignore[union-attr]
        assert body.has_focus  # the list caught up without taking the focus
