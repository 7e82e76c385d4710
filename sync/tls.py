"""Provides the secure channel: TLS 1.3 contexts, the fingerprint check and certificate learning.

Syncthing's model on the stdlib ``ssl`` module. Every device has one self-signed Ed25519
certificate (``identity``); a peer is pinned by the SHA-256 of its DER certificate.

Contexts
--------
All contexts speak TLS 1.3 only (``minimum_version = TLSv1_3``), never check host names (peers
are known by fingerprint, not by name), issue and accept no session tickets (``OP_NO_TICKET``,
``num_tickets = 0``: no resumption, hence no 0-RTT either; Python never enables early data).

``server_context(identity, pinned_certs)``
    Presents our certificate, asks for the client's (``CERT_OPTIONAL``) and trusts exactly the
    pinned peers' certificates (``cadata``; none when no certificate is known yet). A pinned
    certificate passes; an unknown one fails the handshake; a client that presents none
    completes the handshake as *anonymous* and may only use the certificate-learning path below.
    With several pinned peers the client must name itself in SNI (``sni_name``, see below).
``client_context(identity, expected_cert)``
    Presents our certificate and requires the server's to be exactly ``expected_cert``
    (``CERT_REQUIRED``, that certificate as the only ``cadata``). ``None`` accepts any server
    certificate at the TLS level: ``verify_peer`` is then the only check (the engine never does
    this; it dials anonymously instead).
``client_context_anonymous()``
    Presents no certificate and does not verify the server's at the TLS level (``CERT_NONE``):
    only for certificate learning, always followed by ``verify_peer``. TLS 1.3 still makes the
    server prove it holds the key of the certificate it shows (CertificateVerify), so a matching
    fingerprint proves the server's identity.

``verify_peer(ssl_object, expected)`` is the real check, after every handshake: the SHA-256 of
``getpeercert(binary_form=True)`` must be the exact identity expected (client side: the peer we
dialled; server side: one of the currently trusted fingerprints). A chain that OpenSSL accepts is
not enough: a second certificate made with a pinned key has another fingerprint and is refused.

Several pinned peers: SNI routing
---------------------------------
Every plntui certificate has the same subject (``CN=plntui``) and no key identifiers. OpenSSL
(3.0, Python 3.11) looks a trust anchor up by subject name and takes the first one that matches,
so with two pinned certificates in one store the second peer's certificate fails to verify
("self-signed certificate"; ``tests/sync/test_sync_tls.py`` shows it). The server therefore keeps
one small context per pinned peer, trusting that peer's certificate only, and switches to it in
the ``sni_callback`` when the client names that peer: a client dialling with mutual TLS sends
``server_hostname=sni_name(client_fp, server_fp, key)``: a fresh random salt (16 hex digits)
and 40 hex digits of an HMAC-SHA256 over the salt and both fingerprints, keyed by the pair's
secret from pairing by code (``key``; the pairs pinned by hand, with no secret, use a fixed
label instead). SNI travels in clear text, so the salt makes every connection's name different:
no stable identifier of the pair goes over the wire. With a pair secret, nobody else can tell
which pair a name belongs to; without one, an observer who knows both fingerprints (mDNS
announces them) can test a guess, nothing more. The server tries each pinned peer (and its
secret) against the salt (``route_sni``). The name proves nothing either: the chosen context
still verifies the certificate, and ``verify_peer`` still checks the fingerprint. A client
sending no or an unknown name is verified against the shared store (fine with one pinned peer,
and for anonymous clients).

Certificate learning
--------------------
``plntui peer trust FINGERPRINT`` pins only a fingerprint, but the server needs the client's
whole certificate as ``cadata``. So the first contact runs on the anonymous path:

1. The client pins the server's fingerprint but lacks its certificate (or its certificate was
   refused). It dials with ``client_context_anonymous()``: no certificate of its own.
2. It checks the server's certificate from the handshake with ``verify_peer`` against the pinned
   fingerprint and stops if another device answered.
3. It sends ONE frame, ``PRESENT`` (type 6, framed by ``framing.encode_frame``), carrying its own
   DER certificate (at most ``MAX_PRESENT`` bytes).
4. The server replies ``PRESENT_OK`` (type 7, empty) and closes, whatever the certificate, so
   the answer never tells whether a fingerprint is trusted; only if the SHA-256 of the presented
   certificate is a trusted fingerprint does it store the certificate
   (``TrustStore.learn_cert``). Extra bytes, a certificate over ``MAX_PRESENT`` or silence for
   ``HANDSHAKE_TIMEOUT`` close the link with nothing changed.
5. On ``PRESENT_OK`` the client stores the server's certificate, which it read in step 2. Both
   sides now hold each other's certificates, and the client reconnects with mutual TLS.

Nothing secret crosses the anonymous path: certificates are public, and a certificate is stored
only under the fingerprint the user approved (a SHA-256 preimage cannot be forged). Until mutual
TLS succeeds, neither side has read or sent a byte of the document.

``PRESENT`` is one of the three exchanges the anonymous path allows, chosen by its first frame
(``admission.ANONYMOUS``): the others are the info query below and, only while an invite is
open, pairing by code (``PAIR_START``, see ``pairing`` and ``pairlink``). Any other first frame
closes the link with nothing changed.

Info query (``plntui doctor``)
------------------------------
The anonymous path answers one more question, for troubleshooting: a client sends ``INFO``
(type 12, empty) instead of ``PRESENT``; the server replies ``INFO_OK`` (type 13), the JSON
``{"protocol": <highest protocol version it speaks>, "time": <its Unix time>}`` (at most
``MAX_INFO`` bytes), and closes (``answer_info``). The client learns which certificate the
server proved in the handshake, the protocol it speaks and how far its clock is off; nothing is
stored and nothing changes on either side. The reply tells an anonymous client nothing beyond
what the handshake and mDNS already show, save the server's clock.

``TlsChannel`` runs TLS over a plain asyncio stream pair through memory BIOs, so each connection
can use the context that is current when it arrives (a trust change swaps the context, which a
listening ``asyncio`` TLS server cannot do) and the handshake has a hard deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import ssl
import tempfile
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import RemoteProtocolError, SyncError, UntrustedPeer
from .fingerprint import fingerprint_of, format_fingerprint
from .framing import Frame, FrameDecoder, FrameKind, encode_frame
from .session import SUPPORTED_VERSIONS

if TYPE_CHECKING:
    from .identity import Identity

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "INFO",
    "INFO_OK",
    "MAX_INFO",
    "MAX_PRESENT",
    "PRESENT",
    "PRESENT_OK",
    "AnonymousPeer",
    "TlsChannel",
    "WrongPeer",
    "answer_info",
    "client_context",
    "client_context_anonymous",
    "info_frame",
    "info_ok_frame",
    "parse_info_ok",
    "present_frame",
    "present_ok_frame",
    "read_one_frame",
    "server_context",
    "route_sni",
    "sni_name",
    "verify_peer",
]

PRESENT: Final = FrameKind.PRESENT
"""Frame type of the anonymous path: the client's DER certificate (see the module docstring)."""
PRESENT_OK: Final = FrameKind.PRESENT_OK
"""Frame type of the server's answer to ``PRESENT``: the certificate was stored (empty)."""
INFO: Final = FrameKind.INFO
"""Frame type of the anonymous path: the client asks for the server's protocol and clock (empty)."""
INFO_OK: Final = FrameKind.INFO_OK
"""Frame type of the server's answer to ``INFO``: JSON ``{"protocol": int, "time": float}``."""
MAX_INFO: Final = 256
"""Largest ``INFO_OK`` payload."""
MAX_PRESENT: Final = 16 * 1024
"""Largest certificate accepted on the anonymous path (ours are about 350 bytes)."""
SNI_LABEL: Final = b"plntui-sni-v1"
SNI_SUFFIX: Final = ".plntui"
SNI_SALT: Final = 8
"""Bytes of random salt in each connection's SNI name."""
HANDSHAKE_TIMEOUT: Final = 10.0
"""Seconds a TLS handshake (and the anonymous exchange) may take before the link is dropped."""
_RECV: Final = 256 * 1024


