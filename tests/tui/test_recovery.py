"""Pilot tests of history and recovery in the app: the history of a contact or note and
restoring a version (a confirmation whose default is Cancel, a refusal as a notification), the
trash screen, conflicts in the details and their chooser, held mass deletions on the Peers
screen (applied, refused, announced while the app syncs), undoing a revoked device, what's new
listing deletions, held batches and conflicts, and the help. A colleague's documents arrive
in-process (``tests.repo_helpers.copy_docs``) unless the test syncs for real."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, OptionList, Static, TextArea

from plntui.model import Record
from plntui.network import Network
from plntui.peersync import load_identity, open_trust
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.confirm import ConfirmDialog
from plntui.tui.dialogs.conflicts import ConflictDialog
from plntui.tui.dialogs.history import HistoryDialog
from plntui.tui.dialogs.undo import UndoDeviceDialog, UndoReportDialog
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.help import HelpScreen
from plntui.tui.screens.notes import NotesScreen
from plntui.tui.screens.peers import PeersScreen
from plntui.tui.screens.trash import TrashScreen
from plntui.tui.screens.whatsnew import WhatsNewScreen
from tests.repo_helpers import copy_docs, join
from tests.tui.test_app_sync import LOOPBACK, Peer, wait_until
from tests.tui.test_screens import run_palette

SIZE = (120, 36)


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


def notifications(app: PlntuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def shown(widget: Any) -> str:
    return str(widget.render())


def digests(home: Path) -> dict[str, str]:
    db = sqlite3.connect(f"file:{home / 'repo.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return dict(db.execute("SELECT id, digest FROM docs"))
    finally:
        db.close()


def fresh(home: Path, collection: str, item_id: str) -> Record:
    """The item as another process reads it now."""
    return Network.open(home).get(collection, item_id)  # type: ignore[arg-type]


def rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]


async def open_contacts(app: PlntuiApp, pilot: Pilot[None], listed: bool = True) -> ContactsScreen:
    """Wait for the contacts screen (and its rows, when ``listed``)."""
    await wait_for(
        pilot, lambda: isinstance(app.screen, ContactsScreen) and (labels(app) or not listed)
    )
    assert isinstance(app.screen, ContactsScreen)
    return app.screen


async def select_contact(pilot: Pilot[None], screen: ContactsScreen, label: str) -> None:
    screen.table.cursor = labels(screen.app).index(label)  # type: ignore[arg-type]
    await wait_for(pilot, lambda: screen.table.current is not None)
    await wait_for(pilot, lambda: screen.table.current.label == label)  # type: ignore[union-attr]


async def open_history(app: PlntuiApp, pilot: Pilot[None]) -> HistoryDialog:
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryDialog))
    dialog = app.screen
    assert isinstance(dialog, HistoryDialog)
    await wait_for(pilot, lambda: dialog.history is not None)
    return dialog


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Network, Network]:
    """Alice (the app's profile) and Bob, members of each other's default circle."""
    a = Network.create(tmp_path / "alice", "Alice")
    b = Network.create(tmp_path / "bob", "Bob")
    join(a, b)
    return a, b


# -- history ---------------------------------------------------------------------------------------


async def test_history_lists_versions_with_who_and_what_and_shows_the_difference_with_now(
    pair: tuple[Network, Network],
) -> None:
    alice, bob = pair
    ada = alice.add("contacts", {"name": "Ada Lovelace", "role": "Engineer"})
    copy_docs(alice, bob)
    bob.edit("contacts", ada.id, {"role": "Staff engineer"})
    copy_docs(bob, alice)
    alice.index().close()
    app = PlntuiApp(alice.profile.home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot)
        dialog = await open_history(app, pilot)
        table = dialog.query_one("#versions", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        found = rows(table)
        assert [r[1:] for r in found] == [
            ["Bob", "role: 'Engineer' → 'Staff engineer'"],
            ["Alice", "added"],
        ]
        assert all(len(r[0]) == 16 for r in found)  # "YYYY-MM-DD HH:MM"
        version = dialog.query_one("#version", Static)
        assert "Role: Staff engineer" in shown(version)
        assert "Same as now" in shown(version)
        await pilot.press("down")
        await wait_for(pilot, lambda: "Role: Engineer" in shown(version))
        assert "Role: 'Staff engineer' → 'Engineer'" in shown(version)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
    assert fresh(alice.profile.home, "contacts", ada.id).values["role"] == "Staff engineer"


async def test_restoring_a_version_asks_first_with_cancel_as_the_default(
    pair: tuple[Network, Network],
) -> None:
    alice, _bob = pair
    ada = alice.add("contacts", {"name": "Ada Lovelace", "role": "Engineer"})
    alice.edit("contacts", ada.id, {"role": "Staff engineer"})
    alice.index().close()
    home = alice.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_contacts(app, pilot)
        dialog = await open_history(app, pilot)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert isinstance(app.focused, Button) and app.focused.id == "no"
        before = digests(home)
        await pilot.press("enter")  # Enter out of habit: Cancel
        await wait_for(pilot, lambda: app.screen is dialog)
        assert digests(home) == before
        await pilot.press("enter", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        assert fresh(home, "contacts", ada.id).values["role"] == "Engineer"
        await wait_for(
            pilot,
            lambda: any("Restored Ada Lovelace as it was on" in n for n in notifications(app)),
        )
        await wait_for(pilot, lambda: "Role: Engineer" in shown(screen.query_one("#detail")))
        assert screen.table.current is not None and screen.table.current.id == ada.id
    assert len(Network.open(home).history("contacts", ada.id)) == 3  # the restore is a version


async def test_a_refused_restore_is_a_notification_and_changes_nothing(net: Network) -> None:
    side = net.create_circle("Side")
    person = net.add("contacts", {"name": "Side person", "role": "First"}, circle=side.id)
    net.edit("contacts", person.id, {"role": "Later"})
    net.leave_circle(side.id)
    net.index().close()
    home = net.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot)
        dialog = await open_history(app, pilot)
        before = digests(home)
        await pilot.press("down", "enter", "y")
        await wait_for(pilot, lambda: any("no longer a member" in n for n in notifications(app)))
        assert app.screen is dialog  # still open: nothing was restored
        assert digests(home) == before
    assert fresh(home, "contacts", person.id).values["role"] == "Later"


async def test_a_notes_history_restores_the_body_into_the_open_editor(net: Network) -> None:
    note = net.add("notes", {"title": "Plan", "body": "one\ntwo\nthree\n"})
    net.edit("notes", note.id, {"body": "one\nTWO\nthree\nfour\n"})
    net.index().close()
    home = net.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        notes = app.screen
        assert isinstance(notes, NotesScreen)
        body = notes.query_one("#body", TextArea)
        await wait_for(pilot, lambda: body.text == "one\nTWO\nthree\nfour\n")
        dialog = await open_history(app, pilot)
        await pilot.press("down")
        version = dialog.query_one("#version", Static)
        await wait_for(pilot, lambda: "Body:" in shown(version) and "-TWO" in shown(version))
        text = shown(version)
        assert "+two" in text and "-four" in text
        await pilot.press("enter", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen))
        await wait_for(pilot, lambda: body.text == "one\ntwo\nthree\n")
    assert fresh(home, "notes", note.id).values["body"] == "one\ntwo\nthree\n"


# -- the trash -------------------------------------------------------------------------------------


async def test_the_trash_lists_who_deleted_what_and_restores_one(
    pair: tuple[Network, Network],
) -> None:
    alice, bob = pair
    elif_ = alice.add("contacts", {"name": "Elif Demir", "org": "Acme"})
    note = alice.add("notes", {"title": "Reading", "body": "text"})
    copy_docs(alice, bob)
    bob.remove("contacts", elif_.id)
    copy_docs(bob, alice)
    alice.remove("notes", note.id)
    alice.index().close()
    home = alice.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot, listed=False)
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.screen, TrashScreen) and labels(app))
        trash = app.screen
        assert isinstance(trash, TrashScreen)
        cells = {row.record.label: row.cells for row in trash.catalog.visible}
        assert cells["Elif Demir"][1:4] == ("Bob", "contact", "Elif Demir")
        assert cells["Reading"][1:4] == ("Alice", "note", "Reading")
        assert all(len(c[0]) == 16 for c in cells.values())
        trash.table.cursor = labels(app).index("Elif Demir")
        detail = trash.query_one("#detail", Static)
        await wait_for(pilot, lambda: "Contact deleted by Bob" in shown(detail))
        assert "Organisation: Acme" in shown(detail)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert isinstance(app.focused, Button) and app.focused.id == "no"
        await pilot.press("enter")  # Cancel
        await wait_for(pilot, lambda: app.screen is trash)
        assert "Elif Demir" in labels(app)
        await pilot.press("r", "y")
        await wait_for(pilot, lambda: labels(app) == ["Reading"])
        assert any("Restored contact Elif Demir" in n for n in notifications(app))
    assert fresh(home, "contacts", elif_.id).values["org"] == "Acme"


async def test_the_trash_opens_from_the_palette(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot)
        await run_palette(pilot, "trash")
        await wait_for(pilot, lambda: isinstance(app.screen, TrashScreen))
        empty = "The trash is empty"
        await wait_for(pilot, lambda: empty in app.screen.query_one("#table").none_text)  # type: ignore[attr-defined]


# -- conflicts -------------------------------------------------------------------------------------


def concurrent_roles(pair: tuple[Network, Network]) -> Record:
    """Ada's role set at once to "Staff engineer" by Alice and "Principal" by Bob."""
    alice, bob = pair
    ada = alice.add("contacts", {"name": "Ada Lovelace", "role": "Engineer"})
    copy_docs(alice, bob)
    alice.edit("contacts", ada.id, {"role": "Staff engineer"})
    bob.edit("contacts", ada.id, {"role": "Principal"})
    copy_docs(alice, bob)
    copy_docs(bob, alice)
    alice.index().close()
    return ada


async def test_a_conflict_shows_both_values_in_the_details_and_v_keeps_one(
    pair: tuple[Network, Network],
) -> None:
    ada = concurrent_roles(pair)
    alice = pair[0]
    home = alice.profile.home
    now = alice.get("contacts", ada.id).values["role"]
    other, other_by = (
        ("Principal", "Bob") if now == "Staff engineer" else ("Staff engineer", "Alice")
    )
    now_by = "Alice" if other_by == "Bob" else "Bob"
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_contacts(app, pilot)
        detail = screen.query_one("#detail", Static)
        line = f"2 values for Role: '{now}' ({now_by}, shown) · '{other}' ({other_by})"
        await wait_for(pilot, lambda: line in shown(detail))
        assert "v" in app.screen.active_bindings  # the footer shows it
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictDialog))
        options = app.screen.query_one("#values", OptionList)
        texts = [str(options.get_option_at_index(n).prompt) for n in range(options.option_count)]
        assert texts == [
            f"Role: '{now}' ({now_by}, shown now)",
            f"Role: '{other}' ({other_by})",
        ]
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: "values for" not in shown(detail))
        assert f"Role: {other}" in shown(detail)
        assert "v" not in app.screen.active_bindings
    net = Network.open(home)
    assert net.conflicts() == [] and net.get("contacts", ada.id).values["role"] == other


