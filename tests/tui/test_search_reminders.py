"""Pilot tests of the search syntax typed into the app's filters (the same answer as ``plntui
search``), and of reminders and snoozing on the Follow-ups screen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from plntui import model
from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.snooze import SnoozeDialog
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.followups import FollowupsScreen
from plntui.tui.screens.notes import NotesScreen

SIZE = (110, 30)


async def wait_for(pilot: Any, condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def labels(app: PlntuiApp) -> list[str]:
    return [row.record.label for row in app.screen.catalog.visible]  # type: ignore[attr-defined]


def notifications(app: PlntuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def typed(pilot: Any, app: PlntuiApp, text: str, keys: bool = False) -> list[str]:
    """Put ``text`` in the filter (``keys``: typed key by key after clearing it, so that every
    prefix is filtered on the way) and return what the list keeps."""
    box = app.screen.query_one("#filter", Input)
    box.value = ""
    box.focus()
    await pilot.pause()
    if keys:
        await pilot.press(*text)
    else:
        box.value = text
    await pilot.pause()
    assert box.value == text
    return labels(app)


async def test_the_filter_takes_the_search_syntax(app: PlntuiApp, sample: Network) -> None:
    queries = {
        "rust": ["Ada Lovelace"],
        "org:navy": ["Grace Hopper"],
        "-org:navy": ["Ada Lovelace", "Linus Torvalds"],
        "topic:git": ["Linus Torvalds"],
        "co -cobol": ["Ada Lovelace"],  # Grace has cobol; Ada has ada@example.com
        "o -org:linux -rust": ["Grace Hopper"],
        '"analytical engines"': ["Ada Lovelace"],
        '"engines analytical"': [],
        "by:me -tag:x": ["Ada Lovelace", "Grace Hopper", "Linus Torvalds"],
        "-by:me": [],
        "lovelace -": ["Ada Lovelace"],  # still typing the word to leave out
    }
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ContactsScreen)
        await wait_for(pilot, lambda: len(labels(app)) == 3)
        for n, (query, expected) in enumerate(queries.items()):
            keys = n in (1, 5)  # typed: org:navy and "o -org:linux -rust", prefixes and all
            assert await typed(pilot, app, query, keys) == expected, query
            # plntui search keeps the same contacts
            searched = sample.search(query, None)["contacts"]
            if query.rstrip("- ") == query:
                assert sorted(r.label for r in searched) == expected, query
        await pilot.press("escape", "2")  # the notes' filter too
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen))
        await wait_for(pilot, lambda: len(labels(app)) == 2)
        await pilot.press("slash")
        assert await typed(pilot, app, "tag:rust") == ["Rust notes"]
        assert await typed(pilot, app, "-tag:rust") == ["Reading list"]
        assert await typed(pilot, app, "o -sicp", keys=True) == ["Rust notes"]


async def test_follow_ups_show_reminders_snooze_and_done(sample: Network, home: Path) -> None:
    today = model.today()
    grace = sample.search("hopper")["contacts"][0]
    sample.remind(grace.id, "today", "ask about COBOL")
    linus = sample.search("torvalds")["contacts"][0]
    sample.edit("contacts", linus.id, {"reminder": "send the patch"})  # a text reminder
    sample.index().close()
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        followups: Any = app.screen
        await wait_for(pilot, lambda: labels(app) == ["Ada Lovelace", "Grace Hopper"])
        columns = [c.key for c in followups.catalog.columns]
        cells = {row.record.label: row.cells for row in followups.catalog.visible}
        assert cells["Grace Hopper"][columns.index("due")] == "due today"
        assert cells["Grace Hopper"][columns.index("reminder")] == "ask about COBOL"
        assert cells["Ada Lovelace"][columns.index("cadence_days")] == "30 days"
        assert cells["Ada Lovelace"][columns.index("reminder")] == ""
        assert "1 overdue · 1 due today" in str(followups.query_one("#summary", Static).render())
        # z on Ada: how long, 7 days unless changed; Enter snoozes
        assert followups.table.current.label == "Ada Lovelace"
        assert not followups.check_action("done", ())  # no reminder: no x
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, SnoozeDialog))
        dialog = app.screen
        assert dialog.query_one("#when", Input).value == "7d"
        week = (today + dt.timedelta(days=7)).isoformat()
        assert week in str(dialog.query_one("#when-hint", Static).render())
        dialog.query_one("#when", Input).value = "someday"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SnoozeDialog)  # said why, beside the field
        assert "not a date" in str(dialog.query_one("#when-error", Static).render())
        dialog.query_one("#when", Input).value = "7d"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is followups)
        await wait_for(pilot, lambda: labels(app) == ["Grace Hopper"])
        assert f"Snoozed Ada Lovelace until {week}" in notifications(app)
        # x: Grace's reminder is done
        assert followups.check_action("done", ())
        await pilot.press("x")
        await wait_for(pilot, lambda: labels(app) == [])
        assert "Reminder done for Grace Hopper: ask about COBOL" in notifications(app)
    net = Network.open(home)
    assert net.get("contacts", grace.id).values.get("reminder") is None
    ada = net.search("lovelace")["contacts"][0]
    assert ada.values["reminder"] == week
    assert net.get("contacts", linus.id).values["reminder"] == "send the patch"


async def test_escape_leaves_the_follow_up_as_it_was(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        followups = app.screen
        await wait_for(pilot, lambda: labels(app) == ["Ada Lovelace"])
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, SnoozeDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is followups)
        await pilot.press("x")  # no reminder: nothing happens
        await pilot.pause()
        assert labels(app) == ["Ada Lovelace"]
    ada = Network.open(home).search("lovelace")["contacts"][0]
    assert "reminder" not in ada.values
