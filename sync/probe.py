"""Provides probes of an address: which certificate answers there, and what that peer says.

``probe_fingerprint`` (``plntui peer add HOST:PORT``) learns the fingerprint of whoever listens
at an address, so the user can match it with a peer they already trust. ``probe_info``
(``plntui doctor``) also asks that peer, over the anonymous path (``tls``, "Info query"), which
protocol it speaks and what time its clock shows. Nothing is sent but the TLS handshake and, for
``probe_info``, one empty ``INFO`` frame; nothing is trusted or stored because of either: every
later link is checked against the pinned fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass

from .errors import RemoteProtocolError, SyncError
from .fingerprint import fingerprint_of
from .tls import (
    INFO_OK,
    MAX_INFO,
    TlsChannel,
    client_context_anonymous,
    info_frame,
    parse_info_ok,
    read_one_frame,
)

__all__ = ["PeerInfo", "ProbeError", "probe_fingerprint", "probe_info"]


async def probe_fingerprint(host: str, port: int, timeout: float = 10.0) -> bytes:
    """The SHA-256 fingerprint of the certificate presented at ``host:port``."""
    context = client_context_anonymous()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=None),
            timeout,
        )
    except (TimeoutError, OSError, ssl.SSLError) as err:
        raise SyncError(
            f"cannot reach a plntui peer at {host}:{port} ({err or 'timed out'})"
        ) from None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise SyncError(f"{host}:{port} presented no certificate: not a plntui peer")
        return fingerprint_of(der)
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2)
        except (TimeoutError, OSError, ssl.SSLError):
            pass
        del reader


class ProbeError(SyncError):
    """Nothing at the address completed a TLS handshake; ``stage`` says how far it got:
    ``"connect"`` (no TCP connection: refused, filtered, timed out) or ``"tls"`` (something
    accepted the connection but is not a plntui peer)."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What ``probe_info`` learned at an address.

    ``fingerprint`` is proven (the server showed the key in the TLS 1.3 handshake). ``protocol``
    and ``time`` are the peer's own statements, ``None`` when it did not answer the query (an
    older plntui) or answered garbage (``problem`` says which). ``rtt`` is the seconds from the
    query to the answer (or to the end of the handshake without one); ``received`` our Unix time
    when the answer arrived.
    """

    fingerprint: bytes
    protocol: int | None
    time: float | None
    rtt: float
    received: float = 0.0
    problem: str | None = None

    @property
    def skew(self) -> float | None:
        """Seconds the peer's clock is ahead of ours (negative: behind), ``None`` if unknown."""
        if self.time is None:
            return None
        return self.time - (self.received - self.rtt / 2)


async def probe_info(host: str, port: int, timeout: float = 5.0) -> PeerInfo:
    """Handshake anonymously with ``host:port``, ask ``INFO`` and return what it said.

    Raises ``ProbeError`` when no TCP connection opens (``stage="connect"``) or the TLS handshake
    fails or shows no certificate (``stage="tls"``). A peer that completes the handshake but does
    not answer the query still yields its proven fingerprint.
    """
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as err:
        reason = str(err) or "timed out"
        raise ProbeError(f"no connection to {where} ({reason})", "connect") from None
    channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
    try:
        started = loop.time()
        try:
            await channel.handshake(timeout)
        except (TimeoutError, OSError, ssl.SSLError) as err:
            reason = str(err) or "timed out"
            raise ProbeError(f"{where} is not a plntui peer (TLS: {reason})", "tls") from None
        der = channel.peer_certificate()
        if der is None:
            raise ProbeError(f"{where} presented no certificate: not a plntui peer", "tls")
        fingerprint = fingerprint_of(der)
        problem: str | None = None
        protocol: int | None = None
        when: float | None = None
        try:
            started = loop.time()
            channel.write(info_frame())
            await channel.drain()
            async with asyncio.timeout(timeout):
                frame = await read_one_frame(channel, max_payload=MAX_INFO)
            if frame is None:
                problem = "it does not answer the info query (an older plntui?)"
            elif frame.kind != INFO_OK:
                problem = f"it answered the info query with frame type {frame.kind}"
            else:
                protocol, when = parse_info_ok(frame.payload)
        except RemoteProtocolError as err:
            problem = f"it answered the info query wrongly: {err}"
        except (TimeoutError, OSError, ssl.SSLError) as err:
            problem = f"the info query failed ({str(err) or 'timed out'})"
        return PeerInfo(
            fingerprint=fingerprint,
            protocol=protocol,
            time=when,
            rtt=loop.time() - started,
            received=time.time(),
            problem=problem,
        )
    finally:
        with contextlib.suppress(Exception):
            await channel.aclose(timeout=0.5)
