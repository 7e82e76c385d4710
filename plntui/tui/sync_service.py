"""Provides SyncService: the sync engine and LAN discovery running inside the app.

The app (``plntui`` with no command) syncs by itself unless started with ``--offline``: this
module runs a ``SyncRunner`` (``plntui.peersync``: the engine over the profile's repository,
plus discovery; the one headless sync host, shared with ``plntui sync``) on a thread of its own
with its own asyncio loop, so building or storing a large snapshot never freezes the screen. The
runner's document host holds the network's lock (``Network.lock``) around every use of a
document, as the app does around every edit on screen. The runner pushes this process's own
commits to the peers by itself, and catches up with other processes' writes by its own poll.

What crosses the thread boundary, and how:

* to the app: Textual messages (``post_message`` is thread-safe and never waits for the UI,
  which may be waiting for the lock): ``SyncUpdated`` carries an immutable ``SyncSnapshot`` (peer
  states, counters, nearby devices), posted when it changed; ``SyncNotice`` carries one engine
  event as plain text, with the number of contacts it brought, or a peer adding this device to a
  circle ("Alice added you to circle Data team"), or a peer's mass deletion held for the user's
  decision (``MASS_DELETION_HELD``, carrying the batch: the app names who deleted what);
* to the engine: ``call(fn)`` runs anything on the engine's loop (pair, open an invite and
  choose the circle a colleague paired by code joins; and every change of trust: revoke, approve
  or reject an introduction, make a peer an introducer, each followed by
  ``engine.trust_changed()`` so the links follow at once).

Stopping (the app quits) never leaves anyone waiting: every future ``call`` handed out and not
settled yet fails at once with ``SyncStopped`` ("sync stopped"), and the tasks it started on the
engine's loop (a pairing waiting for an answer) are cancelled before the engine stops.

Starting is all or nothing for the engine: whatever fails after it listens stops it again, so
the app never says "sync off" while an engine still syncs. The runner itself listens on a free
port when the one asked for is taken, and keeps syncing without LAN discovery when only that
cannot start (no multicast, a network namespace without interfaces); the snapshot's ``warning``
says so ("discovery off: <reason>").

How each trusted peer is (``peer_condition``): in sync, syncing, connecting, *left* (it closed
the link itself, saying why: the service remembers that goodbye from the engine's ``PeerLost``
until a link is up again), *offline* (nothing answers at its address: it quit, or the host is
unreachable), *revoked you* / *doesn't trust you* (it refuses this device's certificate, or its
goodbye was ``sync.engine.REVOKED_BYE``: it revoked this device while they were linked), or
*failed*, only for a real failure, whose reason the Peers screen shows. Where a peer listens
(``TrustedPeer.known_address``) comes from its stored addresses and the LAN announcements: a link
the peer dialled shows the peer's outgoing port, which reaches nothing.

The snapshot also carries what the trust store says about introducers (see ``sync.trust``): which
trusted peer is one, who introduced whom, and the introductions waiting for approval; offline,
``introducer_fields`` and ``offers_of`` read the same from the store directly.

The app keeps the profile's session lock, so ``plntui sync`` on the same profile is refused
while the app runs (and the app is refused while ``plntui sync`` runs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as _dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from textual.message import Message

from ..model import safe_text
from ..peer_errors import offline_error, refused_error
from ..peersync import DEFAULT_PORT

if TYPE_CHECKING:
    from ..network import Network

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.5
"""How often the peer table is re-read from the engine (events refresh it at once too)."""
STOP_TIMEOUT = 4.0
INVITE_SECONDS = 600.0
"""How long a pairing code shown by the app works (once)."""
FIND_SECONDS = 8.0
"""How long the joining side looks for the device announcing the code's nameplate."""
RELAY_PAIR_SECONDS = 60.0
"""How long joining through the relay waits for the inviting device to be there."""

ServiceState = Literal["offline", "starting", "running", "failed"]


class SyncStopped(RuntimeError):
    """The sync service stopped (the app quits) before a call to the engine was answered."""

    def __init__(self) -> None:
        super().__init__("sync stopped")


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """Where the app's engine listens and whether it uses LAN discovery."""

    listen_host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    discovery: bool = True
    interfaces: tuple[str, ...] | None = None
    fallback_port: bool = True
    """When ``port`` is taken (another profile syncs on this machine), listen on a free one."""


