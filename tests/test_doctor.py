"""``plntui doctor``: each verdict over fakes, the INFO query against a real engine, and real
processes inside a private network namespace (tests/lan.py) for discovery and the port checks."""

from __future__ import annotations

import asyncio
import errno
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from plntui import cli
from plntui.doctor import (
    SKEW_LIMIT,
    Finding,
    Interface,
    PeerCheck,
    PortState,
    Report,
    Route,
    UnseenCheck,
    bind_test,
    judge_discovery,
    judge_multicast,
    judge_peer,
    judge_port,
    judge_unseen,
    probe_port,
    route_interface,
)
from plntui.network import Network
from plntui.peersync import load_identity, open_trust
from plntui.sync_host import RepoHost
from sync.discovery import SeenPeer
from sync.engine import PeerRefused, SyncEngine
from sync.errors import RemoteProtocolError
from sync.fingerprint import format_fingerprint
from sync.framing import encode_frame
from sync.probe import PeerInfo, ProbeError, probe_info
from sync.session import SUPPORTED_VERSIONS
from sync.tls import (
    INFO,
    INFO_OK,
    MAX_INFO,
    TlsChannel,
    client_context_anonymous,
    info_ok_frame,
    parse_info_ok,
    read_one_frame,
    server_context,
)
from sync.trust import Peer
from tests.lan import reruns_in_lan
from tests.processes import PLNTUI
from tests.processes import cli as run_cli

HERE = Path(__file__).resolve()
FP_A = bytes(range(32))
FP_B = bytes(range(1, 33))

pytestmark = pytest.mark.timeout(120)


# -- 1. multicast --------------------------------------------------------------------------------

ETH = Interface("eth0", up=True, multicast=True, loopback=False)
LO = Interface("lo", up=True, multicast=False, loopback=True)


def test_multicast_ok_through_a_lan_interface() -> None:
    finding = judge_multicast([LO, ETH], Route("192.0.2.7", "eth0"))
    assert finding.status == "OK" and "eth0" in finding.message


def test_multicast_without_a_route_fails_and_points_to_peer_add() -> None:
    finding = judge_multicast([LO, ETH], Route(error="Network is unreachable"))
    assert finding.status == "FAIL" and "Network is unreachable" in finding.message
    assert any("plntui peer add HOST:PORT" in line for line in finding.advice)


def test_multicast_without_a_multicast_interface_fails() -> None:
    off = Interface("eth0", up=True, multicast=False, loopback=False)
    assert judge_multicast([LO, off], Route("192.0.2.7", "eth0")).status == "FAIL"


def test_multicast_by_an_interface_that_is_down_fails() -> None:
    down = Interface("wlan0", up=False, multicast=True, loopback=False)
    finding = judge_multicast([ETH, down], Route("192.0.2.7", "wlan0"))
    assert finding.status == "FAIL" and "wlan0" in finding.message and "down" in finding.message


def test_multicast_only_on_loopback_warns() -> None:
    lo = Interface("lo", up=True, multicast=True, loopback=True)
    finding = judge_multicast([lo], Route("127.0.0.1", "lo"))
    assert finding.status == "WARN" and "only plntui on this machine" in finding.message


def test_multicast_with_unknown_interfaces_judges_the_route() -> None:
    assert judge_multicast(None, Route("192.0.2.7", None)).status == "OK"


ROUTES = (
    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    "wlan0\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n"
    "dead0\t000000E0\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  # not up: ignored
)


def test_route_interface_takes_the_longest_prefix_that_is_up() -> None:
    assert route_interface(ROUTES, "224.0.0.251") == "wlan0"
    assert route_interface(ROUTES, "10.0.2.9") == "eth0"
    assert route_interface(ROUTES.splitlines()[0], "224.0.0.251") is None
    assert route_interface("junk\nnot a route line\n", "224.0.0.251") is None


# -- 2. the sync port ----------------------------------------------------------------------------


def info(fp: bytes = FP_A, **kw: Any) -> PeerInfo:
    values: dict[str, Any] = {
        "protocol": max(SUPPORTED_VERSIONS),
        "time": 1000.0,
        "rtt": 0.01,
        "received": 1000.0,
    }
    values.update(kw)
    return PeerInfo(fingerprint=fp, **values)


def test_port_free_without_a_running_sync_warns_to_start_one() -> None:
    finding = judge_port(PortState("0.0.0.0", 47600, None), FP_A)
    assert finding.status == "WARN" and "free" in finding.message
    assert finding.advice == ("open the app (plntui), or run plntui sync, and keep it running",)


