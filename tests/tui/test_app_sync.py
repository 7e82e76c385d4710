"""Pilot tests of sync inside the app: the app's engine against a headless peer (another profile
running the same ``SyncService``) over real TLS sockets on loopback, with LAN discovery off.

Connect and the status line shows the peer; an edit on the peer appears in the app's list
without moving the cursor and is announced ("Bob brought 1 new contact"); the peer leaves and
the status and peers screen follow; a note open in the editor with unsaved typing merges a
colleague's concurrent edit character by character on both sides; ``--offline`` starts no
engine; the session lock refuses a second long-running process either way round. Introductions:
approve and reject from the peers screen (offline, and through the running engine), make a
colleague an introducer through its dialog, and the notifications of introduction events.
Stopping and starting: quitting while a pairing waits ends at once (every outstanding call fails
with "sync stopped"), discovery failing leaves the engine syncing with a warning, any other
failure after listening stops the engine, errors in the tooltip are never markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, TextArea

from plntui.errors import ProfileLockedError
from plntui.network import Network
from plntui.peersync import load_identity, open_trust
from plntui.tui.app import PlntuiApp
from plntui.tui.screens.notes import NotesScreen
from plntui.tui.screens.peers import PeersScreen
from plntui.tui.sync_service import CIRCLE_JOINED, SyncNotice, SyncOptions, SyncService
from plntui.tui.widgets.sync_status import SyncStatus

SIZE = (110, 32)
WIDE = (170, 32)
"""Wide enough for every column of the peers screen's Trusted table."""
LOOPBACK = SyncOptions(listen_host="127.0.0.1", port=0, discovery=False)
PEERS_KEY = next(
    b.key for b in PlntuiApp.BINDINGS if isinstance(b, Binding) and "'peers'" in b.action
)


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], seconds: float = 10.0
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def wait_until(condition: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    assert condition()


class Peer:
    """A colleague's plntui without a screen: a profile and the app's sync service."""

    def __init__(self, home: Path, name: str, options: SyncOptions = LOOPBACK) -> None:
        self.net = Network.create(home, name)
        self.lock = self.net.lock
        self.messages: list[object] = []
        self.service = SyncService(self.net, options, self.messages.append)
        self.fingerprint = load_identity(home).fingerprint
        self.circle = ""  # the circle of Alice's it is a member of, if any

    def start(self) -> int:
        self.service.start()
        wait_until(lambda: self.service.snapshot.state == "running")
        return int(self.service.runner.engine.port)

    def stop(self) -> None:
        self.service.stop()


def in_alices_circle(sample: Network, peer: Peer) -> None:
    """Alice (the app's profile) adds the peer to her default circle, which it gets once they
    sync."""
    with sample.lock:
        peer.circle = sample.add_member(sample.default_circle().id, peer.fingerprint, "Bob").id


@pytest.fixture
def bob(sample: Network, home: Path, tmp_path: Path) -> Iterator[Peer]:
    """Bob, trusted by Alice (the app's profile) and trusting her, a member of her default
    circle, listening on loopback."""
    peer = Peer(tmp_path / "bob", "Bob")
    alice = load_identity(home).fingerprint
    open_trust(home).trust(peer.fingerprint, "Bob")
    open_trust(peer.net.profile.home).trust(alice, "Alice")
    in_alices_circle(sample, peer)
    port = peer.start()
    open_trust(home).add_address(peer.fingerprint, f"127.0.0.1:{port}")  # where Alice dials
    yield peer
    peer.stop()


def status(app: PlntuiApp) -> str:
    return str(app.screen.query_one(SyncStatus).render())


def contact_names(net: Network) -> set[str]:
    """The contacts' names, read under the network's lock (a peer's engine writes meanwhile)."""
    with net.lock:
        return {c.label for c in net.contacts()}


def notifications(app: PlntuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def peer_row(table: DataTable[object], n: int) -> dict[str, str]:
    """Row ``n`` of the peers screen's Trusted table, by column header (the columns shown
    depend on the width)."""
    headers = [str(column.label) for column in table.columns.values()]
    return dict(zip(headers, (str(cell) for cell in table.get_row_at(n)), strict=True))


async def test_the_app_syncs_with_a_peer_and_shows_it(home: Path, bob: Peer) -> None:
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "1 peer ·" in status(app))
        assert "synced" in status(app)
        # Bob received Alice's network (one snapshot), then adds a contact of his own
        await asyncio.to_thread(wait_until, lambda: "Ada Lovelace" in contact_names(bob.net))
        await pilot.press("down")  # the cursor on Grace Hopper
        await pilot.pause()
        screen = app.screen
        assert screen.table.current.label == "Grace Hopper"  # type: ignore[attr-defined]
        with bob.lock:
            bob.net.add(
                "contacts", {"name": "Aaron Swartz", "org": "Demand Progress"}, circle=bob.circle
            )
        await wait_for(
            pilot,
            lambda: "Aaron Swartz" in [row.record.label for row in screen.catalog.visible],  # type: ignore[attr-defined]
        )
        assert screen.table.current.label == "Grace Hopper"  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "Bob brought 1 new contact" in notifications(app))
        # the peers screen lists Bob as in sync, with counters
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        table = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        row = peer_row(table, 0)
        assert row["Name"] == "Bob" and row["State"] in ("in sync", "syncing")
        assert row["Route"] in ("LAN", "direct")  # the link's route (no relay here)
        assert row["Circles"] == "Alice's circle"  # the circles they share
        assert row["Address"] == f"127.0.0.1:{bob.service.runner.engine.port}"  # where Bob listens
        assert row["Bytes in / out"] != "0 B / 0 B"
        detail = str(app.screen.query_one("#trusted-detail").render())
        assert "Bob: in sync" in detail or "Bob: connected, syncing" in detail
        assert "0 / 0 changes" not in detail
        # Bob quits: the status says so, and the peers screen says he left (not "failed")
        await asyncio.to_thread(bob.stop)
        await wait_for(pilot, lambda: "0 of 1 peers" in status(app))
        await wait_for(pilot, lambda: peer_row(table, 0)["State"] == "left")
        detail = str(app.screen.query_one("#trusted-detail").render())
        assert "left, saying “plntui is shutting down”" in detail


