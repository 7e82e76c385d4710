"""Pilot tests of the duplicates screen: opened with D on the contacts screen and from the palette,
pairs with why and the score, the selected pair side by side, merging after a confirmation whose
default is Cancel, swapping which contact is kept, and marking a pair as two people."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from plntui.dedupe import not_duplicates, pair_key
from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.confirm import ConfirmDialog
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.duplicates import DuplicatesScreen
from tests.tui.test_contacts import wait_for
from tests.tui.test_screens import run_palette

SIZE = (100, 30)


@pytest.fixture
def twins(sample: Network, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sample's Ada again (the same e-mail written otherwise), Grace's phone written two
    ways, and two numbered people who are not one; the new ones are newer (a later second)."""
    later = itertools.count(1)
    monkeypatch.setattr("plntui.network.now_stamp", lambda: f"2100-01-01T00:00:{next(later):02d}Z")
    net = sample
    by_name = {c.label: c for c in net.contacts()}
    ada = by_name["Ada Lovelace"]
    grace = by_name["Grace Hopper"]
    net.edit("contacts", grace.id, {"phones": ["+1 555 010 0199"]})
    ada2 = net.add(
        "contacts",
        {
            "name": "Lovelace, Ada",
            "emails": ["ADA@example.com", "countess@example.org"],
            "org": "Analytical Engines Ltd",
            "role": "Countess",
            "topics": ["poetry"],
        },
    )
    grace2 = net.add("contacts", {"name": "Amazing Grace", "phones": ["(555) 010-0199"]})
    net.add("contacts", {"name": "Person 00663", "org": "Acme"})
    net.add("contacts", {"name": "Person 00566", "org": "Acme"})
    net.index().close()
    return {"ada": ada.id, "ada2": ada2.id, "grace": grace.id, "grace2": grace2.id}


def screen_of(app: PlntuiApp) -> DuplicatesScreen:
    screen = app.screen
    assert isinstance(screen, DuplicatesScreen)
    return screen


def rows(app: PlntuiApp) -> list[list[str]]:
    table = screen_of(app).table
    return [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]


def comparison(app: PlntuiApp) -> str:
    from rich.console import Console

    console = Console(width=100, record=True, color_system=None)
    match = screen_of(app).current
    assert match is not None
    console.print(screen_of(app).comparison(match))
    return console.export_text()


async def open_duplicates(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
    await pilot.press("D")
    await wait_for(pilot, lambda: isinstance(app.screen, DuplicatesScreen))
    await wait_for(pilot, lambda: screen_of(app).table.row_count > 0)


async def test_pairs_with_why_and_score_side_by_side(app: PlntuiApp, twins: dict[str, str]) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_duplicates(pilot)
        listed = rows(app)
        assert [r[1:3] for r in listed] == [
            ["Ada Lovelace", "Lovelace, Ada"],
            ["Grace Hopper", "Amazing Grace"],
        ]  # the older one kept; Person 00663 and Person 00566 are two people
        assert listed[0][0] == "100"
        assert listed[0][3].startswith("same e-mail ada@example.com; same name at Analytical")
        assert listed[1][3] == "same phone +1 555 010 0199 = (555) 010-0199"
        shown = comparison(app)
        assert "Keep (older)" in shown and "Merge away (newer)" in shown
        assert "Countess" in shown and "poetry" in shown and "Organisation" in shown
        summary = str(screen_of(app).query_one("#dup-summary").render())
        assert "2 pairs that may be one person" in summary
        await pilot.press("down")
        await pilot.pause()
        assert "same phone" in comparison(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))


async def test_merge_asks_first_and_cancel_is_the_default(
    app: PlntuiApp, twins: dict[str, str]
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_duplicates(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("enter")  # Enter out of habit: Cancel
        await wait_for(pilot, lambda: isinstance(app.screen, DuplicatesScreen))
        assert app.net is not None
        with app.net_lock:
            assert len(app.net.contacts()) == 7
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DuplicatesScreen))
        await wait_for(pilot, lambda: [r[1] for r in rows(app)] == ["Grace Hopper"])
        with app.net_lock:
            merged = app.net.get("contacts", twins["ada2"])
            assert merged.id == twins["ada"]  # the older one kept; the other's id finds it
            assert merged.values["emails"] == ["ada@example.com", "countess@example.org"]
            assert merged.values["role"] == "Countess"
            assert len(app.net.contacts()) == 6


async def test_swap_keeps_the_newer_one(app: PlntuiApp, twins: dict[str, str]) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_duplicates(pilot)
        await pilot.press("down", "s")
        await pilot.pause()
        assert rows(app)[1][1:3] == ["Amazing Grace", "Grace Hopper"]
        assert "Keep (newer)" in comparison(app)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        assert app.net is not None
        with app.net_lock:
            kept = app.net.get("contacts", twins["grace"])
        assert kept.id == twins["grace2"] and kept.label == "Amazing Grace"
        assert kept.values["org"] == "Navy"  # filled from the one merged away


async def test_two_people_are_not_listed_again(
    app: PlntuiApp, twins: dict[str, str], home: Path
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_duplicates(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        assert rows(app)[0][1] == "Grace Hopper"
        assert not_duplicates(home) == {pair_key(twins["ada"], twins["ada2"])}
        await pilot.press("escape")
        await pilot.pause()
        await open_duplicates(pilot)  # a new visit: still not listed
        assert [r[1] for r in rows(app)] == ["Grace Hopper"]
        await pilot.press("x")
        await wait_for(pilot, lambda: screen_of(app).table.row_count == 0)
        assert "No likely duplicates" in str(screen_of(app).query_one("#dup-summary").render())
        await pilot.press("u")  # takes the last mark back
        await wait_for(pilot, lambda: [r[1] for r in rows(app)] == ["Grace Hopper"])
    assert not_duplicates(home) == {pair_key(twins["ada"], twins["ada2"])}


async def test_the_palette_opens_duplicates(app: PlntuiApp, twins: dict[str, str]) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await pilot.press("2")
        await pilot.pause()
        await run_palette(pilot, "Duplicates")
        await wait_for(pilot, lambda: isinstance(app.screen, DuplicatesScreen))
        await wait_for(pilot, lambda: screen_of(app).table.row_count == 2)
