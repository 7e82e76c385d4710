"""Provides admission: accepting connections, the handshake limits, and the anonymous path.

Every accepted connection first costs a TLS handshake. At most ``Limits.max_pending_handshakes``
connections may be in the handshake at once, and ``Limits.max_pending_per_address`` from one
source address; more are closed at once, silently, so one host cannot starve the others.

A client that presents a trusted certificate becomes a link (``SyncEngine.admit``). A client
that presents none is on the anonymous path, which allows exactly one exchange, chosen by its
first frame (``ANONYMOUS``):

* ``PRESENT`` (certificate learning, ``tls``): the answer is ``PRESENT_OK`` whatever the
  certificate, so the path never tells anyone whether a fingerprint is trusted here; the
  certificate is stored only if its fingerprint is trusted;
* ``INFO`` (``plntui doctor``): the protocol version and the clock;
* ``PAIR_START``: pairing by code, only while an invite is open (``pairing``).

Anything else, or silence for ``Timeouts.handshake``, closes the connection with nothing changed.
"""

from __future__ import annotations

import asyncio
import ssl
from enum import Enum
from typing import TYPE_CHECKING, Final

from . import pairlink
from .errors import RemoteProtocolError, SyncError, UntrustedPeer
from .events import CertificateLearned, PairingRefused, PairingSucceeded, PeerRefused
from .fingerprint import fingerprint_of
from .framing import Frame, FrameKind
from .link import DialFailed, describe_failure
from .pairing import MAX_PAIR_MESSAGE, InviterPairing, InviteState, PairingFailed
from .tls import MAX_PRESENT, TlsChannel, answer_info, present_ok_frame, verify_peer

if TYPE_CHECKING:
    from .engine import SyncEngine


class Anonymous(Enum):
    START = "START"
    PAIRING = "PAIRING"
    DONE = "DONE"


ANONYMOUS: Final[dict[tuple[Anonymous, FrameKind], Anonymous]] = {
    (Anonymous.START, FrameKind.PRESENT): Anonymous.DONE,
    (Anonymous.START, FrameKind.INFO): Anonymous.DONE,
    (Anonymous.START, FrameKind.PAIR_START): Anonymous.PAIRING,
}
"""The anonymous path: the one first frame allowed, and where it leads."""


