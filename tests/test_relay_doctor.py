"""``plntui doctor``'s relay checks: each verdict over fakes, ``probe_relay`` against a real
transit relay and against servers that are not one, and the whole doctor with a real relay (LAN
browsing replaced by a fake: nothing starts zeroconf here)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from plntui import cli
from plntui.circles import Circle
from plntui.doctor import (
    PeerCheck,
    RelayState,
    RouteCheck,
    UnseenCheck,
    judge_relay,
    judge_routes,
    probe_relay,
    route_checks,
)
from plntui.network import Network
from plntui.peersync import open_trust
from plntui.relay_config import EffectiveRelay, set_profile_relay
from sync.discovery import SeenPeer
from sync.probe import PeerInfo
from sync.relay import RelayAddress, RelayCheck
from sync.trust import Peer

pytestmark = pytest.mark.timeout(120)

BOB = bytes([0xB0]) * 32
RELAY = RelayAddress("127.0.0.1", 4001)
TEAM = Circle("c" * 16, "Team", {})
WORKS = RelayState(EffectiveRelay(RELAY, "profile"), check=RelayCheck(RELAY, 0.0042, 0.0123))
BROKEN = RelayState(EffectiveRelay(RELAY, "circle", TEAM), error="cannot reach the relay: refused")
NONE = RelayState(EffectiveRelay(None, "none"))
OFF = RelayState(EffectiveRelay(None, "off"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the relay's verdict ---------------------------------------------------------------------------


def test_a_working_relay_is_ok_with_its_timings() -> None:
    (finding,) = judge_relay(WORKS)
    assert finding.status == "OK" and finding.topic == "relay"
    assert finding.message == (
        "tcp:127.0.0.1:4001 (from your profile): reachable, a transit relay (matched two test "
        "connections in 4.2 ms; round trip 12 ms)"
    )


def test_a_broken_relay_fails_with_advice() -> None:
    (finding,) = judge_relay(BROKEN)
    assert finding.status == "FAIL"
    assert finding.message == (
        "tcp:127.0.0.1:4001 (from circle Team): cannot reach the relay: refused"
    )
    assert any("transitrelay" in a for a in finding.advice)
    assert any(f"--circle {TEAM.id}" in a for a in finding.advice)


def test_no_relay_says_nothing_and_off_says_so() -> None:
    assert judge_relay(NONE) == []
    (finding,) = judge_relay(OFF)
    assert finding.status == "OK" and "relay is off" in finding.message


def test_a_setting_that_does_not_parse_warns() -> None:
    findings = judge_relay(RelayState(EffectiveRelay(None, "none"), invalid="tcp:nowhere"))
    assert [f.status for f in findings] == ["WARN"]
    assert "'tcp:nowhere' is not a relay address" in findings[0].message


# -- the routes' verdict ---------------------------------------------------------------------------


def bob(**kw: Any) -> Peer:
    return Peer(BOB, "Bob", "trusted", **kw)


def test_routes_by_lan_direct_and_relay() -> None:
    route = RouteCheck(bob(addresses=("192.0.2.9:47600",)), seen=True, answers=True, shared="pair")
    finding = judge_routes(route, WORKS)
    assert finding.status == "OK"
    assert finding.message.endswith(
        ": can be reached by LAN, direct (stored address), relay (pair secret, not tried)"
    )


def test_routes_missing_are_explained() -> None:
    route = RouteCheck(bob(addresses=("192.0.2.9:47600",)), tried_direct=True, shared="circle")
    finding = judge_routes(route, WORKS)
    assert finding.status == "OK"
    assert finding.message.endswith(
        ": can be reached by relay (circle secret, not tried); LAN: not seen, direct: its "
        "stored address does not answer"
    )
    seen = judge_routes(RouteCheck(bob(), seen=True, tried_direct=False), NONE)
    assert seen.status == "WARN" and "LAN: seen, but it does not answer" in seen.message
    assert "relay: none configured" in seen.message
    assert any("plntui relay set" in a for a in seen.advice)


def test_no_secret_points_to_pairing_or_a_lan_sync() -> None:
    finding = judge_routes(RouteCheck(bob()), WORKS)
    assert finding.status == "WARN" and "no route reaches it now" in finding.message
    assert "relay: no shared secret" in finding.message
    assert any("plntui pair" in a and "on the LAN" in a for a in finding.advice)


def test_a_relay_that_does_not_work_or_is_off_is_no_route() -> None:
    broken = judge_routes(RouteCheck(bob(), shared="pair"), BROKEN)
    assert broken.status == "WARN" and "relay: it does not work" in broken.message
    off = judge_routes(RouteCheck(bob(), shared="pair"), OFF)
    assert off.status == "WARN" and "relay: off here" in off.message


def test_route_checks_gather_what_the_other_checks_found() -> None:
    carol = bytes([0xCA]) * 32
    dave = bytes([0xDA]) * 32
    info = PeerInfo(BOB, 2, None, 0.001)
    announced = SeenPeer("bob._plntui", "Bob", BOB, 47600, ("192.0.2.1",), 2)
    seen = PeerCheck(announced, "trusted", "Bob", info=info)
    carol_peer = Peer(carol, "Carol", "trusted", addresses=("192.0.2.2:1",))
    dave_peer = Peer(dave, "Dave", "trusted", relay_secret=b"s" * 32)
    unseen = [
        UnseenCheck(carol_peer, PeerInfo(carol, 2, None, 0.001), "192.0.2.2"),
        UnseenCheck(dave_peer),
    ]
    found = route_checks(
        [bob(), carol_peer, dave_peer], [seen], unseen, lambda fp: [b"x"] if fp == BOB else []
    )
    assert [(r.seen, r.answers, r.tried_direct, r.direct, r.shared) for r in found] == [
        (True, True, False, False, "circle"),
        (False, False, True, True, None),
        (False, False, False, False, "pair"),
    ]


# -- probe_relay against real servers -----------------------------------------------------------


async def test_probe_a_real_transit_relay(transit_relay: RelayAddress) -> None:
    state = await probe_relay(EffectiveRelay(transit_relay, "profile"), None, 5.0)
    assert state.works and state.error is None and state.check is not None
    assert 0 < state.check.round_trip_seconds < 5


@asynccontextmanager
async def server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[RelayAddress]:
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield RelayAddress("127.0.0.1", srv.sockets[0].getsockname()[1])
    finally:
        srv.close()
        await srv.wait_closed()


async def http_400(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"HTTP/1.1 400 Bad Request\r\n")
    await writer.drain()
    writer.close()


async def close_at_once(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def probe_error(relay: RelayAddress) -> str:
    state = await probe_relay(EffectiveRelay(relay, "profile"), None, 3.0)
    assert not state.works and state.error is not None
    (finding,) = judge_relay(state)
    assert finding.status == "FAIL" and "\n" not in finding.message
    return state.error


async def test_probe_a_server_that_is_not_a_relay() -> None:
    async with server(http_400) as relay:
        error = await probe_error(relay)
    assert re.fullmatch(
        rf"{re.escape(str(relay))} does not speak the transit relay protocol "
        r"\(it answered 'HTTP/1\.1 400 Bad Request\?\?'\)",
        error,
    ), error


async def test_probe_a_server_that_closes_at_once() -> None:
    async with server(close_at_once) as relay:
        for _ in range(5):  # the close races our request: every outcome is one line
            error = await probe_error(relay)
            assert str(relay) in error
            assert "closed the connection" in error or "broke the connection" in error, error


async def test_probe_a_port_where_nothing_listens() -> None:
    relay = RelayAddress("127.0.0.1", free_port())
    error = await probe_error(relay)
    assert error.startswith(f"cannot reach the relay at {relay}: "), error


async def test_probe_nothing_without_a_relay() -> None:
    assert await probe_relay(EffectiveRelay(None, "off"), None, 1.0) == OFF


# -- the whole doctor ---------------------------------------------------------------------------


@pytest.fixture
def no_lan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Browsing the LAN sees nobody (and starts no zeroconf)."""

    async def browse(*_args: Any) -> list[Any]:
        return []

    monkeypatch.setattr("plntui.doctor.browse", browse)