async def test_a_local_edit_reaches_the_peer_at_once(home: Path, bob: Peer) -> None:
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "1 peer ·" in status(app))
        assert app.net is not None
        # no polling of the disk from now on: only the app's push can carry the edit
        engine = app.sync_service.runner.engine
        engine.poll = lambda: []
        app.run_edit(app.net.add, "contacts", {"name": "Barbara Liskov"})
        await asyncio.to_thread(wait_until, lambda: "Barbara Liskov" in contact_names(bob.net), 10)


async def test_an_open_note_merges_a_colleagues_edit_on_both_sides(
    home: Path, bob: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NotesScreen, "SAVE_DELAY", 60.0)  # Alice's typing stays unsaved
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "1 peer ·" in status(app))
        await pilot.press("2")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, NotesScreen) and bool(app.screen.catalog.visible),
        )
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        await pilot.press("down", "enter")  # "Rust notes": "Ownership."
        await pilot.pause()
        body = screen.query_one("#body", TextArea)
        assert body.text == "Ownership."
        await pilot.press(*(["right"] * 5), "4", "2")  # "Owner42|ship.", not saved yet
        await pilot.pause()
        rust = next(n.id for n in bob.net.notes() if n.label == "Rust notes")
        with bob.lock:
            bob.net.splice_note(rust, 0, 0, "Hello ")  # Bob types at the start
        await wait_for(pilot, lambda: body.text == "Hello Owner42ship.")
        assert body.cursor_location == (0, 13)  # still just before "ship."
        assert screen.focused is body
        await pilot.press("!")
        screen.flush()  # Alice's words are saved and pushed to Bob
        assert body.text == "Hello Owner42!ship."

        def bob_body() -> str:
            with bob.lock:
                return str(bob.net.get("notes", rust).values["body"])

        await asyncio.to_thread(wait_until, lambda: bob_body() == "Hello Owner42!ship.")


async def test_adding_a_connected_colleague_to_a_circle_from_the_peers_screen(
    home: Path, sample: Network, bob: Peer
) -> None:
    """``c`` on the Peers screen adds Bob to "Data team": Bob is told, gets what the circle
    holds at once, and the row lists both circles."""
    from plntui.tui.dialogs.circles import PeerCirclesDialog

    with sample.lock:
        team = sample.create_circle("Data team")
        sample.add("contacts", {"name": "Barbara Liskov"}, circle=team.id)
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "1 peer ·" in status(app))
        await asyncio.to_thread(wait_until, lambda: "Ada Lovelace" in contact_names(bob.net))
        assert "Barbara Liskov" not in contact_names(bob.net)  # not in a circle Bob is in
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        table = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await wait_for(pilot, lambda: str(table.get_row_at(0)[4]) == "Alice's circle")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PeerCirclesDialog))
        await pilot.press("down", "space", "ctrl+s")  # Data team, after Alice's circle
        await wait_for(pilot, lambda: str(table.get_row_at(0)[4]) == "Alice's circle, Data team")
        await asyncio.to_thread(wait_until, lambda: "Barbara Liskov" in contact_names(bob.net))
        assert any(
            isinstance(m, SyncNotice) and m.kind == CIRCLE_JOINED and m.circle == "Data team"
            for m in bob.messages
        )


