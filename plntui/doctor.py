"""Provides ``plntui doctor``: why a colleague is not seen, as checks that each give plain advice.

Every check is a small function returning ``Finding``s (``OK``, ``WARN`` or ``FAIL``, a one-line
message and advice lines); ``cli`` prints them. Gathering (sockets, zeroconf, files) is kept apart
from judging (pure functions over plain values), so each verdict is tested with fakes:

1. multicast (``check_multicast``): an interface up with the MULTICAST flag, and a route for the
   mDNS group 224.0.0.251. The route is read by ``connect()`` on a UDP socket, which sends
   nothing, and ``getsockname()``.
2. the sync port (``check_port``): free, held by this profile's own ``plntui sync`` or app (its
   ``session.lock`` names it, and the listener's certificate is ours), or taken by something else.
3. discovery (``browse``, ``inspect_peer``, ``judge_peer``): browse ``_plntui._tcp.local.`` for a
   few seconds without announcing; for every peer seen, whether we trust it, whether its port
   accepts a connection, which certificate it proves in the TLS handshake compared with what its
   announcement claims (a mismatch is a spoofed or stale announcement), its protocol version and
   how far its clock is off (the anonymous ``INFO`` query, ``sync.probe.probe_info``).
4. trust (``judge_unseen``): trusted peers not seen on the LAN; their stored addresses
   (``plntui peer add``) are tried directly.
5. the relay (``probe_relay``, ``judge_relay``), when one is configured (``relay_config``):
   ``sync.relay.check_relay`` meets itself there under a random token and sends a few bytes
   across (never a peer's token: a running ``plntui sync`` of this profile may wait under it,
   and the relay would match the two). Then, for every trusted peer, the routes that reach it
   (``judge_routes``): the LAN (discovery saw it and it answered), a direct address (stored),
   the relay (it works, and a secret is shared: the pair secret of pairing by code, or a
   circle's), and why a route is missing.

Names and anything else a peer sent are data: sanitised by discovery, and printed by ``cli``
through ``safe_text``. Nothing here changes the profile, the trust store or a peer.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sync.discovery import SeenPeer
    from sync.probe import PeerInfo
    from sync.relay import RelayCheck
    from sync.trust import Peer, TrustStore

    from .relay_config import EffectiveRelay

Status = Literal["OK", "WARN", "FAIL"]
MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353
SKEW_LIMIT = 300.0
"""Seconds of clock difference that earn a warning."""
MAX_PROBES = 16
"""Peers probed at once."""

_SIOCGIFFLAGS = 0x8913  # Linux
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_MULTICAST = 0x1000

PAIR_ADVICE = "pair with: plntui pair"
UNSEEN_ADVICE = (
    "is plntui sync or the app running there?",
    "are you on the same network/VLAN? (guest Wi-Fi and VPNs often filter multicast)",
    "multicast may be filtered: try plntui peer add HOST:PORT",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One verdict: ``status``, what was checked (``topic``), a one-line ``message``, advice."""

    status: Status
    topic: str
    message: str
    advice: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "topic": self.topic,
            "message": self.message,
            "advice": list(self.advice),
        }


def failed(findings: Iterable[Finding]) -> bool:
    return any(f.status == "FAIL" for f in findings)


# -- 1. multicast --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    up: bool
    multicast: bool
    loopback: bool


@dataclass(frozen=True, slots=True)
class Route:
    """Where the kernel would send mDNS: our ``source`` address and its ``interface``, or the
    ``error`` that says there is no route."""

    source: str | None = None
    interface: str | None = None
    error: str | None = None


def list_interfaces() -> list[Interface] | None:
    """The interfaces of this network namespace with their flags; ``None`` where unsupported."""
    if not sys.platform.startswith("linux"):
        return None
    import fcntl
    import struct

    found: list[Interface] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for name in names:
                request = struct.pack("16sH22x", name.encode()[:15], 0)
                try:
                    answer = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request)
                except OSError:
                    continue
                flags = int(struct.unpack("16sH22x", answer)[1])
                found.append(
                    Interface(
                        name,
                        up=bool(flags & _IFF_UP),
                        multicast=bool(flags & _IFF_MULTICAST),
                        loopback=bool(flags & _IFF_LOOPBACK),
                    )
                )
    except OSError:
        return None
    return found