class Admission:
    """Accepts connections for an engine (see the module docstring)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.pending = 0
        self.pending_by_address: dict[str, int] = {}
        self.peak = 0

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        engine = self.engine
        task = asyncio.current_task()
        if task is not None:
            engine.track(task)
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if (
            not engine.running
            or self.pending >= engine.limits.max_pending_handshakes
            or self.pending_by_address.get(source, 0) >= engine.limits.max_pending_per_address
        ):
            writer.transport.abort()  # silently: a flood must not flood the log too
            return
        try:
            await self.serve(reader, writer, task, source)
        except Exception:  # a bug must cost one connection, never the daemon
            engine.log.exception("serving a connection failed")
            writer.transport.abort()

    async def serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        task: asyncio.Task[None] | None,
        source: str = "?",
    ) -> None:
        engine = self.engine
        self.pending += 1
        self.pending_by_address[source] = self.pending_by_address.get(source, 0) + 1
        self.peak = max(self.peak, self.pending)
        try:
            engine.check_trust()
            channel = TlsChannel(reader, writer, engine.server_context(), server_side=True)
            address = channel.peername
            if await self.handshake(channel, address) is not None:
                return
            if channel.peer_certificate() is None:
                await self.anonymous(channel, address)
                return
            try:
                fp = verify_peer(channel.ssl_object, engine.trusted())
            except UntrustedPeer as exc:
                channel.abort()
                engine.emit(PeerRefused(f"{address}: {exc.message}", exc.fingerprint, address))
                return
        finally:
            self.pending -= 1
            left = self.pending_by_address.pop(source, 1) - 1
            if left > 0:
                self.pending_by_address[source] = left
        link = engine.admit(fp, channel, outbound=False, address=address)
        if link is None:
            await channel.aclose()
            return
        link.task = task
        await engine.pump.run(link)

    async def handshake(self, channel: TlsChannel, address: str) -> str | None:
        """The server's side of the TLS handshake: ``None`` once done, else why it failed
        (the connection dropped and the refusal reported)."""
        engine = self.engine
        try:
            await channel.handshake(engine.timeouts.handshake)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            channel.abort()
            reason = f"a device at {address} failed the TLS handshake: {describe_failure(exc)}"
            engine.emit(PeerRefused(reason, None, address))
            return reason
        return None

    async def anonymous(
        self, channel: TlsChannel, address: str, pairing_only: bool = False
    ) -> None:
        """The anonymous path: one PRESENT, one INFO, pairing, or nothing at all
        (``pairing_only``: pairing or nothing, as at an invite's rendezvous on a relay)."""
        engine = self.engine
        reader = pairlink.FrameReader(channel, max(MAX_PRESENT, MAX_PAIR_MESSAGE))
        fp: bytes | None = None
        learned = False
        try:
            async with asyncio.timeout(engine.timeouts.handshake):
                frame = await reader.next()
            kind = _kind(frame)
            step = ANONYMOUS.get((Anonymous.START, kind)) if kind is not None else None
            if frame is None or step is None:
                raise DialFailed("it sent no certificate on the anonymous path")
            if pairing_only and kind is not FrameKind.PAIR_START:
                raise DialFailed("only pairing is answered at an invite's rendezvous")
            if kind is FrameKind.PAIR_START:
                await self.pairing(channel, reader, frame, address)
                return
            assert kind is not None  # a step was found for it
            if reader.buffered:
                raise RemoteProtocolError(
                    f"the peer sent more than one frame with {kind.name} on the anonymous path"
                )
            if kind is FrameKind.INFO:  # a doctor's query (see tls)
                await answer_info(channel, frame)
                await channel.aclose()
                return
            fp = fingerprint_of(frame.payload)
            trusted = fp != engine.identity.fingerprint and fp in engine.trusted()
            if trusted:
                learned = engine.trust.learn_cert(fp, frame.payload)
                engine.check_trust()
            # the same answer either way: the path does not tell who is trusted here
            channel.write(present_ok_frame())
            await channel.drain()
            if not trusted:
                raise UntrustedPeer(fp)
        except (SyncError, ValueError, ssl.SSLError, OSError, TimeoutError) as exc:
            if isinstance(exc, UntrustedPeer):
                await channel.aclose()
            else:
                channel.abort()
            reason = exc.message if isinstance(exc, SyncError) else describe_failure(exc)
            engine.emit(PeerRefused(f"{address}: {reason}", fp, address))
            return
        await channel.aclose()
        if learned and fp is not None:
            engine.emit(CertificateLearned(fp, address))
        wake = engine.dialer.wake.get(fp) if fp is not None else None
        if wake is not None:
            wake.set()  # it trusts us: our own dialer may stop waiting

    async def pairing(
        self, channel: TlsChannel, reader: pairlink.FrameReader, start: Frame, address: str
    ) -> None:
        """A device without a certificate we trust asks to pair: only an open invite answers."""
        engine = self.engine
        invite = engine.invite
        if invite is None or not invite.is_open():
            await channel.aclose()
            engine.emit(PairingRefused("a device asked to pair, but no invite is open", address))
            return
        from .identity import check_peer_certificate

        machine = InviterPairing(
            invite, engine.identity.fingerprint, engine.name, check_cert=check_peer_certificate
        )
        try:
            paired = await pairlink.serve(
                channel, reader, start, machine, 3 * engine.timeouts.handshake
            )
        except PairingFailed as exc:
            channel.abort()
            spent = invite.state is not InviteState.OPEN
            engine.emit(PairingRefused(exc.message, address, spent=spent))
            return
        try:
            engine.trust.trust(paired.fingerprint, paired.name or None)
            engine.trust.learn_cert(paired.fingerprint, paired.cert)
            if paired.relay_secret:
                engine.trust.set_relay_secret(paired.fingerprint, paired.relay_secret)
            engine.check_trust(force=True)
        except (SyncError, ValueError) as exc:
            channel.abort()
            reason = exc.message if isinstance(exc, SyncError) else str(exc)
            engine.emit(PairingRefused(f"cannot store the new peer: {reason}", address, True))
            return
        if engine.on_paired is not None:
            try:
                engine.on_paired(paired.fingerprint, paired.name, "inviter")
            except Exception:  # the pairing stands; membership can be fixed by hand
                engine.log.exception("adding the new peer to a circle failed")
        try:
            await pairlink.finish(channel)
        except (ssl.SSLError, OSError) as exc:
            channel.abort()
            engine.emit(
                PairingRefused(
                    f"{engine.name_of(paired.fingerprint)} left before the end of pairing "
                    f"({describe_failure(exc)}): it is trusted here but may not trust this "
                    "device; check plntui peer list, or revoke it and pair again",
                    address,
                    spent=True,
                )
            )
            return
        await channel.aclose()
        host = channel.peer_host
        relayed = address.startswith("relay ")  # the host is the relay's: meet there instead
        if paired.port is not None and host and not relayed and engine.loop is not None:
            # the joiner dials us once it has pinned us; our own dial waits a moment, so it does
            # not arrive before the joiner has read PAIR_DONE
            engine.loop.call_later(2.0, engine.dialer.add, paired.fingerprint, host, paired.port)
        engine.emit(
            PairingSucceeded(
                paired.fingerprint,
                engine.name_of(paired.fingerprint),
                address,
                paired.safety_number,
                "inviter",
            )
        )


def _kind(frame: Frame | None) -> FrameKind | None:
    if frame is None:
        return None
    try:
        return FrameKind(frame.kind)
    except ValueError:
        return None