@dataclass(frozen=True, slots=True)
class TrustedPeer:
    """A trusted peer as the peers screen shows it (from the engine's ``PeerStatus``)."""

    fingerprint: bytes
    name: str
    state: str  # connecting, connected, in-sync, offline, failed
    address: str
    last_sync: _dt.datetime | None
    changes_in: int
    changes_out: int
    bytes_in: int
    bytes_out: int
    last_error: str
    introducer: bool = False
    """It offers this device the peers it trusts (``plntui peer introducer``)."""
    auto_accept: bool = False
    """... and they are trusted without asking."""
    introduced_by: str = ""
    """The display name of the introducer that brought it, if one did."""
    route: str = ""
    """How the link reaches it: "lan", "direct" or "relay" ("": no link)."""
    outbound: bool | None = None
    """This device dialled the live link (``address`` is where the peer listens); False: the
    peer dialled (``address`` has its outgoing port); None: no link now."""
    known_address: str = ""
    """Where the peer listens as far as this device knows (an address stored for it, or the one
    it announces on the LAN, on the host of ``address``; with no link, the first stored one)."""
    goodbye: str = ""
    """What the peer said when it last closed the link itself ("plntui is shutting down"); ""
    once a link is up again."""

    @property
    def connected(self) -> bool:
        return self.state in ("connected", "in-sync")

    @property
    def shown_address(self) -> str:
        """The address to show: where the peer listens, never the outgoing port of a link it
        dialled (then the known listening address, else the host alone)."""
        if self.outbound or self.route == "relay":
            return self.address
        return self.known_address or host_of(self.address)


@dataclass(frozen=True, slots=True)
class OfferedPeer:
    """A peer an introducer offered, waiting for the user's approval (``PendingIntroduction``)."""

    fingerprint: bytes
    name: str
    short: str
    fingerprint_text: str
    introducer: bytes
    introducer_name: str
    offered: _dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class NearbyPeer:
    """A device seen on the LAN that is not trusted (an unverified hint: see sync.discovery)."""

    fingerprint: bytes
    name: str
    short: str
    address: str
    pairing: str | None = None
    """The nameplate it announces while it waits for a colleague to type its pairing code."""


@dataclass(frozen=True, slots=True)
class SyncSnapshot:
    """What the app shows of sync: immutable, safe to read on the UI thread."""

    state: ServiceState = "offline"
    error: str = ""
    name: str = ""
    fingerprint: str = ""
    listen: str = ""
    discovery: bool = False
    trusted: tuple[TrustedPeer, ...] = ()
    nearby: tuple[NearbyPeer, ...] = ()
    introductions: tuple[OfferedPeer, ...] = ()
    """Peers introducers offered, waiting for approval (oldest first)."""
    invite: str = ""
    """The code of this device's open pairing invite, if one is open."""
    invite_expires: float = 0.0
    """When it closes (``time.time()``)."""
    warning: str = ""
    """Something that works less well than asked while sync runs ("discovery off: <reason>")."""

    @property
    def connected(self) -> int:
        return sum(1 for p in self.trusted if p.connected)

    @property
    def last_sync(self) -> _dt.datetime | None:
        return max((p.last_sync for p in self.trusted if p.last_sync is not None), default=None)


OFFLINE = SyncSnapshot()


class SyncUpdated(Message):
    """The sync state changed (peers connected or lost, counters, nearby devices)."""

    def __init__(self, snapshot: SyncSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SyncUpdated)


CIRCLE_JOINED = "CircleJoined"
"""The ``SyncNotice`` kind of a peer adding this device to a circle (not an engine event)."""
MASS_DELETION_HELD = "MassDeletionHeld"
"""The ``SyncNotice`` kind of a peer's mass deletion held for the user's decision (``event``:
the ``held.Batch``; not an engine event)."""


class SyncNotice(Message):
    """One engine event: ``kind`` is its class name, ``text`` a plain line about it, ``name`` the
    peer's display name, ``new_contacts`` how many contacts it brought (ChangesStored),
    ``introducer`` the display name of the introducer (IntroductionOffered, PeerIntroduced),
    ``circle`` the circle's name (``CIRCLE_JOINED``: the peer added this device to it)."""

    def __init__(
        self,
        kind: str,
        text: str,
        name: str = "",
        new_contacts: int = 0,
        event: Any = None,
        introducer: str = "",
        circle: str = "",
    ) -> None:
        super().__init__()
        self.kind = kind
        self.text = text
        self.name = name
        self.new_contacts = new_contacts
        self.event = event
        self.introducer = introducer
        self.circle = circle