async def test_offline_starts_no_engine(home: Path, sample: Network) -> None:
    app = PlntuiApp(home, watch_interval=0.1)  # what plntui --offline builds
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.sync_service is None
        assert status(app) == "offline"
        assert not any(t.name == "plntui-sync" for t in threading.enumerate())
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        assert "Offline" in str(app.screen.query_one("#identity").render())


def test_the_cli_offline_flag_is_for_the_app_only(capsys: pytest.CaptureFixture[str]) -> None:
    from plntui.cli import main

    assert main(["--offline", "search", "x"]) == 2
    assert "--offline is for the app" in capsys.readouterr().err


async def test_a_second_process_is_refused_either_way(home: Path, sample: Network) -> None:
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        with pytest.raises(ProfileLockedError, match="already open in the plntui app"):
            Network.open(home).profile.claim_session("plntui sync")
    # and the app is refused while plntui sync holds the profile
    other = Network.open(home)
    other.profile.claim_session("plntui sync")
    try:
        app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
        assert app.return_code and app.return_code != 0
        assert app.sync_service is None
    finally:
        other.profile.release_session()


async def test_revoke_from_the_peers_screen_cuts_the_link(home: Path, bob: Peer) -> None:
    from plntui.tui.dialogs.confirm import ConfirmDialog

    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "1 peer ·" in status(app))
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        table = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: "no peers yet" in status(app))
        assert not open_trust(home).is_trusted(bob.fingerprint)
        await wait_for(pilot, lambda: not table.display)
        assert any("Revoked Bob" in n for n in notifications(app))


# -- pairing through the UI -------------------------------------------------------------------


@pytest.fixture
def carol(sample: Network, tmp_path: Path) -> Iterator[Peer]:
    """Carol: a colleague nobody trusts yet, listening on loopback."""
    peer = Peer(tmp_path / "carol", "Carol")
    peer.start()
    yield peer
    peer.stop()


def result_text(app: PlntuiApp) -> str:
    return str(app.screen.query_one("#result").render())


