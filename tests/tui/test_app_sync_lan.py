"""The app on a stand-in office LAN (a private network namespace, see ``tests/lan.py``): a
colleague's device appears under Nearby, the app says when it asks to pair, and pairing from
Nearby by typing the code (adding the colleague to a circle of ours too) makes it a trusted peer
the app syncs with.

The test re-runs itself inside the namespace (zeroconf never touches a real interface) and
fails, never skips, when no namespace can be made.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable, Input, Select

from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.pairing import JoinDialog
from plntui.tui.screens.peers import PeersScreen
from plntui.tui.sync_service import SyncOptions
from tests.lan import inside_or_rerun
from tests.tui.test_app_sync import (
    PEERS_KEY,
    SIZE,
    Peer,
    contact_names,
    notifications,
    status,
    wait_for,
    wait_until,
)

LAN = SyncOptions(listen_host="127.0.0.1", port=0, discovery=True)
HERE = Path(__file__).resolve()


def _in_namespace(name: str) -> bool:
    """Inside a namespace: True. Outside: re-run test ``name`` in one, check it passed, False."""
    return inside_or_rerun(HERE, name, 120)


async def test_pair_with_a_nearby_colleague_from_the_peers_screen(
    home: Path, sample: Network, tmp_path: Path
) -> None:
    if not _in_namespace("test_pair_with_a_nearby_colleague_from_the_peers_screen"):
        return
    bob = Peer(tmp_path / "bob", "Bob", LAN)
    bob.start()
    try:
        app = PlntuiApp(home, watch_interval=0.1, sync=LAN)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(PEERS_KEY)
            await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
            screen = app.screen
            nearby = screen.query_one("#nearby", DataTable)
            await wait_for(pilot, lambda: nearby.display and nearby.row_count == 1, 8.0)
            assert str(nearby.get_row_at(0)[0]) == "Bob"
            assert str(nearby.get_row_at(0)[3]) == "not trusted"
            assert "no peers yet" in status(app)
            # Bob opens an invite: his device announces it, the app tells Alice
            invite = await asyncio.to_thread(lambda: bob.service.open_invite().result(5))
            await wait_for(pilot, lambda: str(nearby.get_row_at(0)[3]) == "wants to pair", 8.0)
            await wait_for(pilot, lambda: any("Bob wants to pair" in n for n in notifications(app)))
            nearby.focus()
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, JoinDialog))
            assert "Pair with Bob" in str(app.screen.query_one("Static").render())
            app.screen.query_one("#code-input", Input).value = invite.text
            with sample.lock:  # Alice adds Bob to her circle too
                app.screen.query_one("#pair-circle", Select).value = sample.default_circle().id
            app.screen.query_one("#code-input", Input).focus()
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: "Paired with Bob" in str(app.screen.query_one("#result").render()),
                10.0,
            )
            await pilot.press("escape")
            await wait_for(pilot, lambda: "1 peer ·" in status(app), 8.0)
            trusted = screen.query_one("#trusted", DataTable)
            await wait_for(pilot, lambda: trusted.display and trusted.row_count == 1)
            assert str(trusted.get_row_at(0)[0]) == "Bob"
            await wait_for(pilot, lambda: nearby.row_count == 0 or not nearby.display)
            await asyncio.to_thread(wait_until, lambda: "Ada Lovelace" in contact_names(bob.net))
    finally:
        bob.stop()
