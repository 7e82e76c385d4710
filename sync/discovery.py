"""Provides LAN discovery over mDNS/DNS-SD: announce this profile, browse for others, hint only.

Each running profile registers one ``_plntui._tcp.local.`` service (``SERVICE_TYPE``) and browses
for the others with python-zeroconf (``AsyncZeroconf``, 0.150 or newer: older releases have DoS
advisories). What a peer announces is a *hint* and nothing more:

- the instance name is ``"<display name> <short fingerprint>"`` (``instance_label``): the
  fingerprint prefix keeps two people with one display name apart, and a name conflict that still
  happens is resolved by zeroconf's renaming (``"... -2"``);
- the TXT record holds only ``v=1`` (protocol version), ``n=<display name>`` and
  ``fp=<full fingerprint text>`` (``txt_properties``);
- the SRV record gives the port, the A/AAAA records the addresses.

**Nothing here is trusted.** mDNS is unauthenticated: anyone on the LAN can announce any name,
any fingerprint, any address and any port, and can remove or flood announcements. A ``SeenPeer``
therefore only says *someone claims to be fingerprint X at these addresses*. The engine must
treat it as a place to try: connect, run the TLS handshake, and compare the SHA-256 of the
certificate the peer proved with the fingerprint of a peer the user approved. Only that
comparison proves identity; a spoofed announcement ends in a failed handshake. The claimed
fingerprint is useful to pick *which* pinned certificate to expect, never as evidence.

Everything received is parsed by pure code (``parse_peer``, ``peer_from_info``; no I/O) and
treated as hostile: control characters are stripped from the display name, lengths are capped,
a malformed fingerprint, version, port or address rejects the record (only IPv4/IPv6 literals
from the A/AAAA records are kept, never a host name to look up), and the table of seen peers
(``PeerTable``) holds at most ``MAX_PEERS`` entries, dropping the least recently seen (hints for
fingerprints the caller prefers, e.g. trusted peers, are dropped last), so an mDNS flood keeps
memory bounded. Resolutions in flight are bounded too (``MAX_RESOLVING``, plus a bounded queue).

Peers are keyed by their mDNS service name, not by the fingerprint they claim, so a spoofer
claiming a trusted peer's fingerprint cannot hide the genuine announcement: the engine sees both
hints (``Discovery.claiming(fingerprint)``) and the handshake sorts them out.

``Discovery`` reports changes as ``DiscoveryEvent``s (``added``, ``updated``, ``removed``) through
the ``on_change`` callback, always on the event loop that called ``start()``. It binds only to the
``interfaces`` it is given (default: all; tests pass ``["127.0.0.1"]`` and run inside a private
network namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from zeroconf import (
    BadTypeInNameException,
    DNSQuestionType,
    InterfaceChoice,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .errors import SyncError
from .fingerprint import (
    FINGERPRINT_SIZE,
    format_fingerprint,
    parse_fingerprint,
    short_fingerprint,
)
from .text import clean_peer_text

__all__ = [
    "MAX_PEERS",
    "PROTOCOL_VERSION",
    "SERVICE_TYPE",
    "Discovery",
    "DiscoveryError",
    "DiscoveryEvent",
    "EventKind",
    "MalformedAnnouncement",
    "PeerTable",
    "SeenPeer",
    "instance_label",
    "parse_peer",
    "peer_from_info",
    "sanitize_name",
    "txt_properties",
]

log = logging.getLogger(__name__)

SERVICE_TYPE: Final = "_plntui._tcp.local."
PROTOCOL_VERSION: Final = 1
MAX_VERSION: Final = 9999  # a version hint above this is junk, not a future protocol
INSTANCE_NAME_CHARS: Final = 40  # display-name part of the instance name
NAME_CHARS: Final = 64  # display name carried in TXT ``n=`` and kept from a peer's record
NAME_BYTES: Final = 200  # a TXT string holds at most 255 bytes, key included
LABEL_BYTES: Final = 63  # a DNS label (the whole instance name) holds at most 63 bytes
MAX_SERVICE_NAME: Final = 255  # a DNS name is at most 255 bytes; longer keys are junk
MAX_ADDRESSES: Final = 8  # addresses kept per peer hint
MAX_PEERS: Final = 256  # peer hints kept; the least recently seen go first
MAX_RESOLVING: Final = 16  # concurrent resolutions (SRV/TXT/A queries)
RESOLVE_TIMEOUT_MS: Final = 3000
_FALLBACK_LABEL: Final = "plntui"

EventKind = Literal["added", "updated", "removed"]


class DiscoveryError(SyncError):
    """LAN discovery could not start (no usable interface, port 5353 refused, bad argument)."""


class MalformedAnnouncement(ValueError):
    """A peer's mDNS record is unusable; the message says why (for debug logs, never for UI)."""