def test_port_free_while_the_app_holds_the_profile_warns() -> None:
    finding = judge_port(PortState("0.0.0.0", 47600, "the plntui app (pid 7)"), FP_A)
    assert finding.status == "WARN" and "the plntui app (pid 7)" in finding.message


def in_use(**kw: Any) -> PortState:
    return PortState("0.0.0.0", 47600, bind_errno=errno.EADDRINUSE, bind_error="in use", **kw)


def test_port_held_by_our_own_sync_is_ok() -> None:
    finding = judge_port(in_use(owner="plntui sync (pid 9)", listener=info(FP_A)), FP_A)
    assert finding.status == "OK" and "plntui sync (pid 9)" in finding.message


def test_port_held_by_another_plntui_profile_fails() -> None:
    finding = judge_port(in_use(owner=None, listener=info(FP_B)), FP_A)
    assert finding.status == "FAIL" and "another plntui profile" in finding.message
    assert "plntui sync --port N" in finding.advice[0]


def test_port_held_by_another_program_fails() -> None:
    finding = judge_port(in_use(owner=None, listener_error="not TLS", listener_stage="tls"), FP_A)
    assert finding.status == "FAIL" and "another program" in finding.message


def test_port_busy_with_nothing_listening_says_connections_linger() -> None:
    finding = judge_port(
        in_use(owner=None, listener_error="refused", listener_stage="connect"), FP_A
    )
    assert finding.status == "FAIL" and "linger" in finding.message


def test_port_that_needs_privileges_fails() -> None:
    state = PortState("0.0.0.0", 80, None, bind_errno=errno.EACCES, bind_error="denied")
    finding = judge_port(state, FP_A)
    assert finding.status == "FAIL" and "below 1024" in finding.advice[0]


async def test_probe_port_tells_a_free_port_from_one_another_program_holds() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert bind_test("127.0.0.1", port) is not None
        state = await probe_port("127.0.0.1", port, None, 0.5)
        assert state.bind_errno == errno.EADDRINUSE and state.listener is None
        assert state.listener_error  # it accepted, but no TLS handshake came back
        assert judge_port(state, FP_A).status == "FAIL"
    assert bind_test("127.0.0.1", port) is None


# -- 3. peers seen on the LAN ----------------------------------------------------------------------


def seen(name: str = "Bob", fp: bytes = FP_B, version: int = 1) -> SeenPeer:
    return SeenPeer("k", name, fp, 47600, ("192.0.2.9",), version)


def test_discovery_with_nobody_seen_warns_with_the_usual_reasons() -> None:
    finding = judge_discovery([], 3.0)
    assert finding.status == "WARN"
    assert "multicast may be filtered: try plntui peer add HOST:PORT" in finding.advice
    assert judge_discovery([seen()], 3.0).status == "OK"


def test_trusted_peer_seen_and_answering_is_ok() -> None:
    check = PeerCheck(seen(), "trusted", "Bobby", info(FP_B), "192.0.2.9")
    findings = judge_peer(check)
    assert [f.status for f in findings] == ["OK"]
    assert "trusted as Bobby" in findings[0].message
    assert f"protocol {max(SUPPORTED_VERSIONS)}" in findings[0].message


def test_untrusted_peer_gets_pair_and_trust_advice() -> None:
    findings = judge_peer(PeerCheck(seen(), "unknown", None, info(FP_B), "192.0.2.9"))
    assert findings[0].status == "WARN" and "not trusted" in findings[0].message
    assert "pair with: plntui pair" in findings[0].advice
    assert f"plntui peer trust {format_fingerprint(FP_B)}" in findings[0].advice[1]


def test_revoked_peer_warns() -> None:
    findings = judge_peer(PeerCheck(seen(), "revoked", "Bob", info(FP_B), "192.0.2.9"))
    assert findings[0].status == "WARN" and "revoked" in findings[0].message


def test_a_handshake_proving_another_fingerprint_is_a_spoof() -> None:
    findings = judge_peer(PeerCheck(seen(fp=FP_B), "trusted", "Bob", info(FP_A), "192.0.2.9"))
    spoof = [f for f in findings if f.status == "FAIL"]
    assert len(spoof) == 1
    assert format_fingerprint(FP_B) in spoof[0].message
    assert format_fingerprint(FP_A) in spoof[0].message


def test_a_port_that_refuses_connections_fails_with_firewall_advice() -> None:
    check = PeerCheck(seen(), "trusted", "Bob", errors=("no connection (refused)",))
    findings = judge_peer(check)
    assert findings[-1].status == "FAIL" and "does not accept connections" in findings[-1].message
    assert "firewall" in findings[-1].advice[0]


