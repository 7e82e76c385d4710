"""Provides the engine's side of a relay: waiting there for each trusted peer, and invites.

When the engine has a relay (``SyncEngine.relay``, a Magic Wormhole transit relay; see
``relay``), ``RelayWaiter`` keeps one waiting connection at it per trusted peer that has no link:
under the day's token of the pair (``relay.peer_token``, from the secret the two share), for
at most ``MAX_WAITING`` peers. When
the peer waits there too, the relay matches the two and the same pinned TLS 1.3 as on the LAN
runs over the relayed stream: the smaller fingerprint is the TLS client (``relay.tls_client``),
the other side serves it like an inbound connection, but accepts only that one peer's
certificate. A relay that cannot be reached, or that answers something other than the
protocol, is retried with the dialer's backoff (0.5 s doubling to 30 s); a wait ends and starts
again under the new token when the UTC day changes, and at least every ``MAX_WAIT`` seconds.

A LAN or direct link is preferred: a link that comes up another way cancels the wait
(``link_up``), a relayed link is replaced by a direct one as soon as the dialer reaches the peer
(it keeps trying the peer's addresses while the link is relayed), and a match at the relay that
arrives once another link is up is dropped.

An invite opened while a relay is set also waits at the relay (``invite``), under the token of
its nameplate (``relay.pairing_token``): a colleague who joins with the code through the relay
(``SyncEngine.pair_relayed``) meets it there; SPAKE2 and the one attempt work as on the LAN.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Final

from .dialer import backoff_delay, jitter
from .events import PeerRefused
from .fingerprint import short_fingerprint
from .limits import RECONNECT_DELAY, STABLE_LINK
from .link import DialFailed
from .relay import (
    RelayAddress,
    RelayError,
    day,
    meet,
    pairing_token,
    peer_token,
    seconds_to_next_day,
    tls_client,
)
from .text import clean_peer_text
from .tls import TlsChannel, verify_peer

if TYPE_CHECKING:
    from .engine import SyncEngine
    from .link import Link
    from .pairing import Invite

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]

MAX_WAIT: Final = 600.0
"""Seconds one waiting connection stays at the relay before it is made again."""
MAX_WAITING: Final = 64
"""At most this many peers wait at the relay at once (one connection each)."""
NO_SECRET_RETRY: Final = 60.0
"""Seconds before a peer without a shared secret (or a known certificate) is looked at again."""


def relay_address(relay: RelayAddress) -> str:
    """How a relayed link's address reads: ``relay tcp:HOST:PORT``."""
    return f"relay {relay}"