def multicast_route(route_table: str | None = None) -> Route:
    """The route to 224.0.0.251. ``connect()`` on a UDP socket asks the kernel for one (and
    sends nothing); the interface comes from the IPv4 route table (``/proc/self/net/route``,
    longest prefix first; ``route_table`` passes its text in tests), its address from ifaddr."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((MDNS_GROUP, MDNS_PORT))
            source = str(sock.getsockname()[0])
        except OSError as err:
            return Route(error=err.strerror or str(err))
    if route_table is None:
        try:
            route_table = Path("/proc/self/net/route").read_text()
        except OSError:
            route_table = ""
    interface = route_interface(route_table, MDNS_GROUP)
    if interface is not None:
        source = _address_of(interface) or source
    elif source != "0.0.0.0":
        interface = _interface_of(source)
    return Route(source=source, interface=interface)


def route_interface(table: str, destination: str) -> str | None:
    """The interface ``/proc/net/route`` text sends ``destination`` by (longest prefix wins;
    addresses and masks are little-endian hex there), ``None`` when no route matches."""
    target = int(ipaddress.IPv4Address(destination))
    best: tuple[int, str] | None = None
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            network = int.from_bytes(bytes.fromhex(fields[1]), "little")
            mask = int.from_bytes(bytes.fromhex(fields[7]), "little")
            flags = int(fields[3], 16)
        except ValueError:
            continue
        if not flags & 0x1 or target & mask != network:  # RTF_UP
            continue
        prefix = bin(mask).count("1")
        if best is None or prefix > best[0]:
            best = (prefix, fields[0])
    return None if best is None else best[1]


def _adapters() -> list[Any]:
    try:
        import ifaddr  # zeroconf's own dependency
    except ImportError:  # pragma: no cover - zeroconf always brings it
        return []
    return list(ifaddr.get_adapters())


def _address_of(interface: str) -> str | None:
    for adapter in _adapters():
        if interface in (adapter.name, adapter.nice_name):
            for ip in adapter.ips:
                if isinstance(ip.ip, str):
                    return str(ip.ip)
    return None


def _interface_of(address: str) -> str | None:
    for adapter in _adapters():
        for ip in adapter.ips:
            if ip.ip == address:
                return str(adapter.nice_name or adapter.name)
    return None


def judge_multicast(interfaces: Sequence[Interface] | None, route: Route) -> Finding:
    """The verdict on multicast: pure, over what ``list_interfaces``/``multicast_route`` saw."""
    topic = "multicast"
    if route.error is not None or route.source is None:
        return Finding(
            "FAIL",
            topic,
            f"no route for the mDNS group {MDNS_GROUP} ({route.error or 'unknown'}): "
            "colleagues cannot be found on the LAN",
            (
                "connect to the office network (the machine seems to have no network)",
                "meanwhile reach a colleague by address: plntui peer add HOST:PORT",
            ),
        )
    usable = [i for i in interfaces or () if i.up and i.multicast]
    if interfaces is not None and not usable:
        return Finding(
            "FAIL",
            topic,
            "no network interface is up with multicast on: mDNS discovery cannot work",
            (
                "bring the LAN interface up, with multicast on (ip link set DEV multicast on)",
                "meanwhile reach a colleague by address: plntui peer add HOST:PORT",
            ),
        )
    chosen = next((i for i in interfaces or () if i.name == route.interface), None)
    where = f"{route.interface or 'an unknown interface'} (from {route.source})"
    if chosen is not None and not (chosen.up and chosen.multicast):
        missing = "is down" if not chosen.up else "has multicast off"
        return Finding(
            "FAIL",
            topic,
            f"mDNS would leave by {where}, which {missing}",
            (
                f"ip link set {chosen.name} up multicast on, or fix the multicast route",
                "meanwhile reach a colleague by address: plntui peer add HOST:PORT",
            ),
        )
    if (chosen is not None and chosen.loopback) or _is_loopback(route.source):
        return Finding(
            "WARN",
            topic,
            f"mDNS goes out by the loopback {where}: only plntui on this machine can be found",
            ("connect to the office network to find colleagues on other machines",),
        )
    return Finding("OK", topic, f"mDNS leaves by {where}, up with multicast on")


def check_multicast() -> Finding:
    return judge_multicast(list_interfaces(), multicast_route())


# -- 2. the sync port ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortState:
    """What ``probe_port`` saw at ``host:port``: ``bind_error`` is ``None`` when the port is
    free (else ``bind_errno``/``bind_error``); ``listener`` is what answered there when it is
    taken (``listener_error`` when nothing plntui answered); ``owner`` holds the profile's
    session lock."""

    host: str
    port: int
    owner: str | None
    bind_errno: int | None = None
    bind_error: str | None = None
    listener: PeerInfo | None = None
    listener_error: str | None = None
    listener_stage: str | None = None  # "connect": nothing accepts there; "tls": not plntui


def bind_test(host: str, port: int) -> tuple[int, str] | None:
    """Try to bind ``host:port`` as the sync listener would (``SO_REUSEADDR``); the error, or
    ``None`` when the port is free. Nothing listens, nothing is sent."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return (errno.EADDRNOTAVAIL, f"cannot resolve {host} ({err.strerror})")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            return (err.errno or 0, err.strerror or str(err))
    return None