async def test_pair_by_typing_the_code_a_colleague_shows(
    home: Path, sample: Network, carol: Peer
) -> None:
    """Alice joins Carol's invite, and adds Carol to her own circle too (the join dialog's
    select): Alice is told Carol added her to Carol's circle, and Carol gets Alice's."""
    from plntui.tui.dialogs.pairing import JoinDialog

    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        invite = await asyncio.to_thread(lambda: carol.service.open_invite().result(5))
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, JoinDialog))
        port = carol.service.runner.engine.port
        await pilot.press(*"4x-0000", "enter")  # a typo: refused before any network use
        await pilot.pause()
        assert "not a pairing code" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#code-input", Input).value = invite.text.lower().replace("-", " ")
        app.screen.query_one("#address", Input).value = f"127.0.0.1:{port}"
        circle = app.screen.query_one("#pair-circle", Select)
        assert circle.value == ""  # nothing of Alice's is shared unless she chooses
        with sample.lock:
            alices = sample.default_circle()
        circle.value = alices.id
        app.screen.query_one("#code-input", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Paired with Carol" in result_text(app))
        number = next(
            m.event.safety_number
            for m in carol.messages
            if isinstance(m, SyncNotice) and m.kind == "PairingSucceeded"
        )
        assert number in result_text(app)  # the same safety number on both sides
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        await wait_for(pilot, lambda: "1 peer ·" in status(app))
        # Carol's invite put Alice in Carol's circle, and Alice put Carol in hers
        await wait_for(
            pilot, lambda: "Carol added you to circle Carol's circle" in notifications(app), 8.0
        )
        await asyncio.to_thread(wait_until, lambda: "Ada Lovelace" in contact_names(carol.net))
        with carol.lock:
            carols = carol.net.default_circle()
            assert carols.has(load_identity(home).fingerprint)
            assert carol.net.circle(alices.id).has(carol.fingerprint)


async def test_pair_by_showing_a_code(home: Path, sample: Network, carol: Peer) -> None:
    """Carol joins Alice's invite: she joins the circle the invite dialog shows (Alice's
    default circle) and receives it."""
    from plntui.tui.dialogs.pairing import InviteDialog

    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        dialog = app.screen
        await wait_for(pilot, lambda: "-" in str(dialog.query_one("#code").render()))
        code = str(dialog.query_one("#code").render()).strip()
        assert "Expires in 9:5" in str(dialog.query_one("#left").render())
        port = app.sync_service.runner.engine.port
        result = await asyncio.to_thread(
            lambda: carol.service.pair(code, address=("127.0.0.1", port)).result(10)
        )
        await wait_for(pilot, lambda: "Paired with Carol" in result_text(app))
        assert result.safety_number in result_text(app)
        assert result.name == "Alice"
        await pilot.press("escape")
        await wait_for(pilot, lambda: "1 peer ·" in status(app))
        await asyncio.to_thread(wait_until, lambda: "Ada Lovelace" in contact_names(carol.net))
        assert any(
            isinstance(m, SyncNotice) and m.kind == CIRCLE_JOINED and m.circle == "Alice's circle"
            for m in carol.messages
        )


async def test_the_invite_chooses_the_circle_the_colleague_joins(
    home: Path, sample: Network, carol: Peer
) -> None:
    """The invite dialog's select: Carol joins "Data team" (chosen while the code is shown),
    gets what it holds, and nothing of Alice's default circle."""
    from plntui.tui.dialogs.pairing import InviteDialog

    with sample.lock:
        team = sample.create_circle("Data team")
        sample.add("contacts", {"name": "Barbara Liskov"}, circle=team.id)
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        await pilot.press(PEERS_KEY, "i")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        dialog = app.screen
        await wait_for(pilot, lambda: "-" in str(dialog.query_one("#code").render()))
        select = dialog.query_one("#pair-circle", Select)
        with sample.lock:
            assert select.value == sample.default_circle().id
        select.value = team.id
        runner = app.sync_service.runner
        await wait_for(pilot, lambda: runner.pair_circle == team.id)
        code = str(dialog.query_one("#code").render()).strip()
        port = runner.engine.port
        await asyncio.to_thread(
            lambda: carol.service.pair(code, address=("127.0.0.1", port)).result(10)
        )
        await wait_for(pilot, lambda: "Paired with Carol" in result_text(app))
        await pilot.press("escape")
        await asyncio.to_thread(wait_until, lambda: "Barbara Liskov" in contact_names(carol.net))
        assert "Ada Lovelace" not in contact_names(carol.net)
        assert app.net is not None
        with app.net_lock:
            assert app.net.circles_shared_with(carol.fingerprint) == {team.id}
        await wait_for(pilot, lambda: runner.pair_circle is None)  # the invite closed


async def test_a_wrong_code_fails_on_both_sides(home: Path, carol: Peer) -> None:
    from plntui.tui.dialogs.pairing import InviteDialog

    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        await pilot.press(PEERS_KEY, "i")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        dialog = app.screen
        await wait_for(pilot, lambda: "-" in str(dialog.query_one("#code").render()))
        code = str(dialog.query_one("#code").render()).strip()
        wrong = code[:3] + ("AAAA" if code[3:7] != "AAAA" else "BBBB") + code[7:]
        port = app.sync_service.runner.engine.port
        with pytest.raises(Exception, match="(?i)code|fail"):
            await asyncio.to_thread(
                lambda: carol.service.pair(wrong, address=("127.0.0.1", port)).result(10)
            )
        await wait_for(pilot, lambda: "Pairing failed" in result_text(app))
        assert "Carol" not in {p.name for p in app.sync_snapshot.trusted}


# -- introductions through the UI --------------------------------------------------------------

BOB, CAROL, DAVE = bytes([0xB0]) * 32, bytes([0xCA]) * 32, bytes([0xDA]) * 32


def introduced_by_bob(home: Path, *offers: tuple[bytes, str]) -> None:
    """Bob is a trusted introducer of Alice's; he offered ``offers`` (fingerprint, name)."""
    from sync.trust import Introduction

    trust = open_trust(home)
    trust.trust(BOB, "Bob")
    trust.set_introducer(BOB, introducer=True)
    entries = [Introduction(fp, name) for fp, name in offers]
    outcomes = trust.receive_introductions(BOB, entries, own=load_identity(home).fingerprint)
    assert [outcome for _, outcome in outcomes] == ["offered"] * len(offers)


def cells(table: DataTable[object]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def rows(table: DataTable[object]) -> list[dict[str, str]]:
    return [peer_row(table, i) for i in range(table.row_count)]


async def test_approve_and_reject_introductions_offline(home: Path, sample: Network) -> None:
    from plntui.tui.dialogs.confirm import ConfirmDialog
    from sync.fingerprint import format_fingerprint

    introduced_by_bob(home, (CAROL, "Carol"), (DAVE, "[bold]Dave[/bold]"))
    app = PlntuiApp(home, watch_interval=0.1)  # --offline: the trust store is edited directly
    async with app.run_test(size=WIDE) as pilot:  # every column fits
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        screen = app.screen
        offers = screen.query_one("#introduced", DataTable)
        trusted = screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: offers.row_count == 2)
        assert [row[0] for row in cells(offers)] == ["Carol", "[bold]Dave[/bold]"]  # not markup
        assert all(row[2] == "Bob" for row in cells(offers))
        assert peer_row(trusted, 0)["Name"] == "Bob"
        assert peer_row(trusted, 0)["Introducer"] == "introducer"
        # a: a confirmation with the full fingerprint and who introduced Carol
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        question = app.screen.question  # type: ignore[attr-defined]
        assert "introduced by Bob" in question
        assert format_fingerprint(CAROL) == question.split("\n")[3] + "-" + question.split("\n")[4]
        assert "must trust you too" in question
        await pilot.press("y")
        await wait_for(pilot, lambda: open_trust(home).is_trusted(CAROL))
        carol = open_trust(home).get(CAROL)
        assert carol is not None and carol.introduced_by == BOB and carol.name == "Carol"
        await wait_for(pilot, lambda: offers.row_count == 1)
        await wait_for(
            pilot,
            lambda: (
                ("Carol", "introduced by Bob")
                in [(r["Name"], r["Introducer"]) for r in rows(trusted)]
            ),
        )
        assert any("Trusted Carol, introduced by Bob" in n for n in notifications(app))
        # x: Dave is refused, kept as revoked, and no longer waits
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "never offered again" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_for(pilot, lambda: not open_trust(home).pending())
        dave = open_trust(home).get(DAVE)
        assert dave is not None and dave.state == "revoked"
        await wait_for(pilot, lambda: not offers.display)
        assert any("Rejected [bold]Dave[/bold]" in n for n in notifications(app))
        assert "None." in str(screen.query_one("#introduced-empty").render())


async def test_introducer_dialog_and_approval_through_the_engine(
    home: Path, sample: Network
) -> None:
    from plntui.tui.dialogs.confirm import ConfirmDialog
    from plntui.tui.screens.peers import IntroducerDialog
    from sync.trust import Introduction

    open_trust(home).trust(BOB, "Bob")  # no address, no discovery: nobody is dialled
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=WIDE) as pilot:  # every column fits
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        await pilot.press(PEERS_KEY)
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        trusted = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: trusted.row_count == 1)
        assert peer_row(trusted, 0)["Introducer"] == "—"
        engine = app.sync_service.runner.engine
        applied: list[None] = []  # every change of trust is handed to the engine to apply
        real_trust_changed = engine.trust_changed
        engine.trust_changed = lambda: (applied.append(None), real_trust_changed())[1]

        async def choose(*keys: str) -> None:
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, IntroducerDialog))
            await pilot.press(*keys, "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))

        def flags() -> tuple[bool, bool]:
            bob = open_trust(home).get(BOB)
            assert bob is not None
            return bob.introducer, bob.auto_accept

        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, IntroducerDialog))
        assert "add devices to your network" in str(app.screen.query_one("#warning").render())
        await pilot.press("escape")  # leaves it as it is
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        assert flags() == (False, False)
        await choose("down", "down")  # off -> accept automatically
        await wait_for(pilot, lambda: flags() == (True, True))
        await wait_for(
            pilot, lambda: peer_row(trusted, 0)["Introducer"] == "introducer, auto-accept"
        )
        await choose("up")  # -> ask me each time
        await wait_for(pilot, lambda: flags() == (True, False))
        await wait_for(pilot, lambda: peer_row(trusted, 0)["Introducer"] == "introducer")
        # Bob offers Carol (as the engine stores it, on its own thread): approve through the engine
        service = app.sync_service
        own = load_identity(home).fingerprint
        await asyncio.to_thread(
            lambda: service.change_trust(
                lambda t: t.receive_introductions(BOB, [Introduction(CAROL, "Carol")], own=own)
            ).result(5)
        )
        offers = app.screen.query_one("#introduced", DataTable)
        await wait_for(pilot, lambda: offers.row_count == 1)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: open_trust(home).is_trusted(CAROL))
        await wait_for(pilot, lambda: not offers.display)
        assert service.runner.trust.is_trusted(CAROL)  # the engine's own view follows
        await choose("up")  # -> off
        await wait_for(pilot, lambda: flags() == (False, False))
        assert len(applied) == 5  # auto, ask, the offer, the approval, off


