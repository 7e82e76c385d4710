"""Provides one verified link to a peer and its pump: reading, deadlines, budgets, writing.

``Link`` pairs a TLS channel with its ``SyncSession``. ``LinkPump.run`` reads from the channel,
charges the peer's budgets, feeds the session, lets the synchronizer drain its events, writes
what the session returns and keeps the link's deadlines:

* the peer's HELLO within ``Timeouts.handshake`` of the TLS handshake;
* a started frame within ``Timeouts.partial_frame`` of its last byte;
* any byte within ``Timeouts.idle`` (an idle link is pinged every ``Timeouts.ping``).

Per trusted peer, token buckets that a reconnection does not refill (``Limits``): over budget,
the link drops with a BYE that says so. Whole documents go out one batch at a time, each after
the channel drained (backpressure: a slow peer slows the sender, it never fills its memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
from typing import TYPE_CHECKING

from .errors import RemoteProtocolError, SyncError
from .events import PeerLost, PeerRefused
from .fingerprint import short_fingerprint
from .limits import TokenBucket
from .session import State, SyncSession
from .text import clean_peer_text
from .tls import TlsChannel
from .trust import Introduction

if TYPE_CHECKING:
    from .engine import SyncEngine


class DialFailed(SyncError):
    """One attempt to reach a peer failed (``refused_certificate``: try certificate learning)."""

    def __init__(
        self, message: str, *, refused_certificate: bool = False, identity: bool = False
    ) -> None:
        super().__init__(message)
        self.refused_certificate = refused_certificate
        self.identity = identity


class OverBudget(RemoteProtocolError):
    """A trusted peer sent more bytes or frames than ``Limits`` allow."""


class Link:
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
        route: str = "",
    ) -> None:
        """``route``: "relay" for a link through the relay ("" otherwise: the engine tells a
        LAN address from a stored one)."""
        self.fp = fingerprint
        self.route = route
        self.channel = channel
        self.session = session
        self.outbound = outbound
        self.address = address
        now = loop.time()
        self.opened = now
        self.last_rx = now
        self.last_tx = now
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
        self.counted_changes_out = 0
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


class LinkPump:
    """Runs links for an engine (see the module docstring)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine

    def start(self, link: Link) -> None:
        """Run ``link`` in a task of its own. A link closed before that task ran (its
        cancellation came first) still ends as any other: whoever waits on it hears."""
        engine = self.engine
        task = engine.spawn(self.run(link), f"link-{short_fingerprint(link.fp)}")

        def finished(_task: asyncio.Task[None]) -> None:
            if not link.closed.is_set():
                engine.spawn(self.ended(link, engine.runtime(link.fp), None), "link-ended")

        task.add_done_callback(finished)
        link.task = task

    async def run(self, link: Link) -> None:
        engine = self.engine
        rt = engine.runtime(link.fp)
        error: str | None = None
        try:
            await self._loop(link)
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
            error = describe_failure(exc)
        except Exception as exc:  # a bug must cost one link, never the daemon
            engine.log.exception("the link with %s failed", engine.name_of(link.fp))
            error = f"internal error: {exc!r}"
        finally:
            await self.ended(link, rt, error)

    async def ended(self, link: Link, rt: object, error: str | None) -> None:
        engine = self.engine
        if engine.links.get(link.fp) is link:
            del engine.links[link.fp]
        reason = link.reason or error or "the link closed"
        link.reason = reason
        if not link.closing and link.session.state not in (State.START, State.CLOSED):
            with contextlib.suppress(SyncError, ssl.SSLError, OSError):  # say why (BYE)
                with engine.host.lock:
                    data = link.session.close(reason)
                link.write(data, engine.now())
        link.closing = True
        engine.count_link(link)
        if error is not None and not link.hello_seen and link.outbound is False:
            engine.emit(PeerRefused(f"{link.address}: {reason}", link.fp, link.address))
        if link.hello_seen:
            engine.emit(PeerLost(link.fp, reason))
        runtime = engine.runtime(link.fp)
        if not engine.links.get(link.fp):
            runtime.state = "failed" if error is not None else "offline"
            if error is not None:
                runtime.last_error = clean_peer_text(reason, ellipsis=True)
        if not link.established.done():
            link.established.set_exception(
                DialFailed(
                    f"{engine.name_of(link.fp)} at {link.address}: {reason}",
                    refused_certificate=link.refused_certificate,
                )
            )
            link.established.exception()  # retrieved: no "never retrieved" warning
        link.pulse()
        link.closed.set()
        with contextlib.suppress(Exception):
            await asyncio.shield(link.channel.aclose(timeout=1.0))

    def deadline(self, link: Link) -> tuple[float, str]:
        t = self.engine.timeouts
        if not link.hello_seen:
            return link.opened + t.handshake, f"the peer did not say HELLO within {t.handshake:g} s"
        if link.session.partial_frame:
            return (
                link.last_rx + t.partial_frame,
                f"the peer stalled in the middle of a frame for {t.partial_frame:g} s",
            )
        return link.last_rx + t.idle, f"the peer was silent for {t.idle:g} s"

    async def _loop(self, link: Link) -> None:
        engine = self.engine
        session = link.session
        with engine.host.lock:
            hello = session.start()
        link.write(hello, engine.now())
        while True:
            await self.flush(link)
            deadline, why = self.deadline(link)
            ping_at = link.last_tx + engine.timeouts.ping if link.hello_seen else math.inf
            wait = max(0.0, min(deadline, ping_at) - engine.now())
            try:
                data = await asyncio.wait_for(link.channel.read(), wait)
            except TimeoutError:
                now = engine.now()
                if now >= deadline:
                    raise DialFailed(why) from None
                if session.state is not State.CLOSED:
                    link.write(session.ping(), now)
                continue
            link.last_rx = engine.now()
            try:
                frames = session.receive_data(data)
            except RemoteProtocolError:
                link.write(session.data_to_send(), engine.now())
                raise
            self.charge(link, len(data), frames)
            engine.synchronizer.process(link)
            if session.state is State.CLOSED or not data:
                return
            await link.channel.drain()

    async def flush(self, link: Link) -> None:
        """Send the whole documents the peer asked for, one batch per drain."""
        engine = self.engine
        while link.session.wants_to_send and not link.closing:
            with engine.host.lock:
                out = link.session.data_to_send()
            link.write(out, engine.now())
            await link.channel.drain()
            engine.synchronizer.after_send(link)

    def charge(self, link: Link, n_bytes: int, n_frames: int) -> None:
        """Spend the peer's byte and frame budgets; over budget, the link drops."""
        engine = self.engine
        lim, rt, now = engine.limits, engine.runtime(link.fp), engine.now()
        if rt.byte_budget is None or rt.frame_budget is None:
            rate = lim.peer_bytes_per_window / lim.peer_byte_window
            rt.byte_budget = TokenBucket(rate, lim.peer_bytes_per_window, now)
            rt.frame_budget = TokenBucket(lim.peer_frames_per_second, lim.peer_frame_burst, now)
        if not rt.byte_budget.take(n_bytes, now):
            raise OverBudget(
                f"the peer sent more than {lim.peer_bytes_per_window:,} bytes in "
                f"{lim.peer_byte_window:g} s (the budget per peer)"
            )
        if not rt.frame_budget.take(n_frames, now):
            raise OverBudget(
                f"the peer sent more than {lim.peer_frames_per_second:g} frames per second "
                f"(bursts of {lim.peer_frame_burst:,}; the budget per peer)"
            )


def describe_failure(exc: BaseException) -> str:
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