class AnonymousPeer(SyncError):
    """The peer presented no certificate, where one was required."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "the peer presented no certificate; only the certificate-learning path is open to "
            "devices that do not prove an identity"
        )


class WrongPeer(UntrustedPeer):
    """Another device answered where a given pinned peer was expected."""

    def __init__(self, fingerprint: bytes, expected: bytes) -> None:
        self.expected = expected
        super().__init__(
            fingerprint,
            f"expected the device {format_fingerprint(expected)}, but "
            f"{format_fingerprint(fingerprint)} answered; the address may belong to someone "
            "else now, or someone is impersonating the peer (check the address)",
        )


# -- contexts -----------------------------------------------------------------------------------


def _harden(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.options |= ssl.OP_NO_TICKET
    ctx.options |= getattr(ssl, "OP_NO_COMPRESSION", 0)
    return ctx


def _load_identity(ctx: ssl.SSLContext, identity: Identity) -> None:
    """``load_cert_chain`` needs files: use the profile's, or private temporary copies."""
    if identity.key_path is not None and identity.cert_path is not None:
        ctx.load_cert_chain(identity.cert_path, identity.key_path)
        return
    with tempfile.TemporaryDirectory(prefix="plntui-tls-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o700)
        key_path, cert_path = folder / "key.pem", folder / "cert.pem"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(identity.key_pem)
        cert_path.write_bytes(identity.cert_pem)
        ctx.load_cert_chain(cert_path, key_path)


def _load_pinned(ctx: ssl.SSLContext, certs: Iterable[bytes]) -> int:
    """Load each DER certificate as a trust anchor; skip (and count out) unparsable ones."""
    loaded = 0
    for der in certs:
        try:
            ctx.load_verify_locations(cadata=der)
        except (ssl.SSLError, ValueError):
            continue
        loaded += 1
    return loaded


def sni_name(
    client_fingerprint: bytes,
    server_fingerprint: bytes,
    key: bytes | None = None,
    salt: bytes | None = None,
) -> str:
    """The SNI a client sends so the server picks the context that trusts exactly it: a fresh
    salt and a MAC of both fingerprints under the pair's secret ``key`` (see the docstring)."""
    salt = secrets.token_bytes(SNI_SALT) if salt is None else salt
    mac = _sni_mac(client_fingerprint, server_fingerprint, key, salt)
    return f"p{salt.hex()}{mac}{SNI_SUFFIX}"


def _sni_mac(client: bytes, server: bytes, key: bytes | None, salt: bytes) -> str:
    return hmac.new(key or SNI_LABEL, salt + client + server, hashlib.sha256).hexdigest()[:40]


def route_sni(
    name: str | None, server_fingerprint: bytes, peers: Mapping[bytes, bytes | None]
) -> bytes | None:
    """The fingerprint among ``peers`` (fingerprint -> pair secret or None) that the SNI
    ``name`` names, if any."""
    if not name or not name.endswith(SNI_SUFFIX) or not name.startswith("p"):
        return None
    label = name[1 : -len(SNI_SUFFIX)]
    if len(label) != 2 * SNI_SALT + 40:
        return None
    try:
        salt = bytes.fromhex(label[: 2 * SNI_SALT])
    except ValueError:
        return None
    mac = label[2 * SNI_SALT :]
    for fingerprint, key in peers.items():
        for candidate in (key, None) if key else (None,):
            expected = _sni_mac(fingerprint, server_fingerprint, candidate, salt)
            if hmac.compare_digest(mac, expected):
                return fingerprint
    return None


def _single_peer_context(identity: Identity, cert_der: bytes) -> ssl.SSLContext:
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    ctx.num_tickets = 0
    _load_identity(ctx, identity)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    _load_pinned(ctx, [cert_der])
    return ctx


def server_context(
    identity: Identity,
    pinned_certs: Iterable[bytes],
    keys: Mapping[bytes, bytes] | None = None,
) -> ssl.SSLContext:
    """The listening side: our certificate; clients' certificates optional but only pinned ones.

    ``pinned_certs`` are the DER certificates of the currently trusted peers, ``keys`` their
    pair secrets (fingerprint -> secret) where they have one. A client whose certificate is not
    among them fails the handshake; a client without one is anonymous. A client that sends
    ``sni_name(its fingerprint, ours, its key)`` is verified against its own certificate alone
    (see "Several pinned peers" above).
    """
    pinned = list(dict.fromkeys(pinned_certs))
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    ctx.num_tickets = 0
    _load_identity(ctx, identity)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    _load_pinned(ctx, pinned)
    by_fingerprint = {fingerprint_of(der): der for der in pinned}
    peers = {fp: (keys or {}).get(fp) for fp in by_fingerprint}
    contexts: dict[bytes, ssl.SSLContext] = {}

    def route(ssl_object: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        fingerprint = route_sni(name, identity.fingerprint, peers)
        if fingerprint is None:
            return
        peer_ctx = contexts.get(fingerprint)
        if peer_ctx is None:
            peer_ctx = contexts[fingerprint] = _single_peer_context(
                identity, by_fingerprint[fingerprint]
            )
        ssl_object.context = peer_ctx

    if peers:
        ctx.sni_callback = route
    return ctx


def client_context(identity: Identity, expected_cert: bytes | None) -> ssl.SSLContext:
    """The dialling side of mutual TLS: our certificate, and only ``expected_cert`` accepted.

    ``None`` disables the TLS-level check of the server (``verify_peer`` stays mandatory).
    """
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    _load_identity(ctx, identity)
    if expected_cert is None:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=expected_cert)
    return ctx


def client_context_anonymous() -> ssl.SSLContext:
    """The dialling side of certificate learning: no certificate, no TLS-level server check."""
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# -- the check after every handshake -------------------------------------------------------------


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes | None:
    """The DER certificate the peer presented in the handshake, or ``None`` (anonymous)."""
    der = ssl_object.getpeercert(binary_form=True)
    return der or None


def verify_peer(
    ssl_object: ssl.SSLObject | ssl.SSLSocket, expected: bytes | Collection[bytes]
) -> bytes:
    """Check the peer's certificate against the exact identity expected; return its fingerprint.

    ``expected`` is one fingerprint (the peer we dialled) or a collection of them (the peers
    trusted right now, on the listening side). Raises ``AnonymousPeer`` when the peer presented
    no certificate, ``WrongPeer`` when another device answered where one peer was expected, and
    ``UntrustedPeer`` when the certificate is not among the trusted ones.
    """
    if ssl_object.version() != "TLSv1.3":  # pragma: no cover - the contexts allow nothing else
        raise UntrustedPeer(b"", f"the link uses {ssl_object.version()}, not TLS 1.3")
    der = peer_certificate(ssl_object)
    if der is None:
        raise AnonymousPeer()
    fingerprint = fingerprint_of(der)
    if isinstance(expected, bytes):
        if not hmac.compare_digest(fingerprint, expected):
            raise WrongPeer(fingerprint, expected)
        return fingerprint
    if fingerprint not in expected:
        raise UntrustedPeer(fingerprint)
    return fingerprint


# -- the anonymous path ---------------------------------------------------------------------------


def present_frame(cert_der: bytes) -> bytes:
    """The client's one frame on the anonymous path: its own DER certificate."""
    return encode_frame(PRESENT, cert_der, max_frame=MAX_PRESENT + 1)


def present_ok_frame() -> bytes:
    """The server's answer: the presented certificate was stored."""
    return encode_frame(PRESENT_OK, b"", max_frame=1)


def info_frame() -> bytes:
    """The client's one frame of an info query (empty)."""
    return encode_frame(INFO, b"", max_frame=1)


def info_ok_frame(protocol: int, now: float) -> bytes:
    """The server's answer to ``INFO``: the highest protocol it speaks and its Unix time."""
    payload = json.dumps({"protocol": int(protocol), "time": float(now)}).encode()
    return encode_frame(INFO_OK, payload, max_frame=MAX_INFO + 1)


def parse_info_ok(payload: bytes) -> tuple[int, float]:
    """``(protocol, time)`` from an ``INFO_OK`` payload; ``RemoteProtocolError`` if malformed."""
    if len(payload) > MAX_INFO:
        raise RemoteProtocolError(f"the INFO_OK answer is {len(payload)} bytes long")
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise RemoteProtocolError("the INFO_OK answer is not JSON") from None
    protocol = obj.get("protocol") if isinstance(obj, dict) else None
    when = obj.get("time") if isinstance(obj, dict) else None
    if isinstance(protocol, bool) or not isinstance(protocol, int) or not 0 < protocol < 10_000:
        raise RemoteProtocolError("the INFO_OK answer has no usable protocol version")
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
        raise RemoteProtocolError("the INFO_OK answer has no usable time")
    return protocol, float(when)


async def answer_info(channel: TlsChannel, frame: Frame) -> None:
    """Server side of an info query: reply ``INFO_OK`` to an empty ``INFO`` (then the caller
    closes). ``RemoteProtocolError`` when the query carries a payload."""
    if frame.kind != INFO or frame.payload:
        raise RemoteProtocolError("an INFO query carries no payload")
    channel.write(info_ok_frame(max(SUPPORTED_VERSIONS), time.time()))
    await channel.drain()


async def read_one_frame(channel: TlsChannel, max_payload: int = MAX_PRESENT) -> Frame | None:
    """Exactly one frame and then nothing (an anonymous-path message); ``None`` at end of stream.

    Raises ``RemoteProtocolError`` for an oversized frame or bytes after the frame.
    """
    decoder = FrameDecoder(max_frame=max_payload + 1)
    while True:
        data = await channel.read()
        if not data:
            return None
        frames = decoder.feed(data)
        if frames:
            if len(frames) > 1 or decoder.buffered:
                raise RemoteProtocolError("the peer sent more than one frame on the anonymous path")
            return frames[0]


# -- TLS over asyncio streams ---------------------------------------------------------------------


class TlsChannel:
    """TLS over an asyncio stream pair, driven through memory BIOs with a per-connection context.

    ``raw_in``/``raw_out`` count the bytes on the wire (TLS records included).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        """``server_hostname`` (clients only) is sent as SNI: pass ``sni_name(...)``."""
        self._reader = reader
        self._writer = writer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
        )
        self.raw_in = 0
        self.raw_out = 0
        self._closed = False

    @property
    def peername(self) -> str:
        """``host:port`` of the other end (for messages)."""
        info = self._writer.get_extra_info("peername")
        if isinstance(info, tuple) and len(info) >= 2:
            host = str(info[0])
            return f"[{host}]:{info[1]}" if ":" in host else f"{host}:{info[1]}"
        return "?"

    @property
    def peer_host(self) -> str | None:
        """The other end's IP address, or ``None`` when unknown."""
        info = self._writer.get_extra_info("peername")
        if isinstance(info, tuple) and info:
            return str(info[0])
        return None

    def peer_certificate(self) -> bytes | None:
        return peer_certificate(self.ssl_object)

    async def handshake(self, timeout: float = HANDSHAKE_TIMEOUT) -> None:
        """Complete the TLS handshake within ``timeout`` seconds (``TimeoutError`` otherwise).

        ``ssl.SSLError`` when the handshake fails (the alert is sent to the peer first);
        ``ConnectionError`` when the peer hung up.
        """
        async with asyncio.timeout(timeout):
            while True:
                try:
                    self.ssl_object.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    await self._fill("during the TLS handshake")
                except ssl.SSLError:
                    self._flush()  # our alert tells the peer why
                    raise
            self._flush()
            await self.drain()

    async def read(self) -> bytes:
        """Decrypted bytes; ``b""`` once the peer closed (cleanly or not)."""
        while True:
            try:
                data = self.ssl_object.read(_RECV)
            except ssl.SSLWantReadError:
                self._flush()
                if self._incoming.eof:
                    return b""
                chunk = await self._reader.read(_RECV)
                if not chunk:
                    self._incoming.write_eof()
                    continue
                self.raw_in += len(chunk)
                self._incoming.write(chunk)
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            self._flush()
            return data

    def write(self, data: bytes) -> None:
        """Encrypt ``data`` and queue it on the socket (never blocks; ``drain`` waits)."""
        if not data:
            return
        view = memoryview(data)
        while view:
            written = self.ssl_object.write(view)
            view = view[written:]
        self._flush()

    async def drain(self) -> None:
        """Wait until the socket buffer is below its high-water mark."""
        await self._writer.drain()

    async def aclose(self, timeout: float = 2.0) -> None:
        """Send close_notify, then close the socket (without waiting for the peer's)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ssl.SSLError, ValueError, OSError):
            self.ssl_object.unwrap()
        with contextlib.suppress(ssl.SSLError, ValueError, OSError):
            self._flush()
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), timeout)

    def abort(self) -> None:
        """Drop the connection at once (no close_notify)."""
        self._closed = True
        transport = self._writer.transport
        transport.abort()

    async def _fill(self, when: str) -> None:
        chunk = await self._reader.read(_RECV)
        if not chunk:
            raise ConnectionError(f"the peer closed the connection {when}")
        self.raw_in += len(chunk)
        self._incoming.write(chunk)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and not self._writer.is_closing():
            self.raw_out += len(data)
            self._writer.write(data)