async def test_introduction_events_are_announced(home: Path, sample: Network) -> None:
    from sync.events import IntroductionOffered, PeerIntroduced

    open_trust(home).trust(BOB, "Bob")
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        service = app.sync_service
        offered = IntroductionOffered(BOB, CAROL, "Carol")
        service.call(lambda: service._event(offered))  # the path engine events take
        await wait_for(
            pilot,
            lambda: "Bob introduces Carol: approve on the Peers screen" in notifications(app),
        )
        service.call(lambda: service._event(PeerIntroduced(BOB, DAVE, "[red]Dave")))
        await wait_for(
            pilot, lambda: "[red]Dave was trusted (introduced by Bob)" in notifications(app)
        )


# -- smaller pieces -------------------------------------------------------------------------------


def test_status_text_says_offline_or_peers_and_time_since_the_last_sync() -> None:
    import datetime as dt

    from plntui.tui.sync_service import SyncSnapshot, TrustedPeer, ago, status_text

    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

    def peer(n: int, state: str, seconds: int | None) -> TrustedPeer:
        last = None if seconds is None else now - dt.timedelta(seconds=seconds)
        return TrustedPeer(bytes([n]) * 32, f"P{n}", state, "", last, 0, 0, 0, 0, "")

    assert status_text(SyncSnapshot()) == "offline"
    assert status_text(SyncSnapshot(state="running")) == "no peers yet"
    two = (peer(1, "in-sync", 12), peer(2, "connected", 300))
    assert (
        status_text(SyncSnapshot(state="running", trusted=two), now) == "2 peers · synced 12 s ago"
    )
    away = (peer(1, "offline", 7200), peer(2, "in-sync", None))
    assert status_text(SyncSnapshot(state="running", trusted=away), now) == (
        "1 of 2 peers · synced 2 h ago"
    )
    assert status_text(SyncSnapshot(state="running", trusted=(peer(1, "offline", None),))) == (
        "0 of 1 peers · never synced"
    )
    assert [ago(s) for s in (0, 59, 60, 3599, 3600, 86400 * 3)] == [
        "just now",
        "59 s ago",
        "1 min ago",
        "59 min ago",
        "1 h ago",
        "3 days ago",
    ]


