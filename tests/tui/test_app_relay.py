"""Pilot test of pairing and syncing through a transit relay from the app: Alice's app shows a
code with a relay set; Carol (a headless colleague, discovery off, no address of Alice's) joins
it through the relay, and Alice's contacts reach her through it. The Peers screen shows the
link's route."""

from __future__ import annotations

import asyncio
from pathlib import Path

from plntui.network import Network
from plntui.relay_config import set_profile_relay
from plntui.tui.app import PlntuiApp
from plntui.tui.screens.peers import PeersScreen
from tests.transit_relay import TransitRelay
from tests.tui.test_app_sync import (
    LOOPBACK,
    PEERS_KEY,
    SIZE,
    Peer,
    contact_names,
    wait_for,
    wait_until,
)


def routes(peers: PeersScreen) -> list[str]:
    """The Route column of the Trusted table."""
    table = peers.table("trusted")
    column = [str(c.label) for c in table.columns.values()].index("Route")
    return [str(table.get_row_at(n)[column]) for n in range(table.row_count)]


async def test_pair_and_sync_through_the_relay_from_the_app(
    home: Path, sample: Network, tmp_path: Path, transit: TransitRelay
) -> None:
    from plntui.tui.dialogs.pairing import InviteDialog

    set_profile_relay(home, transit.address)
    carol_home = tmp_path / "carol"
    carol = Peer(carol_home, "Carol")
    set_profile_relay(carol_home, transit.address)
    carol.start()
    try:
        assert carol.service.runner.engine.relay == transit.address
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
            # no address, discovery off: the code is not found nearby, so Carol meets the
            # invite at the relay
            result = await asyncio.to_thread(
                lambda: carol.service.pair(code, find_seconds=0.2).result(30)
            )
            assert result.name == "Alice"
            assert result.address == f"relay {transit.address}"
            await pilot.press("escape")
            await asyncio.to_thread(
                wait_until, lambda: "Ada Lovelace" in contact_names(carol.net), 30
            )
            peers = app.screen
            assert isinstance(peers, PeersScreen)
            await wait_for(pilot, lambda: routes(peers) == ["relay"], 10)
    finally:
        carol.stop()
