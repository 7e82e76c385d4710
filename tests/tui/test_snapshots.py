"""Snapshot tests of the main screens (pytest-textual-snapshot), on fixed data and a fixed date.

Update them after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs it writes before committing them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, TextArea

from plntui.network import Network
from plntui.tui.app import PlntuiApp

SIZE = (100, 30)
TODAY = dt.date(2026, 3, 1)


@pytest.fixture
def fixed_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    counter = itertools.count(1)
    monkeypatch.setattr("plntui.network.new_id", lambda: f"{next(counter):012x}")
    monkeypatch.setattr("plntui.network.now_stamp", lambda: "2026-02-01T09:00:00Z")
    monkeypatch.setattr("plntui.network.today", lambda: TODAY)
    monkeypatch.setattr("plntui.model.today", lambda: TODAY)
    home = tmp_path / "snap"
    net = Network.create(home, "Alice")
    ada = net.add(
        "contacts",
        {
            "name": "Ada Lovelace",
            "org": "Analytical Engines",
            "role": "Mathematician",
            "topics": ["mathematics", "rust"],
            "relationship": "mentor",
            "emails": ["ada@example.com"],
            "met": "Lecture on the engine",
            "cadence_days": 30,
            "last_contacted": "2026-01-02",
            "remark": "Ask about the notes on Menabrea",
        },
    )
    net.add(
        "contacts",
        {
            "name": "Grace Hopper",
            "org": "US Navy",
            "role": "Rear admiral",
            "topics": ["compilers", "cobol"],
            "relationship": "professional",
            "introduced_by": ada.id,
            "last_contacted": "2026-02-20",
        },
    )
    net.add(
        "contacts",
        {
            "name": "Linus Torvalds",
            "org": "Linux Foundation",
            "topics": ["kernels", "git", "rust"],
            "relationship": "peer",
            "cadence_days": 90,
        },
    )
    net.add("contacts", {"name": "[bold red]not markup[/]", "topics": ["security"]})
    net.add(
        "notes",
        {
            "title": "Reading list",
            "kind": "resource",
            "tags": ["books"],
            "contacts": [ada.id],
            "body": "# Books\n\n- *Structure and Interpretation*\n- The Art of "
            "Computer Programming\n",
        },
    )
    net.add("notes", {"title": "Rust ownership", "tags": ["rust"], "body": "Borrowing rules."})
    net.log_interaction(ada.id, "coffee", "Talked about the analytical engine", "2026-01-02")
    return home


def _steady(app: Any) -> None:
    for widget in app.query(Input):
        widget.cursor_blink = False
    for area in app.query(TextArea):
        area.cursor_blink = False


def _before(*keys: str) -> Callable[[Any], Any]:
    async def run_before(pilot: Any) -> None:
        await pilot.pause()
        _steady(pilot.app)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        # what the keys started is done: a lookup waits out its typing pause (who knows: 0.15 s)
        # and runs in a worker
        await pilot.pause(0.3)
        await pilot.app.workers.wait_for_complete()
        _steady(pilot.app)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("contacts", ()),
        ("contacts_filtered", ("slash", "r", "u", "s", "t", "escape")),
        ("contact_form", ("e",)),
        ("notes", ("2",)),
        ("notes_preview", ("2", "f2")),
        ("who_knows_rust", ("3", "r", "u", "s", "t")),
        ("followups", ("4",)),
        ("help", ("f1",)),
    ],
)
def test_screen(name: str, keys: tuple[str, ...], fixed_home: Path, snap_compare: Any) -> None:
    app = PlntuiApp(fixed_home, watch_interval=60)
    assert snap_compare(app, terminal_size=SIZE, run_before=_before(*keys))


def test_80x24(fixed_home: Path, snap_compare: Any) -> None:
    app = PlntuiApp(fixed_home, watch_interval=60)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_before())


def test_peers_screen(fixed_home: Path, snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The peers screen on fixed fake sync data (no engine runs): trusted colleagues with their
    state (in sync, left, failed with its reason) and route, the circles they share, where they
    listen (a link Heidi dialled shows her listening port), the columns that fit and the selected
    peer described in full, introductions waiting for approval, a pairing request, nearby
    devices, names that look like markup."""
    from plntui.tui.sync_service import NearbyPeer, OfferedPeer, SyncSnapshot, TrustedPeer

    now = dt.datetime(2026, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
    monkeypatch.setattr("plntui.tui.sync_service.utcnow", lambda: now)

    def trusted(
        n: int, name: str, state: str, seconds: int | None, address: str, **role: Any
    ) -> TrustedPeer:
        return TrustedPeer(
            fingerprint=bytes([n]) * 32,
            name=name,
            state=state,
            address=address,
            last_sync=None if seconds is None else now - dt.timedelta(seconds=seconds),
            changes_in=n * 120,
            changes_out=n * 7,
            bytes_in=n * 48_000,
            bytes_out=n * 2_100,
            **{"last_error": "", **role},
        )

    def offered(n: int, name: str, short: str, by: str) -> OfferedPeer:
        return OfferedPeer(
            fingerprint=bytes([n]) * 32,
            name=name,
            short=short,
            fingerprint_text=f"{short}-AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGG",
            introducer=bytes([1]) * 32,
            introducer_name=by,
            offered=now - dt.timedelta(hours=2),
        )

    snapshot = SyncSnapshot(
        state="running",
        name="Alice",
        fingerprint="AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG-HHHH",
        listen="0.0.0.0:47600",
        discovery=True,
        trusted=(
            trusted(
                1,
                "Bob",
                "in-sync",
                12,
                "192.168.1.20:47600",
                introducer=True,
                route="lan",
                outbound=True,
            ),
            trusted(
                2,
                "Carol",
                "offline",
                3 * 3600,
                "192.168.1.21:47600",
                introduced_by="Bob",
                known_address="192.168.1.21:47600",
                goodbye="plntui is shutting down",
            ),
            trusted(
                3,
                "Heidi",
                "in-sync",
                40,
                "192.168.1.22:51234",
                route="lan",
                outbound=False,
                known_address="192.168.1.22:47600",
            ),
            trusted(
                4,
                "Frank",
                "failed",
                3 * 86400,
                "10.0.0.9:47600",
                outbound=None,
                known_address="10.0.0.9:47600",
                last_error="Frank at 10.0.0.9:47600: TLS error: WRONG_VERSION_NUMBER",
            ),
        ),
        introductions=(
            offered(5, "Erin", "EEEEEEE", "Bob"),
            offered(6, "[blink]Frank[/blink]", "FAFAFAF", "Bob"),
        ),
        nearby=(
            NearbyPeer(bytes([9]) * 32, "Dave", "BEBEBEB", "192.168.1.31:47600", pairing="42"),
            NearbyPeer(bytes([8]) * 32, "[bold red]Mallory[/]", "CACACAC", "192.168.1.66:47600"),
        ),
    )

    # Bob shares two circles with Alice, Carol none
    from plntui.peersync import open_trust

    bob = bytes([1]) * 32
    open_trust(fixed_home).trust(bob, "Bob")
    net = Network.open(fixed_home)
    net.add_member(net.default_circle().id, bob, "Bob")
    net.add_member(net.create_circle("Data team").id, bob, "Bob")
    net.profile.close()

    async def run_before(pilot: Any) -> None:
        pilot.app.sync_snapshot = snapshot
        await _before("6")(pilot)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    app = PlntuiApp(fixed_home, watch_interval=60)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
