"""Pilot tests of who changed what in the app: the provenance line of the details, the by:
filter, and the What's new screen (listing, opening an item, marking seen)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from plntui import provenance
from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.whatsnew import WhatsNewScreen
from tests.tui.colleagues import exchange, share_circle

SIZE = (100, 30)


async def wait_for(pilot, condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def two_devices(tmp_path: Path) -> tuple[Network, Network, dict[str, str]]:
    alice = Network.create(tmp_path / "alice", "Alice")
    bob = Network.create(tmp_path / "bob", "Bob [b]")
    ada = alice.add("contacts", {"name": "Ada Lovelace"})
    alice.add("contacts", {"name": "Linus Torvalds"})
    circle = share_circle(alice, bob)
    bob.edit("contacts", ada.id, {"org": "Engines"})
    grace = bob.add("contacts", {"name": "Grace Hopper"}, circle=circle)
    note = bob.add("notes", {"title": "Compilers"}, circle=circle)
    exchange(bob, alice)
    alice.index().close()
    return alice, bob, {"ada": ada.id, "grace": grace.id, "note": note.id}


def rows(app: PlntuiApp) -> list[str]:
    return [row.record.label for row in app.screen.catalog.visible]  # type: ignore[attr-defined]


async def test_details_say_who_added_and_changed_and_by_filters(tmp_path: Path) -> None:
    alice, _bob, ids = two_devices(tmp_path)
    app = PlntuiApp(alice.profile.home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and rows(app))
        assert rows(app)[0] == "Ada Lovelace"
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "Added by Alice (" in detail and "changed by Bob [b] (" in detail
        assert "Added by (device)" not in detail
        await pilot.press("slash", *"by:bob")
        box = app.screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: box.value == "by:bob" and rows(app) == ["Grace Hopper"])
        app.screen.query_one("#filter", Input).value = "by:alice"
        await wait_for(pilot, lambda: rows(app) == ["Ada Lovelace", "Linus Torvalds"])
        await pilot.press("escape")
        await pilot.press("2")
        await wait_for(pilot, lambda: "Compilers" in rows(app))
        app.screen.show_item(ids["note"])  # type: ignore[attr-defined]
        await wait_for(
            pilot,
            lambda: "Added by Bob [b] (" in str(app.screen.query_one("#links", Static).render()),
        )


async def test_whats_new_lists_opens_and_marks_seen(tmp_path: Path) -> None:
    alice, _bob, ids = two_devices(tmp_path)
    home = alice.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, WhatsNewScreen) and rows(app))
        assert sorted(rows(app)) == ["Ada Lovelace", "Compilers", "Grace Hopper"]
        assert "3 changes by colleagues, ever" in str(app.screen.query_one("#since").render())
        cells = {row.record.label: row.cells for row in app.screen.catalog.visible}  # type: ignore[attr-defined]
        assert cells["Ada Lovelace"][1:4] == ("Bob [b]", "changed", "contact")
        assert cells["Compilers"][1:4] == ("Bob [b]", "added", "note")
        assert provenance.last_seen(alice.profile) == ""
        await pilot.press("m")
        await pilot.pause()
        assert provenance.last_seen(alice.profile) != ""
        assert provenance.whats_new(Network.open(home)) == []
        app.screen.table.cursor = rows(app).index("Grace Hopper")  # type: ignore[attr-defined]
        await pilot.press("enter")  # opens the contact
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: app.screen.table.current.id == ids["grace"])  # type: ignore[attr-defined]
        await pilot.press("5")  # back again: nothing new since the mark
        await wait_for(pilot, lambda: isinstance(app.screen, WhatsNewScreen))
        await wait_for(pilot, lambda: rows(app) == [])
        assert "0 changes by colleagues since" in str(app.screen.query_one("#since").render())


async def test_leaving_whats_new_marks_it_seen(tmp_path: Path) -> None:
    alice, _bob, _ids = two_devices(tmp_path)
    app = PlntuiApp(alice.profile.home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, WhatsNewScreen) and rows(app))
        assert provenance.last_seen(alice.profile) == ""
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        assert provenance.last_seen(alice.profile) != ""