def _local_target(host: str) -> str:
    """Where to reach our own listener: the listen address, or loopback for a wildcard."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return host


async def probe_port(host: str, port: int, owner: str | None, timeout: float) -> PortState:
    from sync.probe import ProbeError, probe_info

    problem = bind_test(host, port)
    if problem is None:
        return PortState(host, port, owner)
    code, text = problem
    state = PortState(host, port, owner, bind_errno=code, bind_error=text)
    if code != errno.EADDRINUSE:
        return state
    try:
        info = await probe_info(_local_target(host), port, timeout)
    except ProbeError as err:
        return replace(state, listener_error=str(err), listener_stage=err.stage)
    return replace(state, listener=info)


def judge_port(state: PortState, own_fingerprint: bytes) -> Finding:
    """The verdict on the sync port: pure, over what ``probe_port`` saw."""
    from sync.fingerprint import short_fingerprint

    where = f"port {state.port} on {state.host}"
    topic = "port"
    other = "plntui sync --port N (any free port; then plntui doctor --port N)"
    if state.bind_error is None:
        if state.owner is None:
            return Finding(
                "WARN",
                topic,
                f"{where} is free, but nothing syncs on this profile right now: colleagues "
                "cannot reach you",
                ("open the app (plntui), or run plntui sync, and keep it running",),
            )
        return Finding(
            "WARN",
            topic,
            f"{state.owner} holds this profile, but nothing listens on {where}",
            (
                "is it syncing on another port, or with sync off? "
                "check that port with: plntui doctor --port N",
            ),
        )
    if state.bind_errno == errno.EADDRINUSE:
        info = state.listener
        if info is not None and info.fingerprint == own_fingerprint:
            who = state.owner or "this profile's plntui"
            return Finding("OK", topic, f"{where}: {who} is listening there (our certificate)")
        if info is not None:
            return Finding(
                "FAIL",
                topic,
                f"{where} is taken by another plntui profile "
                f"({short_fingerprint(info.fingerprint)})",
                (f"give one of them another port: {other}",),
            )
        if state.listener_stage == "connect":
            return Finding(
                "FAIL",
                topic,
                f"{where} is busy, but nothing accepts connections there: connections of a "
                "program that just stopped may linger",
                (f"try again in a minute, or sync on another port: {other}",),
            )
        return Finding(
            "FAIL",
            topic,
            f"{where} is used by another program ({state.listener_error or 'not plntui'})",
            (
                f"stop that program, or sync on another port: {other}",
                f"see which program it is with: ss -ltnp 'sport = :{state.port}'",
            ),
        )
    if state.bind_errno == errno.EACCES:
        advice: tuple[str, ...] = ("ports below 1024 need privileges: " + other,)
    elif state.bind_errno == errno.EADDRNOTAVAIL:
        advice = ("listen on an address of this machine (--listen), or 0.0.0.0 for all",)
    else:
        advice = (other,)
    return Finding("FAIL", topic, f"cannot listen on {where} ({state.bind_error})", advice)


async def check_port(
    host: str, port: int, owner: str | None, own_fingerprint: bytes, timeout: float
) -> Finding:
    return judge_port(await probe_port(host, port, owner, timeout), own_fingerprint)


# -- 3. discovery --------------------------------------------------------------------------------


async def browse(
    own_fingerprint: bytes, seconds: float, interfaces: list[str] | None
) -> list[SeenPeer]:
    """Every plntui announcement seen within ``seconds`` (browsing only; we announce nothing).

    Raises ``sync.discovery.DiscoveryError`` when zeroconf cannot start."""
    from sync.discovery import Discovery

    discovery = Discovery(
        "plntui doctor",
        own_fingerprint,
        1,  # unused: nothing is announced
        on_change=lambda _event: None,
        interfaces=interfaces,
        announce=False,
    )
    await discovery.start()
    try:
        await asyncio.sleep(seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5  # let resolutions in flight end
        while discovery.backlog and loop.time() < deadline:
            await asyncio.sleep(0.05)
        peers = list(discovery.peers().values())
    finally:
        await discovery.stop()
    return sorted(peers, key=lambda p: (p.name.casefold(), p.fingerprint))


def judge_discovery(peers: Sequence[SeenPeer], seconds: float) -> Finding:
    if peers:
        return Finding("OK", "discovery", f"{len(peers)} plntui peer(s) seen in {seconds:g} s")
    return Finding(
        "WARN",
        "discovery",
        f"no other plntui seen on the LAN in {seconds:g} s",
        (*UNSEEN_ADVICE, "or wait longer: plntui doctor --timeout 10"),
    )


@dataclass(frozen=True, slots=True)
class PeerCheck:
    """One announcement and what probing it showed: ``info`` from the first address that
    completed a handshake (``address``), else ``errors`` per address and the furthest ``stage``
    reached (``"connect"`` or ``"tls"``)."""

    seen: SeenPeer
    trust_state: str  # "trusted", "revoked" or "unknown"
    trusted_name: str | None = None
    info: PeerInfo | None = None
    address: str | None = None
    errors: tuple[str, ...] = ()
    stage: str = "connect"


async def reach(
    endpoints: Sequence[tuple[str, int]], timeout: float
) -> tuple[PeerInfo | None, str | None, tuple[str, ...], str]:
    """Try ``probe_info`` at each endpoint in turn: (info, the address, errors, stage)."""
    from sync.probe import ProbeError, probe_info

    errors: list[str] = []
    stage = "connect"
    for host, port in endpoints:
        try:
            info = await probe_info(host, port, timeout)
        except ProbeError as err:
            errors.append(str(err))
            if err.stage == "tls":
                stage = "tls"
            continue
        return info, host, tuple(errors), stage
    return None, None, tuple(errors), stage


async def inspect_peer(seen: SeenPeer, trust: TrustStore, timeout: float) -> PeerCheck:
    stored = trust.get(seen.fingerprint)
    state = "unknown" if stored is None else stored.state
    info, address, errors, stage = await reach(seen.endpoints(), timeout)
    return PeerCheck(
        seen,
        state,
        trusted_name=None if stored is None else stored.display_name,
        info=info,
        address=address,
        errors=errors,
        stage=stage,
    )


def _skew_text(seconds: float) -> str:
    size = abs(seconds)
    amount = f"{size / 3600:.1f} h" if size >= 3600 else f"{size / 60:.0f} min"
    return f"{amount} {'ahead of' if seconds > 0 else 'behind'}"


def judge_peer(check: PeerCheck) -> list[Finding]:
    """The verdicts on one seen peer: pure, over what ``inspect_peer`` saw. The first finding
    says who it is and whether we trust it; problems follow, each with its advice."""
    from sync.fingerprint import format_fingerprint, short_fingerprint
    from sync.session import SUPPORTED_VERSIONS

    seen = check.seen
    label = f"{seen.name or 'unnamed'} ({seen.short_fingerprint})"
    where = f"{', '.join(seen.addresses)}:{seen.port}"
    findings: list[Finding] = []
    details: list[str] = []
    info = check.info
    if info is not None:
        protocol = info.protocol if info.protocol is not None else seen.version
        details.append(f"protocol {protocol}")
        skew = info.skew
        if skew is not None:
            details.append("clocks agree" if abs(skew) < 1 else f"clock {skew:+.1f} s")
        elif info.problem:
            details.append("clock unknown: " + info.problem)
    suffix = f" [{'; '.join(details)}]" if details else ""
    if check.trust_state == "trusted":
        findings.append(
            Finding("OK", "peer", f"{label} at {where}: trusted as {check.trusted_name}{suffix}")
        )
    elif check.trust_state == "revoked":
        findings.append(
            Finding(
                "WARN",
                "peer",
                f"{label} at {where}: you revoked this device, it cannot sync{suffix}",
                (f"to sync with it again: plntui peer trust {seen.fingerprint_text}",),
            )
        )
    else:
        findings.append(
            Finding(
                "WARN",
                "peer",
                f"{label} at {where}: seen, but not trusted{suffix}",
                (
                    PAIR_ADVICE,
                    "or compare the fingerprint with what plntui id shows on their machine, "
                    f"then: plntui peer trust {seen.fingerprint_text}",
                ),
            )
        )
    if info is None:
        reasons = "; ".join(check.errors) or "no address to try"
        if check.stage == "tls":
            findings.append(
                Finding(
                    "FAIL",
                    "peer",
                    f"{label}: something answers on port {seen.port}, but not plntui ({reasons})",
                    ("the announcement may be stale; restart plntui sync on their machine",),
                )
            )
        else:
            findings.append(
                Finding(
                    "FAIL",
                    "peer",
                    f"{label}: port {seen.port} does not accept connections ({reasons})",
                    (
                        f"a firewall on their machine or the network may block TCP port "
                        f"{seen.port}: allow it there",
                        "or plntui sync there listens on another address (--listen)",
                    ),
                )
            )
        return findings
    if info.fingerprint != seen.fingerprint:
        findings.append(
            Finding(
                "FAIL",
                "peer",
                f"{label}: the announcement claims {seen.fingerprint_text}, but the device at "
                f"{check.address} proved {format_fingerprint(info.fingerprint)} "
                f"({short_fingerprint(info.fingerprint)})",
                (
                    "a spoofed or stale announcement: trust nothing because of it",
                    "compare fingerprints with your colleague in person (plntui id)",
                ),
            )
        )
    theirs = info.protocol if info.protocol is not None else seen.version
    if theirs < min(SUPPORTED_VERSIONS):
        findings.append(
            Finding(
                "FAIL",
                "peer",
                f"{label} runs an older plntui (protocol {theirs}; this one speaks "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))})",
                ("update plntui there to sync with them",),
            )
        )
    elif theirs > max(SUPPORTED_VERSIONS):
        findings.append(
            Finding(
                "WARN",
                "peer",
                f"{label} runs a newer plntui (protocol {theirs}; this one speaks up to "
                f"{max(SUPPORTED_VERSIONS)})",
                ("if sync fails with a protocol error, update plntui on this machine",),
            )
        )
    skew = info.skew
    if skew is not None and abs(skew) > SKEW_LIMIT:
        findings.append(
            Finding(
                "WARN",
                "clock",
                f"{label}: its clock is {_skew_text(skew)} ours",
                (
                    "certificates and 'last synced' times may look wrong; fix the clock "
                    "(turn on automatic time/NTP on the machine that is off)",
                ),
            )
        )
    return findings


# -- 4. trusted peers not seen -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnseenCheck:
    """A trusted peer no announcement claimed; what its stored addresses showed, if any."""

    peer: Peer
    info: PeerInfo | None = None
    address: str | None = None
    errors: tuple[str, ...] = ()


async def inspect_unseen(peer: Peer, timeout: float) -> UnseenCheck:
    from sync.trust import parse_hostport

    endpoints: list[tuple[str, int]] = []
    for text in peer.addresses:
        try:
            endpoints.append(parse_hostport(text))
        except ValueError:
            continue
    if not endpoints:
        return UnseenCheck(peer)
    info, address, errors, _ = await reach(endpoints, timeout)
    return UnseenCheck(peer, info, address, errors)


def judge_unseen(check: UnseenCheck) -> Finding:
    from sync.fingerprint import short_fingerprint

    peer = check.peer
    label = f"{peer.display_name} ({short_fingerprint(peer.fingerprint)})"
    if check.info is not None and check.info.fingerprint == peer.fingerprint:
        return Finding(
            "OK",
            "trust",
            f"{label}: not seen on the LAN, but it answers at its stored address {check.address}",
        )
    tried = ""
    if check.info is not None:
        tried = f"; another device answers at its stored address {check.address}"
    elif check.errors:
        tried = f"; its stored addresses do not answer ({'; '.join(check.errors)})"
    return Finding(
        "WARN", "trust", f"{label}: trusted, but not seen on the LAN{tried}", UNSEEN_ADVICE
    )


# -- 5. the relay and the routes to each trusted peer ---------------------------------------------

RELAY_ADVICE = "a relay starts with: twistd -n transitrelay --port=tcp:4001 (see the README)"
SHARE_ADVICE = "pair by code (plntui pair), or sync once on the LAN so a circle's secret arrives"


@dataclass(frozen=True, slots=True)
class RelayState:
    """The relay setting, and what ``check_relay`` found there (``check``, or ``error``)."""

    setting: EffectiveRelay
    invalid: str | None = None
    """This device's own setting when it does not parse (it is ignored)."""
    check: RelayCheck | None = None
    error: str | None = None

    @property
    def works(self) -> bool:
        return self.setting.relay is not None and self.check is not None