# -- what a peer claims -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeenPeer:
    """An unverified hint that someone claims to be ``fingerprint`` at ``addresses``:``port``.

    Everything here came from the network: the handshake, not this record, proves who answers.
    ``name`` is already stripped of control characters and capped, but still peer-controlled text:
    show it literally (never as markup).
    """

    key: str  # the mDNS service name: unique per announcement, the ``PeerTable`` key
    name: str  # the claimed display name (may be empty)
    fingerprint: bytes  # the claimed fingerprint (32 bytes), unverified
    port: int
    addresses: tuple[str, ...]  # IPv4/IPv6 literals, at least one, at most MAX_ADDRESSES
    version: int  # the claimed protocol version
    seen_at: float = field(default=0.0, compare=False)  # event-loop time of the last sighting
    pairing: str | None = None  # the nameplate of an open pairing invite (``pairing``), if any

    @property
    def fingerprint_text(self) -> str:
        """The claimed fingerprint as people read it (``XXXXXXX-XXXXXXX-...``)."""
        return format_fingerprint(self.fingerprint)

    @property
    def short_fingerprint(self) -> str:
        return short_fingerprint(self.fingerprint)

    def endpoints(self) -> list[tuple[str, int]]:
        """Where to try a connection, in the announced order (each still needs the handshake)."""
        return [(address, self.port) for address in self.addresses]


@dataclass(frozen=True, slots=True)
class DiscoveryEvent:
    """A peer hint appeared (``added``), changed (``updated``) or went away (``removed``)."""

    kind: EventKind
    peer: SeenPeer


# -- pure helpers: what we announce -------------------------------------------------------------


def sanitize_name(text: str, limit: int = NAME_CHARS, max_bytes: int = NAME_BYTES) -> str:
    """A display name fit for a record or a terminal (``text.clean_peer_text``): no control or
    format characters (escape sequences, bidi overrides, line separators), runs of spaces
    collapsed, at most ``limit`` characters and ``max_bytes`` UTF-8 bytes."""
    return clean_peer_text(text, limit, max_bytes=max_bytes)


def instance_label(display_name: str, fingerprint: bytes) -> str:
    """The instance part of our service name: ``"<display name, ≤ 40 chars> <short fp>"``.

    Dots would split the DNS label, so they become spaces; the whole label stays within the 63
    bytes DNS allows. Without a usable display name the label is ``"plntui <short fp>"``.
    """
    _check_fingerprint(fingerprint)
    short = short_fingerprint(fingerprint)
    room = LABEL_BYTES - len(short) - 1
    name = sanitize_name(display_name.replace(".", " "), INSTANCE_NAME_CHARS, room)
    return f"{name or _FALLBACK_LABEL} {short}"


def txt_properties(
    display_name: str, fingerprint: bytes, pairing: str | None = None
) -> dict[str, str]:
    """The TXT record we announce: hints only (version, display name, full fingerprint).

    ``pairing`` is the nameplate of an open invite (two digits, not secret): the joining device
    finds the inviter by it.
    """
    _check_fingerprint(fingerprint)
    props = {
        "v": str(PROTOCOL_VERSION),
        "n": sanitize_name(display_name),
        "fp": format_fingerprint(fingerprint),
    }
    if pairing is not None:
        if not _is_nameplate(pairing.encode("ascii", "replace")):
            raise DiscoveryError(f"{pairing!r} is not a pairing nameplate (two digits)")
        props["pair"] = pairing
    return props


def _is_nameplate(raw: bytes) -> bool:
    return len(raw) == 2 and raw.isdigit() and not raw.startswith(b"0")


def _check_fingerprint(fingerprint: bytes) -> None:
    if not isinstance(fingerprint, bytes) or len(fingerprint) != FINGERPRINT_SIZE:
        raise DiscoveryError(
            f"a fingerprint is {FINGERPRINT_SIZE} bytes (the SHA-256 of a certificate), "
            f"got {len(fingerprint) if isinstance(fingerprint, bytes) else type(fingerprint)}"
        )


# -- pure helpers: what a peer announced ---------------------------------------------------------


