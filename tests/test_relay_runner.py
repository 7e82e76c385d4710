"""The sync runner and the relay: it hands the engine the relay in use and the circle secrets,
follows a change of the profile's setting or of a circle (written by another process), and
gives circles without a secret one when it starts with a relay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plntui.circles import RELAY_SETTING
from plntui.network import Network
from plntui.peersync import SyncRunner, open_trust
from plntui.relay_config import set_profile_relay
from sync.relay import RelayAddress
from tests.test_relay_config import without_secret

pytestmark = pytest.mark.timeout(60)

BOB = bytes([0xB0]) * 32
RELAY = RelayAddress("relay.example", 4001)


def runner_of(net: Network, lines: list[str]) -> SyncRunner:
    return SyncRunner(
        net, listen_host="127.0.0.1", port=0, discovery=False, log=lines.append, fallback_port=False
    )


def watch_set_relay(runner: SyncRunner, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(runner.engine, "set_relay", calls.append)
    return calls


def test_the_engine_gets_the_relay_and_the_shared_secrets(net: Network) -> None:
    open_trust(net.profile.home).trust(BOB, "Bob")
    team = net.create_circle("Team")
    net.add_member(team.id, BOB)
    set_profile_relay(net.profile.home, RELAY)
    runner = runner_of(net, [])
    try:
        assert runner.engine.relay == RELAY
        assert runner.relay_setting.source == "profile"
        assert runner.engine.relay_secrets is not None
        assert runner.engine.relay_secrets(BOB) == [team.secret]
        assert runner.engine.relay_secrets(bytes(32)) == []
    finally:
        runner.host.close()


def test_no_relay_configured_gives_the_engine_none(net: Network) -> None:
    runner = runner_of(net, [])
    try:
        assert runner.engine.relay is None and runner.relay_setting.source == "none"
    finally:
        runner.host.close()


def test_the_runner_follows_changes_written_by_other_processes(
    net: Network, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    runner = runner_of(net, lines)
    calls = watch_set_relay(runner, monkeypatch)
    other = Network.open(home)  # another plntui process: plntui relay set ...
    try:
        runner._poll()
        assert calls == []  # nothing changed
        set_profile_relay(home, RELAY)
        runner._poll()
        assert calls == [RELAY] and lines[-1] == "relay: tcp:relay.example:4001 (from your profile)"
        runner._poll()
        assert calls == [RELAY]  # told once
        set_profile_relay(home, "off")
        runner._poll()
        assert calls == [RELAY, None] and "off" in lines[-1]
        # a circle names a relay: it applies once this device's own setting is gone
        circle = other.default_circle().id
        other.set_circle_setting(circle, RELAY_SETTING, "tcp:10.0.0.9:4001")
        runner._poll()
        assert calls == [RELAY, None]  # "off" still wins
        set_profile_relay(home, None)
        runner._poll()
        assert calls[-1] == RelayAddress("10.0.0.9", 4001)
        assert runner.relay_setting.source == "circle"
        # a circle changes without changing the relay (a secret or a member may have arrived):
        # the engine is told again, and looks at the secrets again
        open_trust(home).trust(BOB, "Bob")
        other.add_member(circle, BOB)
        runner._poll()
        assert calls[-1] == RelayAddress("10.0.0.9", 4001) and len(calls) == 4
    finally:
        other.profile.close()
        runner.host.close()


def test_a_failing_relay_read_does_not_lose_what_the_poll_found(
    net: Network, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    runner = runner_of(net, lines)

    def broken(_net: Any) -> Any:
        raise RuntimeError("damaged")

    other = Network.open(home)
    try:
        set_profile_relay(home, RELAY)
        monkeypatch.setattr("plntui.relay_config.effective_relay", broken)
        other.create_circle("Team")
        assert any(d.startswith("c:") for d in runner._poll())
        assert lines[-1] == "cannot read the relay setting: damaged"
    finally:
        other.profile.close()
        runner.host.close()


async def test_starting_with_a_relay_gives_circles_a_secret(
    net: Network, transit_relay: RelayAddress
) -> None:
    own = net.default_circle().id
    without_secret(net, own)
    set_profile_relay(net.profile.home, transit_relay)
    lines: list[str] = []
    runner = runner_of(net, lines)
    await runner.start()
    try:
        assert net.circles()[own].secret is not None
        assert f"relay: {transit_relay} (from your profile)" in lines
    finally:
        await runner.stop()


async def test_starting_without_a_relay_writes_nothing(net: Network) -> None:
    own = net.default_circle().id
    without_secret(net, own)
    runner = runner_of(net, [])
    await runner.start()
    try:
        assert net.circles()[own].secret is None
    finally:
        await runner.stop()