async def probe_relay(setting: EffectiveRelay, invalid: str | None, timeout: float) -> RelayState:
    from sync.relay import RelayError, check_relay

    state = RelayState(setting, invalid)
    if setting.relay is None:
        return state
    try:
        return replace(state, check=await check_relay(setting.relay, timeout))
    except RelayError as err:
        return replace(state, error=err.message)
    except OSError as err:  # a reset while sending the request: still one line
        reason = err.strerror or type(err).__name__
        return replace(state, error=f"the relay at {setting.relay} broke the connection: {reason}")


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def judge_relay(state: RelayState) -> list[Finding]:
    """The verdicts on the relay setting and the relay itself: pure, over ``probe_relay``.
    None when no relay is configured (and nothing is wrong with the setting)."""
    findings: list[Finding] = []
    setting = state.setting
    if state.invalid is not None:
        findings.append(
            Finding(
                "WARN",
                "relay",
                f"your relay setting {state.invalid!r} is not a relay address: it is ignored",
                ("plntui relay set tcp:HOST:PORT, or plntui relay unset",),
            )
        )
    if setting.source == "off":
        findings.append(
            Finding(
                "OK",
                "relay",
                "the relay is off on this device (plntui relay off): only the LAN and stored "
                "addresses reach colleagues",
            )
        )
    if setting.relay is None:
        return findings
    where = f"{setting.relay} (from {setting.origin})"
    if state.check is not None:
        findings.append(
            Finding(
                "OK",
                "relay",
                f"{where}: reachable, a transit relay (matched two test connections in "
                f"{_ms(state.check.connect_seconds)}; round trip "
                f"{_ms(state.check.round_trip_seconds)})",
            )
        )
        return findings
    change = (
        f"or change it for the circle: plntui relay set --circle {setting.circle.id} "
        "tcp:HOST:PORT (plntui relay off: none here)"
        if setting.source == "circle" and setting.circle is not None
        else "or choose another: plntui relay set tcp:HOST:PORT (plntui relay off: none)"
    )
    findings.append(
        Finding(
            "FAIL",
            "relay",
            f"{where}: {state.error or 'does not work'}",
            ("is the relay running there, and is its port open to you?", RELAY_ADVICE, change),
        )
    )
    return findings