async def test_a_notes_conflict_shows_under_its_fields(pair: tuple[Network, Network]) -> None:
    alice, bob = pair
    note = alice.add("notes", {"title": "Plan", "body": "text"})
    copy_docs(alice, bob)
    alice.edit("notes", note.id, {"kind": "review"})
    bob.edit("notes", note.id, {"kind": "template"})
    copy_docs(alice, bob)
    copy_docs(bob, alice)
    alice.index().close()
    app = PlntuiApp(alice.profile.home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        links = app.screen.query_one("#links", Static)
        await wait_for(pilot, lambda: "2 values for Kind:" in shown(links))
        assert "'review' (Alice" in shown(links) and "'template' (Bob" in shown(links)


# -- held mass deletions ---------------------------------------------------------------------------


def mass_deletion(pair: tuple[Network, Network], count: int = 60, deleted: int = 45) -> None:
    """Bob deletes ``deleted`` of Alice's ``count`` contacts; Alice holds the batch."""
    alice, bob = pair
    ids = [alice.add("contacts", {"name": f"Person {i:02}"}).id for i in range(count)]
    copy_docs(alice, bob)
    for item_id in ids[:deleted]:
        bob.remove("contacts", item_id)
    copy_docs(bob, alice)
    assert len(alice.held()) == 1
    alice.index().close()


async def open_held(app: PlntuiApp, pilot: Pilot[None]) -> DataTable[Any]:
    await open_contacts(app, pilot)
    await pilot.press("6")
    await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
    table = app.screen.query_one("#held", DataTable)
    await wait_for(pilot, lambda: table.row_count == 1)
    return table


async def test_a_held_mass_deletion_is_listed_on_peers_and_refused_with_b(
    pair: tuple[Network, Network],
) -> None:
    mass_deletion(pair)
    alice = pair[0]
    home = alice.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_held(app, pilot)
        row = rows(table)[0]
        assert row[1:5] == ["Bob", "45 contacts", "Alice's circle", "Bob"]
        names, more = row[5].split(" and ")
        assert more == "37 more" and len(names.split(", ")) == 8
        assert all(name.startswith("Person ") for name in names.split(", "))
        table.focus()
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert isinstance(app.focused, Button) and app.focused.id == "no"
        assert "Bob's device deleted 45 contacts" in shown(app.screen.query_one(Static))
        await pilot.press("enter")  # Cancel
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        assert len(Network.open(home).held()) == 1
        await pilot.press("b", "y")
        await wait_for(pilot, lambda: not table.display, seconds=15)
        assert any("Refused: the 45 contacts" in n for n in notifications(app))
    net = Network.open(home)
    assert net.held() == [] and len(net.contacts()) == 60


async def test_a_held_mass_deletion_is_applied_with_d(pair: tuple[Network, Network]) -> None:
    mass_deletion(pair)
    home = pair[0].profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_held(app, pilot)
        table.focus()
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: not table.display, seconds=15)
        assert any("Applied: the deletion of 45 contacts" in n for n in notifications(app))
    net = Network.open(home)
    assert net.held() == [] and len(net.contacts()) == 15