def test_something_else_on_the_announced_port_fails() -> None:
    check = PeerCheck(seen(), "trusted", "Bob", errors=("not plntui",), stage="tls")
    assert "not plntui" in judge_peer(check)[-1].message


@pytest.mark.parametrize(
    ("skew", "warned"), [(SKEW_LIMIT + 1, True), (-SKEW_LIMIT - 1, True), (30.0, False)]
)
def test_clock_skew_over_five_minutes_warns(skew: float, warned: bool) -> None:
    answer = info(FP_B, time=1000.0 + skew, received=1000.0, rtt=0.0)
    findings = judge_peer(PeerCheck(seen(), "trusted", "Bob", answer, "192.0.2.9"))
    clock = [f for f in findings if f.topic == "clock"]
    assert bool(clock) == warned
    if warned:
        assert clock[0].status == "WARN"
        assert (
            clock[0]
            .advice[0]
            .startswith("certificates and 'last synced' times may look wrong; fix the clock")
        )
        assert ("ahead of" if skew > 0 else "behind") in clock[0].message


def test_skew_accounts_for_half_the_round_trip() -> None:
    assert info(time=100.0, received=101.0, rtt=2.0).skew == pytest.approx(0.0)
    assert info(time=None).skew is None


def test_protocol_versions_older_fail_newer_warn() -> None:
    ours = max(SUPPORTED_VERSIONS)
    newer = judge_peer(PeerCheck(seen(), "trusted", "B", info(FP_B, protocol=ours + 1), "x"))
    assert [f.status for f in newer] == ["OK", "WARN"] and "newer" in newer[1].message
    hinted = judge_peer(
        PeerCheck(seen(version=ours), "trusted", "B", info(FP_B, protocol=None), "x")
    )
    assert [f.status for f in hinted] == ["OK"]  # falls back on the TXT hint
    older = judge_peer(PeerCheck(seen(), "trusted", "B", info(FP_B, protocol=1), "x"))
    assert [f.status for f in older] == ["OK", "FAIL"]
    assert "older plntui (protocol 1" in older[1].message
    assert "update plntui there to sync with them" in older[1].advice[0]


# -- 4. trusted peers not seen -------------------------------------------------------------------


def test_trusted_peer_not_seen_gets_the_checklist() -> None:
    finding = judge_unseen(UnseenCheck(Peer(FP_B, "Bob", "trusted")))
    assert finding.status == "WARN" and "not seen on the LAN" in finding.message
    assert finding.advice == (
        "is plntui sync or the app running there?",
        "are you on the same network/VLAN? (guest Wi-Fi and VPNs often filter multicast)",
        "multicast may be filtered: try plntui peer add HOST:PORT",
    )


def test_trusted_peer_answering_at_its_stored_address_is_ok() -> None:
    check = UnseenCheck(Peer(FP_B, "Bob", "trusted"), info(FP_B), "192.0.2.9")
    assert judge_unseen(check).status == "OK"
    wrong = UnseenCheck(Peer(FP_B, "Bob", "trusted"), info(FP_A), "192.0.2.9")
    assert judge_unseen(wrong).status == "WARN"


# -- printing ------------------------------------------------------------------------------------