@dataclass(frozen=True, slots=True)
class RouteCheck:
    """What the other checks found about one trusted peer, by route."""

    peer: Peer
    seen: bool = False
    """Discovery saw it on the LAN."""
    answers: bool = False
    """... and it proved its fingerprint there."""
    tried_direct: bool = False
    """Its stored addresses were tried (it was not seen)."""
    direct: bool = False
    """... and one of them answered with its fingerprint."""
    shared: Literal["pair", "circle"] | None = None
    """What relay tokens would be made from: the pair's secret or a circle's (none: None)."""


def judge_routes(route: RouteCheck, relay: RelayState) -> Finding:
    """Which routes reach a trusted peer, and why the others do not: pure."""
    from sync.fingerprint import short_fingerprint

    peer = route.peer
    label = f"{peer.display_name} ({short_fingerprint(peer.fingerprint)})"
    routes: list[str] = []
    missing: list[str] = []
    advice: list[str] = []
    if route.seen and route.answers:
        routes.append("LAN")
    elif route.seen:
        missing.append("LAN: seen, but it does not answer")
    else:
        missing.append("LAN: not seen")
    if not peer.addresses:
        missing.append("direct: no stored address")
    elif route.tried_direct and not route.direct:
        missing.append("direct: its stored address does not answer")
    else:
        routes.append("direct" if route.direct else "direct (stored address)")
    setting = relay.setting
    if setting.relay is None:
        missing.append("relay: off here" if setting.source == "off" else "relay: none configured")
        if setting.source == "none" and not routes:
            advice.append("beyond the LAN, a relay the team runs: plntui relay set tcp:HOST:PORT")
    elif not relay.works:
        missing.append("relay: it does not work (see above)")
    elif route.shared is None:
        missing.append("relay: no shared secret")
        advice.append(SHARE_ADVICE)
    else:
        routes.append(f"relay ({route.shared} secret, not tried)")
    why = f"; {', '.join(missing)}" if missing else ""
    if routes:
        return Finding("OK", "routes", f"{label}: can be reached by {', '.join(routes)}{why}")
    return Finding("WARN", "routes", f"{label}: no route reaches it now{why}", tuple(advice))


