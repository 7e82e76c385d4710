"""Provides the sync engine: the asyncio transport that runs one ``SyncSession`` per peer link.

``SyncEngine`` is a library: ``plntui sync`` runs it as a daemon, ``plntui sync --once`` calls
``sync_once`` and the app can run it in-process. It moves one Automerge document (a
``DocumentHost``) between the peers the ``TrustStore`` trusts, over TLS 1.3 (``tls``):

* It listens (``listen_host``/``port``) and dials the peers it is told about (``connect``, from
  discovery or a manual address, and every address stored for a trusted peer), reconnecting with
  exponential backoff (0.5 s doubling to 30 s, with jitter) while the peer stays trusted.
* A peer whose certificate is not known yet is reached through certificate learning (``tls``),
  then over mutual TLS. After every handshake ``verify_peer`` checks the exact fingerprint. An
  unknown, revoked or wrong peer is refused before a byte of the document is read or sent.
* One link per peer: when both sides dial each other at once, the link dialled by the smaller
  fingerprint is kept on both sides.
* Each link drives a ``SyncSession`` (start after TLS and ``verify_peer``; feed reads; drain
  events; write ``data_to_send``). Changes a peer brings are persisted (``host.persist``) before
  this side acknowledges them, and then pushed to every other link (A–B–C). A local edit
  (``local_change``) or a change another process wrote to the profile (``host.poll_external``,
  polled every ``poll_interval``) is pushed to every link at once.
* A peer that breaks the protocol (garbage, an oversized frame, a stalled frame, silence) loses
  its link with the document untouched; the engine goes on serving the others. Deadlines: the
  TLS handshake and the HELLO within 10 s, a started frame within 30 s of its last byte, any byte
  within 90 s (an idle link is pinged every 30 s).
* Introducers: a session with a peer the user marked an introducer asks it for its trusted
  peers; what it sends becomes pending introductions in the trust store (``IntroductionOffered``)
  or, with auto-accept, trusted peers at once (``PeerIntroduced``), dialled at the addresses it
  gave. This side answers a peer that asks with its own trusted peers, again when they change.
* Limits (``Limits``; tests shrink them): at most 32 connections in the handshake (TLS,
  ``verify_peer``, the anonymous exchange) at once and 8 from one source address, so one host
  cannot starve the others; more are closed at once, silently (``pending_handshakes``,
  ``peak_pending_handshakes``). Per trusted peer, token buckets that a reconnection does not
  refill: 256 MiB per 60 s and 2,000 frames per second with bursts of 4,000; over budget, the
  link drops with a BYE that says so (the honest peer backs off like after any short link).
  At most 10,000 changes (64 MiB) may wait for missing dependencies (``StagingReplica``).
* Text a peer controls (names, BYE reasons, errors quoting its bytes) goes through
  ``text.clean_peer_text`` before an event, ``status()`` or a log line shows it.
* ``trust_changed`` (also noticed by itself when ``peers.json`` changes, e.g. ``plntui peer
  revoke`` in another process) rebuilds the TLS contexts and cuts the links of peers no longer
  trusted; their new handshakes fail.

Threads: the engine runs on one asyncio loop. ``connect``, ``disconnect``, ``local_change`` and
``trust_changed`` may be called from any thread. Every use of the document holds ``host.lock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as _dt
import logging
import math
import secrets
import ssl
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypeAlias

from . import pairlink
from .errors import LocalProtocolError, RemoteProtocolError, SyncError, UntrustedPeer
from .fingerprint import fingerprint_of, format_fingerprint, short_fingerprint
from .framing import MAX_FRAME, Frame, FrameKind
from .pairing import (
    INVITE_TTL,
    MAX_PAIR_MESSAGE,
    PAIR_START,
    Invite,
    InviterPairing,
    InviteState,
    JoinerPairing,
    PairingCode,
    PairingFailed,
    new_invite,
    parse_code,
)
from .session import (
    MAX_QUEUED_BYTES,
    MAX_QUEUED_CHANGES,
    ChangesApplied,
    Closed,
    Event,
    InSync,
    IntroductionsReceived,
    PeerHello,
    SnapshotSent,
    StagingReplica,
    State,
    SyncSession,
)
from .text import clean_peer_text
from .tls import (
    HANDSHAKE_TIMEOUT,
    INFO,
    MAX_PRESENT,
    PRESENT,
    PRESENT_OK,
    AnonymousPeer,
    TlsChannel,
    answer_info,
    client_context,
    client_context_anonymous,
    present_frame,
    present_ok_frame,
    read_one_frame,
    server_context,
    sni_name,
    verify_peer,
)
from .trust import (
    Introduction,
    SyncRecord,
    TrustStore,
    TrustStoreError,
    format_hostport,
    parse_hostport,
)

if TYPE_CHECKING:
    from automerge.core import Document

    from .identity import Identity

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "CertificateLearned",
    "ChangesStored",
    "DocumentHost",
    "EngineEvent",
    "PairingRefused",
    "PairingResult",
    "PairingSucceeded",
    "IntroductionOffered",
    "Limits",
    "PeerConnected",
    "PeerIntroduced",
    "PeerLost",
    "PeerRefused",
    "PeerResult",
    "PeerStatus",
    "PeerSynced",
    "StoreFailed",
    "SyncEngine",
    "SyncSummary",
    "Timeouts",
    "backoff_delay",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10.0
PARTIAL_FRAME_TIMEOUT: Final = 30.0
IDLE_TIMEOUT: Final = 90.0
PING_INTERVAL: Final = 30.0
BACKOFF_START: Final = 0.5
BACKOFF_MAX: Final = 30.0
RECONNECT_DELAY: Final = 0.5
STABLE_LINK: Final = 10.0
"""A link that lived this long resets the backoff when it drops."""
MAX_PENDING_HANDSHAKES: Final = 32
MAX_PENDING_PER_ADDRESS: Final = 8
PEER_BYTES_PER_WINDOW: Final = 256 * 1024 * 1024
PEER_BYTE_WINDOW: Final = 60.0
PEER_FRAMES_PER_SECOND: Final = 2000.0
PEER_FRAME_BURST: Final = 4000
STATS_FLUSH_INTERVAL: Final = 5.0
_HEADER: Final = 5

PeerStateName: TypeAlias = Literal["connecting", "connected", "in-sync", "offline", "failed"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The link deadlines, in seconds (tests shrink them)."""

    handshake: float = HANDSHAKE_TIMEOUT
    """TLS handshake, the anonymous exchange, and the peer's HELLO after TLS."""
    partial_frame: float = PARTIAL_FRAME_TIMEOUT
    """Silence inside a started frame."""
    idle: float = IDLE_TIMEOUT
    """Silence on an established link (the peer pings every ``ping``)."""
    ping: float = PING_INTERVAL
    connect: float = CONNECT_TIMEOUT


@dataclass(frozen=True, slots=True)
class Limits:
    """What one host or one peer may cost this engine (tests shrink them); see the docstring."""

    max_pending_handshakes: int = MAX_PENDING_HANDSHAKES
    """Connections not yet past TLS and ``verify_peer`` (and the anonymous exchange), in all."""
    max_pending_per_address: int = MAX_PENDING_PER_ADDRESS
    """The same, from one source IP address: one host cannot take every slot."""
    peer_bytes_per_window: int = PEER_BYTES_PER_WINDOW
    """Bytes a trusted peer may send per ``peer_byte_window`` seconds (a token bucket)."""
    peer_byte_window: float = PEER_BYTE_WINDOW
    peer_frames_per_second: float = PEER_FRAMES_PER_SECOND
    """Frames a trusted peer may send per second, on average..."""
    peer_frame_burst: int = PEER_FRAME_BURST
    """...and at once (the bucket's size)."""
    max_queued_changes: int = MAX_QUEUED_CHANGES
    """Changes waiting for missing dependencies (``StagingReplica``), from every peer."""
    max_queued_bytes: int = MAX_QUEUED_BYTES