def parse_peer(
    key: str,
    properties: Mapping[bytes, bytes | None],
    port: object,
    addresses: Iterable[object],
) -> SeenPeer:
    """Check one resolved announcement and turn it into a ``SeenPeer`` (pure; no I/O).

    ``key`` is the service name, ``properties`` the TXT record, ``port`` the SRV port and
    ``addresses`` the A/AAAA records as text. Raises ``MalformedAnnouncement`` with the reason
    when a field is missing or unusable; the display name is sanitised rather than rejected.
    """
    if (
        not isinstance(key, str)
        or not key
        or len(key.encode("utf-8", "replace")) > MAX_SERVICE_NAME
    ):
        raise MalformedAnnouncement("the service name is empty or longer than DNS allows")
    version = _parse_version(properties.get(b"v"))
    fingerprint = _parse_fp(properties.get(b"fp"))
    name = _parse_name(properties.get(b"n"))
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise MalformedAnnouncement(f"the port {_show(port)} is not between 1 and 65535")
    kept = _parse_addresses(addresses)
    if not kept:
        raise MalformedAnnouncement("no usable IPv4 or IPv6 address")
    pair = properties.get(b"pair")
    return SeenPeer(
        key=key,
        name=name,
        fingerprint=fingerprint,
        port=port,
        addresses=kept,
        version=version,
        pairing=pair.decode("ascii") if pair is not None and _is_nameplate(pair) else None,
    )


def peer_from_info(info: ServiceInfo) -> SeenPeer | None:
    """The ``SeenPeer`` a resolved ``ServiceInfo`` claims, or ``None`` when it is malformed."""
    try:
        properties = info.properties
        addresses = info.parsed_scoped_addresses()
        return parse_peer(info.name, properties, info.port, addresses)
    except MalformedAnnouncement as exc:
        log.debug("ignoring the mDNS record %s: %s", _show(info.name), exc)
    except (ValueError, TypeError, UnicodeError) as exc:  # zeroconf could not decode it either
        log.debug("ignoring the undecodable mDNS record %s: %s", _show(info.name), exc)
    return None


def _parse_version(raw: bytes | None) -> int:
    if raw is None:
        raise MalformedAnnouncement("the TXT record has no protocol version (v=)")
    if not (0 < len(raw) <= 4 and raw.isdigit()):
        raise MalformedAnnouncement(f"the protocol version {_show(raw)} is not a small number")
    version = int(raw)
    if not 0 < version <= MAX_VERSION:
        raise MalformedAnnouncement(f"the protocol version {version} is out of range")
    return version