# -- pure helpers ---------------------------------------------------------------------------------


def host_of(address: str) -> str:
    """``"192.168.1.20:51234"`` -> ``"192.168.1.20"``, ``"[fe80::1]:4"`` -> ``"fe80::1"``;
    anything else as it is."""
    from sync.trust import parse_hostport

    try:
        return parse_hostport(address)[0]
    except ValueError:
        return address


def listening_address(
    address: str, stored: tuple[str, ...], announced: tuple[tuple[str, int], ...] = ()
) -> str:
    """Where a peer listens, for a link at ``address`` (any port): the stored address on the
    same host, else the announced endpoint on it; with no ``address``, the first stored one;
    "" when unknown."""
    from sync.trust import format_hostport, parse_hostport

    if not address:
        return stored[0] if stored else ""
    host = host_of(address)
    for text in stored:
        try:
            if parse_hostport(text)[0] == host:
                return text
        except ValueError:
            continue
    for found, port in announced:
        if found == host:
            return format_hostport(found, port)
    return ""


@dataclass(frozen=True, slots=True)
class PeerCondition:
    """How a trusted peer is, for the Peers screen: a short ``label`` for its State column, a
    ``tone`` ("good", "error", "warning" or ""), and a sentence saying why (``detail``)."""

    label: str
    tone: str
    detail: str


def peer_condition(peer: TrustedPeer) -> PeerCondition:
    """In sync, syncing, connecting, left, offline, revoked you / doesn't trust you, or failed
    (only a real failure, with its reason); see the module docstring."""
    from sync.engine import REVOKED_BYE

    state, error = peer.state, peer.last_error
    if state == "in-sync":
        return PeerCondition("in sync", "good", "in sync")
    if state == "connected":
        return PeerCondition("syncing", "good", "connected, syncing")
    if error and refused_error(error):
        if peer.last_sync is not None:
            return PeerCondition(
                "revoked you",
                "warning",
                "it refuses this device: it revoked you (or lost its trust in this device). "
                "Pair again to sync, or revoke it here (r).",
            )
        return PeerCondition(
            "doesn't trust you",
            "warning",
            "it refuses this device: it does not trust you yet. Pair by code so that both "
            "sides trust each other, or have it run plntui peer trust with your fingerprint.",
        )
    gone = state != "failed" or not error or offline_error(error)
    if peer.goodbye == REVOKED_BYE and state in ("connecting", "offline", "failed"):
        return PeerCondition(  # it revoked this device while linked: its goodbye says so
            "revoked you",
            "warning",
            "it revoked you while you were linked, and syncs with this device no more. Pair "
            "again to sync, or revoke it here (r).",
        )
    if peer.goodbye and state in ("connecting", "offline", "failed") and gone:
        return PeerCondition(
            "left",
            "",
            f"left, saying “{peer.goodbye}”; it syncs again when it is back",
        )
    if not error:
        if state == "connecting":
            return PeerCondition("connecting…", "", "connecting…")
        return PeerCondition("offline", "", "offline: no link now; it syncs once it is reachable")
    # a retry in progress keeps saying how the last attempt went
    if offline_error(error):
        return PeerCondition("offline", "", f"offline: {error}")
    return PeerCondition("failed", "error", f"failed: {error}")


def utcnow() -> _dt.datetime:
    """The time "ago" texts count from (snapshot tests fix it)."""
    return _dt.datetime.now(_dt.UTC)


def ago(seconds: float) -> str:
    """``12`` -> "12 s ago", ``300`` -> "5 min ago", ``7200`` -> "2 h ago"."""
    seconds = max(0.0, seconds)
    if seconds < 2:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def status_text(snapshot: SyncSnapshot, now: _dt.datetime | None = None) -> str:
    """The one-line sync status: "offline", or connected peers and the time since the last sync."""
    if snapshot.state == "offline":
        return "offline"
    if snapshot.state == "starting":
        return "starting sync…"
    if snapshot.state == "failed":
        return "sync off: error"
    connected, trusted = snapshot.connected, len(snapshot.trusted)
    if trusted == 0:
        return "no peers yet"
    peers = f"{connected} peer{'' if connected == 1 else 's'}"
    if connected < trusted:
        peers = f"{connected} of {trusted} peers"
    last = snapshot.last_sync
    if last is None:
        return f"{peers} · never synced"
    now = now or utcnow()
    return f"{peers} · synced {ago((now - last).total_seconds())}"