@pytest.fixture
def bob_syncing(sample: Network, home: Path, tmp_path: Path) -> Iterator[Peer]:
    """Bob, trusted both ways, a member of Alice's default circle which holds 40 contacts more,
    listening on loopback (the app dials him)."""
    for i in range(40):
        sample.add("contacts", {"name": f"Colleague {i:02}"})
    sample.index().close()
    peer = Peer(tmp_path / "bob", "Bob")
    open_trust(home).trust(peer.fingerprint, "Bob")
    open_trust(peer.net.profile.home).trust(load_identity(home).fingerprint, "Alice")
    with sample.lock:
        sample.add_member(sample.default_circle().id, peer.fingerprint, "Bob")
    port = peer.start()
    open_trust(home).add_address(peer.fingerprint, f"127.0.0.1:{port}")
    yield peer
    peer.stop()


async def test_a_mass_deletion_held_while_the_app_syncs_is_announced(
    home: Path, bob_syncing: Peer
) -> None:
    bob = bob_syncing
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot)

        def bob_has_them() -> bool:
            with bob.lock:
                return len(bob.net.contacts()) == 43

        await asyncio.to_thread(wait_until, bob_has_them, 20)
        with bob.lock:
            for contact in bob.net.contacts()[:30]:
                bob.net.remove("contacts", contact.id)
        await wait_for(
            pilot,
            lambda: any(
                "Bob's device deleted" in n and "review on the Peers screen" in n
                for n in notifications(app)
            ),
            seconds=20,
        )
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        table = app.screen.query_one("#held", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert rows(table)[0][1] == "Bob"


# -- undo a device ---------------------------------------------------------------------------------


async def test_undo_a_revoked_device_restores_its_changes_and_lists_what_it_kept(
    pair: tuple[Network, Network],
) -> None:
    alice, bob = pair
    ids = [alice.add("contacts", {"name": f"P{i}", "role": "orig"}).id for i in range(3)]
    copy_docs(alice, bob)
    bob.edit("contacts", ids[0], {"role": "vandal"})
    bob.edit("contacts", ids[1], {"role": "vandal"})
    bob.remove("contacts", ids[2])
    copy_docs(bob, alice)
    alice.edit("contacts", ids[1], {"role": "fixed by Alice"})
    alice.index().close()
    home = alice.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot)
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        peers = app.screen
        trusted = peers.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: trusted.row_count == 1)
        trusted.focus()
        await pilot.press("r", "y")  # revoke Bob
        revoked = peers.query_one("#revoked", DataTable)
        await wait_for(pilot, lambda: revoked.row_count == 1 and revoked.display)
        assert any("press u" in n for n in notifications(app))
        revoked.focus()
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UndoDeviceDialog))
        since = app.screen.query_one("#since", Input)
        assert since.value == dt.date.today().isoformat()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UndoReportDialog), seconds=10)
        report = shown(app.screen.query_one("#report", Static))
        assert "Undid what Bob changed since" in report
        assert "2 items restored, 1 left as it is." in report
        assert "P1: " in report
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
    roles = {c.id: c.values.get("role") for c in Network.open(home).contacts()}
    assert roles == {ids[0]: "orig", ids[1]: "fixed by Alice", ids[2]: "orig"}


