"""Provides probe_fingerprint: which certificate answers at an address (an unverified hint).

``plntui peer add HOST:PORT`` uses it to learn the fingerprint of whoever listens there, so the
user can match it with a peer they already trust. Nothing is sent but the TLS handshake, and
nothing is trusted because of it: every later link is checked against the pinned fingerprint.
"""

from __future__ import annotations

import asyncio
import ssl

from .errors import SyncError
from .fingerprint import fingerprint_of
from .tls import client_context_anonymous


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