def test_cli_prints_peer_text_literally_and_exits_1_on_a_fail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async def fake_run(home: Path, **kw: Any) -> Report:
        return Report(
            "Me",
            "FP",
            home,
            [
                Finding("OK", "multicast", "fine"),
                Finding("FAIL", "peer", "Evil\x1b[31m [bold]x[/bold]", ("do \x07this",)),
            ],
        )

    monkeypatch.setattr("plntui.doctor.run_doctor", fake_run)
    assert cli.main(["--home", str(tmp_path), "doctor"]) == 1
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\x07" not in text
    assert "FAIL  peer       Evil[31m [bold]x[/bold]" in text and "-> do this" in text
    assert cli.main(["--home", str(tmp_path), "doctor", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and [c["status"] for c in data["checks"]] == ["OK", "FAIL"]


def test_cli_rejects_a_bad_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["--home", str(tmp_path), "doctor", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


# -- the INFO query against a real engine ----------------------------------------------------------


async def until(condition: Any, what: str, seconds: float = 5.0) -> None:
    """Wait until ``condition()`` holds (``AssertionError`` after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def engine_on(net: Network) -> Any:
    events: list[Any] = []
    engine = SyncEngine(
        RepoHost(net),
        load_identity(net.profile.home),
        open_trust(net.profile.home),
        listen_host="127.0.0.1",
        port=0,
        on_event=events.append,
        auto_dial=False,
    )
    await engine.start()
    try:
        yield engine, events
    finally:
        await engine.stop()


async def test_info_round_trip_against_a_real_engine(net: Network) -> None:
    trust_file = net.profile.home / "peers.json"
    before = trust_file.read_bytes() if trust_file.exists() else None
    async with engine_on(net) as (engine, events):
        start = time.time()
        answer = await probe_info("127.0.0.1", engine.port, timeout=5)
        assert answer.fingerprint == engine.identity.fingerprint  # proven by the handshake
        assert answer.protocol == max(SUPPORTED_VERSIONS)
        assert answer.time is not None and start - 1 <= answer.time <= time.time() + 1
        assert answer.skew is not None and abs(answer.skew) < 1
        assert 0 < answer.rtt < 5 and answer.problem is None
        # the engine is done with the connection (a refusal would be emitted before this)
        await until(lambda: engine.pending_handshakes == 0, "the INFO connection to be served")
        assert not [e for e in events if isinstance(e, PeerRefused)]
        # The port check sees this profile's own engine.
        state = await probe_port("127.0.0.1", engine.port, "plntui sync (pid 1)", 2)
        assert judge_port(state, engine.identity.fingerprint).status == "OK"
    assert (trust_file.read_bytes() if trust_file.exists() else None) == before


async def test_info_with_a_payload_is_refused_with_nothing_answered(net: Network) -> None:
    async with engine_on(net) as (engine, events):
        reader, writer = await asyncio.open_connection("127.0.0.1", engine.port)
        channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
        await channel.handshake(5)
        channel.write(encode_frame(INFO, b"junk"))
        await channel.drain()
        try:
            answered = await read_one_frame(channel, max_payload=MAX_INFO)
        except OSError:  # the engine dropped the link: a reset
            answered = None
        assert answered is None
        await channel.aclose()
        await until(
            lambda: any(isinstance(e, PeerRefused) for e in events),
            "the INFO with a payload refused",
        )


async def test_probe_info_against_a_peer_without_info_keeps_the_fingerprint(
    tmp_path: Path,
) -> None:
    from sync.identity import Identity

    identity = Identity.load_or_create(tmp_path / "old")

    async def old_plntui(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)  # the INFO frame: an older plntui just hangs up
        writer.close()

    server = await asyncio.start_server(
        old_plntui, "127.0.0.1", 0, ssl=server_context(identity, [])
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        answer = await probe_info("127.0.0.1", port, timeout=3)
    assert answer.fingerprint == identity.fingerprint
    assert answer.protocol is None and answer.skew is None and answer.problem


async def test_probe_info_reports_how_far_it_got() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(ProbeError) as refused:
            await probe_info("127.0.0.1", port, timeout=1)
    assert refused.value.stage == "connect"


def test_info_ok_frames_are_small_and_checked() -> None:
    frame = info_ok_frame(1, 1700000000.25)
    assert frame[4] == INFO_OK and len(frame) - 5 <= MAX_INFO
    assert parse_info_ok(frame[5:]) == (1, 1700000000.25)
    for bad in (
        b"not json",
        b"[]",
        b'{"protocol": true, "time": 1}',
        b'{"protocol": 1, "time": "now"}',
        b'{"protocol": 1, "time": NaN}',
        b'{"protocol": 0, "time": 1}',
        b'{"protocol": 1}',
        b"{" + b" " * MAX_INFO + b"}",
    ):
        with pytest.raises(RemoteProtocolError):
            parse_info_ok(bad)


# -- real processes inside a private network namespace ---------------------------------------------


in_lan = reruns_in_lan(120)
"""Run the test body inside a private namespace (re-running this test there)."""


def make_home(root: Path, name: str) -> tuple[Path, str]:
    """A profile and its fingerprint (made in-process: the processes under test come later)."""
    home = root / name
    Network.create(home, name)
    return home, load_identity(home).fingerprint_text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def syncing(home: Path, port: int) -> Iterator[None]:
    """``plntui sync`` on loopback, until it says it listens."""
    log = home.parent / f"{home.name}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*PLNTUI, "--home", str(home), "sync", "--listen", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while "listening on" not in log.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def doctor(home: Path, port: int, seconds: str = "1.5") -> subprocess.CompletedProcess[str]:
    args = ["doctor", "--listen", "127.0.0.1", "--port", str(port), "--timeout", seconds]
    return run_cli(home, *args, check=False)


@pytest.mark.slow
@in_lan
def test_doctor_lists_a_peer_as_untrusted_then_trusted(tmp_path: Path) -> None:
    alice, (bob, bob_fp) = make_home(tmp_path, "alice")[0], make_home(tmp_path, "bob")
    with syncing(bob, free_port()):
        first = doctor(alice, free_port())
        assert first.returncode == 0, first.stdout + first.stderr
        short = bob_fp[:7]
        assert re.search(
            rf"^WARN +peer +bob \({short}\) at 127\.0\.0\.1:\d+: seen, but not trusted"
            r" \[protocol 2; clocks agree\]$",
            first.stdout,
            re.M,
        ), first.stdout
        assert f"plntui peer trust {bob_fp}" in first.stdout
        assert re.search(r"^OK +discovery +1 plntui peer\(s\) seen", first.stdout, re.M)
        assert run_cli(alice, "peer", "trust", bob_fp, "--name", "Bobby").returncode == 0
        second = doctor(alice, free_port())
        assert second.returncode == 0, second.stdout + second.stderr
        assert re.search(
            rf"^OK +peer +bob \({short}\) at .*: trusted as Bobby", second.stdout, re.M
        )
        assert "not seen on the LAN" not in second.stdout
    # Bob stopped: Alice's doctor says her trusted peer is not seen, with the checklist.
    third = doctor(alice, free_port(), "0.3")
    assert re.search(rf"^WARN +trust +Bobby \({short}\): trusted, but not seen", third.stdout, re.M)
    assert "multicast may be filtered: try plntui peer add HOST:PORT" in third.stdout


@contextmanager
def not_plntui(port: int) -> Iterator[None]:
    """Another program on ``port``: it answers a TLS hello with a plain-text error."""
    import threading

    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers usually do
    holder.bind(("127.0.0.1", port))
    holder.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = holder.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        holder.shutdown(socket.SHUT_RDWR)
        holder.close()
        thread.join(5)


@pytest.mark.slow
@in_lan
def test_doctor_tells_who_holds_the_sync_port(tmp_path: Path) -> None:
    (alice, _), (bob, _) = make_home(tmp_path, "alice"), make_home(tmp_path, "bob")
    port = free_port()
    with syncing(bob, port):
        own = doctor(bob, port, "0.2")
        assert own.returncode == 0, own.stdout + own.stderr
        assert re.search(
            rf"^OK +port +port {port} on 127\.0\.0\.1: plntui sync \(pid \d+\) is "
            "listening there",
            own.stdout,
            re.M,
        ), own.stdout
        other = doctor(alice, port, "0.2")
        assert other.returncode == 1
        assert re.search(rf"^FAIL +port +port {port} .* another plntui profile", other.stdout, re.M)
    with not_plntui(port):
        taken = doctor(alice, port, "0.2")
    assert taken.returncode == 1
    assert re.search(rf"^FAIL +port +port {port} .* used by another program", taken.stdout, re.M)
    free = doctor(alice, port, "0.2")
    assert re.search(r"^WARN +port .* is free, but nothing syncs", free.stdout, re.M), free.stdout
    assert re.search(r"^(OK|WARN) +multicast +mDNS .* lo ", free.stdout, re.M), free.stdout


@pytest.mark.slow
@in_lan
def test_doctor_flags_a_spoofed_announcement_and_a_closed_port(tmp_path: Path) -> None:
    """Announcements that lie: Bob's fingerprint in front of Carol's engine, and a port where
    nothing listens. The handshake shows the first; the connection attempt the second."""
    from plntui.doctor import run_doctor
    from sync.discovery import Discovery

    (alice, _), (carol, _) = make_home(tmp_path, "alice"), make_home(tmp_path, "carol")
    bob_fp = bytes(range(100, 132))  # claimed, never proven: nobody holds that key

    async def scenario() -> Report:
        async with engine_on(Network.open(carol)) as (engine, _events):
            liars = [
                Discovery(
                    "bob", bob_fp, engine.port, on_change=lambda _e: None, interfaces=["127.0.0.1"]
                ),
                Discovery(
                    "dave",
                    bytes(range(50, 82)),
                    free_port(),
                    on_change=lambda _e: None,
                    interfaces=["127.0.0.1"],
                ),
            ]
            for liar in liars:
                await liar.start()
            try:
                return await run_doctor(
                    alice, listen="127.0.0.1", port=free_port(), timeout=2.5, probe_timeout=2
                )
            finally:
                for liar in liars:
                    await liar.stop()

    report = asyncio.run(scenario())
    fails = [f.message for f in report.findings if f.status == "FAIL"]
    carol_fp = load_identity(carol).fingerprint_text
    assert report.failed
    assert any(
        f"claims {format_fingerprint(bob_fp)}" in m and f"proved {carol_fp}" in m for m in fails
    ), report.findings
    assert any(m.startswith("dave (") and "does not accept connections" in m for m in fails)
