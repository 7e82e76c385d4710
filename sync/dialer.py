"""Provides the dialer: reaching trusted peers, certificate learning, backoff.

The engine dials the peers it is told about (``add``, from discovery or a manual address, and
every address stored for a trusted peer) and keeps a link up while the peer stays trusted,
reconnecting with exponential backoff (0.5 s doubling to 30 s, with jitter). A peer whose
certificate is not known yet is reached through certificate learning (``tls``) first.

Addresses are tried in this order: the one a verified handshake last succeeded at, the
addresses stored for the peer, then the hints discovery gave (at most 16, newest first).
Discovery is unauthenticated, so a flood of spoofed announcements of a fingerprint can only
add hints behind the addresses that proved themselves; it cannot push them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from typing import TYPE_CHECKING

from .errors import RemoteProtocolError, UntrustedPeer
from .events import CertificateLearned, PeerRefused
from .fingerprint import format_fingerprint, short_fingerprint
from .limits import BACKOFF_MAX, BACKOFF_START, RECONNECT_DELAY, STABLE_LINK
from .link import DialFailed, Link, describe_failure
from .text import clean_peer_text
from .tls import (
    AnonymousPeer,
    TlsChannel,
    client_context_anonymous,
    present_frame,
    read_one_frame,
    sni_name,
    verify_peer,
)
from .trust import TrustStoreError, format_hostport, parse_hostport

if TYPE_CHECKING:
    from .engine import SyncEngine
    from .relay import RelayAddress

MAX_HINTS = 16


def jitter(delay: float) -> float:
    return delay * (0.8 + 0.4 * secrets.randbelow(1_000_001) / 1_000_000)


def backoff_delay(attempt: int) -> float:
    """Seconds before retry ``attempt`` (0-based): 0.5 s doubling to 30 s, ±20 % jitter."""
    return jitter(min(BACKOFF_MAX, BACKOFF_START * 2 ** min(attempt, 16)))


class Dialer:
    """The engine's outgoing connections (see the module docstring)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.targets: dict[bytes, list[tuple[str, int]]] = {}
        self.tasks: dict[bytes, asyncio.Task[None]] = {}
        self.wake: dict[bytes, asyncio.Event] = {}
        self.proven: dict[bytes, tuple[str, int]] = {}

    # -- addresses --------------------------------------------------------------------------------

    def add(self, fp: bytes, host: str, port: int) -> None:
        targets = self.targets.setdefault(fp, [])
        new = (host, port) not in targets
        if not new:
            targets.remove((host, port))
        targets.insert(0, (host, port))
        del targets[MAX_HINTS:]
        if self.engine.running:
            self.ensure(fp)
            if new:  # a known address again (a repeated announcement) keeps the backoff
                self.wake_event(fp).set()

    def drop(self, fp: bytes, host: str, port: int) -> None:
        targets = self.targets.get(fp)
        if targets is not None and (host, port) in targets:
            targets.remove((host, port))

    def forget(self, fp: bytes) -> None:
        self.targets.pop(fp, None)
        task = self.tasks.pop(fp, None)
        if task is not None:
            task.cancel()

    def verified(self, link: Link) -> None:
        """A link proved the peer at its address: try that address first next time."""
        if link.outbound:
            with contextlib.suppress(ValueError):
                self.proven[link.fp] = parse_hostport(link.address)

    def addresses(self, fp: bytes) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        proven = self.proven.get(fp)
        if proven is not None:
            out.append(proven)
        peer = self.engine.trust.get(fp)
        for text in peer.addresses if peer is not None else ():
            with contextlib.suppress(ValueError):
                pair = parse_hostport(text)
                if pair not in out:
                    out.append(pair)
        for pair in self.targets.get(fp, ()):
            if pair not in out:
                out.append(pair)
        return out

    def dial_stored(self) -> None:
        engine = self.engine
        for peer in engine.trust.peers():
            if peer.trusted and peer.addresses and peer.fingerprint != engine.identity.fingerprint:
                self.ensure(peer.fingerprint)

    def wake_event(self, fp: bytes) -> asyncio.Event:
        event = self.wake.get(fp)
        if event is None:
            event = self.wake[fp] = asyncio.Event()
        return event

    def ensure(self, fp: bytes) -> None:
        task = self.tasks.get(fp)
        if task is not None and not task.done():
            return
        if not self.engine.is_trusted(fp):
            return
        self.tasks[fp] = self.engine.spawn(self.run(fp), f"dial-{short_fingerprint(fp)}")

    def cancel_untrusted(self, trusted: frozenset[bytes]) -> None:
        for fp, task in list(self.tasks.items()):
            if fp not in trusted:
                task.cancel()

    def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()

    # -- the dialler of one peer ----------------------------------------------------------------

    async def run(self, fp: bytes) -> None:
        engine = self.engine
        attempt = 0
        wake = self.wake_event(fp)
        rt = engine.runtime(fp)
        try:
            while engine.running and engine.is_trusted(fp):
                link = engine.links.get(fp)
                if link is not None and link.route == "relay" and self.addresses(fp):
                    # a direct link is preferred: keep trying the addresses, with backoff
                    await self.sleep_or_closed(wake, link, backoff_delay(attempt))
                    attempt += 1
                    if link.closed.is_set() or engine.links.get(fp) is not link:
                        continue
                    try:
                        await self.dial_any(fp, self.addresses(fp))
                    except DialFailed:
                        pass  # the relayed link stays; try again after the backoff
                    except Exception:  # a bug must not end the dialling for good
                        engine.log.exception("dialling %s failed", engine.name_of(fp))
                    continue
                if link is not None:
                    await link.closed.wait()
                    if link.hello_seen and engine.now() - link.opened >= STABLE_LINK:
                        attempt = 0  # it was a good link: come back quickly
                        await self.sleep(wake, jitter(RECONNECT_DELAY))
                    else:  # a link that keeps dropping at once backs off like a failure
                        await self.sleep(wake, backoff_delay(attempt))
                        attempt += 1
                    continue
                if engine.synchronizer.paused(fp):
                    rt.state = "failed"
                    await self.sleep(wake, 60.0)
                    continue
                addresses = self.addresses(fp)
                if not addresses:
                    rt.state = "offline"
                    wake.clear()
                    await wake.wait()
                    continue
                rt.state = "connecting"
                try:
                    await self.dial_any(fp, addresses)
                    continue
                except DialFailed as exc:
                    rt.state = "failed"
                    rt.last_error = clean_peer_text(exc.message, ellipsis=True)
                    engine.log.info("cannot reach %s: %s", engine.name_of(fp), rt.last_error)
                except Exception as exc:  # a bug must not end the dialling for good
                    engine.log.exception("dialling %s failed", engine.name_of(fp))
                    rt.last_error = f"internal error: {exc!r}"
                await self.sleep(wake, backoff_delay(attempt))
                attempt += 1
        finally:
            if self.tasks.get(fp) is asyncio.current_task():
                del self.tasks[fp]

    @staticmethod
    async def sleep_or_closed(wake: asyncio.Event, link: Link, delay: float) -> None:
        """Sleep ``delay`` seconds, or less if woken or the link closes."""
        wake.clear()
        waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(link.closed.wait())]
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    @staticmethod
    async def sleep(wake: asyncio.Event, delay: float) -> None:
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)

    async def dial_any(self, fp: bytes, addresses: list[tuple[str, int]]) -> Link:
        engine = self.engine
        last: DialFailed | None = None
        for host, port in addresses:
            try:
                return await self.dial(fp, host, port)
            except DialFailed as exc:
                last = exc
            except (ssl.SSLError, OSError, ValueError) as exc:  # e.g. the key file went away
                engine.log.exception("dialling %s failed", engine.name_of(fp))
                last = DialFailed(
                    f"cannot dial {format_hostport(host, port)}: {describe_failure(exc)}"
                )
        assert last is not None
        raise last

    async def dial(self, fp: bytes, host: str, port: int) -> Link:
        """One attempt at one address: certificate learning when needed, then mutual TLS."""
        engine = self.engine
        existing = engine.links.get(fp)
        if existing is not None and not existing.closing and existing.route != "relay":
            return existing
        peer = engine.trust.get(fp)
        if peer is None or not engine.is_trusted(fp):
            raise DialFailed(f"{format_fingerprint(fp)} is not trusted")
        address = format_hostport(host, port)
        engine.runtime(fp).address = address
        presented = False
        if peer.cert is None:
            await self.present(fp, host, port)
            presented = True
        try:
            return await self.dial_mutual(fp, host, port)
        except DialFailed as exc:
            if not exc.refused_certificate or presented:
                raise
        await self.present(fp, host, port)
        return await self.dial_mutual(fp, host, port)

    async def open(
        self,
        host: str,
        port: int,
        ctx: ssl.SSLContext,
        server_hostname: str | None = None,
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None,
        address: str | None = None,
    ) -> TlsChannel:
        """TLS as the client to ``host:port``, or over ``stream`` (a relayed connection, named
        ``address`` in messages)."""
        timeouts = self.engine.timeouts
        address = address or format_hostport(host, port)
        if stream is not None:
            reader, writer = stream
        else:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, limit=2**16), timeouts.connect
                )
            except (OSError, TimeoutError) as exc:
                raise DialFailed(f"cannot connect to {address}: {describe_failure(exc)}") from None
        channel = TlsChannel(
            reader, writer, ctx, server_side=False, server_hostname=server_hostname
        )
        try:
            await channel.handshake(timeouts.handshake)
        except ssl.SSLCertVerificationError as exc:
            channel.abort()
            if stream is not None:  # met at a relay: someone there holds the pair's token
                self.engine.emit(
                    PeerRefused(
                        f"the device met at {address} is not the expected peer: "
                        f"{describe_failure(exc)}",
                        None,
                        address,
                    )
                )
            raise DialFailed(
                f"the device at {address} is not the expected peer: {describe_failure(exc)}",
                identity=True,
            ) from None
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            channel.abort()
            raise DialFailed(
                f"TLS handshake with {address} failed: {describe_failure(exc)}"
            ) from None
        return channel

    async def present(self, fp: bytes, host: str, port: int) -> None:
        """Certificate learning, client side (see ``tls``)."""
        engine = self.engine
        address = format_hostport(host, port)
        channel = await self.open(host, port, client_context_anonymous())
        try:
            try:
                verify_peer(channel.ssl_object, fp)
            except (UntrustedPeer, AnonymousPeer) as exc:
                refused = PeerRefused(
                    f"{address}: {exc.message}", getattr(exc, "fingerprint", None), address
                )
                engine.emit(refused)
                raise DialFailed(exc.message, identity=True) from None
            server_der = channel.peer_certificate()
            assert server_der is not None
            channel.write(present_frame(engine.identity.cert_der))
            await channel.drain()
            async with asyncio.timeout(engine.timeouts.handshake):
                frame = await read_one_frame(channel, max_payload=0)
        except (RemoteProtocolError, ssl.SSLError, OSError, TimeoutError) as exc:
            raise DialFailed(
                f"certificate exchange with {address} failed ({describe_failure(exc)}); if "
                "this persists, ask them to run: plntui peer trust "
                f"{engine.identity.fingerprint_text}"
            ) from None
        finally:
            await channel.aclose(timeout=0.5)
        from .tls import PRESENT_OK

        if frame is None or frame.kind != PRESENT_OK:
            raise DialFailed(
                f"{engine.name_of(fp)} at {address} does not trust this device yet; ask them "
                f"to run plntui peer trust {engine.identity.fingerprint_text}"
            )
        try:
            learned = engine.trust.learn_cert(fp, server_der)
        except (ValueError, UntrustedPeer, TrustStoreError) as exc:
            raise DialFailed(str(exc)) from None
        engine.check_trust()
        if learned:
            engine.emit(CertificateLearned(fp, address))

    async def dial_relayed(
        self,
        fp: bytes,
        relay: RelayAddress,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> Link:
        """Mutual TLS as the client over a stream the relay matched (``relaylink``)."""
        try:
            return await self.dial_mutual(
                fp, relay.host, relay.port, stream=(reader, writer), route="relay"
            )
        except BaseException:
            writer.transport.abort()
            raise

    async def dial_mutual(
        self,
        fp: bytes,
        host: str,
        port: int,
        *,
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None,
        route: str = "",
    ) -> Link:
        engine = self.engine
        peer = engine.trust.get(fp)
        if peer is None or peer.cert is None:
            raise DialFailed(f"the certificate of {format_fingerprint(fp)} is not known yet")
        address = (
            f"relay tcp:{format_hostport(host, port)}"
            if route == "relay"
            else format_hostport(host, port)
        )
        channel = await self.open(
            host,
            port,
            engine.client_context(fp, peer.cert),
            server_hostname=sni_name(engine.identity.fingerprint, fp, peer.relay_secret),
            stream=stream,
            address=address,
        )
        try:
            verify_peer(channel.ssl_object, fp)
        except (UntrustedPeer, AnonymousPeer) as exc:
            channel.abort()
            engine.emit(
                PeerRefused(f"{address}: {exc.message}", getattr(exc, "fingerprint", None), address)
            )
            raise DialFailed(exc.message, identity=True) from None
        link = engine.admit(fp, channel, outbound=True, address=address, route=route)
        if link is None:
            await channel.aclose()
            existing = engine.links.get(fp)
            if existing is None:
                raise DialFailed("the link was replaced")
            link = existing
        else:
            engine.pump.start(link)
        await asyncio.shield(link.established)
        return link
