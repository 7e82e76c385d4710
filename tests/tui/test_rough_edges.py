"""Pilot tests of the rough edges a new user hit (issue 13, items 9 and 12).

The Peers screen: a peer that quit shows "left", one that refuses this device "revoked you",
"failed" only for a real failure and with its reason; a link the peer dialled shows where it
listens (or its host), never its outgoing port; the Trusted columns that are shown fit whole
at 80 and 110 columns, the rest is in the description of the selected peer. Who knows keeps the
screen numbers working and sends letters to the topic box; the contact form and the new-note
dialog drop a message once the field is fixed; the Contacts footer offers ``u Undo delete``
while there is one and the toast goes with the undo; the new-note dialog's keys fit at 80
columns; the palette has one theme command; exports start in the last export's folder (or the
home folder), never the last import's; each list's sort survives a restart; a date column too
narrow for a date says how long ago it was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Input, Static

from plntui.network import Network
from plntui.peersync import load_identity, open_trust
from plntui.settings import list_sort, read_settings
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.contact_form import ContactForm
from plntui.tui.dialogs.transfer import FilePrompt, export_folder
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.followups import FollowupsScreen
from plntui.tui.screens.help import HelpScreen
from plntui.tui.screens.notes import NewNoteDialog, NotesScreen
from plntui.tui.screens.peers import PeersScreen, fitting_columns, trusted_cells
from plntui.tui.screens.who import WhoScreen
from plntui.tui.sync_service import (
    SyncSnapshot,
    TrustedPeer,
    goodbye_of,
    listening_address,
    peer_condition,
)
from plntui.tui.widgets.record_table import RecordTable, short_date
from sync.engine import REVOKED_BYE
from tests.tui.test_app_sync import LOOPBACK, PEERS_KEY, Peer, peer_row, status
from tests.tui.test_screens import labels, palette, run_palette, submit_path, wait_for

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
REFUSED = "cannot connect to 127.0.0.1:47600: connection refused (is plntui sync running there?)"


def peer(state: str = "in-sync", **changes: Any) -> TrustedPeer:
    values: dict[str, Any] = {
        "fingerprint": bytes([1]) * 32,
        "name": "Bob",
        "state": state,
        "address": "192.168.1.20:47600",
        "last_sync": NOW - dt.timedelta(hours=1),
        "changes_in": 120,
        "changes_out": 7,
        "bytes_in": 48_000,
        "bytes_out": 2_100,
        "last_error": "",
    }
    values.update(changes)
    return TrustedPeer(**values)


# -- the peers screen: states -----------------------------------------------------------------


def test_a_peer_that_quit_or_cannot_be_reached_is_not_failed() -> None:
    left = peer_condition(peer("failed", last_error=REFUSED, goodbye="plntui is shutting down"))
    assert left.label == "left" and "plntui is shutting down" in left.detail
    assert peer_condition(peer("connecting", goodbye="plntui is shutting down")).label == "left"
    offline = peer_condition(peer("failed", last_error=REFUSED))
    assert offline.label == "offline" and "connection refused" in offline.detail
    timed_out = peer_condition(peer("failed", last_error="cannot connect to h:1: timed out"))
    assert timed_out.label == "offline"
    assert peer_condition(peer("offline")).label == "offline"
    # a retry in progress keeps saying how the last attempt went
    assert peer_condition(peer("connecting", last_error=REFUSED)).label == "offline"
    assert peer_condition(peer("connecting")).label == "connecting…"
    assert peer_condition(peer("in-sync")).label == "in sync"
    assert peer_condition(peer("connected")).label == "syncing"


def test_a_peer_that_refuses_this_device_revoked_it_or_never_trusted_it() -> None:
    error = "Bob at 10.0.0.2:47600: it refused this device's certificate (it does not trust this "
    revoked = peer_condition(peer("failed", last_error=error + "device yet)"))
    assert revoked.label == "revoked you" and revoked.tone == "warning"
    # it refuses this device even though it said goodbye first (a revocation cuts the link)
    said = peer("failed", last_error=error + "device yet)", goodbye="disconnected")
    assert peer_condition(said).label == "revoked you"
    never = peer("failed", last_error=error + "device yet)", last_sync=None)
    assert peer_condition(never).label == "doesn't trust you"


def test_a_peer_that_revoked_this_device_while_linked_says_so_even_unreachable() -> None:
    # its goodbye was the revocation, and no address is left to be refused at
    assert goodbye_of(f"the peer closed the link: {REVOKED_BYE}") == REVOKED_BYE
    for state in ("connecting", "offline", "failed"):
        condition = peer_condition(peer(state, goodbye=REVOKED_BYE))
        assert condition.label == "revoked you" and condition.tone == "warning"
        assert "it revoked you while you were linked" in condition.detail
    assert peer_condition(peer("in-sync", goodbye=REVOKED_BYE)).label == "in sync"


def test_failed_is_for_real_failures_and_says_why() -> None:
    tls = "Bob at 10.0.0.2:47600: TLS error: WRONG_VERSION_NUMBER"
    failed = peer_condition(peer("failed", last_error=tls, goodbye="plntui is shutting down"))
    assert failed.label == "failed" and failed.tone == "error"
    assert failed.detail == f"failed: {tls}"
    paused = peer_condition(peer("failed", last_error="refused its changes: too large"))
    assert paused.label == "failed" and "refused its changes" in paused.detail


def test_only_a_goodbye_counts_as_leaving() -> None:
    assert goodbye_of("the peer closed the link: plntui is shutting down") == (
        "plntui is shutting down"
    )
    assert goodbye_of("the peer closed the link") == "goodbye"
    assert goodbye_of("the peer closed the link: the peer went away without saying goodbye") == ""
    assert goodbye_of("the peer closed the link: refused: too many changes") == ""
    assert goodbye_of("this engine stopped") == ""
    assert goodbye_of("the peer was silent for 60 s") == ""


# -- the peers screen: addresses --------------------------------------------------------------


def test_a_link_the_peer_dialled_shows_where_it_listens() -> None:
    stored = ("10.0.0.9:47600", "192.168.1.20:47611")
    # the stored address on the link's host, else the announced one, else the host alone
    assert listening_address("192.168.1.20:51234", stored) == "192.168.1.20:47611"
    announced = (("192.168.1.30", 47600),)
    assert listening_address("192.168.1.30:40000", stored, announced) == "192.168.1.30:47600"
    assert listening_address("192.168.1.40:40000", stored, announced) == ""
    assert listening_address("", stored) == "10.0.0.9:47600"  # no link: where it is dialled
    assert listening_address("[fe80::1]:40000", ("[fe80::1]:47600",)) == "[fe80::1]:47600"

    inbound = peer(address="192.168.1.20:51234", outbound=False)
    assert inbound.shown_address == "192.168.1.20"  # never the outgoing port
    known = peer(address="192.168.1.20:51234", outbound=False, known_address="192.168.1.20:47611")
    assert known.shown_address == "192.168.1.20:47611"
    assert peer(outbound=True).shown_address == "192.168.1.20:47600"
    relayed = peer(address="tcp:relay.example:4001", outbound=False, route="relay")
    assert relayed.shown_address == "tcp:relay.example:4001"


# -- the peers screen: columns ------------------------------------------------------------------


def long_peers() -> tuple[TrustedPeer, ...]:
    return (
        peer(
            "in-sync",
            name="Bob",
            route="lan",
            outbound=True,
            bytes_in=481_234_567,
            bytes_out=2_100_000,
            changes_in=123_456,
        ),
        peer(
            "failed",
            fingerprint=bytes([2]) * 32,
            name="Carol Longname",
            address="[2001:db8::1234:5678]:47600",
            outbound=True,
            last_error="Carol at [2001:db8::1234:5678]:47600: TLS error: WRONG_VERSION_NUMBER",
            introducer=True,
            auto_accept=True,
        ),
    )


def test_columns_that_do_not_fit_are_left_out_whole() -> None:
    rows = [trusted_cells(p) for p in long_peers()]
    narrow = fitting_columns(rows, 60)
    assert narrow[:2] == ["name", "state"] and "role" not in narrow
    wide = fitting_columns(rows, 400)
    assert wide == [
        "name",
        "state",
        "route",
        "last",
        "circles",
        "address",
        "bytes",
        "changes",
        "role",
    ]


@pytest.mark.parametrize("width", [80, 110])
async def test_the_trusted_table_fits_and_the_rest_is_described(
    app: PlntuiApp, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setattr("plntui.tui.sync_service.utcnow", lambda: NOW)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        app.sync_snapshot = SyncSnapshot(state="running", name="Alice", trusted=long_peers())
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        table = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.pause()
        # no column is cut: the table needs no more than its width
        assert table.virtual_size.width <= table.size.width
        assert table.region.right <= width
        shown = [peer_row(table, n) for n in range(2)]
        assert shown[1]["State"] == "failed"
        if "Address" in shown[1]:
            assert shown[1]["Address"] == "[2001:db8::1234:5678]:47600"
        if width == 110:
            assert "Address" in shown[0] and "Route" in shown[0]
        # the selected peer is described in full, hidden columns included
        detail = str(app.screen.query_one("#trusted-detail", Static).render())
        assert "Bob: in sync" in detail
        assert "481.2 MB / 2.1 MB, 123,456 / 7 changes" in detail
        assert "192.168.1.20:47600" in detail
        await pilot.press("down")
        await pilot.pause()
        detail = str(app.screen.query_one("#trusted-detail", Static).render())
        assert "failed: Carol at [2001:db8::1234:5678]:47600: TLS error" in detail
        assert "introducer, auto-accept" in detail
        assert app.screen.query_one("#trusted-detail", Static).region.right <= width


@pytest.fixture
def bob(sample: Network, home: Path, tmp_path: Path) -> Iterator[Peer]:
    """Bob, trusting Alice and trusted by her, listening on loopback; Alice knows his address
    (she dials him), he does not know hers."""
    bob = Peer(tmp_path / "bob", "Bob")
    alice = load_identity(home).fingerprint
    open_trust(home).trust(bob.fingerprint, "Bob")
    open_trust(bob.net.profile.home).trust(alice, "Alice")
    with sample.lock:
        sample.add_member(sample.default_circle().id, bob.fingerprint, "Bob")
    port = bob.start()
    open_trust(home).add_address(bob.fingerprint, f"127.0.0.1:{port}")
    yield bob
    bob.stop()


async def test_a_peer_that_revokes_you_is_not_shown_as_failed(home: Path, bob: Peer) -> None:
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=(110, 32)) as pilot:
        await wait_for(pilot, lambda: "1 peer ·" in status(app), 8.0)
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        table = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        port = bob.service.runner.engine.port
        await wait_for(pilot, lambda: peer_row(table, 0)["Address"] == f"127.0.0.1:{port}")
        alice = load_identity(home).fingerprint
        await asyncio.to_thread(lambda: bob.service.revoke(alice).result(5))
        await wait_for(pilot, lambda: peer_row(table, 0)["State"] == "revoked you", 8.0)
        detail = str(app.screen.query_one("#trusted-detail", Static).render())
        assert "it revoked you" in detail


async def test_a_link_the_peer_dialled_shows_its_host_not_its_outgoing_port(
    home: Path, sample: Network, tmp_path: Path
) -> None:
    """Alice knows no address of Carol's: Carol dials her, and Alice shows Carol's host."""
    carol = Peer(tmp_path / "carol", "Carol")
    alice = load_identity(home).fingerprint
    open_trust(home).trust(carol.fingerprint, "Carol")
    open_trust(carol.net.profile.home).trust(alice, "Alice")
    with sample.lock:
        sample.add_member(sample.default_circle().id, carol.fingerprint, "Carol")
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    try:
        async with app.run_test(size=(110, 32)) as pilot:
            await wait_for(pilot, lambda: app.sync_snapshot.state == "running", 8.0)
            port = app.sync_service.runner.engine.port
            open_trust(carol.net.profile.home).add_address(alice, f"127.0.0.1:{port}")
            await asyncio.to_thread(carol.start)
            await wait_for(pilot, lambda: "1 peer ·" in status(app), 8.0)
            await pilot.press(PEERS_KEY)
            await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
            table = app.screen.query_one("#trusted", DataTable)
            await wait_for(pilot, lambda: table.row_count == 1)
            (link,) = app.sync_snapshot.trusted
            assert link.outbound is False and link.address.startswith("127.0.0.1:")
            assert link.address != f"127.0.0.1:{carol.service.runner.engine.port}"
            assert peer_row(table, 0)["Address"] == "127.0.0.1"
    finally:
        await asyncio.to_thread(carol.stop)


# -- who knows ----------------------------------------------------------------------------------


async def test_who_knows_leaves_the_screen_numbers_working(app: PlntuiApp) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, WhoScreen))
        who = app.screen
        topic = who.query_one("#topic", Input)
        assert who.table.has_focus and not topic.has_focus
        await pilot.press("4")  # straight on to Follow-ups, nothing typed
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        assert topic.value == ""
        # letters typed on the list go to the topic box, which takes the focus
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, WhoScreen))
        await pilot.press(*"rust")
        await wait_for(pilot, lambda: labels(who) == ["Ada Lovelace"])
        assert topic.value == "rust" and topic.has_focus
        await pilot.press("enter")  # back to the list: the numbers switch screens again
        assert who.table.has_focus
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        # back on Who knows, the list has the focus (not the box left half-typed)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, WhoScreen))
        await pilot.pause()
        assert who.table.has_focus
        # a letter starts a new topic; / edits the topic, where digits are typed
        await pilot.press("c")
        await wait_for(pilot, lambda: topic.value == "c")
        await pilot.press("escape", "slash", *"3d")
        assert topic.value == "c3d"
        await pilot.press("escape")
        assert who.table.has_focus


async def test_the_palette_who_knows_puts_the_focus_in_the_topic(app: PlntuiApp) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Who knows")
        await wait_for(pilot, lambda: isinstance(app.screen, WhoScreen))
        topic = app.screen.query_one("#topic", Input)
        await wait_for(pilot, lambda: topic.has_focus)
        await pilot.press(*"3d")
        assert topic.value == "3d"


def test_the_palettes_own_entry_is_not_a_topic() -> None:
    from plntui.tui.commands import _who_topic

    assert _who_topic("Who knows…") == ""  # the action itself, not "who knows knows?"
    assert _who_topic("who knows rust?") == "rust"


async def test_help_says_how_to_type_a_topic(app: PlntuiApp) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = " ".join(app.screen.plain_text().split())
        assert "a letter typed on the list starts a new topic" in text
        assert "press / first" in text
        assert "→ Notes" in text


# -- validation messages ------------------------------------------------------------------------


async def test_a_fixed_field_loses_its_message(app: PlntuiApp) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        form = app.screen
        emails = form.query_one("#field-emails", Input)
        error = form.query_one("#error-emails", Static)
        emails.value = "ada@"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: error.display)
        assert str(error.render())
        emails.value = "ada@exam"  # still wrong: the message stays
        await pilot.pause()
        assert error.display
        emails.value = "ada@example.com"
        await wait_for(pilot, lambda: not error.display)
        name = form.query_one("#field-name", Input)
        name.value = ""
        await pilot.press("ctrl+s")
        name_error = form.query_one("#error-name", Static)
        await wait_for(pilot, lambda: name_error.display)
        name.value = "Ada"
        await wait_for(pilot, lambda: not name_error.display)
        assert isinstance(app.screen, ContactForm)  # nothing saved meanwhile


async def test_the_new_note_dialog_fits_and_clears_its_message(app: PlntuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, NewNoteDialog))
        dialog = app.screen
        keys = dialog.query_one("#new-keys", Static)
        assert str(keys.render()) == "Enter creates the note · Escape cancels"
        box = dialog.query_one("Vertical").content_region
        assert keys.region.width <= box.width and len(str(keys.render())) <= keys.region.width
        for label in dialog.query("Label"):
            assert len(str(label.render())) <= label.region.width
        await pilot.press("enter")  # no title
        error = dialog.query_one("#new-title-error", Static)
        await wait_for(pilot, lambda: "required" in str(error.render()))
        await pilot.press("x")
        await wait_for(pilot, lambda: str(error.render()) == "")


# -- undoing a delete ---------------------------------------------------------------------------


async def test_the_footer_offers_undo_and_the_toast_goes_with_it(app: PlntuiApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert "u" not in screen.active_bindings
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: "u" in screen.active_bindings)
        toasts = [n for n in app._notifications if "Press u to undo" in n.message]
        assert len(toasts) == 1 and toasts[0].timeout <= 6
        await pilot.press("u")
        await wait_for(pilot, lambda: "u" not in screen.active_bindings)
        messages = [n.message for n in app._notifications]
        assert not any("Press u to undo" in m for m in messages)
        assert any(m.startswith("Restored ") for m in messages)


async def test_undoing_a_note_delete_is_in_the_footer_too(app: PlntuiApp) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen))
        screen = app.screen
        screen.table.focus()
        await pilot.pause()
        assert "u" not in screen.active_bindings
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: "u" in screen.active_bindings)
        await pilot.press("u")
        await wait_for(pilot, lambda: "u" not in screen.active_bindings)
        assert not any("Press u to undo" in n.message for n in app._notifications)


# -- the palette -------------------------------------------------------------------------------


async def test_the_palette_has_one_theme_command(app: PlntuiApp) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await palette(pilot, "theme")
        hits = app.screen.query_one(CommandList)
        texts = [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]
        themes = [t for t in texts if "theme" in t.casefold()]
        assert len(themes) == 1 and themes[0].startswith("Change theme")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not CommandPalette.is_open(app))


# -- where exports go ---------------------------------------------------------------------------


async def test_exports_start_in_the_last_exports_folder_not_the_imports(
    app: PlntuiApp, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    imports = tmp_path / "downloads"
    imports.mkdir()
    (imports / "team.vcf").write_text("BEGIN:VCARD\nVERSION:3.0\nFN:Barbara Liskov\nEND:VCARD\n")
    exports = tmp_path / "exports"
    exports.mkdir()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Import contacts")
        await submit_path(pilot, imports / "team.vcf")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await run_palette(pilot, "Export contacts as vCard")
        await wait_for(pilot, lambda: isinstance(app.screen, FilePrompt))
        offered = app.screen.query_one("#path", Input).value
        assert offered == str(user_home / "plntui-contacts.vcf")  # the home folder, first
        await submit_path(pilot, exports / "team.vcf")
        await wait_for(pilot, lambda: (exports / "team.vcf").exists())
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await run_palette(pilot, "Export notes as HTML")
        await wait_for(pilot, lambda: isinstance(app.screen, FilePrompt))
        assert app.screen.query_one("#path", Input).value == str(exports / "plntui-notes.html")
        await pilot.press("escape")
    # remembered for the profile: the next session starts there too
    assert read_settings(home)["export_folder"] == str(exports)
    assert export_folder(home) == exports


# -- sort order ---------------------------------------------------------------------------------


async def test_each_lists_sort_survives_a_restart(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        contacts = app.screen
        assert isinstance(contacts, ContactsScreen)
        await pilot.press("s")  # sort by the next column: Organisation
        assert contacts.catalog.sort_key == "org"
        contacts.post_message(RecordTable.SortRequested(contacts.table, "org"))  # reversed
        await wait_for(pilot, lambda: contacts.catalog.sort_reverse)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen))
        notes = app.screen
        notes.table.focus()
        await pilot.pause()
        await pilot.press("s")
        notes_sort = notes.catalog.sort_key
        assert notes_sort != "title"
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        followups = app.screen
        followups.post_message(RecordTable.SortRequested(followups.table, "last_contacted"))
        await wait_for(pilot, lambda: followups.catalog.sort_key == "last_contacted")
    assert list_sort(home, "contacts") == ("org", True)
    assert list_sort(home, "notes") == (notes_sort, False)
    assert list_sort(home, "followups") == ("last_contacted", False)

    again = PlntuiApp(home, watch_interval=0.1)
    async with again.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        contacts = again.screen
        assert (contacts.catalog.sort_key, contacts.catalog.sort_reverse) == ("org", True)
        # Navy, Linux Foundation, Analytical Engines
        expected = ["Grace Hopper", "Linus Torvalds", "Ada Lovelace"]
        await wait_for(pilot, lambda: labels(contacts) == expected)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(again.screen, NotesScreen))
        assert again.screen.catalog.sort_key == notes_sort
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(again.screen, FollowupsScreen))
        assert again.screen.catalog.sort_key == "last_contacted"


def test_a_damaged_sort_setting_is_ignored(home: Path, sample: Network) -> None:
    (home / "settings.json").write_text(json.dumps({"sort": {"contacts": {"column": 3}}}))
    assert list_sort(home, "contacts") is None
    (home / "settings.json").write_text(json.dumps({"sort": ["org"]}))
    assert list_sort(home, "contacts") is None


async def test_a_sort_by_a_column_no_longer_there_is_ignored(app: PlntuiApp, home: Path) -> None:
    (home / "settings.json").write_text(
        json.dumps({"sort": {"contacts": {"column": "gone", "reverse": True}}})
    )
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert app.screen.catalog.sort_key == "name"


# -- dates in narrow columns ------------------------------------------------------------------


def test_a_date_too_wide_for_its_column_says_how_long_ago() -> None:
    today = dt.date(2026, 3, 1)
    assert short_date("2026-02-27", 10, today) == "2026-02-27"
    assert short_date("2026-02-27", 8, today) == "2 d ago"
    assert short_date("2026-02-01", 8, today) == "4 wk ago"
    assert short_date("2025-11-30", 8, today) == "3 mo ago"
    assert short_date("2024-01-01", 8, today) == "2 yr ago"
    assert short_date("2025-11-30", 4, today) == "3mo"
    assert short_date("2026-03-01", 6, today) == "today"
    assert short_date("2026-03-04", 8, today) == "in 3 d"
    assert short_date("never", 4, today) == "never"  # not a date: cut as any text
    assert short_date("2026-13-45", 4, today) == "2026-13-45"


async def test_last_talked_never_reads_202_in_a_narrow_list(
    sample: Network, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A squeezed date column says how long ago, and no column hides under the scroll bar."""
    monkeypatch.setattr("plntui.model.today", lambda: dt.date(2020, 1, 31))
    with sample.lock:
        for n in range(30):  # a list longer than the screen: a vertical scroll bar
            sample.add("contacts", {"name": f"Zed {n:02}", "last_contacted": "2019-12-01"})
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=(120, 20)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RecordTable)
        assert table.list_width < table.size.width  # the scroll bar takes the last cells
        widths = table._widths(table.list_width)
        keys = [c.key for c in table.catalog.columns]
        width = widths[keys.index("last_contacted")]
        assert width is not None and width < 10  # squeezed at this size
        assert sum(w + 1 for w in widths if w is not None) - 1 <= table.list_width
        row = 1 + labels(app.screen).index("Ada Lovelace")
        line = "".join(segment.text for segment in table.render_line(row))
        shown = line[: table.list_width]  # what the scroll bar leaves visible
        assert "4 wk ago" in shown or "4wk" in shown
        assert "202" not in line