class _TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        """Spend ``amount`` tokens; ``False`` (and nothing spent) if there are not enough."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


# -- what the engine needs from the application ---------------------------------------------------


class DocumentHost(Protocol):
    """One live Automerge document and its durable store, as the engine sees them."""

    doc_id: str
    """The document's name in HELLO (both sides must agree), e.g. ``"plntui-network-v1"``."""
    genesis_heads: list[bytes]
    """The heads of the shared genesis every replica starts from."""
    lock: threading.RLock
    """Held around every use of ``document()`` (the engine holds it too)."""

    def document(self) -> Document:
        """The live document: the same object for the host's lifetime (merge into it)."""
        ...

    def persist(self, origin: str) -> None:
        """Durably store every change in ``document()`` not yet on disk; raise on failure."""
        ...

    def poll_external(self) -> bool:
        """Merge changes other processes wrote to disk into ``document()``; ``True`` if any."""
        ...


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerConnected:
    """A link to a trusted peer is up (TLS verified, HELLO exchanged)."""

    fingerprint: bytes
    name: str
    address: str
    outbound: bool


@dataclass(frozen=True, slots=True)
class PeerSynced:
    """Both sides hold the same heads; ``n_changes`` arrived since the previous ``PeerSynced``."""

    fingerprint: bytes
    n_changes: int


@dataclass(frozen=True, slots=True)
class PeerLost:
    """An established link ended; ``reason`` may quote the peer (show it as plain text)."""

    fingerprint: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class PeerRefused:
    """A connection was refused: unknown, revoked or wrong certificate, or a failed handshake."""

    reason: str
    fingerprint: bytes | None = None
    address: str = ""


@dataclass(frozen=True, slots=True)
class ChangesStored:
    """``n`` changes from a peer were applied and persisted."""

    fingerprint: bytes
    n: int


@dataclass(frozen=True, slots=True)
class CertificateLearned:
    """The certificate of a trusted peer was learned (first contact); mutual TLS follows."""

    fingerprint: bytes
    address: str


@dataclass(frozen=True, slots=True)
class StoreFailed:
    """``host.persist`` failed: the link that brought the changes was dropped unacknowledged."""

    fingerprint: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class PairingSucceeded:
    """A colleague paired by code and is now trusted; both screens show ``safety_number``."""

    fingerprint: bytes
    name: str
    address: str
    safety_number: str
    role: Literal["inviter", "joiner"]


@dataclass(frozen=True, slots=True)
class PairingRefused:
    """A pairing attempt failed or was refused (no invite open, wrong code, broken exchange).

    ``spent``: the open invite's one attempt failed (its code no longer works). A request
    refused without touching the invite (none open, another nameplate, a stranger knocking while
    an attempt runs) has ``spent=False``: it must not end a dialog waiting for the real attempt.
    """

    reason: str
    address: str = ""
    spent: bool = False


@dataclass(frozen=True, slots=True)
class IntroductionOffered:
    """An introducer offered a peer; it waits for approval (``plntui peer approve``)."""

    introducer: bytes
    fingerprint: bytes
    name: str


@dataclass(frozen=True, slots=True)
class PeerIntroduced:
    """An auto-accept introducer brought a peer: it is trusted now."""

    introducer: bytes
    fingerprint: bytes
    name: str


EngineEvent: TypeAlias = (
    PeerConnected
    | PeerSynced
    | PeerLost
    | PeerRefused
    | ChangesStored
    | CertificateLearned
    | StoreFailed
    | PairingSucceeded
    | PairingRefused
    | IntroductionOffered
    | PeerIntroduced
)


# -- status and summaries -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One trusted peer as the engine sees it now (counters include what is not yet saved)."""

    fingerprint: bytes
    name: str
    state: PeerStateName
    address: str | None
    outbound: bool | None
    last_sync: _dt.datetime | None
    changes_in: int
    changes_out: int
    bytes_in: int
    bytes_out: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class PeerResult:
    """How ``sync_once`` went with one peer."""

    fingerprint: bytes
    name: str
    outcome: Literal["in-sync", "failed", "timeout", "no-address"]
    address: str | None = None
    changes_in: int = 0
    changes_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "in-sync"