def test_notices_name_the_colleague_and_count_the_new_contacts() -> None:
    from plntui.tui.sync_notices import notice, pairing_requests
    from plntui.tui.sync_service import NearbyPeer, SyncSnapshot

    shown = notice(SyncNotice("ChangesStored", "", "Bob", new_contacts=12))
    assert shown is not None and shown[0] == "Bob brought 12 new contacts"
    assert notice(SyncNotice("ChangesStored", "", "Bob", new_contacts=0)) is None
    assert notice(SyncNotice("PeerConnected", "connected to Bob", "Bob")) is None
    quiet = NearbyPeer(b"\x01" * 32, "Dave", "AAAAAAA", "10.0.0.2:47600")
    asking = NearbyPeer(b"\x01" * 32, "Dave", "AAAAAAA", "10.0.0.2:47600", pairing="42")
    before, after = SyncSnapshot(nearby=(quiet,)), SyncSnapshot(nearby=(asking,))
    assert pairing_requests(before, after) == ["Dave"]
    assert pairing_requests(after, after) == []  # told once
    offered = notice(SyncNotice("IntroductionOffered", "", "Carol", introducer="Bob"))
    assert offered is not None and offered[0] == "Bob introduces Carol: approve on the Peers screen"
    brought = notice(SyncNotice("PeerIntroduced", "", "Carol", introducer="Bob"))
    assert brought is not None and brought[0] == "Carol was trusted (introduced by Bob)"