def route_checks(
    trusted: Sequence[Peer],
    checks: Sequence[PeerCheck],
    unseen: Sequence[UnseenCheck],
    circle_secrets: Any,
) -> list[RouteCheck]:
    """One ``RouteCheck`` per trusted peer, from what the other checks found;
    ``circle_secrets(fingerprint)`` lists the circle secrets shared with a peer."""
    seen: dict[bytes, bool] = {}
    for check in checks:
        fp = check.seen.fingerprint
        proved = check.info is not None and check.info.fingerprint == fp
        seen[fp] = seen.get(fp, False) or proved
    tried = {u.peer.fingerprint: u for u in unseen}
    out: list[RouteCheck] = []
    for peer in trusted:
        fp = peer.fingerprint
        direct = tried.get(fp)
        shared: Literal["pair", "circle"] | None = None
        if peer.relay_secret:
            shared = "pair"
        elif circle_secrets(fp):
            shared = "circle"
        out.append(
            RouteCheck(
                peer,
                seen=fp in seen,
                answers=seen.get(fp, False),
                tried_direct=direct is not None and bool(peer.addresses),
                direct=(
                    direct is not None and direct.info is not None and direct.info.fingerprint == fp
                ),
                shared=shared,
            )
        )
    return out


def _relay_inputs(profile: Any) -> tuple[EffectiveRelay, str | None, Any]:
    """The relay setting, this device's own setting if it does not parse, and a function
    listing the circle secrets shared with a peer (the circles read, nothing written)."""
    from .errors import PlntuiError
    from .network import Network
    from .relay_config import OFF, parse_or_none, profile_relay, resolve, shared_secrets

    mine = profile_relay(profile.home)
    try:
        circles = list(Network(profile).circles().values())
    except PlntuiError:
        circles = []
    invalid = mine if mine not in (None, OFF) and parse_or_none(mine) is None else None
    return (
        resolve(mine, circles),
        invalid,
        lambda fp: shared_secrets(circles, fp),
    )