class RelayWaiter:
    """The engine's waiting connections at its relay (see the module docstring)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.tasks: dict[bytes, asyncio.Task[None]] = {}
        self.meeting: dict[bytes, asyncio.Future[Stream]] = {}
        self.wake: dict[bytes, asyncio.Event] = {}
        self.errors: dict[bytes, str] = {}
        """The last reason the relay could not be used for a peer (for ``status``)."""
        self._invite_task: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Wait for every trusted peer (once the engine runs, when it has a relay)."""
        engine = self.engine
        if not engine.running or engine.relay is None:
            return
        for fp in engine.trusted():
            if fp != engine.identity.fingerprint:
                self.ensure(fp)

    def ensure(self, fp: bytes) -> None:
        engine = self.engine
        if engine.relay is None or not engine.running or not engine.is_trusted(fp):
            return
        task = self.tasks.get(fp)
        if task is not None and not task.done():
            event = self.wake.get(fp)
            if event is not None:
                event.set()
            return
        if len(self.tasks) >= MAX_WAITING:
            engine.log.warning(
                "%s does not wait at the relay: %d peers wait there already",
                engine.name_of(fp),
                MAX_WAITING,
            )
            return
        self.tasks[fp] = engine.spawn(self.run(fp), f"relay-{short_fingerprint(fp)}")

    def restart(self) -> None:
        """The relay changed (or went away): end every wait, start again at the new one."""
        self.stop()
        self.errors.clear()
        self.start()

    def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        self.tasks.clear()
        for future in list(self.meeting.values()):
            future.cancel()
        self.meeting.clear()
        if self._invite_task is not None:
            self._invite_task.cancel()
            self._invite_task = None

    def cancel_untrusted(self, trusted: frozenset[bytes]) -> None:
        for fp, task in list(self.tasks.items()):
            if fp not in trusted:
                task.cancel()
                del self.tasks[fp]

    def link_up(self, fp: bytes) -> None:
        """A link with ``fp`` came up another way: stop waiting for it at the relay."""
        future = self.meeting.pop(fp, None)
        if future is not None:
            future.cancel()

    # -- one peer --------------------------------------------------------------------------------

    async def run(self, fp: bytes) -> None:
        engine = self.engine
        attempt = 0
        try:
            while engine.running and engine.relay is not None and engine.is_trusted(fp):
                link = engine.links.get(fp)
                if link is not None and not link.closing:
                    await link.closed.wait()
                    if engine.now() - link.opened >= STABLE_LINK:
                        attempt = 0
                        await self._sleep(fp, jitter(RECONNECT_DELAY))
                    continue
                relay = engine.relay
                secret = engine.relay_secret_for(fp)
                peer = engine.trust.get(fp)
                if secret is None or peer is None or peer.cert is None:
                    self.errors[fp] = (
                        "no secret shared with this peer for the relay: pair by code, or "
                        "share a circle and sync once"
                        if secret is None
                        else "its certificate is not known yet: sync once on the LAN first"
                    )
                    await self._sleep(fp, NO_SECRET_RETRY)
                    continue
                if engine.synchronizer.paused(fp):
                    await self._sleep(fp, NO_SECRET_RETRY)
                    continue
                stream = await self._meet(fp, relay, secret)
                if stream is None:
                    continue  # the wait ran out, or a link came up another way
                if isinstance(stream, RelayError):
                    self.errors[fp] = stream.message
                    engine.log.info("relay for %s: %s", engine.name_of(fp), stream.message)
                    await self._sleep(fp, backoff_delay(attempt))
                    attempt += 1
                    continue
                self.errors.pop(fp, None)
                reader, writer = stream
                existing = engine.links.get(fp)
                if existing is not None and not existing.closing:
                    writer.transport.abort()  # a LAN or direct link won meanwhile
                    continue
                try:
                    await self.connect(fp, relay, reader, writer)
                except DialFailed as exc:
                    rt = engine.runtime(fp)
                    rt.last_error = clean_peer_text(exc.message, ellipsis=True)
                    engine.log.info(
                        "relayed link with %s failed: %s", engine.name_of(fp), rt.last_error
                    )
                    await self._sleep(fp, backoff_delay(attempt))
                    attempt += 1
        finally:
            if self.tasks.get(fp) is asyncio.current_task():
                del self.tasks[fp]

    async def _meet(
        self, fp: bytes, relay: RelayAddress, secret: bytes
    ) -> Stream | RelayError | None:
        """One wait at the relay: the stream, the relay's error, or ``None`` (wait over)."""
        engine = self.engine
        token = peer_token(secret, engine.identity.fingerprint, fp, day())
        wait = min(MAX_WAIT, seconds_to_next_day() + 1.0)
        future = asyncio.ensure_future(
            meet(relay, token, wait=wait, connect_timeout=engine.timeouts.connect)
        )
        self.meeting[fp] = future
        try:
            await asyncio.wait({future})
        finally:
            if self.meeting.get(fp) is future:
                del self.meeting[fp]
            if not future.done():
                future.cancel()
        if future.cancelled():
            return None
        error = future.exception()
        if isinstance(error, TimeoutError):
            return None
        if isinstance(error, RelayError):
            return error
        if error is not None:
            raise error
        return future.result()

    async def _sleep(self, fp: bytes, delay: float) -> None:
        wake = self.wake.get(fp)
        if wake is None:
            wake = self.wake[fp] = asyncio.Event()
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)

    async def connect(
        self,
        fp: bytes,
        relay: RelayAddress,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """The TLS link over a relayed stream: client or server by the fingerprints.

        As the client this returns once the link is established (its pump runs in a task of
        its own); as the server, once the link ends."""
        engine = self.engine
        if tls_client(engine.identity.fingerprint, fp):
            await engine.dialer.dial_relayed(fp, relay, reader, writer)
        else:
            await self.serve(fp, relay, reader, writer)

    async def serve(
        self,
        fp: bytes,
        relay: RelayAddress,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """The server side of a relayed link: only ``fp``'s pinned certificate is accepted."""
        engine = self.engine
        address = relay_address(relay)
        engine.check_trust()
        channel = TlsChannel(reader, writer, engine.server_context(), server_side=True)
        failed = await engine.admission.handshake(channel, address)
        if failed is not None:
            raise DialFailed(failed)
        try:
            verify_peer(channel.ssl_object, fp)
        except Exception as exc:  # UntrustedPeer, AnonymousPeer: not the peer of this token
            channel.abort()
            reason = getattr(exc, "message", str(exc))
            who = getattr(exc, "fingerprint", None)
            engine.emit(PeerRefused(f"{address}: {reason}", who, address))
            raise DialFailed(reason, identity=True) from None
        link = engine.admit(fp, channel, outbound=False, address=address, route="relay")
        if link is None:
            await channel.aclose()
            return
        task = asyncio.current_task()
        link.task = task
        await engine.pump.run(link)

    # -- invites -------------------------------------------------------------------------------

    def invite(self, invite: Invite) -> None:
        """Wait at the relay for a colleague joining ``invite`` while it is open."""
        engine = self.engine
        if self._invite_task is not None:
            self._invite_task.cancel()
            self._invite_task = None
        if engine.relay is None or not engine.running:
            return
        self._invite_task = engine.spawn(self._serve_invite(invite), "relay-invite")

    def cancel_invite(self) -> None:
        if self._invite_task is not None:
            self._invite_task.cancel()
            self._invite_task = None

    async def _serve_invite(self, invite: Invite) -> None:
        engine = self.engine
        while engine.running and engine.relay is not None and invite.is_open():
            relay = engine.relay
            address = relay_address(relay)
            token = pairing_token(invite.nameplate, day())
            wait = min(invite.seconds_left(), seconds_to_next_day() + 1.0, MAX_WAIT)
            try:
                reader, writer = await meet(
                    relay, token, wait=wait, connect_timeout=engine.timeouts.connect
                )
            except TimeoutError:
                continue
            except RelayError as exc:
                engine.log.warning("the invite cannot wait at the relay: %s", exc.message)
                await asyncio.sleep(backoff_delay(3))
                continue
            if not invite.is_open():
                writer.transport.abort()
                return
            channel = TlsChannel(reader, writer, engine.server_context(), server_side=True)
            if await engine.admission.handshake(channel, address) is not None:
                continue
            if channel.peer_certificate() is not None:
                channel.abort()  # a joiner has no certificate we trust yet: not one
                continue
            await engine.admission.anonymous(channel, address)


def relayed(link: Link) -> bool:
    return link.route == "relay"