def test_a_taken_port_falls_back_to_a_free_one(sample: Network, home: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = SyncService(
            sample,
            SyncOptions(listen_host="127.0.0.1", port=port, discovery=False),
            lambda message: None,
        )
        service.start()
        try:
            wait_until(lambda: service.snapshot.state == "running")
            assert service.runner.engine.port not in (0, port)
            warning = service.snapshot.warning
            assert f"port {port} is taken" in warning
            assert f"listening on {service.runner.engine.port}" in warning
        finally:
            service.stop()
    assert not service._thread.is_alive()  # type: ignore[union-attr]


async def test_plntui_sync_is_refused_while_the_app_syncs(home: Path, sample: Network) -> None:
    import contextlib
    import io

    from plntui.cli import main

    def plntui_sync() -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["--home", str(home), "sync", "--once", "--no-discovery", "--port", "0"])
        return code, err.getvalue()

    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        code, err = await asyncio.to_thread(plntui_sync)
        assert code != 0
        assert "already open in the plntui app" in err


# -- stopping, failing to start, markup in errors ----------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port on loopback that accepts connections and never answers."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in accepted:
        conn.close()


def test_quitting_while_a_join_waits_exits_at_once(
    home: Path, sample: Network, silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The pairing waits on a silent peer; quitting fails its future at once ("sync stopped"),
    the worker returns quietly, and the whole asyncio.run ends in well under the 60 s the
    dialog would wait. A second Enter while the first attempt runs starts nothing."""
    import gc

    from plntui.tui.dialogs.pairing import JoinDialog
    from plntui.tui.sync_service import SyncStopped

    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    futures: list[object] = []
    quit_at: list[float] = []

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
            service = app.sync_service
            pair = service.pair

            def counted(*args: object, **kwargs: object) -> object:
                futures.append(pair(*args, **kwargs))
                return futures[-1]

            service.pair = counted
            app.push_screen(JoinDialog())
            await wait_for(pilot, lambda: app.screen.query("#code-input"))
            app.screen.query_one("#code-input", Input).value = "42-7KQM-D3XA"
            app.screen.query_one("#address", Input).value = f"127.0.0.1:{silent_server}"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(futures) == 1)
            await pilot.press("enter")  # still pairing: no second attempt
            await pilot.pause(0.2)
            assert len(futures) == 1
            assert "Pairing…" in str(app.screen.query_one("#error").render())
            quit_at.append(time.monotonic())
            await pilot.press("ctrl+q")

    caplog.set_level("ERROR", logger="asyncio")
    asyncio.run(main())
    gc.collect()
    assert time.monotonic() - quit_at[0] < 5.0
    assert isinstance(futures[0].exception(timeout=0), SyncStopped)  # type: ignore[attr-defined]
    assert str(futures[0].exception(timeout=0)) == "sync stopped"  # type: ignore[attr-defined]
    assert not any("pending" in r.getMessage() for r in caplog.records)
    # the profile's session lock was released on the way out
    assert Network.open(home).profile.session_owner() is None


def test_every_outstanding_call_fails_fast_when_the_service_stops(sample: Network) -> None:
    from plntui.tui.sync_service import SyncStopped

    service = SyncService(sample, LOOPBACK, lambda message: None)
    service.start()
    wait_until(lambda: service.snapshot.state == "running")
    waiting = service.call(lambda: asyncio.sleep(60))  # a coroutine that never ends in time
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 3.0
    with pytest.raises(SyncStopped, match="sync stopped"):
        waiting.result(timeout=0)
    with pytest.raises(RuntimeError):  # and nothing new is accepted
        service.call(lambda: None).result(timeout=1)
    assert not service._tasks
    assert not service._thread.is_alive()  # type: ignore[union-attr]


def test_when_discovery_cannot_start_the_engine_syncs_without_it(
    sample: Network, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only discovery fails: the engine keeps running (a peer added by address syncs) and the
    snapshot warns "discovery off: <reason>" instead of turning sync off."""
    import errno

    import sync.discovery

    async def no_multicast(self: object) -> None:
        raise OSError(errno.ENODEV, "No such device (multicast)")

    monkeypatch.setattr(sync.discovery.Discovery, "start", no_multicast)
    bob = Peer(tmp_path / "bob", "Bob")
    alice = load_identity(home).fingerprint
    open_trust(home).trust(bob.fingerprint, "Bob")
    open_trust(bob.net.profile.home).trust(alice, "Alice")
    in_alices_circle(sample, bob)
    port = bob.start()
    open_trust(home).add_address(bob.fingerprint, f"127.0.0.1:{port}")
    options = SyncOptions(listen_host="127.0.0.1", port=0, discovery=True)
    service = SyncService(sample, options, lambda message: None)
    service.start()
    try:
        wait_until(lambda: service.snapshot.state == "running")
        snapshot = service.snapshot
        assert snapshot.warning == "discovery off: [Errno 19] No such device (multicast)"
        assert not snapshot.discovery and snapshot.error == ""
        wait_until(lambda: "Ada Lovelace" in contact_names(bob.net))  # syncing by address
    finally:
        service.stop()
        bob.stop()


def test_a_failure_after_listening_stops_the_engine(
    sample: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything else that fails once the engine listens: it stops again, sync shows failed."""
    import errno
    import socket

    from plntui.peersync import SyncRunner

    started: list[object] = []
    original = SyncRunner.start

    async def start_then_fail(self: SyncRunner) -> None:
        await original(self)
        started.append(self.engine)
        raise OSError(errno.EIO, "disk trouble")

    monkeypatch.setattr(SyncRunner, "start", start_then_fail)
    service = SyncService(sample, LOOPBACK, lambda message: None)
    service.start()
    try:
        wait_until(lambda: service.snapshot.state == "failed")
        assert "disk trouble" in service.snapshot.error
        engine = started[0]
        assert not engine.running  # type: ignore[attr-defined]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", engine.port), 1).close()  # type: ignore[attr-defined]
    finally:
        service.stop()


async def test_status_line_warns_and_its_tooltip_is_never_markup(
    home: Path, sample: Network
) -> None:
    from plntui.tui.sync_service import SyncSnapshot

    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE, tooltips=True) as pilot:
        await pilot.pause()
        widget = app.screen.query_one(SyncStatus)
        app.sync_snapshot = SyncSnapshot(state="running", warning="discovery off: [b]no[/b] [/]")
        await pilot.pause()
        assert status(app).startswith("⚠ ")
        assert widget.has_class("-warning")
        error = "cannot start syncing: [/] [@click=app.quit]x[/] [bold"
        app.sync_snapshot = SyncSnapshot(state="failed", error=error)
        await pilot.pause()
        await pilot.hover(SyncStatus)
        await pilot.pause(app.TOOLTIP_DELAY + 0.3)
        tooltip = app.screen.query_one("#textual-tooltip")
        assert tooltip.display
        assert error in str(tooltip.render())  # shown as written, nothing parsed or run
        assert app.is_running


def test_join_says_why_sync_is_off() -> None:
    from plntui.tui.dialogs.pairing import sync_off_reason
    from plntui.tui.sync_service import SyncSnapshot

    service = object()
    assert "--offline or --demo" in sync_off_reason(None, SyncSnapshot())
    assert "still starting" in sync_off_reason(service, SyncSnapshot(state="starting"))
    failed = SyncSnapshot(state="failed", error="cannot start syncing: port busy")
    assert sync_off_reason(service, failed) == "Sync failed: cannot start syncing: port busy."
    assert sync_off_reason(service, SyncSnapshot(state="running")) == ""


async def test_join_offline_says_offline(home: Path, sample: Network) -> None:
    from plntui.tui.dialogs.pairing import JoinDialog

    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(JoinDialog())
        await wait_for(pilot, lambda: isinstance(app.screen, JoinDialog))
        await pilot.press(*"42-7KQM-D3XA", "enter")
        await pilot.pause()
        text = str(app.screen.query_one("#error").render())
        assert "started with --offline or --demo" in text


async def test_an_edit_in_the_app_is_pushed_on_the_engines_thread(
    home: Path, sample: Network
) -> None:
    """A commit of the app (the UI thread) hands its documents to the engine, which syncs them
    on its own thread: the UI never runs the synchronizer."""
    app = PlntuiApp(home, watch_interval=0.1, sync=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_snapshot.state == "running")
        engine = app.sync_service.runner.engine
        calls: list[tuple[str, list[str]]] = []
        changed = engine.synchronizer.changed

        def recorded(doc_ids: list[str]) -> None:
            calls.append((threading.current_thread().name, list(doc_ids)))
            changed(doc_ids)

        engine.synchronizer.changed = recorded
        assert app.net is not None
        added = app.run_edit(app.net.add, "contacts", {"name": "Barbara Liskov"})
        assert added is not None
        await wait_for(pilot, lambda: bool(calls))
        assert {thread for thread, _ in calls} == {"plntui-sync"}
        assert any(doc.startswith(f"s:{added.circle}:") for _, docs in calls for doc in docs)