# -- all of it -----------------------------------------------------------------------------------


@dataclass
class Report:
    """What ``run_doctor`` found, in order: multicast, port, discovery, peers, unseen peers,
    the relay, the routes to each trusted peer."""

    name: str
    fingerprint_text: str
    home: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return failed(self.findings)


async def _bounded(coros: Sequence[Any]) -> list[Any]:
    gate = asyncio.Semaphore(MAX_PROBES)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def run_doctor(
    home: Path, *, listen: str, port: int, timeout: float, probe_timeout: float = 3.0
) -> Report:
    """Every check, in order. ``listen`` is the address ``plntui sync`` would listen on (and
    browse from, when it is not a wildcard); ``timeout`` the seconds to browse."""
    from sync.discovery import DiscoveryError
    from sync.fingerprint import format_fingerprint

    from .peersync import open_trust
    from .profile import Profile

    profile = Profile.open(home)
    # read the certificate only: the doctor makes no key (a profile of an older plntui has none
    # until its first sync or plntui id) and changes nothing
    own = profile.fingerprint
    trust = open_trust(profile.home)
    shown = format_fingerprint(own) if own is not None else "no identity yet: see plntui id"
    report = Report(profile.meta.name, shown, profile.home)
    own_fp = own if own is not None else bytes(32)
    report.findings.append(check_multicast())
    owner = profile.session_owner()
    report.findings.append(await check_port(listen, port, owner, own_fp, probe_timeout))
    setting, invalid, circle_secrets = _relay_inputs(profile)
    relay_task = asyncio.ensure_future(probe_relay(setting, invalid, probe_timeout))
    interfaces = None if _is_wildcard(listen) else [listen]
    try:
        seen = await browse(own_fp, timeout, interfaces)
    except DiscoveryError as err:
        report.findings.append(
            Finding(
                "FAIL",
                "discovery",
                f"cannot browse the LAN: {err}",
                ("reach a colleague by address: plntui peer add HOST:PORT",),
            )
        )
        seen = []
    else:
        report.findings.append(judge_discovery(seen, timeout))
    checks = await _bounded([inspect_peer(p, trust, probe_timeout) for p in seen])
    for check in checks:
        report.findings.extend(judge_peer(check))
    claimed = {p.fingerprint for p in seen}
    unseen = [p for p in trust.peers() if p.trusted and p.fingerprint not in claimed]
    unseen_checks = await _bounded([inspect_unseen(p, probe_timeout) for p in unseen])
    for unseen_check in unseen_checks:
        report.findings.append(judge_unseen(unseen_check))
    relay = await relay_task
    report.findings.extend(judge_relay(relay))
    trusted = [p for p in trust.peers() if p.trusted]
    for route in route_checks(trusted, checks, unseen_checks, circle_secrets):
        report.findings.append(judge_routes(route, relay))
    return report


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