# -- what's new ------------------------------------------------------------------------------------


async def test_whats_new_lists_deletions_held_batches_and_conflicts(
    pair: tuple[Network, Network],
) -> None:
    alice, bob = pair
    concurrent_roles(pair)
    elif_ = alice.add("contacts", {"name": "Elif Demir"})
    copy_docs(alice, bob)
    bob.remove("contacts", elif_.id)
    copy_docs(bob, alice)
    mass_deletion(pair)
    home = alice.profile.home
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot)
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, WhatsNewScreen) and labels(app))
        screen = app.screen
        assert isinstance(screen, WhatsNewScreen)
        entries = {row.entry.what: row.cells for row in screen.catalog.visible}  # type: ignore[attr-defined]
        assert entries["held"][1:4] == ("Bob", "held", "deletion")
        assert entries["held"][4].startswith("Bob's device deleted 45 contacts")
        assert entries["conflict"][2:] == ("conflict", "contact", "Ada Lovelace: 2 values for Role")
        assert ("Bob", "deleted", "contact", "Elif Demir") in {
            row.cells[1:] for row in screen.catalog.visible
        }
        since = shown(screen.query_one("#since", Static))
        assert "1 mass deletion held for you" in since and "1 field with two values" in since
        # r on the deleted contact brings it back (after a confirmation)
        whats = [row.cells[4] for row in screen.catalog.visible]
        screen.table.cursor = whats.index("Elif Demir")
        await pilot.pause()
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Bob deleted the contact Elif Demir" in shown(app.screen.query_one(Static))
        await pilot.press("y")
        await wait_for(
            pilot, lambda: "Elif Demir" not in [r.cells[4] for r in screen.catalog.visible]
        )
        assert Network.open(home).get("contacts", elif_.id).label == "Elif Demir"
        # Enter on the held deletion opens the Peers screen
        screen.table.cursor = 0
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))


# -- help ------------------------------------------------------------------------------------------


async def test_help_lists_the_recovery_keys(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_contacts(app, pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = app.screen.plain_text()  # type: ignore[attr-defined]
        for line in (
            "7               Trash",
            "h               History: Every version of this contact",
            "v               Resolve conflict",
            "d               Apply deletion",
            "b               Bring back",
            "u               Undo device…",
            "r               Restore",
            "History and recovery",
        ):
            assert line in text, line