def peer_label(trust: Any, fingerprint: bytes | None) -> str:
    """A known peer's display name, else the first group of its fingerprint (plain text)."""
    from sync.fingerprint import short_fingerprint

    if fingerprint is None:
        return ""
    peer = trust.get(fingerprint)
    return safe_text(peer.display_name if peer is not None else short_fingerprint(fingerprint))


def introducer_fields(trust: Any, fingerprint: bytes) -> dict[str, Any]:
    """``TrustedPeer``'s introducer fields for a peer of the trust store ``trust``."""
    peer = trust.get(fingerprint)
    if peer is None:
        return {}
    return {
        "introducer": peer.introducer,
        "auto_accept": peer.auto_accept,
        "introduced_by": peer_label(trust, peer.introduced_by),
    }


def offers_of(trust: Any) -> tuple[OfferedPeer, ...]:
    """The introductions waiting in the trust store ``trust``, names made safe to show."""
    from sync.fingerprint import short_fingerprint

    return tuple(
        OfferedPeer(
            fingerprint=o.fingerprint,
            name=safe_text(o.display_name),
            short=short_fingerprint(o.fingerprint),
            fingerprint_text=o.fingerprint_text,
            introducer=o.introducer,
            introducer_name=peer_label(trust, o.introducer),
            offered=o.offered,
        )
        for o in trust.pending()
    )


PEER_CLOSED = "the peer closed the link"
"""How the session reports a BYE from the peer (``sync.session``), followed by its reason."""
NOT_LEAVING = (
    "refused",
    "protocol error",
    "cannot go on",
    "the peer could not store",
    "the peer went away",
    "the connection dropped",
)
"""Reasons after ``PEER_CLOSED`` that tell of a problem or a vanished peer, not of a goodbye."""


def goodbye_of(reason: str) -> str:
    """What a peer said when it closed the link itself ("plntui is shutting down"), from a
    ``PeerLost`` reason; "" when the link ended otherwise (a failure, this side closing)."""
    if not reason.startswith(PEER_CLOSED):
        return ""
    said = reason[len(PEER_CLOSED) :].lstrip(": ").strip()
    if said.startswith(NOT_LEAVING):
        return ""
    return safe_text(said) or "goodbye"


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


# -- the service ----------------------------------------------------------------------------------


