"""Provides the sync engine: every trusted peer, one TLS link each, many documents per link.

``SyncEngine`` is a library: ``plntui sync`` runs it as a daemon, ``plntui sync --once`` calls
``sync_once`` and the app runs it in-process. It moves the documents of a ``DocumentHost``
(``session``) between the peers the ``TrustStore`` trusts, over TLS 1.3 (``tls``), each document
only to the peers the host's share policy allows. It is put together from parts with one job
each:

* ``admission``: accepting connections, the handshake limits, the anonymous path (certificate
  learning, the doctor's INFO query, pairing by code);
* ``dialer``: reaching trusted peers, with backoff, certificate learning first when needed;
* ``relaylink``: waiting for each trusted peer at a transit relay, when one is set (``relay``),
  and invites waiting there too; a LAN or direct link is preferred;
* ``link``: one verified connection, its pump, deadlines and budgets;
* ``synchronizer``: a ``SyncSession`` per link, relaying what one peer brings to the others,
  pushing local changes, the guard's refusals, introductions;
* ``events``: what the engine reports (``on_event``), ``status()`` and ``sync_once`` summaries.

After every handshake ``verify_peer`` checks the exact fingerprint; an unknown, revoked or wrong
peer is refused before a byte of any document is read or sent. One link per peer: when both
sides dial each other at once, the link dialled by the smaller fingerprint is kept on both
sides. ``trust_changed`` (also noticed by itself when ``peers.json`` changes) rebuilds the TLS
contexts and cuts the links of peers no longer trusted.

Threads: the engine runs on one asyncio loop. ``connect``, ``disconnect``, ``changed`` and
``trust_changed`` may be called from any thread. Every use of a document holds ``host.lock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from . import pairlink
from .admission import Admission
from .dialer import Dialer, backoff_delay
from .errors import LocalProtocolError, SyncError, UntrustedPeer
from .events import (
    CertificateLearned,
    ChangesRefused,
    ChangesStored,
    EngineEvent,
    IntroductionOffered,
    PairingRefused,
    PairingResult,
    PairingSucceeded,
    PeerConnected,
    PeerIntroduced,
    PeerLost,
    PeerRefused,
    PeerResult,
    PeerStateName,
    PeerStatus,
    PeerSynced,
    StoreFailed,
    SyncSummary,
    clean_event,
    describe,
)
from .fingerprint import fingerprint_of, format_fingerprint, short_fingerprint
from .framing import MAX_FRAME
from .limits import STATS_FLUSH_INTERVAL, Limits, Timeouts, TokenBucket
from .link import DialFailed, Link, LinkPump, describe_failure
from .pairing import (
    INVITE_TTL,
    Invite,
    InviteState,
    JoinerPairing,
    PairingCode,
    PairingFailed,
    new_invite,
    parse_code,
)
from .relay import RelayAddress, RelayError, day, meet, pairing_token, seconds_to_next_day
from .relaylink import RelayWaiter, relay_address
from .session import DocumentHost, State
from .synchronizer import Synchronizer
from .tls import TlsChannel, client_context, client_context_anonymous, server_context
from .trust import SyncRecord, TrustStore, TrustStoreError, format_hostport, parse_hostport

if TYPE_CHECKING:
    from .identity import Identity

__all__ = [
    # the engine's own
    "EVENT_RECORD",
    "REVOKED_BYE",
    "PairedHook",
    "SyncEngine",
    "backoff_delay",
    # what it reports and how it is tuned (defined in ``events`` and ``limits``)
    "CertificateLearned",
    "ChangesRefused",
    "ChangesStored",
    "EngineEvent",
    "IntroductionOffered",
    "Limits",
    "PairingRefused",
    "PairingResult",
    "PairingSucceeded",
    "PeerConnected",
    "PeerIntroduced",
    "PeerLost",
    "PeerRefused",
    "PeerResult",
    "PeerStatus",
    "PeerSynced",
    "StoreFailed",
    "SyncSummary",
    "Timeouts",
]

log = logging.getLogger(__name__)

EVENT_RECORD: Final = "sync_event"
"""The attribute of a log record that tells an engine event (``emit``) from other messages."""
REVOKED_BYE: Final = "you are no longer trusted"
"""The BYE a link gets when this device revokes its peer while they are linked."""

PairedHook = Callable[[bytes, str, Literal["inviter", "joiner"]], None]


@dataclass(slots=True)
class Runtime:
    """What the engine knows about one peer beyond the trust store."""

    state: PeerStateName = "offline"
    last_error: str | None = None
    address: str | None = None
    pending: SyncRecord = field(default_factory=SyncRecord)
    byte_budget: TokenBucket | None = None
    frame_budget: TokenBucket | None = None


class SyncEngine:
    """Sync a repository of documents with every trusted peer; see the module docstring."""

    def __init__(
        self,
        host: DocumentHost,
        identity: Identity,
        trust: TrustStore,
        *,
        listen_host: str = "127.0.0.1",
        port: int = 0,
        on_event: Callable[[EngineEvent], None] | None = None,
        poll: Callable[[], Iterable[str]] | None = None,
        poll_interval: float = 0.2,
        listen: bool = True,
        auto_dial: bool = True,
        max_frame: int = MAX_FRAME,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen: one shared default is fine
        name: str = "",
        limits: Limits = Limits(),  # noqa: B008 - frozen: one shared default is fine
        on_paired: PairedHook | None = None,
        relay: RelayAddress | None = None,
        relay_secrets: Callable[[bytes], list[bytes]] | None = None,
    ) -> None:
        """``listen=False`` only dials (``sync --once``); ``auto_dial`` dials stored addresses.

        ``relay``: a transit relay to meet peers at (``relaylink``); ``relay_secrets(peer)``
        returns the circle secrets shared with a peer, in an order both sides agree on (the
        pair secret from pairing by code, in the trust store, comes first).

        ``poll`` returns the documents other processes changed since its last call (called on
        a worker thread every ``poll_interval``). ``name`` is our display name, told to a
        colleague we pair with; ``on_paired`` hears every peer pairing made trusted.
        """
        self.host = host
        self.identity = identity
        self.trust = trust
        self.listen_host = listen_host
        self._port = port
        self.on_event = on_event
        self.poll = poll
        self.poll_interval = poll_interval
        self.listen = listen
        self.auto_dial = auto_dial
        self.max_frame = max_frame
        self.timeouts = timeouts
        self.limits = limits
        self.name = name
        self.on_paired = on_paired
        self.relay = relay
        self.relay_secrets = relay_secrets
        self.log = log
        self.loop: asyncio.AbstractEventLoop | None = None
        self.running = False
        self._server: asyncio.Server | None = None
        self.links: dict[bytes, Link] = {}
        self._runtime: dict[bytes, Runtime] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server_ctx: ssl.SSLContext | None = None
        self._client_ctx: dict[bytes, ssl.SSLContext] = {}
        self._ctx_version = -1
        self.trust_error: str | None = None
        self._invite: Invite | None = None
        self._admitted: dict[bytes, asyncio.Event] = {}
        self.admission = Admission(self)
        self.dialer = Dialer(self)
        self.pump = LinkPump(self)
        self.synchronizer = Synchronizer(self)
        self.relayer = RelayWaiter(self)

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the engine listens on (the bound one when 0 was asked for)."""
        return self._port

    @property
    def pending_handshakes(self) -> int:
        """Connections accepted and not yet verified (TLS handshake or anonymous exchange)."""
        return self.admission.pending

    @property
    def peak_pending_handshakes(self) -> int:
        """The most connections ever pending at once (never above ``limits``)."""
        return self.admission.peak

    def pending_handshakes_from(self, address: str) -> int:
        """Connections pending from one source IP address."""
        return self.admission.pending_by_address.get(address, 0)

    async def start(self) -> None:
        """Listen (unless ``listen=False``), dial the known peers, start polling."""
        if self.running:
            raise LocalProtocolError("the sync engine is already running")
        self.loop = asyncio.get_running_loop()
        self.check_trust(force=True)
        if self.listen:
            self._server = await asyncio.start_server(
                self.admission.accept, self.listen_host, self._port, limit=2**16
            )
            sockname = self._server.sockets[0].getsockname()
            self._port = int(sockname[1])
        self.running = True
        self.spawn(self._poll_loop(), "poll")
        self.spawn(self._flush_loop(), "stats")
        for fp in list(self.dialer.targets):
            self.dialer.ensure(fp)
        if self.auto_dial:
            self.dialer.dial_stored()
        self.relayer.start()
        log.info("sync engine %s listening on %s:%s", self.identity, self.listen_host, self._port)

    async def stop(self) -> None:
        """Say goodbye on every link, stop listening and dialling, save the counters."""
        if not self.running:
            return
        self.running = False
        if self._server is not None:
            self._server.close()
        live = list(self.links.values())
        for link in live:
            with contextlib.suppress(ssl.SSLError, OSError):
                await asyncio.wait_for(self.pump.flush(link), 2.0)
            self.close_link(link, "plntui is shutting down", local="this engine stopped")
        self.dialer.stop()
        self.relayer.stop()
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
        self.flush_stats()

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
        self.call(self.dialer.add, fingerprint, host, port)

    def forget_address(self, fingerprint: bytes, host: str, port: int) -> None:
        """Stop dialling ``host:port`` for a peer (discovery saw it go); the link stays up."""
        self.call(self.dialer.drop, fingerprint, host, int(port))

    def set_relay(self, relay: RelayAddress | None) -> None:
        """Meet peers at ``relay`` from now on (``None``: no relay); any thread."""
        if self.loop is None or not self.running:
            self.relay = relay
            return
        self.call(self._set_relay, relay)

    def _set_relay(self, relay: RelayAddress | None) -> None:
        if relay == self.relay:
            self.relayer.start()  # the same relay: look at the shared secrets again
            return
        self.relay = relay
        log.info("relay %s", relay if relay is not None else "off")
        self.relayer.restart()

    def relay_secrets_for(self, fp: bytes) -> list[bytes]:
        """The secrets the relay tokens with ``fp`` may be made from, best first: the pair
        secret from pairing by code, then the circle secrets shared with it (the waiter meets
        under the first few, as two devices' views of their circles may differ for a while)."""
        found: list[bytes] = []
        peer = self.trust.get(fp)
        if peer is not None and peer.relay_secret:
            found.append(peer.relay_secret)
        if self.relay_secrets is not None:
            try:
                found += self.relay_secrets(fp)
            except Exception:  # a damaged circle must not stop the engine
                log.exception("reading the circle secrets shared with %s failed", self.name_of(fp))
        return list(dict.fromkeys(found))

    def disconnect(self, fingerprint: bytes) -> None:
        """Close the link to a peer and stop dialling it (until ``connect`` again)."""
        self.call(self._disconnect, fingerprint)

    def changed(self, doc_ids: Iterable[str]) -> None:
        """These documents changed here: sync them with every peer that shares them, now.
        Always on the engine's loop; a stopped engine ignores it."""
        loop = self.loop
        if loop is None or not self.running:
            return
        ids = list(doc_ids)
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            self.synchronizer.changed(ids)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._changed_if_running, ids)

    def _changed_if_running(self, ids: list[str]) -> None:
        if self.running:
            self.synchronizer.changed(ids)

    def trust_changed(self) -> None:
        """Trust changed: rebuild the TLS contexts and cut links of peers no longer trusted."""
        self.call(self.check_trust, True)

    # -- pairing by code (see ``pairing``) ------------------------------------------------------

    @property
    def invite(self) -> Invite | None:
        """The current invite (open, or how the last one ended), or ``None``."""
        return self._invite

    def open_invite(self, ttl: float = INVITE_TTL) -> Invite:
        """Open an invite: its code lets ONE device pair within ``ttl`` seconds.

        A new invite replaces the previous one (whose code stops working). With a relay, the
        invite also waits there for a colleague joining through it (``relaylink``).
        """
        self.cancel_invite()
        self._invite = new_invite(ttl)
        if self.relay is not None and self.running:
            self._on_loop(self.relayer.invite, self._invite)
        return self._invite

    def _on_loop(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn`` now when on the engine's loop, else soon on it."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is self.loop:
            fn(*args)
        else:
            self.call(fn, *args)

    def cancel_invite(self) -> None:
        """Close the invite; an attempt already running fails before anyone is pinned."""
        invite = self._invite
        if invite is not None and (invite.is_open() or invite.state is InviteState.BUSY):
            invite.state = InviteState.CANCELLED
        if self.running:
            self._on_loop(self.relayer.cancel_invite)

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
            channel = await self.dialer.open(host, port, client_context_anonymous())
        except DialFailed as exc:
            self.emit(PairingRefused(exc.message, address))
            raise PairingFailed(exc.message) from None
        server_fp, number = await self._join(channel, parsed, address, expect)
        if remember_address:
            try:
                self.trust.add_address(server_fp, address)
            except (ValueError, SyncError) as exc:
                message = exc.message if isinstance(exc, SyncError) else str(exc)
                raise PairingFailed(f"cannot store the new peer's address: {message}") from None
        if self.running:
            self.dialer.add(server_fp, host, port)
        return self._paired_result(server_fp, number, address)

    async def pair_relayed(self, code: str | PairingCode, timeout: float = 60.0) -> PairingResult:
        """Pair through the relay with the device that shows ``code`` (its invite waits at the
        relay under the code's nameplate: ``relaylink``); as ``pair`` otherwise. The two then
        meet at the relay under their pair's token."""
        parsed = parse_code(code) if isinstance(code, str) else code
        relay = self.relay
        if relay is None:
            raise PairingFailed("no relay is set: plntui relay set tcp:HOST:PORT")
        address = relay_address(relay)
        deadline = time.monotonic() + timeout
        while True:  # the invite waits under the day's token: at UTC midnight, so does this
            left = deadline - time.monotonic()
            try:
                reader, writer = await meet(
                    relay,
                    pairing_token(parsed.nameplate, day()),
                    wait=max(0.0, min(left, seconds_to_next_day() + 1.0)),
                    connect_timeout=self.timeouts.connect,
                )
                break
            except RelayError as exc:
                self.emit(PairingRefused(exc.message, address))
                raise PairingFailed(exc.message) from None
            except TimeoutError:
                if deadline - time.monotonic() > 0.5:
                    continue
                message = (
                    f"no invite with this code waited at {relay} within {timeout:g} s: check "
                    "that your colleague's plntui uses the same relay and that the code is "
                    "still open"
                )
                self.emit(PairingRefused(message, address))
                raise PairingFailed(message) from None
        channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
        try:
            await channel.handshake(self.timeouts.handshake)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            channel.abort()
            message = f"the TLS handshake through {relay} failed: {describe_failure(exc)}"
            self.emit(PairingRefused(message, address))
            raise PairingFailed(message) from None
        server_fp, number = await self._join(channel, parsed, address, None)
        if self.running:
            self.relayer.ensure(server_fp)
        return self._paired_result(server_fp, number, address)

    async def _join(
        self, channel: TlsChannel, parsed: PairingCode, address: str, expect: bytes | None
    ) -> tuple[bytes, str]:
        """The joiner's exchange on an open anonymous channel; the inviter is trusted and its
        certificate and relay secret stored when this returns (its fingerprint, the safety
        number)."""
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
                self._port if self.listen and self.running else None,
            )
            name, number = await pairlink.join(channel, machine, 3 * self.timeouts.handshake)
        except PairingFailed as exc:
            self.emit(PairingRefused(exc.message, address))
            raise
        finally:
            await channel.aclose(timeout=0.5)
        try:
            self.trust.trust(server_fp, name or None)
            self.trust.learn_cert(server_fp, server_der)
            if machine.relay_secret:
                self.trust.set_relay_secret(server_fp, machine.relay_secret)
        except (ValueError, SyncError) as exc:
            message = exc.message if isinstance(exc, SyncError) else str(exc)
            raise PairingFailed(f"cannot store the new peer: {message}") from None
        self.check_trust(force=True)
        if self.on_paired is not None:
            try:
                self.on_paired(server_fp, name, "joiner")
            except Exception:  # the pairing stands; membership can be fixed by hand
                log.exception("adding the new peer to a circle failed")
        return server_fp, number

    def _paired_result(self, server_fp: bytes, number: str, address: str) -> PairingResult:
        self.emit(PairingSucceeded(server_fp, self.name_of(server_fp), address, number, "joiner"))
        return PairingResult(server_fp, self.name_of(server_fp), number, address)

    # -- status -----------------------------------------------------------------------------------

    def status(self) -> list[PeerStatus]:
        """Every trusted peer, and any peer with a live link, as the engine sees it now.

        Call it on the engine's event loop (the Textual app's loop when it runs in-process).
        """
        out: list[PeerStatus] = []
        fps = set(self.trust.trusted_fingerprints()) | set(self.links)
        for fp in fps:
            peer = self.trust.get(fp)
            rt = self._runtime.get(fp, Runtime())
            link = self.links.get(fp)
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
                    route=self._route(link) if link is not None else None,
                    last_sync=last_sync,
                    changes_in=(peer.changes_in if peer else 0) + total.changes_in,
                    changes_out=(peer.changes_out if peer else 0) + total.changes_out,
                    bytes_in=(peer.bytes_in if peer else 0) + total.bytes_in,
                    bytes_out=(peer.bytes_out if peer else 0) + total.bytes_out,
                    last_error=rt.last_error,
                )
            )
        return sorted(out, key=lambda s: (s.name.casefold(), s.fingerprint))

    def _route(self, link: Link) -> str:
        """How a link reaches its peer: "relay", "direct" (an address stored for the peer, or
        its host) or "lan" (found by discovery)."""
        if link.route == "relay":
            return "relay"
        peer = self.trust.get(link.fp)
        stored = set()
        for text in peer.addresses if peer is not None else ():
            with contextlib.suppress(ValueError):
                stored.add(parse_hostport(text)[0])
        host = link.channel.peer_host
        return "direct" if host is not None and host in stored else "lan"

    async def sync_once(self, timeout: float = 30.0) -> SyncSummary:
        """Reach every trusted peer (live links, then known addresses) and wait until in sync.

        Each peer gets ``timeout`` seconds. Call ``stop()`` afterwards to close the links.
        """
        if not self.running:
            raise LocalProtocolError("call start() before sync_once()")
        self.check_trust()
        peers = [p for p in self.trust.peers() if p.trusted]
        results = await asyncio.gather(
            *(self._sync_peer_once(p.fingerprint, timeout) for p in peers)
        )
        return SyncSummary(tuple(results))

    # -- for the parts ----------------------------------------------------------------------------

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn`` on the engine's loop (at once when already there, or not running)."""
        loop = self.loop
        if loop is None or not self.running:
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

    def spawn(self, coro: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"sync-{name}")
        self.track(task)
        return task

    def track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def describe(self, event: EngineEvent) -> str:
        """One log line for an event: peer names with short fingerprints (plain text)."""
        return describe(event, self.name_of)

    def emit(self, event: EngineEvent) -> None:
        event = clean_event(event)
        warn = isinstance(event, PeerRefused | StoreFailed | ChangesRefused) or (
            isinstance(event, PairingRefused) and event.spent
        )
        level = logging.WARNING if warn else logging.INFO
        if log.isEnabledFor(level):
            # tagged, so a host that prints the events it gets (``on_event``) can leave these out
            log.log(level, "%s", self.describe(event), extra={EVENT_RECORD: event})
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # the daemon never dies from a listener
                log.exception("the sync event listener failed on %r", event)

    def runtime(self, fp: bytes) -> Runtime:
        rt = self._runtime.get(fp)
        if rt is None:
            rt = self._runtime[fp] = Runtime()
        return rt

    def name_of(self, fp: bytes) -> str:
        peer = self.trust.get(fp)
        return peer.display_name if peer is not None else short_fingerprint(fp)

    def now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    # -- trust --------------------------------------------------------------------------------

    def trusted(self) -> frozenset[bytes]:
        if self.trust_error is not None:
            return frozenset()
        return self.trust.trusted_fingerprints() - {self.identity.fingerprint}

    def is_trusted(self, fp: bytes) -> bool:
        return fp in self.trusted()

    def check_trust(self, force: bool = False) -> None:
        """Notice trust changes (this process or another) and apply them."""
        try:
            changed = self.trust.refresh()
        except TrustStoreError as exc:
            if self.trust_error is None:
                self.trust_error = exc.message
                log.error("%s; refusing every peer until it is fixed", exc.message)
                self._apply_trust()
            return
        if self.trust_error is not None:
            self.trust_error = None
            changed = True
        if force or changed or self.trust.version != self._ctx_version:
            self._apply_trust()

    def _apply_trust(self) -> None:
        self._ctx_version = self.trust.version
        self._server_ctx = None
        self._client_ctx.clear()
        trusted = self.trusted()
        for link in list(self.links.values()):
            if link.fp not in trusted:
                self.close_link(link, REVOKED_BYE, flush=False, local="revoked on this device")
        self.dialer.cancel_untrusted(trusted)
        self.relayer.cancel_untrusted(trusted)
        if self.running and self.auto_dial:
            self.dialer.dial_stored()
        self.relayer.start()
        for event in self.dialer.wake.values():
            event.set()
        self.synchronizer.introductions_changed()

    def server_context(self) -> ssl.SSLContext:
        if self._server_ctx is None or self._ctx_version != self.trust.version:
            self._ctx_version = self.trust.version
            certs = [] if self.trust_error is not None else self.trust.trusted_certs()
            keys = {
                p.fingerprint: p.relay_secret
                for p in self.trust.peers()
                if p.trusted and p.relay_secret
            }
            self._server_ctx = server_context(self.identity, certs, keys)
            self._client_ctx.clear()
        return self._server_ctx

    def client_context(self, fp: bytes, cert: bytes) -> ssl.SSLContext:
        ctx = self._client_ctx.get(fp)
        if ctx is None:
            ctx = self._client_ctx[fp] = client_context(self.identity, cert)
        return ctx

    # -- links --------------------------------------------------------------------------------

    def admit(
        self, fp: bytes, channel: TlsChannel, *, outbound: bool, address: str, route: str = ""
    ) -> Link | None:
        """Register a verified connection, keeping one link per peer; ``None`` if refused.

        A direct link (LAN or stored address) replaces a relayed one, never the reverse; of two
        relayed links the newer is kept (each side's waiter meets again only without a link)."""
        if not self.running or fp not in self.trusted() or self.synchronizer.paused(fp):
            return None
        old = self.links.get(fp)
        if old is not None and not old.closing:
            if (old.route == "relay") != (route == "relay"):
                keep_new = old.route == "relay"
            elif route == "relay":
                keep_new = True
            elif old.outbound != outbound:
                keep_new = outbound == (self.identity.fingerprint < fp)
            else:
                keep_new = not outbound  # the peer dialled again: its old link is stale
            if not keep_new:
                log.info("duplicate link with %s from %s dropped", self.name_of(fp), address)
                return None
            self.close_link(old, "replaced by another connection")
        session = self.synchronizer.session_for(fp, outbound)
        assert self.loop is not None
        link = Link(
            fp, channel, session, outbound=outbound, address=address, loop=self.loop, route=route
        )
        self.links[fp] = link
        if route != "relay":
            self.relayer.link_up(fp)
        rt = self.runtime(fp)
        rt.address = address
        rt.state = "connecting"
        admitted = self._admitted.get(fp)
        if admitted is not None:
            admitted.set()
        return link

    def close_link(
        self, link: Link, reason: str, *, flush: bool = True, local: str | None = None
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
            link.write(data, self.now())
        except (SyncError, ssl.SSLError, OSError):
            pass
        link.reason = link.reason or local or reason
        link.closing = True
        if self.links.get(link.fp) is link:
            del self.links[link.fp]
        if link.task is not None and link.task is not asyncio.current_task():
            link.task.cancel()

    def _disconnect(self, fp: bytes) -> None:
        self.dialer.forget(fp)
        link = self.links.get(fp)
        if link is not None:
            self.close_link(link, "disconnected")

    # -- counters -----------------------------------------------------------------------------

    def _live_delta(self, link: Link, *, consume: bool = False) -> SyncRecord:
        stats = link.session.stats
        delta = SyncRecord(
            bytes_in=stats.bytes_in - link.counted_in, bytes_out=stats.bytes_out - link.counted_out
        )
        if consume:
            link.counted_in, link.counted_out = stats.bytes_in, stats.bytes_out
        return delta

    def count_link(self, link: Link) -> None:
        self.add_pending(link.fp, self._live_delta(link, consume=True))

    def add_pending(self, fp: bytes, record: SyncRecord) -> None:
        if not record.empty:
            rt = self.runtime(fp)
            rt.pending = rt.pending + record

    def _take_pending(self) -> dict[bytes, SyncRecord]:
        for link in self.links.values():
            self.add_pending(link.fp, self._live_delta(link, consume=True))
        batch = {fp: rt.pending for fp, rt in self._runtime.items() if not rt.pending.empty}
        for fp in batch:
            self._runtime[fp].pending = SyncRecord()
        return batch

    def flush_stats(self) -> None:
        batch = self._take_pending()
        if batch:
            try:
                self.trust.record_syncs(batch)
            except TrustStoreError as exc:
                log.warning("cannot save the sync counters: %s", exc.message)

    async def _flush_loop(self) -> None:
        while self.running:
            await asyncio.sleep(STATS_FLUSH_INTERVAL)
            batch = self._take_pending()
            if batch:
                try:
                    await asyncio.to_thread(self.trust.record_syncs, batch)
                except TrustStoreError as exc:
                    log.warning("cannot save the sync counters: %s", exc.message)

    # -- background polling -------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        failing = False
        while self.running:
            await asyncio.sleep(self.poll_interval)
            if self.poll is not None:
                try:
                    changed = list(await asyncio.to_thread(self.poll))
                    failing = False
                except Exception as exc:
                    if not failing:
                        log.error("cannot catch up with changes on disk: %s", exc)
                    failing = True
                    changed = []
                if changed:
                    self.synchronizer.changed(changed)
            self.check_trust()

    # -- sync once ----------------------------------------------------------------------------

    async def _sync_peer_once(self, fp: bytes, timeout: float) -> PeerResult:
        name = self.name_of(fp)
        start = self.now()
        before = self._totals(fp)
        outcome: Literal["in-sync", "failed", "timeout", "no-address"] = "failed"
        error: str | None = None
        address: str | None = None
        try:
            async with asyncio.timeout(timeout):
                for _ in range(3):  # a link replaced by a duplicate is retried
                    link = self.links.get(fp)
                    relayed = self.relay is not None and bool(self.relay_secrets_for(fp))
                    if link is None:
                        addresses = self.dialer.addresses(fp)
                        if not addresses and not relayed:
                            outcome = "no-address"
                            error = (
                                "no known address: add one with plntui peer add HOST:PORT, "
                                "or let discovery find the peer"
                            )
                            break
                        if not addresses:
                            link = await self._await_relayed(fp)
                        else:
                            try:
                                link = await self._await_link(fp, addresses)
                            except DialFailed:
                                if not relayed:
                                    raise
                                link = await self._await_relayed(fp)
                    address = link.address
                    if await self._wait_in_sync(link):
                        outcome, error = "in-sync", None
                        break
                    error = link.reason
                    if "replaced" not in link.reason:
                        break
        except TimeoutError:
            outcome, error = "timeout", f"not in sync after {timeout:g} s"
        except DialFailed as exc:
            outcome, error = "failed", exc.message
        after = self._totals(fp)
        return PeerResult(
            fingerprint=fp,
            name=name,
            outcome=outcome,
            address=address or self.runtime(fp).address,
            changes_in=after.changes_in - before.changes_in,
            changes_out=after.changes_out - before.changes_out,
            bytes_in=after.bytes_in - before.bytes_in,
            bytes_out=after.bytes_out - before.bytes_out,
            seconds=self.now() - start,
            error=error,
        )

    async def _await_link(self, fp: bytes, addresses: list[tuple[str, int]]) -> Link:
        """The peer's link: the one its dialler (or the peer) makes, else one dialled here.

        Dialling beside a running dialler would make two links that replace each other."""
        task = self.dialer.tasks.get(fp)
        if task is None or task.done():
            return await self.dialer.dial_any(fp, addresses)
        self.dialer.wake_event(fp).set()
        while True:
            link = self.links.get(fp)
            if link is not None and not link.closing:
                await asyncio.shield(link.established)
                return link
            if task.done():
                return await self.dialer.dial_any(fp, addresses)
            admitted = self._admitted.setdefault(fp, asyncio.Event())
            admitted.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(admitted.wait(), 0.5)
            rt = self._runtime.get(fp)
            if rt is not None and rt.state == "failed" and rt.last_error:
                raise DialFailed(rt.last_error)

    async def _await_relayed(self, fp: bytes) -> Link:
        """The link the relay waiter makes with ``fp`` (``DialFailed`` once the relay itself
        fails: unreachable, or not a transit relay). The relay is tried at once, whatever an
        earlier failure's backoff says."""
        self.relayer.retry(fp)
        while True:
            link = self.links.get(fp)
            if link is not None and not link.closing:
                await asyncio.shield(link.established)
                return link
            error = self.relayer.errors.get(fp)
            if error is not None:
                raise DialFailed(error)
            admitted = self._admitted.setdefault(fp, asyncio.Event())
            admitted.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(admitted.wait(), 0.5)

    def _totals(self, fp: bytes) -> SyncRecord:
        for status in self.status():
            if status.fingerprint == fp:
                return SyncRecord(
                    status.changes_in, status.changes_out, status.bytes_in, status.bytes_out
                )
        return SyncRecord()

    async def _wait_in_sync(self, link: Link) -> bool:
        while True:
            if link.closed.is_set() or link.closing:
                return False
            if link.in_sync and link.session.in_sync:
                return True
            await asyncio.shield(link.progress)

    def session_state(self, fp: bytes) -> State | None:
        link = self.links.get(fp)
        return None if link is None else link.session.state
