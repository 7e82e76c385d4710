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
Both sides wait again under the new token when the UTC day changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Final, cast

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
    from .pairing import Invite

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]

MAX_WAIT: Final = 600.0
"""Seconds one waiting connection stays at the relay before it is made again."""
MAX_WAITING: Final = 64
"""At most this many peers wait at the relay at once."""
MAX_SECRETS: Final = 3
"""A peer is waited for under at most this many tokens (its shared secrets) at once."""
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
        self.meeting: dict[bytes, asyncio.Future[Stream | RelayError | None]] = {}
        self.wake: dict[bytes, asyncio.Event] = {}
        self.errors: dict[bytes, str] = {}
        """The last reason the relay could not be used for a peer (for ``status``)."""
        self.without_secret: set[bytes] = set()
        """Peers waiting for a shared secret (or a certificate) to appear."""
        self._invite_task: asyncio.Task[None] | None = None
        self._invite: Invite | None = None

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
        """Wait for ``fp`` at the relay (a waiter that sleeps for lack of a secret looks again;
        one backing off after a failure keeps its backoff)."""
        engine = self.engine
        if engine.relay is None or not engine.running or not engine.is_trusted(fp):
            return
        task = self.tasks.get(fp)
        if task is not None and not task.done():
            if fp in self.without_secret:
                self._wake(fp)
            return
        self.tasks[fp] = engine.spawn(self.run(fp), f"relay-{short_fingerprint(fp)}")

    def retry(self, fp: bytes) -> None:
        """Try the relay for ``fp`` now, whatever the backoff says (``sync --once``)."""
        self.errors.pop(fp, None)
        self.ensure(fp)
        self._wake(fp)

    def restart(self) -> None:
        """The relay changed (or went away): end every wait and every relayed link, start
        again at the new one (an open invite waits there too)."""
        invite = self._invite
        self.stop()
        self.errors.clear()
        for link in list(self.engine.links.values()):
            if link.route == "relay":
                self.engine.close_link(link, "the relay changed")
        self.start()
        if invite is not None and invite.is_open():
            self.invite(invite)

    def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        self.tasks.clear()
        for future in list(self.meeting.values()):
            future.cancel()
        self.meeting.clear()
        self.without_secret.clear()
        self.cancel_invite()

    def cancel_untrusted(self, trusted: frozenset[bytes]) -> None:
        for fp, task in list(self.tasks.items()):
            if fp not in trusted:
                task.cancel()
                del self.tasks[fp]
                self.errors.pop(fp, None)
                self.wake.pop(fp, None)
                self.without_secret.discard(fp)

    def link_up(self, fp: bytes) -> None:
        """A link with ``fp`` came up another way: stop waiting for it at the relay."""
        future = self.meeting.pop(fp, None)
        if future is not None:
            future.cancel()

    def _wake(self, fp: bytes) -> None:
        event = self.wake.get(fp)
        if event is not None:
            event.set()

    # -- one peer --------------------------------------------------------------------------------

    async def run(self, fp: bytes) -> None:
        engine = self.engine
        me = asyncio.current_task()
        attempt = 0
        try:
            while (
                engine.running
                and engine.relay is not None
                and engine.is_trusted(fp)
                and self.tasks.get(fp) is me
            ):
                try:
                    attempt = await self._step(fp, attempt)
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # a bug must cost a retry, never the waiting for good
                    engine.log.exception("waiting for %s at the relay failed", engine.name_of(fp))
                    self.errors[fp] = f"internal error: {exc!r}"
                    await self._sleep(fp, backoff_delay(attempt))
                    attempt += 1
        finally:
            if self.tasks.get(fp) is me:
                del self.tasks[fp]

    async def _step(self, fp: bytes, attempt: int) -> int:
        """One turn of a peer's waiter: wait out a live link, or meet at the relay once.
        Returns the next backoff attempt."""
        engine = self.engine
        link = engine.links.get(fp)
        if link is not None and not link.closing:
            await link.closed.wait()
            if link.route != "relay":
                return 0
            if link.hello_seen and engine.now() - link.opened >= STABLE_LINK:
                await self._sleep(fp, jitter(RECONNECT_DELAY))
                return 0
            await self._sleep(fp, backoff_delay(attempt))  # it dropped at once: back off
            return attempt + 1
        relay = engine.relay
        assert relay is not None
        secrets = engine.relay_secrets_for(fp)
        peer = engine.trust.get(fp)
        if not secrets or peer is None or peer.cert is None:
            self.without_secret.add(fp)
            self.errors[fp] = (
                "no secret shared with this peer for the relay: pair by code, or "
                "share a circle and sync once"
                if not secrets
                else "its certificate is not known yet: sync once on the LAN first"
            )
            await self._sleep(fp, NO_SECRET_RETRY)
            return attempt
        self.without_secret.discard(fp)
        if engine.synchronizer.paused(fp):
            await self._sleep(fp, NO_SECRET_RETRY)
            return attempt
        while len(self.meeting) >= MAX_WAITING:  # the relay's connections are bounded
            await self._sleep(fp, RECONNECT_DELAY)
        stream = await self._meet(fp, relay, secrets)
        if stream is None:
            return attempt  # the wait ran out, or a link came up another way
        if isinstance(stream, RelayError):
            self.errors[fp] = stream.message
            engine.log.info("relay for %s: %s", engine.name_of(fp), stream.message)
            await self._sleep(fp, backoff_delay(attempt))
            return attempt + 1
        self.errors.pop(fp, None)
        reader, writer = stream
        existing = engine.links.get(fp)
        if existing is not None and not existing.closing:
            writer.transport.abort()  # a LAN or direct link won meanwhile
            return attempt
        try:
            await self.connect(fp, relay, reader, writer)
        except DialFailed as exc:
            rt = engine.runtime(fp)
            rt.last_error = clean_peer_text(exc.message, ellipsis=True)
            engine.log.info("relayed link with %s failed: %s", engine.name_of(fp), rt.last_error)
            await self._sleep(fp, backoff_delay(attempt))
            return attempt + 1
        return attempt

    async def _meet(
        self, fp: bytes, relay: RelayAddress, secrets: list[bytes]
    ) -> Stream | RelayError | None:
        """One wait at the relay, under the token of each secret the two may share (at most
        ``MAX_SECRETS``: their views of their circles may differ for a while): the first
        stream, the relay's error, or ``None`` (the wait ran out, or was called off)."""
        engine = self.engine
        on_day = day()
        wait = min(MAX_WAIT, seconds_to_next_day() + 1.0)
        tokens = list(
            dict.fromkeys(
                peer_token(s, engine.identity.fingerprint, fp, on_day)
                for s in secrets[:MAX_SECRETS]
            )
        )
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(
                meet(relay, token, wait=wait, connect_timeout=engine.timeouts.connect)
            )
            for token in tokens
        ]
        gate: asyncio.Future[Stream | RelayError | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.meeting[fp] = gate
        result: Stream | RelayError | None = None
        try:
            pending: set[asyncio.Future[Any]] = set(waits)
            while pending and not gate.done():
                done, pending = await asyncio.wait(
                    pending | {gate}, return_when=asyncio.FIRST_COMPLETED
                )
                done.discard(gate)
                for future in done:
                    if future.cancelled():
                        continue
                    error = future.exception()
                    if error is None:
                        stream = cast(Stream, future.result())
                        if result is None or isinstance(result, RelayError):
                            result = stream
                        else:
                            stream[1].transport.abort()  # a second match: not needed
                    elif isinstance(error, RelayError) and result is None:
                        result = error
                    elif not isinstance(error, (RelayError, TimeoutError)):
                        raise error
                if result is not None and not isinstance(result, RelayError):
                    break
        finally:
            if self.meeting.get(fp) is gate:
                del self.meeting[fp]
            for future in waits:
                if not future.done():
                    future.cancel()
        if gate.done() and not isinstance(result, RelayError) and result is not None:
            result[1].transport.abort()  # called off: a link came up another way
            return None
        return result

    async def _sleep(self, fp: bytes, delay: float) -> None:
        wake = self.wake.get(fp)
        if wake is None:
            wake = self.wake[fp] = asyncio.Event()
        wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):  # not wait_for: it can swallow a cancellation
                await wake.wait()

    async def connect(
        self,
        fp: bytes,
        relay: RelayAddress,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """The TLS link over a relayed stream, client or server by the fingerprints; returns
        once the link is set up (its pump runs in a task of its own either way)."""
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
        engine.pump.start(link)

    # -- invites -------------------------------------------------------------------------------

    def invite(self, invite: Invite) -> None:
        """Wait at the relay for a colleague joining ``invite`` while it is open."""
        engine = self.engine
        self.cancel_invite()
        if engine.relay is None or not engine.running:
            return
        self._invite = invite
        self._invite_task = engine.spawn(self._serve_invite(invite), "relay-invite")

    def cancel_invite(self) -> None:
        self._invite = None
        if self._invite_task is not None:
            self._invite_task.cancel()
            self._invite_task = None

    async def _serve_invite(self, invite: Invite) -> None:
        """Meet a joiner at the invite's rendezvous; only the pairing exchange is answered
        there. A meeting that goes wrong (someone else at the rendezvous, another invite with
        the same nameplate) backs off before the next one."""
        engine = self.engine
        attempt = 0
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
                await asyncio.sleep(backoff_delay(attempt))
                attempt += 1
                continue
            if not invite.is_open():
                writer.transport.abort()
                return
            channel = TlsChannel(reader, writer, engine.server_context(), server_side=True)
            if await engine.admission.handshake(channel, address) is None:
                if channel.peer_certificate() is None:
                    await engine.admission.anonymous(channel, address, pairing_only=True)
                    attempt = 0
                    continue
                channel.abort()  # a joiner has no certificate we trust yet: not one
            await asyncio.sleep(backoff_delay(attempt))
            attempt += 1