class SyncService:
    """Runs the engine and discovery on their own thread; see the module docstring."""

    def __init__(
        self,
        net: Network,
        options: SyncOptions,
        post: Callable[[Message], Any],
    ) -> None:
        self.net = net
        self.options = options
        self.post = post
        self.runner: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._snapshot = SyncSnapshot(state="starting", name=net.profile.meta.name)
        # what ``call`` handed out and has not settled yet (any thread: under ``_guard``), and
        # the tasks it started (the engine's loop only)
        self._guard = threading.Lock()
        self._stopped = False
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        # what each peer said when it last closed the link itself (the engine's loop only)
        self._goodbyes: dict[bytes, str] = {}

    @property
    def snapshot(self) -> SyncSnapshot:
        return self._snapshot

    # -- life cycle (UI thread) ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="plntui-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Say goodbye to the peers and stop (waits at most ``timeout`` seconds); every call
        not answered yet fails at once with ``SyncStopped``."""
        self._fail_pending()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop already ended
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn`` on the engine's loop; the future holds its result or exception
        (``SyncStopped`` if the service stops first)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        loop = self._loop
        if loop is None or loop.is_closed() or self.runner is None:
            future.set_exception(RuntimeError("sync is not running"))
            return future
        with self._guard:
            if self._stopped:
                future.set_exception(SyncStopped())
                return future
            self._pending.add(future)
        future.add_done_callback(self._forget)

        def run() -> None:
            if future.done() or not future.set_running_or_notify_cancel():
                return  # cancelled by the caller, or failed by stop()
            try:
                result = fn()
                if asyncio.iscoroutine(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    task.add_done_callback(lambda t: _settle(future, t))
                    return
                _resolve(future, result=result)
            except BaseException as exc:  # handed to the caller
                _resolve(future, error=exc)
            self._poke()

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop closed in between
            _resolve(future, error=SyncStopped())
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._guard:
            self._pending.discard(future)

    def _fail_pending(self) -> None:
        """Stopping: no call is answered any more; those waiting learn it now."""
        with self._guard:
            self._stopped = True
            pending, self._pending = list(self._pending), set()
        for future in pending:
            _resolve(future, error=SyncStopped())

    def change_trust(self, change: Callable[[Any], Any]) -> concurrent.futures.Future[Any]:
        """Run ``change(trust_store)`` on the engine's loop, then let the engine apply it (cut
        the links of peers no longer trusted, dial new ones, ask a new introducer); the future
        holds what ``change`` returned, or its exception."""

        def run() -> Any:
            result = change(self.runner.trust)
            self.runner.engine.trust_changed()
            return result

        return self.call(run)

    def revoke(self, fingerprint: bytes) -> concurrent.futures.Future[Any]:
        """Stop trusting a peer: its live link is cut and it can no longer connect."""
        return self.change_trust(lambda trust: trust.revoke(fingerprint))

    def approve(self, fingerprint: bytes) -> concurrent.futures.Future[Any]:
        """Trust a peer an introducer offered (``UnknownIntroduction`` if none waits)."""
        return self.change_trust(lambda trust: trust.approve(fingerprint))

    def reject(self, fingerprint: bytes) -> concurrent.futures.Future[Any]:
        """Refuse a peer an introducer offered: kept as revoked, never offered again."""
        return self.change_trust(lambda trust: trust.reject(fingerprint))

    def set_introducer(
        self, fingerprint: bytes, *, introducer: bool, auto_accept: bool = False
    ) -> concurrent.futures.Future[Any]:
        """Make a trusted peer an introducer (or no longer one); see ``TrustStore``."""
        return self.change_trust(
            lambda trust: trust.set_introducer(
                fingerprint, introducer=introducer, auto_accept=auto_accept
            )
        )

    # -- pairing by code (see sync.pairing) ----------------------------------------------------

    def open_invite(
        self, ttl: float = INVITE_SECONDS, circle: str | None = None
    ) -> concurrent.futures.Future[Any]:
        """Open an invite (announced on the LAN); the colleague who pairs with it joins
        ``circle`` (an id; None: the default circle). The future holds the ``Invite``."""

        def open_it() -> Any:
            self.runner.pair_circle = circle
            return self.runner.open_invite(ttl)

        return self.call(open_it)

    def close_invite(self) -> concurrent.futures.Future[Any]:
        """Close the invite (its code stops working); a later pairing joins no circle of ours
        unless asked again."""

        def close_it() -> Any:
            self.runner.pair_circle = None
            return self.runner.close_invite()

        return self.call(close_it)

    def set_pair_circle(self, circle: str | None) -> concurrent.futures.Future[Any]:
        """The circle a colleague paired by code joins from now on (an id): as the inviter,
        None means the default circle; as the joiner, None means none of ours."""

        def set_it() -> None:
            self.runner.pair_circle = circle

        return self.call(set_it)

    def pair(
        self,
        code: str,
        *,
        fingerprint: bytes | None = None,
        address: tuple[str, int] | None = None,
        find_seconds: float = FIND_SECONDS,
        circle: str | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Join a colleague's invite: at ``address``, else the device announcing the code's
        nameplate (``fingerprint``, the one picked under Nearby, settles a tie), else, when a
        relay is set and no device nearby shows the code, at the relay. Once paired,
        the colleague joins ``circle`` (an id) of ours too; None shares nothing of ours (the
        colleague's invite decides what they share). The future holds the ``PairingResult`` or
        raises ``PairingFailed`` with the reason."""
        from sync.pairing import PairingFailed, parse_code

        async def find() -> tuple[str, int, bytes | None] | None:
            """Where the inviter is; ``None``: not on the LAN, meet it at the relay."""
            parsed = parse_code(code)
            if address is not None:
                return address[0], address[1], None
            found = await self.runner.find_inviter(parsed.nameplate, find_seconds)
            if fingerprint is not None and any(p.fingerprint == fingerprint for p in found):
                found = [p for p in found if p.fingerprint == fingerprint]
            if not found and self.runner.engine.relay is not None:
                return None
            if not found:
                raise PairingFailed(
                    f"no device nearby shows a code starting with {parsed.nameplate}; check "
                    "the code, or give your colleague's address (HOST:PORT)"
                )
            if len(found) > 1:
                raise PairingFailed(
                    f"several devices show a code starting with {parsed.nameplate}; give "
                    "your colleague's address (HOST:PORT)"
                )
            host, port = found[0].endpoints()[0]
            return host, port, found[0].fingerprint

        async def pair() -> Any:
            text = parse_code(code).text
            where = await find()
            runner = self.runner
            runner.pair_circle = circle
            try:
                if where is None:
                    return await runner.pair_relayed(text, RELAY_PAIR_SECONDS)
                host, port, expect = where
                if expect is None:
                    return await runner.pair(text, host, port, remember=True)
                return await runner.pair(text, host, port, expect=expect)
            finally:
                runner.pair_circle = None

        return self.call(pair)

    # -- the engine's thread ------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except Exception as exc:  # never kill the app from here
            log.exception("the sync thread failed")
            self._publish(SyncSnapshot(state="failed", error=safe_text(exc)))
        finally:
            self._fail_pending()
            _cancel_leftovers(loop)
            loop.close()

    def _make_runner(self) -> Any:
        from ..peersync import SyncRunner

        opts = self.options
        runner = SyncRunner(
            self.net,
            listen_host=opts.listen_host,
            port=opts.port,
            discovery=opts.discovery,
            interfaces=list(opts.interfaces) if opts.interfaces is not None else None,
            log=lambda line: log.info("%s", line),
            on_seen=lambda event: self._poke(),
            fallback_port=opts.fallback_port,
        )
        runner.listeners.append(self._event)
        runner.host.on_joined.append(self._joined)
        runner.host.on_held.append(self._held)
        return runner

    async def _start_runner(self) -> None:
        """Start the engine (and discovery, see ``SyncRunner.start``); on any failure nothing
        is left listening."""
        self.runner = runner = self._make_runner()
        try:
            await runner.start()
        except BaseException:
            await self._stop_runner()
            raise

    async def _stop_runner(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            try:
                await runner.stop()
            except Exception:  # stopping a half-started runner
                log.exception("stopping the sync engine failed")

    async def _main(self) -> None:
        from sync.errors import SyncError

        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        try:
            await self._start_runner()
        except (SyncError, OSError) as exc:
            self.runner = None
            self._publish(
                SyncSnapshot(
                    state="failed",
                    name=self.net.profile.meta.name,
                    error=f"cannot start syncing: {safe_text(exc)}",
                )
            )
            await self._stop.wait()
            return
        try:
            while not self._stop.is_set():
                self._publish(self._read_snapshot())
                self._wake.clear()
                waiters = [
                    asyncio.ensure_future(self._stop.wait()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                await asyncio.wait(
                    waiters, timeout=REFRESH_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            await self._cancel_calls()
            await self._stop_runner()
            self._publish(OFFLINE)

    async def _cancel_calls(self) -> None:
        """Stopping: cancel what ``call`` started (a pairing waiting for an answer)."""
        self._fail_pending()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT / 2)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _read_snapshot(self) -> SyncSnapshot:
        runner = self.runner
        engine = runner.engine
        trust = runner.trust
        seen_peers = list(runner.discovery.peers().values()) if runner.discovery else []
        announced: dict[bytes, tuple[tuple[str, int], ...]] = {}
        for seen in seen_peers:
            announced[seen.fingerprint] = announced.get(seen.fingerprint, ()) + tuple(
                seen.endpoints()
            )

        def trusted_peer(s: Any) -> TrustedPeer:
            stored = trust.get(s.fingerprint)
            address = s.address or ""
            return TrustedPeer(
                fingerprint=s.fingerprint,
                name=safe_text(s.name),
                state=s.state,
                address=safe_text(address),
                last_sync=s.last_sync,
                changes_in=s.changes_in,
                changes_out=s.changes_out,
                bytes_in=s.bytes_in,
                bytes_out=s.bytes_out,
                last_error=safe_text(s.last_error or ""),
                route=s.route or "",
                outbound=s.outbound,
                known_address=safe_text(
                    listening_address(
                        address,
                        stored.addresses if stored is not None else (),
                        announced.get(s.fingerprint, ()),
                    )
                ),
                goodbye=self._goodbyes.get(s.fingerprint, ""),
                **introducer_fields(trust, s.fingerprint),
            )

        trusted = tuple(trusted_peer(s) for s in engine.status())
        nearby: dict[bytes, NearbyPeer] = {}
        if runner.discovery is not None:
            own = runner.identity.fingerprint
            for seen in seen_peers:
                if seen.fingerprint == own or trust.is_trusted(seen.fingerprint):
                    continue
                address = ", ".join(f"{a}:{seen.port}" for a in seen.addresses[:2])
                nearby.setdefault(
                    seen.fingerprint,
                    NearbyPeer(
                        fingerprint=seen.fingerprint,
                        name=safe_text(seen.name) or seen.short_fingerprint,
                        short=seen.short_fingerprint,
                        address=address,
                        pairing=getattr(seen, "pairing", None),
                    ),
                )
        invite = engine.invite
        is_open = invite is not None and invite.is_open()
        return SyncSnapshot(
            invite=invite.text if is_open else "",
            invite_expires=invite.expires_at if is_open else 0.0,
            state="running",
            name=self.net.profile.meta.name,
            fingerprint=runner.identity.fingerprint_text,
            listen=f"{engine.listen_host}:{engine.port}",
            discovery=runner.discovery is not None,
            trusted=trusted,
            nearby=tuple(sorted(nearby.values(), key=lambda p: (p.name.casefold(), p.short))),
            introductions=offers_of(trust),
            warning=safe_text(runner.warning),
        )

    def _publish(self, snapshot: SyncSnapshot) -> None:
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            self.post(SyncUpdated(snapshot))

    def _event(self, event: Any) -> None:
        """An engine event (on the engine's loop): tell the app, refresh the peer table."""
        from sync.events import (
            ChangesStored,
            IntroductionOffered,
            PeerConnected,
            PeerIntroduced,
            PeerLost,
        )

        runner = self.runner
        if runner is None:
            return
        if isinstance(event, PeerConnected):
            self._goodbyes.pop(event.fingerprint, None)
        elif isinstance(event, PeerLost):
            said = goodbye_of(event.reason)
            if said:
                self._goodbyes[event.fingerprint] = said
            else:
                self._goodbyes.pop(event.fingerprint, None)
        new_contacts = 0
        if isinstance(event, ChangesStored):
            host = runner.host
            with host.lock:  # the host counts under it, on whichever thread stores
                new_contacts, host.new_contacts = host.new_contacts, 0
        fingerprint = getattr(event, "fingerprint", None)
        name = runner.engine.name_of(fingerprint) if isinstance(fingerprint, bytes) else ""
        introducer = ""
        if isinstance(event, IntroductionOffered | PeerIntroduced):
            name = event.name or name  # not trusted yet: the name the introducer gave
            introducer = peer_label(runner.trust, event.introducer)
        self.post(
            SyncNotice(
                type(event).__name__,
                safe_text(runner.engine.describe(event)),
                safe_text(name),
                new_contacts,
                event,
                introducer=safe_text(introducer),
            )
        )
        self._poke()

    def _joined(self, circle: Any, peer: bytes) -> None:
        """A peer added this device to a circle (any thread): tell the app."""
        runner = self.runner
        name = safe_text(runner.engine.name_of(peer)) if runner is not None else ""
        circle_name = safe_text(circle.name)
        self.post(
            SyncNotice(
                CIRCLE_JOINED,
                f"{name or 'A colleague'} added you to circle {circle_name}",
                name,
                circle=circle_name,
            )
        )
        self._poke()

    def _held(self, batch: Any) -> None:
        """A peer's mass deletion was held (any thread, the network's lock held): tell the app,
        which names the devices in a worker of its own (nothing slow happens here)."""
        self.post(SyncNotice(MASS_DELETION_HELD, "", event=batch))
        self._poke()


def _resolve(
    future: concurrent.futures.Future[Any], result: Any = None, error: BaseException | None = None
) -> None:
    """Settle ``future`` unless it already is (``stop`` may have failed it first)."""
    if future.done():
        return
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _settle(future: concurrent.futures.Future[Any], task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        _resolve(future, error=SyncStopped())
    elif task.exception() is not None:
        _resolve(future, error=task.exception())
    else:
        _resolve(future, result=task.result())


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and finish every task still on ``loop`` (none is destroyed pending at close)."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