def _parse_fp(raw: bytes | None) -> bytes:
    if raw is None:
        raise MalformedAnnouncement("the TXT record has no fingerprint (fp=)")
    if len(raw) > 128:
        raise MalformedAnnouncement(f"the fingerprint is {len(raw)} bytes long")
    try:
        return parse_fingerprint(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else "not ASCII"
        raise MalformedAnnouncement(f"the fingerprint is unusable: {reason}") from None


def _parse_name(raw: bytes | None) -> str:
    if raw is None:
        return ""
    return sanitize_name(raw[: NAME_BYTES * 2].decode("utf-8", "replace"))


def _parse_addresses(addresses: Iterable[object]) -> tuple[str, ...]:
    kept: list[str] = []
    for count, item in enumerate(addresses):
        if count >= 4 * MAX_ADDRESSES or len(kept) >= MAX_ADDRESSES:
            break
        if not isinstance(item, str) or len(item) > 64:
            continue
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            continue  # a host name or junk: we never look names up on a peer's say-so
        if address.is_multicast or address.is_unspecified or str(address) == "255.255.255.255":
            continue
        text = str(address)
        if text not in kept:
            kept.append(text)
    return tuple(kept)


def _show(value: object, limit: int = 60) -> str:
    """A peer's value for a debug line: ``repr`` (escapes), cleaned and capped."""
    if isinstance(value, str | bytes):
        value = value[: limit * 2]
    return clean_peer_text(repr(value), limit, ellipsis=True)


# -- the bounded table of peer hints ------------------------------------------------------------


class PeerTable:
    """The peer hints seen lately, keyed by service name, never more than ``limit`` of them.

    Pure (no I/O, no clock): callers pass the time. ``upsert`` and ``remove`` return the
    ``DiscoveryEvent``s they cause. When full, the least recently seen hint goes first, but one
    whose fingerprint ``prefer`` accepts (a trusted peer) only when every hint is preferred.
    Hints that claim ``own_fingerprint`` (ourselves, or someone posing as us) are ignored.
    """

    def __init__(
        self,
        limit: int = MAX_PEERS,
        *,
        own_fingerprint: bytes | None = None,
        prefer: Callable[[bytes], bool] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("a peer table holds at least one peer")
        self.limit = limit
        self._own = own_fingerprint
        self._prefer = prefer
        self._peers: OrderedDict[str, SeenPeer] = OrderedDict()  # oldest sighting first

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, key: object) -> bool:
        return key in self._peers

    def get(self, key: str) -> SeenPeer | None:
        return self._peers.get(key)

    def peers(self) -> dict[str, SeenPeer]:
        """A copy: service name → hint, least recently seen first."""
        return dict(self._peers)

    def claiming(self, fingerprint: bytes) -> list[SeenPeer]:
        """Every hint that claims ``fingerprint``, most recently seen first (spoofs included)."""
        return [p for p in reversed(self._peers.values()) if p.fingerprint == fingerprint]

    def upsert(self, peer: SeenPeer, now: float = 0.0) -> list[DiscoveryEvent]:
        """Record a sighting; ``added``/``updated`` when something changed. When the table is
        full, a new hint first evicts one (reported ``removed``), or is itself dropped if it is
        the least worth keeping (not preferred, and every other hint is)."""
        if self._own is not None and peer.fingerprint == self._own:
            return []
        peer = replace(peer, seen_at=now)
        old = self._peers.get(peer.key)
        if old is not None:
            self._peers[peer.key] = peer
            self._peers.move_to_end(peer.key)
            return [] if old == peer else [DiscoveryEvent("updated", peer)]
        events: list[DiscoveryEvent] = []
        if len(self._peers) >= self.limit:
            victim = self._victim(peer)
            if victim is None:
                return []
            events.append(DiscoveryEvent("removed", self._peers.pop(victim)))
        self._peers[peer.key] = peer
        events.append(DiscoveryEvent("added", peer))
        return events

    def remove(self, key: str) -> DiscoveryEvent | None:
        peer = self._peers.pop(key, None)
        return None if peer is None else DiscoveryEvent("removed", peer)

    def clear(self) -> None:
        self._peers.clear()

    def _victim(self, newcomer: SeenPeer) -> str | None:
        """The key to evict for ``newcomer``: the least recently seen hint, skipping preferred
        ones; ``None`` when only preferred hints remain and the newcomer is not preferred."""
        oldest = next(iter(self._peers))
        if self._prefer is None:
            return oldest
        for key, seen in self._peers.items():
            if not self._safe_prefer(seen.fingerprint):
                return key
        return oldest if self._safe_prefer(newcomer.fingerprint) else None

    def _safe_prefer(self, fingerprint: bytes) -> bool:
        assert self._prefer is not None
        try:
            return bool(self._prefer(fingerprint))
        except Exception:  # a broken callback must not break discovery
            log.exception("the peer preference callback failed")
            return False


# -- the zeroconf driver ------------------------------------------------------------------------


class Discovery:
    """Announce this profile on the LAN and report the peer hints seen there.

    ``name`` is the display name (sanitised, capped), ``fingerprint`` the 32-byte SHA-256 of our
    certificate, ``port`` where our TLS listener accepts. ``on_change`` receives every
    ``DiscoveryEvent`` on the event loop; it must not block, and an exception it raises is logged
    and swallowed. ``interfaces``: ``None`` for all interfaces (real use), or a list of local IP
    addresses to bind to, e.g. ``["127.0.0.1"]`` in tests (inside a private network namespace).
    ``addresses``: what our A/AAAA records announce; by default the literal IPs of
    ``interfaces``, or every IPv4 address of the host when bound to all. ``prefer`` tells the peer
    table which fingerprints to keep longest under a flood (e.g. the trusted ones).
    ``announce=False`` only browses (``plntui doctor``): nothing is registered, ``port`` is not
    used, and every question asks for a multicast answer (QM). Such a process usually shares the
    host with a running ``plntui sync`` whose socket also holds port 5353, and the kernel gives a
    unicast answer (zeroconf's first questions are QU) to only one of the two.

    Every hint is unverified: see the module docstring. The engine connects, runs the TLS
    handshake and compares the proven certificate fingerprint with an approved one; a hint never
    changes trust.
    """

    def __init__(
        self,
        name: str,
        fingerprint: bytes,
        port: int,
        *,
        on_change: Callable[[DiscoveryEvent], None],
        interfaces: Sequence[str] | None = None,
        addresses: Sequence[str] | None = None,
        prefer: Callable[[bytes], bool] | None = None,
        max_peers: int = MAX_PEERS,
        announce: bool = True,
    ) -> None:
        _check_fingerprint(fingerprint)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise DiscoveryError(f"the port to announce must be 1-65535, got {port!r}")
        if interfaces is not None and (isinstance(interfaces, str) or not interfaces):
            raise DiscoveryError("interfaces is None (all) or a non-empty list of IP addresses")
        self.name = sanitize_name(name)
        self.fingerprint = fingerprint
        self.port = port
        self.on_change = on_change
        self.announce = announce
        self._question_type = None if announce else DNSQuestionType.QM
        self.interfaces: list[str] | None = None if interfaces is None else list(interfaces)
        self._addresses = None if addresses is None else list(addresses)
        self._table = PeerTable(max_peers, own_fingerprint=fingerprint, prefer=prefer)
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._queued: OrderedDict[str, None] = OrderedDict()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pairing: str | None = None
        self._announced: asyncio.Future[Any] | None = None

    # -- public API ---------------------------------------------------------------------------

    @property
    def service_name(self) -> str | None:
        """Our full service name once announced (zeroconf may have renamed it on a conflict)."""
        return None if self._info is None else self._info.name

    @property
    def running(self) -> bool:
        return self._aiozc is not None

    @property
    def backlog(self) -> int:
        """Announcements waiting to be resolved or being resolved (bounded under a flood)."""
        return len(self._queued) + len(self._resolving)

    def peers(self) -> dict[str, SeenPeer]:
        """The peer hints seen now: service name → ``SeenPeer`` (unverified; at most max_peers)."""
        return self._table.peers()

    def claiming(self, fingerprint: bytes) -> list[SeenPeer]:
        """Every current hint claiming ``fingerprint``, newest first: the places to try it."""
        return self._table.claiming(fingerprint)

    async def start(self) -> None:
        """Start browsing, then announce ourselves (probing takes about a second)."""
        if self._aiozc is not None:
            raise DiscoveryError("discovery is already running")
        info = self._service_info() if self.announce else None
        choice: list[str | int] | InterfaceChoice = (
            InterfaceChoice.All if self.interfaces is None else list(self.interfaces)
        )
        try:
            aiozc = AsyncZeroconf(interfaces=choice)
        except (OSError, ValueError, RuntimeError) as exc:
            raise DiscoveryError(
                f"cannot start LAN discovery ({exc}); peers added by address "
                "(plntui peer add HOST:PORT) still work"
            ) from None
        self._aiozc = aiozc
        try:
            self._browser = AsyncServiceBrowser(
                aiozc.zeroconf,
                SERVICE_TYPE,
                handlers=[self._on_service_state_change],
                question_type=self._question_type,
            )
            if info is not None:
                announced = await aiozc.async_register_service(info, allow_name_change=True)
                self._info = info
                self._announced = asyncio.ensure_future(announced)
                self._spawn(self._await_announcement(self._announced))
        except BaseException:
            await self.stop()
            raise

    async def set_pairing(self, nameplate: str | None) -> None:
        """Announce (or stop announcing) the nameplate of an open pairing invite."""
        if nameplate is not None:
            txt_properties(self.name, self.fingerprint, nameplate)  # checks the nameplate
        self._pairing = nameplate
        announced = self._announced
        if announced is not None and not announced.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(announced)  # an update sent while probing is lost
        info, aiozc = self._info, self._aiozc
        if info is None or aiozc is None:
            return
        updated = self._service_info(registered=info)
        await aiozc.async_update_service(updated)
        self._info = updated

    def _service_info(self, registered: AsyncServiceInfo | None = None) -> AsyncServiceInfo:
        """Our record, with the current TXT. ``registered``: the record zeroconf holds, whose
        name (renamed on a conflict), addresses and host name an update must keep."""
        if registered is None:
            name = f"{instance_label(self.name, self.fingerprint)}.{SERVICE_TYPE}"
            addresses, server = self._announced_addresses(), None
        else:
            name, addresses = registered.name, registered.parsed_addresses()
            server = registered.server
        try:
            return AsyncServiceInfo(
                SERVICE_TYPE,
                name,
                port=self.port,
                properties=txt_properties(self.name, self.fingerprint, self._pairing),
                parsed_addresses=addresses,
                server=server,
            )
        except (BadTypeInNameException, ValueError) as exc:  # pragma: no cover - label is clean
            raise DiscoveryError(f"cannot build the service record: {exc}") from None

    async def stop(self) -> None:
        """Say goodbye (peers see us ``removed``), stop browsing and forget every hint."""
        aiozc, self._aiozc = self._aiozc, None
        browser, self._browser = self._browser, None
        self._queued.clear()
        self._again.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._resolving.clear()
        if browser is not None:
            await browser.async_cancel()
        if aiozc is not None:
            try:
                await aiozc.async_close()  # unregisters: goodbye packets with TTL 0
            except (OSError, RuntimeError) as exc:  # pragma: no cover - closing a dead socket
                log.debug("closing zeroconf failed: %s", exc)
        self._info = None
        self._table.clear()

    # -- zeroconf callbacks (event loop) ------------------------------------------------------

    def _on_service_state_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if self._aiozc is None or service_type != SERVICE_TYPE:
            return
        if self._info is not None and name.lower() == self._info.key:
            return
        if state_change is ServiceStateChange.Removed:
            self._queued.pop(name, None)
            self._again.discard(name)
            task = self._resolving.pop(name, None)
            if task is not None:
                task.cancel()
            self._emit(self._table.remove(name))
        else:  # Added or Updated: (re)resolve
            self._enqueue(name)

    def _enqueue(self, name: str) -> None:
        if len(name) > MAX_SERVICE_NAME:
            return
        if name in self._resolving:
            self._again.add(name)  # resolve once more when the current one ends
            return
        self._queued[name] = None
        self._queued.move_to_end(name)
        while len(self._queued) > self._table.limit:  # a flood: drop the oldest requests
            self._queued.popitem(last=False)
        self._pump()

    def _pump(self) -> None:
        while self._queued and len(self._resolving) < MAX_RESOLVING and self._aiozc is not None:
            name, _ = self._queued.popitem(last=False)
            self._resolving[name] = self._spawn(self._resolve(name), name)

    def _spawn(
        self, coro: Coroutine[Any, Any, None], name: str | None = None
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if name is not None and self._resolving.get(name) is finished:
                del self._resolving[name]
                if name in self._again:
                    self._again.discard(name)
                    self._enqueue(name)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("discovery task failed", exc_info=finished.exception())
            self._pump()

        task.add_done_callback(done)
        return task

    async def _resolve(self, name: str) -> None:
        aiozc = self._aiozc
        if aiozc is None:
            return
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
        except (BadTypeInNameException, ValueError):
            log.debug("ignoring the malformed service name %s", _show(name))
            return
        if not await info.async_request(
            aiozc.zeroconf, RESOLVE_TIMEOUT_MS, question_type=self._question_type
        ):
            log.debug("no answer resolving %s", _show(name))
            return
        if self._aiozc is not aiozc:
            return
        peer = peer_from_info(info)
        if peer is None:
            self._emit(self._table.remove(name))  # an update made it unusable
            return
        for event in self._table.upsert(peer, asyncio.get_running_loop().time()):
            self._emit(event)

    async def _await_announcement(self, announced: Awaitable[Any]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await announced

    def _emit(self, event: DiscoveryEvent | None) -> None:
        if event is None:
            return
        try:
            self.on_change(event)
        except Exception:
            log.exception("the discovery event handler failed on %s", event.kind)

    def _announced_addresses(self) -> list[str]:
        if self._addresses is not None:
            candidates = self._addresses
        elif self.interfaces is not None:
            candidates = self.interfaces
        else:
            candidates = _host_addresses()
        kept: list[str] = []
        for item in candidates:
            try:
                address = ipaddress.ip_address(item)
            except ValueError:
                continue  # an interface index, not an address
            if not (address.is_unspecified or address.is_multicast) and str(address) not in kept:
                kept.append(str(address))
        if not kept:
            raise DiscoveryError(
                "no IP address to announce; pass addresses= (the host has no usable interface?)"
            )
        return kept


def _host_addresses() -> list[str]:
    """Every non-loopback IPv4 address of this host (loopback if none): used when bound to all."""
    import ifaddr  # zeroconf's own dependency

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):  # IPv4 (IPv6 comes as a tuple)
                found.append(ip.ip)
    non_loopback = [a for a in found if not ipaddress.ip_address(a).is_loopback]
    return non_loopback or found