def doctor(home: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    args = ["--home", str(home), "doctor", "--listen", "127.0.0.1", "--port", str(free_port())]
    cli.main([*args, "--timeout", "0.1", *extra])
    return capsys.readouterr().out


def line(out: str, pattern: str) -> str:
    found = re.search(pattern, out, re.M)
    assert found, out
    return found.group(0)


@pytest.mark.usefixtures("no_lan")
def test_doctor_with_a_real_relay_lists_each_peers_routes(
    net: Network, transit_relay: RelayAddress, capsys: pytest.CaptureFixture[str]
) -> None:
    home = net.profile.home
    carol, dave = bytes([0xCA]) * 32, bytes([0xDA]) * 32
    trust = open_trust(home)
    trust.trust(BOB, "Bob")
    trust.set_relay_secret(BOB, b"p" * 32)
    trust.trust(carol, "Carol")
    net.add_member(net.default_circle().id, carol)
    trust.trust(dave, "Dave")
    trust.add_address(dave, f"127.0.0.1:{free_port()}")
    set_profile_relay(home, transit_relay)
    out = doctor(home, capsys)
    line(
        out,
        rf"^OK +relay +{re.escape(str(transit_relay))} \(from your profile\): reachable, a "
        r"transit relay \(matched two test connections in [\d.]+ ms; round trip [\d.]+ ms\)$",
    )
    line(
        out,
        r"^OK +routes +Bob \(\w+\): can be reached by relay \(pair secret, not tried\); "
        r"LAN: not seen",
    )
    line(out, r"^OK +routes +Carol \(\w+\): can be reached by relay \(circle secret, not tried\)")
    dave_line = line(out, r"^WARN +routes +Dave \(\w+\): no route reaches it now.*$")
    assert "direct: its stored address does not answer" in dave_line
    assert "relay: no shared secret" in dave_line
    data = json.loads(doctor(home, capsys, "--json"))
    topics = [c["topic"] for c in data["checks"]]
    assert topics.count("relay") == 1 and topics.count("routes") == 3


@pytest.mark.usefixtures("no_lan")
def test_doctor_with_a_relay_that_is_down_fails_in_one_line(
    net: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    open_trust(net.profile.home).trust(BOB, "Bob")
    net.add_member(net.default_circle().id, BOB)
    dead = RelayAddress("127.0.0.1", free_port())
    net.set_circle_setting(net.default_circle().id, "relay", dead.text)
    home = net.profile.home
    out = doctor(home, capsys)
    line(
        out,
        rf"^FAIL +relay +{re.escape(str(dead))} \(from circle Alice's circle\): cannot reach "
        rf"the relay at {re.escape(str(dead))}: .+$",
    )
    line(out, r"^WARN +routes +Bob \(\w+\): no route reaches it now; .*relay: it does not work")


@pytest.mark.usefixtures("no_lan")
def test_doctor_without_a_relay_still_names_the_routes(
    net: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    open_trust(net.profile.home).trust(BOB, "Bob")
    out = doctor(net.profile.home, capsys)
    assert not re.search(r"^\w+ +relay ", out, re.M)
    line(out, r"^WARN +routes +Bob \(\w+\): no route reaches it now; .*relay: none configured")