@dataclass(frozen=True, slots=True)
class PairingResult:
    """The colleague ``pair`` trusted: its proven fingerprint, its name and the safety number."""

    fingerprint: bytes
    name: str
    safety_number: str
    address: str


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """The per-peer results of ``sync_once``."""

    results: tuple[PeerResult, ...] = ()

    @property
    def ok(self) -> bool:
        """Every trusted peer was reached and is in sync (vacuously true with no peers)."""
        return all(r.ok for r in self.results)

    @property
    def synced(self) -> list[PeerResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[PeerResult]:
        return [r for r in self.results if not r.ok]


# -- internals ------------------------------------------------------------------------------------


class _DialFailed(SyncError):
    """One attempt to reach a peer failed (``refused_certificate``: try certificate learning)."""

    def __init__(
        self, message: str, *, refused_certificate: bool = False, identity: bool = False
    ) -> None:
        super().__init__(message)
        self.refused_certificate = refused_certificate
        self.identity = identity


class _OverBudget(RemoteProtocolError):
    """A trusted peer sent more bytes or frames than ``Limits`` allow."""


class _FrameTracker:
    """Knows whether the stream stopped inside a frame (length prefixes only, no buffering)."""

    __slots__ = ("_header", "_remaining")

    def __init__(self) -> None:
        self._header = bytearray()
        self._remaining = 0

    @property
    def partial(self) -> bool:
        return self._remaining > 0 or bool(self._header)

    def feed(self, data: bytes) -> int:
        """Follow ``data``; returns how many frames it starts (complete length prefixes)."""
        started = 0
        pos, end = 0, len(data)
        while pos < end:
            if self._remaining:
                step = min(self._remaining, end - pos)
                self._remaining -= step
                pos += step
                continue
            need = 4 - len(self._header)
            self._header += data[pos : pos + need]
            pos += min(need, end - pos)
            if len(self._header) == 4:
                self._remaining = int.from_bytes(self._header, "big")
                self._header.clear()
                started += 1
        return started


@dataclass(slots=True)
class _Runtime:
    """What the engine knows about one peer beyond the trust store."""

    state: PeerStateName = "offline"
    last_error: str | None = None
    address: str | None = None
    pending: SyncRecord = field(default_factory=SyncRecord)
    byte_budget: _TokenBucket | None = None
    frame_budget: _TokenBucket | None = None


class _Link:
    """One verified connection to a peer and its session."""

    def __init__(
        self,
        fingerprint: bytes,
        channel: TlsChannel,
        session: SyncSession,
        *,
        outbound: bool,
        address: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fp = fingerprint
        self.channel = channel
        self.session = session
        self.outbound = outbound
        self.address = address
        now = loop.time()
        self.opened = now
        self.last_rx = now
        self.last_tx = now
        self.tracker = _FrameTracker()
        self.established: asyncio.Future[None] = loop.create_future()
        self.closed = asyncio.Event()
        self.progress: asyncio.Future[None] = loop.create_future()
        self.hello_seen = False
        self.in_sync = False
        self.closing = False
        self.reason = ""
        self.refused_certificate = False
        self.changes_since_synced = 0
        self.counted_in = 0
        self.counted_out = 0
        self.introduced: tuple[Introduction, ...] | None = None  # what we last offered the peer
        self.task: asyncio.Task[None] | None = None

    def pulse(self) -> None:
        """Wake whoever waits for this link to move."""
        if not self.progress.done():
            self.progress.set_result(None)
        self.progress = asyncio.get_running_loop().create_future()

    def write(self, data: bytes, loop_time: float) -> None:
        if data and not self.closing:
            self.channel.write(data)
            self.last_tx = loop_time


def _clean_event(event: EngineEvent) -> EngineEvent:
    """The event with every text that may quote a peer cleaned (``clean_peer_text``)."""
    if isinstance(event, PeerLost | PeerRefused | StoreFailed | PairingRefused):
        event = dataclasses.replace(event, reason=clean_peer_text(event.reason, ellipsis=True))
    if isinstance(event, PeerConnected | PairingSucceeded | IntroductionOffered | PeerIntroduced):
        event = dataclasses.replace(event, name=clean_peer_text(event.name, 100))
    if isinstance(
        event, PeerConnected | PeerRefused | CertificateLearned | PairingSucceeded | PairingRefused
    ):
        event = dataclasses.replace(event, address=clean_peer_text(event.address, 100))
    return event


def _jitter(delay: float) -> float:
    return delay * (0.8 + 0.4 * secrets.randbelow(1_000_001) / 1_000_000)


def backoff_delay(attempt: int) -> float:
    """Seconds before retry ``attempt`` (0-based): 0.5 s doubling to 30 s, ±20 % jitter."""
    return _jitter(min(BACKOFF_MAX, BACKOFF_START * 2 ** min(attempt, 16)))


def _describe(exc: BaseException) -> str:
    """A short, human account of a network or TLS failure."""
    if isinstance(exc, SyncError):
        return exc.message
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "its certificate is not the one pinned for it (TLS: certificate verify failed)"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").upper()
        if "UNKNOWN_CA" in reason or "CERTIFICATE" in reason or "BAD_CERTIFICATE" in reason:
            return "it refused this device's certificate (it does not trust this device yet)"
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is plntui sync running there?)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


def _uleb(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("LEB128 too long")


def _changes_in_sync_message(payload: memoryview) -> int:
    """How many changes an (our own, well-formed) Automerge sync message carries."""
    try:
        if payload[0] not in (0x42, 0x43):
            return 0
        pos = 1
        for _ in range(2):  # heads, need
            count, pos = _uleb(payload, pos)
            pos += 32 * count
        n_haves, pos = _uleb(payload, pos)
        for _ in range(n_haves):
            count, pos = _uleb(payload, pos)
            pos += 32 * count
            size, pos = _uleb(payload, pos)
            pos += size
        n_changes, _ = _uleb(payload, pos)
    except (IndexError, ValueError):
        return 0
    return n_changes


def _changes_in_frames(data: bytes) -> int:
    """Changes carried by the SYNC frames in ``data`` (whole frames, as the session emits)."""
    view = memoryview(data)
    pos, total = 0, 0
    while pos + _HEADER <= len(view):
        length = int.from_bytes(view[pos : pos + 4], "big")
        if view[pos + 4] == FrameKind.SYNC:
            total += _changes_in_sync_message(view[pos + _HEADER : pos + 4 + length])
        pos += 4 + length
    return total


# -- the engine ---------------------------------------------------------------------------------


class SyncEngine:
    """Sync one document with every trusted peer over TLS 1.3; see the module docstring."""

    def __init__(
        self,
        host: DocumentHost,
        identity: Identity,
        trust: TrustStore,
        *,
        listen_host: str = "127.0.0.1",
        port: int = 0,
        on_event: Callable[[EngineEvent], None] | None = None,
        poll_interval: float = 0.2,
        listen: bool = True,
        auto_dial: bool = True,
        max_frame: int = MAX_FRAME,
        timeouts: Timeouts = Timeouts(),
        name: str = "",
        limits: Limits = Limits(),
    ) -> None:
        """``listen=False`` only dials (``sync --once``); ``auto_dial`` dials stored addresses.

        ``name`` is our display name, told to a colleague we pair with.
        """
        self.host = host
        self.identity = identity
        self.trust = trust
        self.listen_host = listen_host
        self._port = port
        self.on_event = on_event
        self.poll_interval = poll_interval
        self.listen = listen
        self.auto_dial = auto_dial
        self.max_frame = max_frame
        self.timeouts = timeouts
        self.limits = limits
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._server: asyncio.Server | None = None
        self._staging: StagingReplica | None = None
        self._links: dict[bytes, _Link] = {}
        self._targets: dict[bytes, list[tuple[str, int]]] = {}
        self._dialers: dict[bytes, asyncio.Task[None]] = {}
        self._wake: dict[bytes, asyncio.Event] = {}
        self._runtime: dict[bytes, _Runtime] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending_handshakes = 0
        self._pending_by_address: dict[str, int] = {}
        self._peak_pending = 0
        self._server_ctx: ssl.SSLContext | None = None
        self._client_ctx: dict[bytes, ssl.SSLContext] = {}
        self._ctx_version = -1
        self._trust_error: str | None = None
        self._persist_failed = False
        self.name = name
        self._invite: Invite | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the engine listens on (the bound one when 0 was asked for)."""
        return self._port

    @property
    def running(self) -> bool:
        return self._running

    @property
    def pending_handshakes(self) -> int:
        """Connections accepted and not yet verified (TLS handshake or anonymous exchange)."""
        return self._pending_handshakes

    @property
    def peak_pending_handshakes(self) -> int:
        """The most connections ever pending at once (never above ``limits``)."""
        return self._peak_pending

    def pending_handshakes_from(self, address: str) -> int:
        """Connections pending from one source IP address."""
        return self._pending_by_address.get(address, 0)

    async def start(self) -> None:
        """Listen (unless ``listen=False``), dial the known peers, start polling.

        The document is not touched until the first link is admitted: an app that opens with
        nobody around never pays for loading it.
        """
        if self._running:
            raise LocalProtocolError("the sync engine is already running")
        self._loop = asyncio.get_running_loop()
        self._check_trust(force=True)
        if self.listen:
            self._server = await asyncio.start_server(
                self._accept, self.listen_host, self._port, limit=2**16
            )
            sockname = self._server.sockets[0].getsockname()
            self._port = int(sockname[1])
        self._running = True
        self._spawn(self._poll_loop(), "poll")
        self._spawn(self._flush_loop(), "stats")
        for fp in list(self._targets):
            self._ensure_dialer(fp)
        if self.auto_dial:
            self._dial_stored()
        log.info("sync engine %s listening on %s:%s", self.identity, self.listen_host, self._port)

    async def stop(self) -> None:
        """Say goodbye on every link, stop listening and dialling, save the counters."""
        if not self._running:
            return
        self._running = False
        if self._server is not None:
            self._server.close()
        live = list(self._links.values())
        for link in live:
            self._close_link(link, "plntui is shutting down", local="this engine stopped")
        for task in list(self._dialers.values()):
            task.cancel()
        link_tasks = [link.task for link in live if link.task is not None]
        if link_tasks:
            await asyncio.wait(link_tasks, timeout=2.0)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        self._flush_stats()
        with self.host.lock:
            if self._staging is not None:
                self._staging.release()

    async def __aenter__(self) -> SyncEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- public calls (any thread) ------------------------------------------------------------

    def connect(self, fingerprint: bytes, host: str, port: int) -> None:
        """Dial a trusted peer at ``host:port`` and keep the link up while it stays trusted."""
        if fingerprint == self.identity.fingerprint:
            raise LocalProtocolError("this is this device's own fingerprint")
        if not self.trust.is_trusted(fingerprint):
            raise UntrustedPeer(
                fingerprint,
                f"{format_fingerprint(fingerprint)} is not a trusted peer; trust it first",
            )
        host, port = parse_hostport(format_hostport(host, int(port)))
        self._call(self._add_target, fingerprint, host, port)

    def forget_address(self, fingerprint: bytes, host: str, port: int) -> None:
        """Stop dialling ``host:port`` for a peer (discovery saw it go); the link stays up."""
        self._call(self._drop_target, fingerprint, host, int(port))

    def disconnect(self, fingerprint: bytes) -> None:
        """Close the link to a peer and stop dialling it (until ``connect`` again)."""
        self._call(self._disconnect, fingerprint)

    def local_change(self) -> None:
        """The document changed here: push it to every connected peer now."""
        self._call(self._push_all, None)

    def trust_changed(self) -> None:
        """Trust changed: rebuild the TLS contexts and cut links of peers no longer trusted."""
        self._call(self._check_trust, True)

    # -- pairing by code (see ``pairing``) ------------------------------------------------------

    @property
    def invite(self) -> Invite | None:
        """The current invite (open, or how the last one ended), or ``None``."""
        return self._invite

    def open_invite(self, ttl: float = INVITE_TTL) -> Invite:
        """Open an invite: its code lets ONE device pair within ``ttl`` seconds.

        A new invite replaces the previous one (whose code stops working).
        """
        self.cancel_invite()
        self._invite = new_invite(ttl)
        return self._invite

    def cancel_invite(self) -> None:
        """Close the invite; an attempt already running fails before anyone is pinned."""
        invite = self._invite
        if invite is not None and (invite.is_open() or invite.state is InviteState.BUSY):
            invite.state = InviteState.CANCELLED

    async def pair(
        self,
        code: str | PairingCode,
        host: str,
        port: int,
        *,
        remember_address: bool = False,
        expect: bytes | None = None,
    ) -> PairingResult:
        """Pair with the device at ``host:port`` that shows ``code``; pin it on success.

        Raises ``PairingFailed`` with the reason (a wrong code, a device in the middle, no
        invite open there, an unreachable address). On success the peer is trusted, its
        certificate pinned, and (when running) it is dialled with mutual TLS at once.
        ``remember_address`` also stores ``host:port`` as the peer's manual address. ``expect``
        is the fingerprint a LAN announcement claimed: another certificate answering there is
        refused before the code is tried, so a squatted nameplate costs no attempt.
        """
        parsed = parse_code(code) if isinstance(code, str) else code
        address = format_hostport(host, port)
        try:
            channel = await self._open(host, port, client_context_anonymous())
        except _DialFailed as exc:
            self._emit(PairingRefused(exc.message, address))
            raise PairingFailed(exc.message) from None
        try:
            server_der = channel.peer_certificate()
            if server_der is None:
                raise PairingFailed(f"{address} presented no certificate: not a plntui device")
            server_fp = fingerprint_of(server_der)
            if server_fp == self.identity.fingerprint:
                raise PairingFailed(f"{address} is this device; pair with your colleague's")
            if expect is not None and server_fp != expect:
                raise PairingFailed(
                    f"the device at {address} is not the one that announced the invite (another "
                    "certificate answered); nothing was tried: give your colleague's address"
                )
            from .identity import check_peer_certificate

            try:
                check_peer_certificate(server_der)
            except ValueError as exc:
                raise PairingFailed(f"the certificate at {address} is unusable: {exc}") from None
            machine = JoinerPairing(
                parsed,
                self.identity.cert_der,
                server_fp,
                self.name,
                self._port if self.listen and self._running else None,
            )
            name, number = await pairlink.join(channel, machine, 3 * self.timeouts.handshake)
        except PairingFailed as exc:
            self._emit(PairingRefused(exc.message, address))
            raise
        finally:
            await channel.aclose(timeout=0.5)
        try:
            self.trust.trust(server_fp, name or None)
            self.trust.learn_cert(server_fp, server_der)
            if remember_address:
                self.trust.add_address(server_fp, address)
        except (ValueError, SyncError) as exc:
            message = exc.message if isinstance(exc, SyncError) else str(exc)
            raise PairingFailed(f"cannot store the new peer: {message}") from None
        self._check_trust(force=True)
        if self._running:
            self._add_target(server_fp, host, port)
        self._emit(PairingSucceeded(server_fp, self._name(server_fp), address, number, "joiner"))
        return PairingResult(server_fp, self._name(server_fp), number, address)

    def status(self) -> list[PeerStatus]:
        """Every trusted peer, and any peer with a live link, as the engine sees it now.

        Call it on the engine's event loop (the Textual app's loop when it runs in-process).
        """
        out: list[PeerStatus] = []
        fps = set(self.trust.trusted_fingerprints()) | set(self._links)
        for fp in fps:
            peer = self.trust.get(fp)
            rt = self._runtime.get(fp, _Runtime())
            link = self._links.get(fp)
            total = rt.pending
            if link is not None:
                total = total + self._live_delta(link)
            if link is not None and link.hello_seen:
                state: PeerStateName = "in-sync" if link.in_sync else "connected"
            elif link is not None:
                state = "connecting"
            else:
                state = rt.state
            last_sync = peer.last_sync if peer is not None else None
            if total.synced_at is not None and (last_sync is None or total.synced_at > last_sync):
                last_sync = total.synced_at
            out.append(
                PeerStatus(
                    fingerprint=fp,
                    name=peer.display_name if peer is not None else short_fingerprint(fp),
                    state=state,
                    address=link.address if link is not None else rt.address,
                    outbound=link.outbound if link is not None else None,
                    last_sync=last_sync,
                    changes_in=(peer.changes_in if peer else 0) + total.changes_in,
                    changes_out=(peer.changes_out if peer else 0) + total.changes_out,
                    bytes_in=(peer.bytes_in if peer else 0) + total.bytes_in,
                    bytes_out=(peer.bytes_out if peer else 0) + total.bytes_out,
                    last_error=rt.last_error,
                )
            )
        return sorted(out, key=lambda s: (s.name.casefold(), s.fingerprint))

    async def sync_once(self, timeout: float = 30.0) -> SyncSummary:
        """Reach every trusted peer (live links, then known addresses) and wait until in sync.

        Each peer gets ``timeout`` seconds. Call ``stop()`` afterwards to close the links.
        """
        if not self._running:
            raise LocalProtocolError("call start() before sync_once()")
        self._check_trust()
        peers = [p for p in self.trust.peers() if p.trusted]
        results = await asyncio.gather(
            *(self._sync_peer_once(p.fingerprint, timeout) for p in peers)
        )
        return SyncSummary(tuple(results))

    # -- helpers for calls from other threads -------------------------------------------------

    def _call(self, fn: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is None or not self._running:
            fn(*args)
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _spawn(self, coro: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"sync-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def describe(self, event: EngineEvent) -> str:
        """One log line for an event: peer names with short fingerprints (plain text)."""

        def who(fp: bytes | None) -> str:
            if fp is None:
                return "an unknown device"
            return f"{self._name(fp)} ({short_fingerprint(fp)})"

        if isinstance(event, PeerConnected):
            how = "dialled" if event.outbound else "accepted"
            return f"connected to {who(event.fingerprint)} at {event.address} ({how})"
        if isinstance(event, PeerSynced):
            return f"in sync with {who(event.fingerprint)}: {event.n_changes} new change(s)"
        if isinstance(event, PeerLost):
            return f"lost {who(event.fingerprint)}: {event.reason}"
        if isinstance(event, PeerRefused):
            return f"refused {who(event.fingerprint)}: {event.reason}"
        if isinstance(event, ChangesStored):
            return f"stored {event.n} change(s) from {who(event.fingerprint)}"
        if isinstance(event, CertificateLearned):
            return f"learned the certificate of {who(event.fingerprint)} at {event.address}"
        if isinstance(event, PairingSucceeded):
            return (
                f"paired with {who(event.fingerprint)} at {event.address}; safety number "
                f"{event.safety_number}"
            )
        if isinstance(event, PairingRefused):
            where = f" from {event.address}" if event.address else ""
            return f"pairing{where} failed: {event.reason}"
        if isinstance(event, IntroductionOffered):
            return (
                f"{who(event.introducer)} introduces {event.name or 'a device'} "
                f"({short_fingerprint(event.fingerprint)}); approve it with: plntui peer approve "
                f"{format_fingerprint(event.fingerprint)}"
            )
        if isinstance(event, PeerIntroduced):
            return f"trusted {who(event.fingerprint)}, introduced by {who(event.introducer)}"
        return f"cannot store changes from {who(event.fingerprint)}: {event.reason}"

    def _emit(self, event: EngineEvent) -> None:
        event = _clean_event(event)
        warn = isinstance(event, PeerRefused | StoreFailed) or (
            isinstance(event, PairingRefused) and event.spent
        )
        level = logging.WARNING if warn else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "%s", self.describe(event))
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # the daemon never dies from a listener
                log.exception("the sync event listener failed on %r", event)

    def _rt(self, fp: bytes) -> _Runtime:
        rt = self._runtime.get(fp)
        if rt is None:
            rt = self._runtime[fp] = _Runtime()
        return rt

    def _name(self, fp: bytes) -> str:
        peer = self.trust.get(fp)
        return peer.display_name if peer is not None else short_fingerprint(fp)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # -- trust --------------------------------------------------------------------------------

    def _trusted(self) -> frozenset[bytes]:
        if self._trust_error is not None:
            return frozenset()
        return self.trust.trusted_fingerprints() - {self.identity.fingerprint}

    def _is_trusted(self, fp: bytes) -> bool:
        return fp in self._trusted()

    def _check_trust(self, force: bool = False) -> None:
        """Notice trust changes (this process or another) and apply them."""
        try:
            changed = self.trust.refresh()
        except TrustStoreError as exc:
            if self._trust_error is None:
                self._trust_error = exc.message
                log.error("%s; refusing every peer until it is fixed", exc.message)
                self._apply_trust()
            return
        if self._trust_error is not None:
            self._trust_error = None
            changed = True
        if force or changed or self.trust.version != self._ctx_version:
            self._apply_trust()

    def _apply_trust(self) -> None:
        self._ctx_version = self.trust.version
        self._server_ctx = None
        self._client_ctx.clear()
        trusted = self._trusted()
        for link in list(self._links.values()):
            if link.fp not in trusted:
                self._close_link(
                    link, "you are no longer trusted", flush=False, local="revoked on this device"
                )
        for fp, task in list(self._dialers.items()):
            if fp not in trusted:
                task.cancel()
        if self._running and self.auto_dial:
            self._dial_stored()
        for event in self._wake.values():
            event.set()
        self._introductions_changed()

    def _server_context(self) -> ssl.SSLContext:
        if self._server_ctx is None or self._ctx_version != self.trust.version:
            self._ctx_version = self.trust.version
            certs = [] if self._trust_error is not None else self.trust.trusted_certs()
            self._server_ctx = server_context(self.identity, certs)
            self._client_ctx.clear()
        return self._server_ctx

    def _client_context(self, fp: bytes, cert: bytes) -> ssl.SSLContext:
        ctx = self._client_ctx.get(fp)
        if ctx is None:
            ctx = self._client_ctx[fp] = client_context(self.identity, cert)
        return ctx

    # -- accepting ----------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if (
            not self._running
            or self._pending_handshakes >= self.limits.max_pending_handshakes
            or self._pending_by_address.get(source, 0) >= self.limits.max_pending_per_address
        ):
            writer.transport.abort()  # silently: a flood must not flood the log too
            return
        try:
            await self._serve_connection(reader, writer, task, source)
        except Exception:  # a bug must cost one connection, never the daemon
            log.exception("serving a connection failed")
            writer.transport.abort()

    async def _serve_connection(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        task: asyncio.Task[None] | None,
        source: str = "?",
    ) -> None:
        self._pending_handshakes += 1
        self._pending_by_address[source] = self._pending_by_address.get(source, 0) + 1
        self._peak_pending = max(self._peak_pending, self._pending_handshakes)
        try:
            self._check_trust()
            channel = TlsChannel(reader, writer, self._server_context(), server_side=True)
            address = channel.peername
            try:
                await channel.handshake(self.timeouts.handshake)
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                channel.abort()
                self._emit(
                    PeerRefused(
                        f"a device at {address} failed the TLS handshake: {_describe(exc)}",
                        None,
                        address,
                    )
                )
                return
            if channel.peer_certificate() is None:
                await self._serve_anonymous(channel, address)
                return
            try:
                fp = verify_peer(channel.ssl_object, self._trusted())
            except UntrustedPeer as exc:
                channel.abort()
                self._emit(PeerRefused(f"{address}: {exc.message}", exc.fingerprint, address))
                return
        finally:
            self._pending_handshakes -= 1
            left = self._pending_by_address.pop(source, 1) - 1
            if left > 0:
                self._pending_by_address[source] = left
        link = self._admit(fp, channel, outbound=False, address=address)
        if link is None:
            await channel.aclose()
            return
        link.task = task
        await self._run_link(link)

    async def _serve_anonymous(self, channel: TlsChannel, address: str) -> None:
        """The anonymous path: one PRESENT of a trusted certificate, pairing, or nothing at all."""
        reader = pairlink.FrameReader(channel, max(MAX_PRESENT, MAX_PAIR_MESSAGE))
        fp: bytes | None = None
        try:
            async with asyncio.timeout(self.timeouts.handshake):
                frame = await reader.next()
            if frame is not None and frame.kind == INFO:  # a doctor's query (see tls)
                if reader.buffered:
                    raise RemoteProtocolError("the peer sent more than one frame with INFO")
                await answer_info(channel, frame)
                await channel.aclose()
                return
            if frame is not None and frame.kind == PAIR_START:
                await self._serve_pairing(channel, reader, frame, address)
                return
            if frame is None or frame.kind != PRESENT:
                raise _DialFailed("it sent no certificate on the anonymous path")
            if reader.buffered:
                raise RemoteProtocolError("the peer sent more than one frame on the anonymous path")
            fp = fingerprint_of(frame.payload)
            if fp == self.identity.fingerprint or fp not in self._trusted():
                raise UntrustedPeer(fp)
            learned = self.trust.learn_cert(fp, frame.payload)
            self._check_trust()
            channel.write(present_ok_frame())
            await channel.drain()
        except (SyncError, ValueError, ssl.SSLError, OSError, TimeoutError) as exc:
            if isinstance(exc, UntrustedPeer):
                await channel.aclose()  # a clean end: the device learns it is not approved
            else:
                channel.abort()
            reason = exc.message if isinstance(exc, SyncError) else _describe(exc)
            self._emit(PeerRefused(f"{address}: {reason}", fp, address))
            return
        await channel.aclose()
        if learned and fp is not None:
            self._emit(CertificateLearned(fp, address))
        wake = self._wake.get(fp)
        if wake is not None:
            wake.set()  # it trusts us: our own dialer may stop waiting

    async def _serve_pairing(
        self, channel: TlsChannel, reader: pairlink.FrameReader, start: Frame, address: str
    ) -> None:
        """A device without a certificate we trust asks to pair: only an open invite answers."""
        invite = self._invite
        if invite is None or not invite.is_open():
            await channel.aclose()
            self._emit(PairingRefused("a device asked to pair, but no invite is open", address))
            return
        from .identity import check_peer_certificate

        machine = InviterPairing(
            invite, self.identity.fingerprint, self.name, check_cert=check_peer_certificate
        )
        try:
            paired = await pairlink.serve(
                channel, reader, start, machine, 3 * self.timeouts.handshake
            )
        except PairingFailed as exc:
            channel.abort()
            spent = invite.state is not InviteState.OPEN
            self._emit(PairingRefused(exc.message, address, spent=spent))
            return
        try:
            self.trust.trust(paired.fingerprint, paired.name or None)
            self.trust.learn_cert(paired.fingerprint, paired.cert)
            self._check_trust(force=True)
        except (SyncError, ValueError) as exc:
            channel.abort()
            reason = exc.message if isinstance(exc, SyncError) else str(exc)
            self._emit(PairingRefused(f"cannot store the new peer: {reason}", address, True))
            return
        try:
            await pairlink.finish(channel)
        except (ssl.SSLError, OSError) as exc:
            channel.abort()
            self._emit(
                PairingRefused(
                    f"{self._name(paired.fingerprint)} left before the end of pairing "
                    f"({_describe(exc)}): it is trusted here but may not trust this device; "
                    "check plntui peer list, or revoke it and pair again",
                    address,
                    spent=True,
                )
            )
            return
        await channel.aclose()
        host = channel.peer_host
        if paired.port is not None and host and self._loop is not None:
            # the joiner dials us once it has pinned us; our own dial waits a moment, so it does
            # not arrive before the joiner has read PAIR_DONE
            self._loop.call_later(2.0, self._add_target, paired.fingerprint, host, paired.port)
        self._emit(
            PairingSucceeded(
                paired.fingerprint,
                self._name(paired.fingerprint),
                address,
                paired.safety_number,
                "inviter",
            )
        )

    # -- dialling -----------------------------------------------------------------------------

    def _add_target(self, fp: bytes, host: str, port: int) -> None:
        targets = self._targets.setdefault(fp, [])
        new = (host, port) not in targets
        if not new:
            targets.remove((host, port))
        targets.insert(0, (host, port))
        del targets[16:]
        if self._running:
            self._ensure_dialer(fp)
            if new:  # a known address again (a repeated announcement) keeps the backoff
                self._wake_event(fp).set()

    def _drop_target(self, fp: bytes, host: str, port: int) -> None:
        targets = self._targets.get(fp)
        if targets is not None and (host, port) in targets:
            targets.remove((host, port))

    def _disconnect(self, fp: bytes) -> None:
        self._targets.pop(fp, None)
        task = self._dialers.pop(fp, None)
        if task is not None:
            task.cancel()
        link = self._links.get(fp)
        if link is not None:
            self._close_link(link, "disconnected")

    def _dial_stored(self) -> None:
        for peer in self.trust.peers():
            if peer.trusted and peer.addresses and peer.fingerprint != self.identity.fingerprint:
                self._ensure_dialer(peer.fingerprint)

    def _addresses(self, fp: bytes) -> list[tuple[str, int]]:
        out = list(self._targets.get(fp, ()))
        peer = self.trust.get(fp)
        for text in peer.addresses if peer is not None else ():
            with contextlib.suppress(ValueError):
                pair = parse_hostport(text)
                if pair not in out:
                    out.append(pair)
        return out

    def _wake_event(self, fp: bytes) -> asyncio.Event:
        event = self._wake.get(fp)
        if event is None:
            event = self._wake[fp] = asyncio.Event()
        return event

    def _ensure_dialer(self, fp: bytes) -> None:
        task = self._dialers.get(fp)
        if task is not None and not task.done():
            return
        if not self._is_trusted(fp):
            return
        self._dialers[fp] = self._spawn(self._dialer(fp), f"dial-{short_fingerprint(fp)}")

    async def _dialer(self, fp: bytes) -> None:
        attempt = 0
        wake = self._wake_event(fp)
        rt = self._rt(fp)
        try:
            while self._running and self._is_trusted(fp):
                link = self._links.get(fp)
                if link is not None:
                    await link.closed.wait()
                    if link.hello_seen and self._now() - link.opened >= STABLE_LINK:
                        attempt = 0  # it was a good link: come back quickly
                        await self._sleep(wake, _jitter(RECONNECT_DELAY))
                    else:  # a link that keeps dropping at once backs off like a failure
                        await self._sleep(wake, backoff_delay(attempt))
                        attempt += 1
                    continue
                addresses = self._addresses(fp)
                if not addresses:
                    rt.state = "offline"
                    wake.clear()
                    await wake.wait()
                    continue
                rt.state = "connecting"
                try:
                    await self._dial_any(fp, addresses)
                    continue
                except _DialFailed as exc:
                    rt.state = "failed"
                    rt.last_error = clean_peer_text(exc.message, ellipsis=True)
                    log.info("cannot reach %s: %s", self._name(fp), rt.last_error)
                except Exception as exc:  # a bug must not end the dialling for good
                    log.exception("dialling %s failed", self._name(fp))
                    rt.state = "failed"
                    rt.last_error = f"internal error: {exc!r}"
                await self._sleep(wake, backoff_delay(attempt))
                attempt += 1
        finally:
            if self._dialers.get(fp) is asyncio.current_task():
                del self._dialers[fp]

    @staticmethod
    async def _sleep(wake: asyncio.Event, delay: float) -> None:
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)

    async def _dial_any(self, fp: bytes, addresses: list[tuple[str, int]]) -> _Link:
        last: _DialFailed | None = None
        for host, port in addresses:
            try:
                return await self._dial(fp, host, port)
            except _DialFailed as exc:
                last = exc
            except (ssl.SSLError, OSError, ValueError) as exc:  # e.g. the key file went away
                log.exception("dialling %s failed", self._name(fp))
                last = _DialFailed(f"cannot dial {format_hostport(host, port)}: {_describe(exc)}")
        assert last is not None
        raise last

    async def _dial(self, fp: bytes, host: str, port: int) -> _Link:
        """One attempt at one address: certificate learning when needed, then mutual TLS."""
        existing = self._links.get(fp)
        if existing is not None and not existing.closing:
            return existing
        peer = self.trust.get(fp)
        if peer is None or not self._is_trusted(fp):
            raise _DialFailed(f"{format_fingerprint(fp)} is not trusted")
        address = format_hostport(host, port)
        self._rt(fp).address = address
        presented = False
        if peer.cert is None:
            await self._present(fp, host, port)
            presented = True
        try:
            return await self._dial_mutual(fp, host, port)
        except _DialFailed as exc:
            if not exc.refused_certificate or presented:
                raise
        await self._present(fp, host, port)
        return await self._dial_mutual(fp, host, port)

    async def _open(
        self, host: str, port: int, ctx: ssl.SSLContext, server_hostname: str | None = None
    ) -> TlsChannel:
        address = format_hostport(host, port)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=2**16), self.timeouts.connect
            )
        except (OSError, TimeoutError) as exc:
            raise _DialFailed(f"cannot connect to {address}: {_describe(exc)}") from None
        channel = TlsChannel(
            reader, writer, ctx, server_side=False, server_hostname=server_hostname
        )
        try:
            await channel.handshake(self.timeouts.handshake)
        except ssl.SSLCertVerificationError as exc:
            channel.abort()
            raise _DialFailed(
                f"the device at {address} is not the expected peer: {_describe(exc)}",
                identity=True,
            ) from None
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            channel.abort()
            raise _DialFailed(f"TLS handshake with {address} failed: {_describe(exc)}") from None
        return channel

    async def _present(self, fp: bytes, host: str, port: int) -> None:
        """Certificate learning, client side (see ``tls``)."""
        address = format_hostport(host, port)
        channel = await self._open(host, port, client_context_anonymous())
        try:
            try:
                verify_peer(channel.ssl_object, fp)
            except (UntrustedPeer, AnonymousPeer) as exc:
                refused = PeerRefused(
                    f"{address}: {exc.message}", getattr(exc, "fingerprint", None), address
                )
                self._emit(refused)
                raise _DialFailed(exc.message, identity=True) from None
            server_der = channel.peer_certificate()
            assert server_der is not None
            channel.write(present_frame(self.identity.cert_der))
            await channel.drain()
            async with asyncio.timeout(self.timeouts.handshake):
                frame = await read_one_frame(channel, max_payload=0)
        except (RemoteProtocolError, ssl.SSLError, OSError, TimeoutError) as exc:
            raise _DialFailed(
                f"certificate exchange with {address} failed ({_describe(exc)}); if this "
                f"persists, ask them to run: plntui peer trust {self.identity.fingerprint_text}"
            ) from None
        finally:
            await channel.aclose(timeout=0.5)
        if frame is None or frame.kind != PRESENT_OK:
            raise _DialFailed(
                f"{self._name(fp)} at {address} does not trust this device yet; ask them to run "
                f"plntui peer trust {self.identity.fingerprint_text}"
            )
        try:
            learned = self.trust.learn_cert(fp, server_der)
        except (ValueError, UntrustedPeer, TrustStoreError) as exc:
            raise _DialFailed(str(exc)) from None
        self._check_trust()
        if learned:
            self._emit(CertificateLearned(fp, address))

    async def _dial_mutual(self, fp: bytes, host: str, port: int) -> _Link:
        peer = self.trust.get(fp)
        if peer is None or peer.cert is None:
            raise _DialFailed(f"the certificate of {format_fingerprint(fp)} is not known yet")
        address = format_hostport(host, port)
        channel = await self._open(
            host,
            port,
            self._client_context(fp, peer.cert),
            server_hostname=sni_name(self.identity.fingerprint, fp),
        )
        try:
            verify_peer(channel.ssl_object, fp)
        except (UntrustedPeer, AnonymousPeer) as exc:
            channel.abort()
            self._emit(
                PeerRefused(f"{address}: {exc.message}", getattr(exc, "fingerprint", None), address)
            )
            raise _DialFailed(exc.message, identity=True) from None
        link = self._admit(fp, channel, outbound=True, address=address)
        if link is None:
            await channel.aclose()
            existing = self._links.get(fp)
            if existing is None:
                raise _DialFailed("the link was replaced")
            link = existing
        else:
            link.task = self._spawn(self._run_link(link), f"link-{short_fingerprint(fp)}")
        await asyncio.shield(link.established)
        return link

    # -- links --------------------------------------------------------------------------------

    def _admit(
        self, fp: bytes, channel: TlsChannel, *, outbound: bool, address: str
    ) -> _Link | None:
        """Register a verified connection, keeping one link per peer; ``None`` if refused."""
        if not self._running or fp not in self._trusted():
            return None
        old = self._links.get(fp)
        if old is not None and not old.closing:
            if old.outbound != outbound:
                keep_new = outbound == (self.identity.fingerprint < fp)
            else:
                keep_new = not outbound  # the peer dialled again: its old link is stale
            if not keep_new:
                log.info("duplicate link with %s from %s dropped", self._name(fp), address)
                return None
            self._close_link(old, "replaced by another connection")
        if self._staging is None:  # the first link: only now is the document needed
            with self.host.lock:
                self._staging = StagingReplica(
                    self.host.document(),
                    max_queued_changes=self.limits.max_queued_changes,
                    max_queued_bytes=self.limits.max_queued_bytes,
                )
        peer = self.trust.get(fp)
        session = SyncSession(
            self.host.document(),
            self.host.doc_id,
            self.host.genesis_heads,
            "client" if outbound else "server",
            max_frame=self.max_frame,
            staging=self._staging,
            wants_introductions=peer is not None and peer.introducer,
        )
        assert self._loop is not None
        link = _Link(fp, channel, session, outbound=outbound, address=address, loop=self._loop)
        self._links[fp] = link
        rt = self._rt(fp)
        rt.address = address
        rt.state = "connecting"
        return link

    def _close_link(
        self, link: _Link, reason: str, *, flush: bool = True, local: str | None = None
    ) -> None:
        """End a link from this side: BYE ``reason`` (after what is pending, if ``flush``).

        ``local`` is the reason this side reports (``PeerLost``), when it differs.
        """
        if link.closing:
            return
        try:
            with self.host.lock:
                if not flush:
                    link.session.data_to_send()
                data = link.session.close(reason)
            link.write(data, self._now())
        except (SyncError, ssl.SSLError, OSError):
            pass
        link.reason = link.reason or local or reason
        link.closing = True
        if self._links.get(link.fp) is link:
            del self._links[link.fp]
        if link.task is not None and link.task is not asyncio.current_task():
            link.task.cancel()

    async def _run_link(self, link: _Link) -> None:
        rt = self._rt(link.fp)
        error: str | None = None
        try:
            await self._link_loop(link)
        except asyncio.CancelledError:
            pass
        except RemoteProtocolError as exc:
            error = f"protocol error: {exc.message}"
        except (SyncError, ssl.SSLError, OSError, TimeoutError) as exc:
            if (
                link.outbound
                and not link.hello_seen
                and isinstance(exc, ssl.SSLError | ConnectionError)
            ):
                link.refused_certificate = True
            error = _describe(exc)
        except Exception as exc:  # a bug must cost one link, never the daemon
            log.exception("the link with %s failed", self._name(link.fp))
            error = f"internal error: {exc!r}"
        finally:
            await self._link_ended(link, rt, error)

    async def _link_ended(self, link: _Link, rt: _Runtime, error: str | None) -> None:
        if self._links.get(link.fp) is link:
            del self._links[link.fp]
        reason = link.reason or error or "the link closed"
        link.reason = reason
        if not link.closing and link.session.state not in (State.START, State.CLOSED):
            with contextlib.suppress(SyncError, ssl.SSLError, OSError):  # say why (BYE)
                with self.host.lock:
                    data = link.session.close(reason)
                link.write(data, self._now())
        link.closing = True
        self._add_pending(link.fp, self._live_delta(link, consume=True))
        if error is not None and not link.hello_seen and link.outbound is False:
            self._emit(PeerRefused(f"{link.address}: {reason}", link.fp, link.address))
        if link.hello_seen:
            self._emit(PeerLost(link.fp, reason))
        if not self._links.get(link.fp):
            rt.state = "failed" if error is not None else "offline"
            if error is not None:
                rt.last_error = clean_peer_text(reason, ellipsis=True)
        if not link.established.done():
            link.established.set_exception(
                _DialFailed(
                    f"{self._name(link.fp)} at {link.address}: {reason}",
                    refused_certificate=link.refused_certificate,
                )
            )
            link.established.exception()  # retrieved: no "never retrieved" warning
        link.pulse()
        link.closed.set()
        with contextlib.suppress(Exception):
            await asyncio.shield(link.channel.aclose(timeout=1.0))

    def _deadline(self, link: _Link) -> tuple[float, str]:
        t = self.timeouts
        if not link.hello_seen:
            return link.opened + t.handshake, f"the peer did not say HELLO within {t.handshake:g} s"
        if link.tracker.partial:
            return (
                link.last_rx + t.partial_frame,
                f"the peer stalled in the middle of a frame for {t.partial_frame:g} s",
            )
        return link.last_rx + t.idle, f"the peer was silent for {t.idle:g} s"

    async def _link_loop(self, link: _Link) -> None:
        session = link.session
        with self.host.lock:
            hello = session.start()
        link.write(hello, self._now())
        while True:
            deadline, why = self._deadline(link)
            ping_at = link.last_tx + self.timeouts.ping if link.hello_seen else math.inf
            wait = max(0.0, min(deadline, ping_at) - self._now())
            try:
                data = await asyncio.wait_for(link.channel.read(), wait)
            except TimeoutError:
                now = self._now()
                if now >= deadline:
                    raise _DialFailed(why) from None
                if session.state is not State.CLOSED:
                    link.write(session.ping(), now)
                continue
            link.last_rx = self._now()
            self._charge(link, len(data), link.tracker.feed(data))
            try:
                session.receive_data(data)
            except RemoteProtocolError:
                link.write(session.data_to_send(), self._now())
                raise
            self._process(link)
            if session.state is State.CLOSED or not data:
                return
            await link.channel.drain()

    def _charge(self, link: _Link, n_bytes: int, n_frames: int) -> None:
        """Spend the peer's byte and frame budgets; over budget, the link drops (nothing read)."""
        lim, rt, now = self.limits, self._rt(link.fp), self._now()
        if rt.byte_budget is None or rt.frame_budget is None:
            rate = lim.peer_bytes_per_window / lim.peer_byte_window
            rt.byte_budget = _TokenBucket(rate, lim.peer_bytes_per_window, now)
            rt.frame_budget = _TokenBucket(lim.peer_frames_per_second, lim.peer_frame_burst, now)
        if not rt.byte_budget.take(n_bytes, now):
            raise _OverBudget(
                f"the peer sent more than {lim.peer_bytes_per_window:,} bytes in "
                f"{lim.peer_byte_window:g} s (the budget per peer)"
            )
        if not rt.frame_budget.take(n_frames, now):
            raise _OverBudget(
                f"the peer sent more than {lim.peer_frames_per_second:g} frames per second "
                f"(bursts of {lim.peer_frame_burst:,}; the budget per peer)"
            )

    def _process(self, link: _Link) -> None:
        """Drain the session's events: persist, push to the others, answer the peer."""
        session = link.session
        events: list[Event] = []
        error: SyncError | None = None
        store_error: BaseException | None = None
        applied = 0
        with self.host.lock:
            try:
                while (next_event := session.next_event()) is not None:
                    events.append(next_event)
            except SyncError as exc:
                error = exc
            applied = sum(e.n_changes for e in events if isinstance(e, ChangesApplied))
            if any(isinstance(e, ChangesApplied) for e in events):
                try:
                    self.host.persist(f"sync:{short_fingerprint(link.fp)}")
                except Exception as exc:
                    store_error = exc
        if store_error is not None:
            # not stored: do not acknowledge, drop the link; the poll loop retries the store
            self._persist_failed = True
            with self.host.lock:
                session.data_to_send()
                session.close("the peer could not store the changes")
            message = f"cannot store the changes from {self._name(link.fp)}: {store_error}"
            log.error("%s", message)
            self._emit(StoreFailed(link.fp, message))
            raise _DialFailed(message)
        snapshot_sent = False
        for event in events:
            self._on_session_event(link, event)
            snapshot_sent = snapshot_sent or isinstance(event, SnapshotSent)
        if applied:
            self._emit(ChangesStored(link.fp, applied))
            self._push_all(link)
        out = session.data_to_send()
        self._count_out(link, out)
        link.write(out, self._now())
        if snapshot_sent:
            with self.host.lock:
                sent = len(self.host.document().get_changes(list(self.host.genesis_heads)))
            self._add_pending(link.fp, SyncRecord(changes_out=sent))
        if events:
            link.pulse()
        if error is not None:
            raise error

    def _on_session_event(self, link: _Link, event: Event) -> None:
        rt = self._rt(link.fp)
        if isinstance(event, PeerHello):
            link.hello_seen = True
            rt.state = "connected"
            rt.last_error = None
            if not link.established.done():
                link.established.set_result(None)
            self._emit(PeerConnected(link.fp, self._name(link.fp), link.address, link.outbound))
            if event.wants_introductions:
                self._introduce_to(link)
        elif isinstance(event, IntroductionsReceived):
            self._on_introductions(link, event.entries)
        elif isinstance(event, ChangesApplied):
            link.in_sync = False
            link.changes_since_synced += event.n_changes
            self._add_pending(link.fp, SyncRecord(changes_in=event.n_changes))
        elif isinstance(event, InSync):
            link.in_sync = True
            rt.state = "in-sync"
            now = _dt.datetime.now(_dt.UTC)
            self._add_pending(link.fp, SyncRecord(synced_at=now))
            self._emit(PeerSynced(link.fp, link.changes_since_synced))
            link.changes_since_synced = 0
        elif isinstance(event, Closed):
            link.reason = link.reason or (
                f"the peer closed the link: {event.reason}" if event.by_peer else event.reason
            )

    # -- introducers -------------------------------------------------------------------------

    def _introductions_for(self, fp: bytes) -> tuple[Introduction, ...]:
        """This side's trusted peers as offered to ``fp`` (not ``fp`` itself, not us)."""
        own = self.identity.fingerprint
        out: list[Introduction] = []
        for peer in self.trust.peers():
            if not peer.trusted or peer.fingerprint in (own, fp):
                continue
            addresses = tuple(format_hostport(*pair) for pair in self._addresses(peer.fingerprint))
            out.append(Introduction(peer.fingerprint, peer.name, peer.cert, addresses[:16]))
        return tuple(out)

    def _introduce_to(self, link: _Link) -> None:
        """Send our trusted peers to a peer that asked, unless it already has this list."""
        if link.closing or self._trust_error is not None:
            return
        entries = self._introductions_for(link.fp)
        if entries == link.introduced:
            return
        link.introduced = entries
        try:
            link.session.introduce(entries)
        except SyncError as exc:
            log.warning("cannot introduce peers to %s: %s", self._name(link.fp), exc.message)

    def _introductions_changed(self) -> None:
        """Trust changed: update peers that asked us; reconnect to ask a new introducer."""
        for link in list(self._links.values()):
            peer_hello = link.session.peer
            if link.closing or peer_hello is None:
                continue
            if peer_hello.wants_introductions:
                self._introduce_to(link)
                out = link.session.data_to_send()
                self._count_out(link, out)
                with contextlib.suppress(ssl.SSLError, OSError):
                    link.write(out, self._now())
            peer = self.trust.get(link.fp)
            if peer is not None and peer.introducer and not link.session.wants_introductions:
                # HELLO is the only place to ask: a new link asks (the dialler comes back soon)
                self._close_link(link, "reconnecting to ask for introductions")

    def _on_introductions(self, link: _Link, entries: tuple[Introduction, ...]) -> None:
        try:
            outcomes = self.trust.receive_introductions(
                link.fp, entries, own=self.identity.fingerprint
            )
        except (TrustStoreError, ValueError) as exc:
            log.warning("cannot store the introductions of %s: %s", self._name(link.fp), exc)
            return
        for entry, outcome in outcomes:
            if outcome == "offered":
                self._emit(IntroductionOffered(link.fp, entry.fingerprint, entry.name))
            elif outcome == "trusted":
                self._emit(PeerIntroduced(link.fp, entry.fingerprint, entry.name))
            else:
                log.info(
                    "%s gave the certificate of %s",
                    self._name(link.fp),
                    self._name(entry.fingerprint),
                )
        if outcomes:
            self._check_trust()  # new trusted peers: TLS contexts, dialling their addresses

    def _push_all(self, exclude: _Link | None) -> None:
        """Tell every other live session that the document changed, and send what it says."""
        for link in list(self._links.values()):
            if link is exclude or link.closing or link.session.state is not State.SYNCING:
                continue
            try:
                with self.host.lock:
                    link.session.local_change()
                    link.in_sync = link.session.in_sync
                out = link.session.data_to_send()
                self._count_out(link, out)
                link.write(out, self._now())
            except (SyncError, ssl.SSLError, OSError) as exc:
                self._close_link(link, _describe(exc), flush=False)

    # -- counters -----------------------------------------------------------------------------

    def _count_out(self, link: _Link, data: bytes) -> None:
        if data:
            n = _changes_in_frames(data)
            if n:
                self._add_pending(link.fp, SyncRecord(changes_out=n))

    def _live_delta(self, link: _Link, *, consume: bool = False) -> SyncRecord:
        stats = link.session.stats
        delta = SyncRecord(
            bytes_in=stats.bytes_in - link.counted_in, bytes_out=stats.bytes_out - link.counted_out
        )
        if consume:
            link.counted_in, link.counted_out = stats.bytes_in, stats.bytes_out
        return delta

    def _add_pending(self, fp: bytes, record: SyncRecord) -> None:
        if not record.empty:
            rt = self._rt(fp)
            rt.pending = rt.pending + record

    def _take_pending(self) -> dict[bytes, SyncRecord]:
        for link in self._links.values():
            self._add_pending(link.fp, self._live_delta(link, consume=True))
        batch = {fp: rt.pending for fp, rt in self._runtime.items() if not rt.pending.empty}
        for fp in batch:
            self._runtime[fp].pending = SyncRecord()
        return batch

    def _flush_stats(self) -> None:
        batch = self._take_pending()
        if batch:
            try:
                self.trust.record_syncs(batch)
            except TrustStoreError as exc:
                log.warning("cannot save the sync counters: %s", exc.message)

    async def _flush_loop(self) -> None:
        while self._running:
            await asyncio.sleep(STATS_FLUSH_INTERVAL)
            batch = self._take_pending()
            if batch:
                try:
                    await asyncio.to_thread(self.trust.record_syncs, batch)
                except TrustStoreError as exc:
                    log.warning("cannot save the sync counters: %s", exc.message)

    # -- background polling -------------------------------------------------------------------

    def _poll_external(self) -> bool:
        with self.host.lock:
            return self.host.poll_external()

    async def _poll_loop(self) -> None:
        failing = False
        while self._running:
            await asyncio.sleep(self.poll_interval)
            try:
                changed = await asyncio.to_thread(self._poll_external)
                failing = False
            except Exception as exc:
                if not failing:
                    log.error("cannot catch up with changes on disk: %s", exc)
                failing = True
                changed = False
            if changed:
                self._push_all(None)
            if self._persist_failed:
                await self._retry_persist()
            self._check_trust()

    async def _retry_persist(self) -> None:
        """Store what a failed ``persist`` left in memory only (the disk may have room again)."""

        def persist() -> None:
            with self.host.lock:
                self.host.persist("sync:retry")

        try:
            await asyncio.to_thread(persist)
        except Exception as exc:
            log.debug("storing the peers' changes still fails: %s", exc)
            return
        self._persist_failed = False
        log.info("the peers' changes are stored now")

    # -- sync once ----------------------------------------------------------------------------

    async def _sync_peer_once(self, fp: bytes, timeout: float) -> PeerResult:
        name = self._name(fp)
        start = self._now()
        before = self._totals(fp)
        outcome: Literal["in-sync", "failed", "timeout", "no-address"] = "failed"
        error: str | None = None
        address: str | None = None
        try:
            async with asyncio.timeout(timeout):
                for _ in range(3):  # a link replaced by a duplicate is retried
                    link = self._links.get(fp)
                    if link is None:
                        addresses = self._addresses(fp)
                        if not addresses:
                            outcome = "no-address"
                            error = (
                                "no known address: add one with plntui peer add HOST:PORT, "
                                "or let discovery find the peer"
                            )
                            break
                        link = await self._dial_any(fp, addresses)
                    address = link.address
                    if await self._wait_in_sync(link):
                        outcome, error = "in-sync", None
                        break
                    error = link.reason
                    if "replaced" not in link.reason:
                        break
        except TimeoutError:
            outcome, error = "timeout", f"not in sync after {timeout:g} s"
        except _DialFailed as exc:
            outcome, error = "failed", exc.message
        after = self._totals(fp)
        return PeerResult(
            fingerprint=fp,
            name=name,
            outcome=outcome,
            address=address or self._rt(fp).address,
            changes_in=after.changes_in - before.changes_in,
            changes_out=after.changes_out - before.changes_out,
            bytes_in=after.bytes_in - before.bytes_in,
            bytes_out=after.bytes_out - before.bytes_out,
            seconds=self._now() - start,
            error=error,
        )

    def _totals(self, fp: bytes) -> SyncRecord:
        for status in self.status():
            if status.fingerprint == fp:
                return SyncRecord(
                    status.changes_in, status.changes_out, status.bytes_in, status.bytes_out
                )
        return SyncRecord()

    async def _wait_in_sync(self, link: _Link) -> bool:
        while True:
            if link.closed.is_set() or link.closing:
                return False
            if link.in_sync:
                return True
            await asyncio.shield(link.progress)
