"""The secure channel: TLS 1.3 contexts, pinning, the exact fingerprint check, no plaintext."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sync_helpers import Relay

from sync.errors import RemoteProtocolError, UntrustedPeer
from sync.fingerprint import fingerprint_of
from sync.framing import encode_frame
from sync.identity import Identity, make_certificate
from sync.tls import (
    MAX_PRESENT,
    PRESENT,
    PRESENT_OK,
    AnonymousPeer,
    TlsChannel,
    WrongPeer,
    client_context,
    client_context_anonymous,
    present_frame,
    present_ok_frame,
    read_one_frame,
    server_context,
    sni_name,
    verify_peer,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    root = tmp_path_factory.mktemp("ids")
    return {name: Identity.load_or_create(root / name) for name in ("a", "b", "c")}


@dataclass
class Outcome:
    server_error: BaseException | None = None
    client_error: BaseException | None = None
    server_peer: bytes | None = None  # DER the server saw
    client_peer: bytes | None = None
    server_got: bytes = b""
    client_got: bytes = b""
    server_reached_app: bool = False
    notes: list[str] = field(default_factory=list)


async def run_pair(
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    *,
    message: bytes = b"hello",
    via: Callable[[int], Awaitable[int]] | None = None,
    handshake_timeout: float = 5.0,
) -> Outcome:
    """One server connection and one client: handshake, one message each way, close."""
    out = Outcome()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = TlsChannel(reader, writer, server_ctx, server_side=True)
        try:
            await channel.handshake(handshake_timeout)
            out.server_reached_app = True
            out.server_peer = channel.peer_certificate()
            out.server_got = await channel.read()
            channel.write(b"reply:" + out.server_got)
            await channel.drain()
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            out.server_error = exc
        finally:
            await channel.aclose()
            done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if via is not None:
        port = await via(port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = TlsChannel(reader, writer, client_ctx, server_side=False)
    try:
        await channel.handshake(handshake_timeout)
        out.client_peer = channel.peer_certificate()
        channel.write(message)
        await channel.drain()
        out.client_got = await channel.read()
    except (ssl.SSLError, OSError, TimeoutError) as exc:
        out.client_error = exc
    finally:
        await channel.aclose()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 5)
    server.close()
    await server.wait_closed()
    return out


# -- the contexts ---------------------------------------------------------------------------------


def test_contexts_are_tls13_only_without_tickets_or_host_names(ids: dict[str, Identity]) -> None:
    a, b = ids["a"], ids["b"]
    contexts = [
        server_context(a, [b.cert_der]),
        server_context(a, []),
        client_context(a, b.cert_der),
        client_context(a, None),
        client_context_anonymous(),
    ]
    for ctx in contexts:
        assert ctx.minimum_version is ssl.TLSVersion.TLSv1_3
        assert ctx.maximum_version is ssl.TLSVersion.TLSv1_3
        assert ctx.check_hostname is False
        assert ctx.options & ssl.OP_NO_TICKET
    assert contexts[0].num_tickets == 0
    assert contexts[0].verify_mode is ssl.CERT_OPTIONAL
    assert contexts[2].verify_mode is ssl.CERT_REQUIRED
    assert contexts[3].verify_mode is ssl.CERT_NONE
    assert contexts[4].verify_mode is ssl.CERT_NONE
    # only the pinned certificate is a trust anchor
    assert len(contexts[0].get_ca_certs()) == 1
    assert contexts[1].get_ca_certs() == []
    assert contexts[2].get_ca_certs(binary_form=True) == [b.cert_der]


def test_runs_on_this_python() -> None:
    assert sys.version_info >= (3, 11)
    assert ssl.HAS_TLSv1_3


async def test_pinned_certificates_pass_both_ways(ids: dict[str, Identity]) -> None:
    a, b = ids["a"], ids["b"]
    out = await run_pair(server_context(b, [a.cert_der]), client_context(a, b.cert_der))
    assert out.server_error is None and out.client_error is None
    assert out.server_peer == a.cert_der
    assert out.client_peer == b.cert_der
    assert out.server_got == b"hello"
    assert out.client_got == b"reply:hello"


async def test_verify_peer_returns_the_exact_fingerprint(ids: dict[str, Identity]) -> None:
    a, b = ids["a"], ids["b"]
    seen: dict[str, bytes] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = TlsChannel(reader, writer, server_context(b, [a.cert_der]), server_side=True)
        await channel.handshake()
        seen["server"] = verify_peer(channel.ssl_object, {a.fingerprint, ids["c"].fingerprint})
        await channel.aclose()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    channel = TlsChannel(reader, writer, client_context(a, b.cert_der), server_side=False)
    await channel.handshake()
    seen["client"] = verify_peer(channel.ssl_object, b.fingerprint)
    assert channel.ssl_object.version() == "TLSv1.3"
    assert await channel.read() == b""
    await channel.aclose()
    server.close()
    await server.wait_closed()
    assert seen == {"server": a.fingerprint, "client": b.fingerprint}


async def test_unknown_client_certificate_fails_the_handshake(ids: dict[str, Identity]) -> None:
    a, b, c = ids["a"], ids["b"], ids["c"]
    out = await run_pair(server_context(b, [a.cert_der]), client_context(c, b.cert_der))
    assert isinstance(out.server_error, ssl.SSLCertVerificationError)
    assert not out.server_reached_app and out.server_got == b""
    # TLS 1.3: the client finishes first, then reads the server's alert instead of data
    assert isinstance(out.client_error, ssl.SSLError)
    assert "UNKNOWN_CA" in (out.client_error.reason or "")


async def test_server_with_no_pinned_peer_refuses_every_certificate(
    ids: dict[str, Identity],
) -> None:
    a, b = ids["a"], ids["b"]
    out = await run_pair(server_context(b, []), client_context(a, b.cert_der))
    assert isinstance(out.server_error, ssl.SSLCertVerificationError)
    assert not out.server_reached_app


async def test_unknown_server_certificate_fails_the_client_handshake(
    ids: dict[str, Identity],
) -> None:
    a, b, c = ids["a"], ids["b"], ids["c"]
    # the client expects C's certificate; B answers
    out = await run_pair(server_context(b, [a.cert_der]), client_context(a, c.cert_der))
    assert isinstance(out.client_error, ssl.SSLCertVerificationError)
    assert out.client_peer is None
    assert out.server_got == b""


async def test_pinned_b_answering_where_a_was_expected_is_refused(
    ids: dict[str, Identity],
) -> None:
    a, b, c = ids["a"], ids["b"], ids["c"]
    # C trusts both A and B; B's server answers where C dialled A. With only A's certificate
    # as cadata the handshake already fails; without it (or anonymously) verify_peer refuses.
    out = await run_pair(server_context(b, [c.cert_der]), client_context(c, a.cert_der))
    assert isinstance(out.client_error, ssl.SSLCertVerificationError)

    for ctx in (client_context(c, None), client_context_anonymous()):
        refused: list[WrongPeer] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            channel = TlsChannel(reader, writer, server_context(b, [c.cert_der]), server_side=True)
            with contextlib.suppress(ssl.SSLError, OSError):
                await channel.handshake()
                await channel.read()
            await channel.aclose()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        channel = TlsChannel(reader, writer, ctx, server_side=False)
        await channel.handshake()
        try:
            verify_peer(channel.ssl_object, a.fingerprint)
        except WrongPeer as exc:
            refused.append(exc)
        await channel.aclose()
        server.close()
        await server.wait_closed()
        (wrong,) = refused
        assert isinstance(wrong, WrongPeer) and isinstance(wrong, UntrustedPeer)
        assert wrong.fingerprint == b.fingerprint and wrong.expected == a.fingerprint
        assert "expected the device" in wrong.message


async def test_a_second_certificate_of_a_pinned_key_is_refused(
    ids: dict[str, Identity],
) -> None:
    a, b = ids["a"], ids["b"]
    twin = Identity(a.private_key, make_certificate(a.private_key))  # same key, new cert
    assert twin.cert_der != a.cert_der and twin.fingerprint != a.fingerprint
    # as a client: the server pinned A's certificate, not the twin
    out = await run_pair(server_context(b, [a.cert_der]), client_context(twin, b.cert_der))
    assert isinstance(out.server_error, ssl.SSLCertVerificationError)
    assert not out.server_reached_app
    # as a server: the client expects A's certificate
    out = await run_pair(server_context(twin, [b.cert_der]), client_context(b, a.cert_der))
    assert isinstance(out.client_error, ssl.SSLCertVerificationError)
    # and where TLS checks nothing, the fingerprint check does
    out = await run_pair(server_context(twin, [b.cert_der]), client_context_anonymous())
    assert out.client_peer == twin.cert_der
    with pytest.raises(WrongPeer):
        verify_peer(_FakePeer(out.client_peer), a.fingerprint)  # type: ignore[arg-type]
    with pytest.raises(UntrustedPeer):
        verify_peer(_FakePeer(out.client_peer), {a.fingerprint, b.fingerprint})  # type: ignore[arg-type]


class _FakePeer:
    """What verify_peer reads from an SSL object, for the pure checks."""

    def __init__(self, der: bytes | None) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        assert binary_form
        return self.der

    def version(self) -> str:
        return "TLSv1.3"


def test_verify_peer_rules() -> None:
    der = b"not really a certificate, but hashing is all verify_peer does"
    fp = fingerprint_of(der)
    other = fingerprint_of(b"x")
    assert verify_peer(_FakePeer(der), fp) == fp  # type: ignore[arg-type]
    assert verify_peer(_FakePeer(der), {other, fp}) == fp  # type: ignore[arg-type]
    assert verify_peer(_FakePeer(der), frozenset([fp])) == fp  # type: ignore[arg-type]
    with pytest.raises(WrongPeer):
        verify_peer(_FakePeer(der), other)  # type: ignore[arg-type]
    with pytest.raises(UntrustedPeer):
        verify_peer(_FakePeer(der), set())  # type: ignore[arg-type]
    with pytest.raises(AnonymousPeer):
        verify_peer(_FakePeer(None), fp)  # type: ignore[arg-type]


async def test_anonymous_client_completes_tls_but_proves_nothing(ids: dict[str, Identity]) -> None:
    a, b = ids["a"], ids["b"]
    out = await run_pair(server_context(b, [a.cert_der]), client_context_anonymous())
    assert out.server_error is None
    assert out.server_peer is None  # anonymous: only the certificate-learning path is open
    assert out.client_peer == b.cert_der
    with pytest.raises(AnonymousPeer):
        verify_peer(_FakePeer(out.server_peer), {a.fingerprint})  # type: ignore[arg-type]


async def test_older_tls_versions_are_refused(ids: dict[str, Identity]) -> None:
    a, b = ids["a"], ids["b"]
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    out = await run_pair(server_context(b, [a.cert_der]), old)
    assert isinstance(out.server_error, ssl.SSLError)
    assert isinstance(out.client_error, ssl.SSLError)


def test_identity_without_files_works(ids: dict[str, Identity]) -> None:
    mem = Identity.generate()
    assert mem.key_path is None
    ctx = server_context(mem, [ids["a"].cert_der])
    assert ctx.verify_mode is ssl.CERT_OPTIONAL
    client_context(mem, ids["a"].cert_der)


def test_unparsable_pinned_certificates_are_skipped(ids: dict[str, Identity]) -> None:
    ctx = server_context(ids["a"], [b"garbage", ids["b"].cert_der])
    assert ctx.get_ca_certs(binary_form=True) == [ids["b"].cert_der]


# -- what an eavesdropper sees ------------------------------------------------------------------


async def test_an_eavesdropper_sees_no_plaintext(ids: dict[str, Identity]) -> None:
    a, b = ids["a"], ids["b"]
    marker = b"MARKER-contact-Ada-Lovelace-notes-" * 20
    relay: Relay | None = None

    async def through_relay(port: int) -> int:
        nonlocal relay
        relay = await Relay(port).start()
        return relay.port

    out = await run_pair(
        server_context(b, [a.cert_der]),
        client_context(a, b.cert_der),
        message=marker,
        via=through_relay,
    )
    assert relay is not None
    await relay.stop()
    assert out.server_got == marker and out.client_got == b"reply:" + marker
    wire = bytes(relay.captured)
    assert len(wire) > len(marker) * 2  # both directions went through the relay
    for secret in (marker, b"MARKER", b"Lovelace", b"reply:"):
        assert secret not in wire
    # TLS 1.3 encrypts the certificates too: a passive observer cannot tell who talks
    assert a.cert_der not in wire and b.cert_der not in wire


# -- the anonymous path's frames ----------------------------------------------------------------


async def _frames_through(data: bytes) -> object:
    """Feed ``data`` from an anonymous client to ``read_one_frame`` on the server side."""
    a, b = Identity.generate(), Identity.generate()
    result: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = TlsChannel(reader, writer, server_context(b, [a.cert_der]), server_side=True)
        try:
            await channel.handshake()
            result.append(await read_one_frame(channel))
        except RemoteProtocolError as exc:
            result.append(exc)
        await channel.aclose()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
    await channel.handshake()
    channel.write(data)
    await channel.drain()
    await channel.aclose()
    for _ in range(200):
        if result:
            break
        await asyncio.sleep(0.01)
    server.close()
    await server.wait_closed()
    return result[0]


async def test_present_frame_round_trip(ids: dict[str, Identity]) -> None:
    frame = await _frames_through(present_frame(ids["a"].cert_der))
    assert getattr(frame, "kind", None) == PRESENT
    assert getattr(frame, "payload", None) == ids["a"].cert_der
    assert present_ok_frame() == encode_frame(PRESENT_OK, b"")


async def test_anonymous_path_refuses_extra_and_oversized_frames() -> None:
    extra = present_frame(b"x" * 10) + encode_frame(3, b"sync")
    assert isinstance(await _frames_through(extra), RemoteProtocolError)
    big = encode_frame(PRESENT, b"x" * (MAX_PRESENT + 1))
    assert isinstance(await _frames_through(big), RemoteProtocolError)
    assert await _frames_through(b"") is None


async def test_handshake_has_a_deadline(ids: dict[str, Identity], tmp_path: Path) -> None:
    errors: list[BaseException] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = TlsChannel(reader, writer, server_context(ids["b"], []), server_side=True)
        try:
            await channel.handshake(0.3)
        except TimeoutError as exc:
            errors.append(exc)
        channel.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    # a silent TCP client: never sends a ClientHello
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    server.close()
    await server.wait_closed()
    assert len(errors) == 1


# -- several pinned peers: SNI routing ----------------------------------------------------------


async def run_named(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str | None
) -> tuple[BaseException | None, bytes | None]:
    """Handshake with ``name`` as SNI; (the server's error, the DER the server verified)."""
    result: list[tuple[BaseException | None, bytes | None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = TlsChannel(reader, writer, server_ctx, server_side=True)
        try:
            await channel.handshake()
            result.append((None, channel.peer_certificate()))
        except (ssl.SSLError, OSError) as exc:
            result.append((exc, None))
        await channel.aclose()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    channel = TlsChannel(reader, writer, client_ctx, server_side=False, server_hostname=name)
    with contextlib.suppress(ssl.SSLError, OSError):
        await channel.handshake()
        await channel.read()
    await channel.aclose()
    for _ in range(300):
        if result:
            break
        await asyncio.sleep(0.01)
    server.close()
    await server.wait_closed()
    return result[0]


async def test_several_pinned_peers_each_pass_when_they_name_themselves(
    ids: dict[str, Identity], tmp_path: Path
) -> None:
    a, b, c = ids["a"], ids["b"], ids["c"]
    d = Identity.load_or_create(tmp_path / "d")
    ctx = server_context(b, [a.cert_der, c.cert_der, d.cert_der])
    for peer in (a, c, d):
        error, der = await run_named(
            ctx, client_context(peer, b.cert_der), sni_name(peer.fingerprint, b.fingerprint)
        )
        assert error is None and der == peer.cert_der
    # claiming another pinned peer's name does not help: that context trusts only that peer
    error, _ = await run_named(
        ctx, client_context(c, b.cert_der), sni_name(a.fingerprint, b.fingerprint)
    )
    assert isinstance(error, ssl.SSLCertVerificationError)
    # an unpinned certificate with any name fails too
    stranger = Identity.generate()
    for name in (None, sni_name(stranger.fingerprint, b.fingerprint), "other.example"):
        error, _ = await run_named(ctx, client_context(stranger, b.cert_der), name)
        assert isinstance(error, ssl.SSLCertVerificationError)
    # anonymous clients still get through to the certificate-learning path
    error, der = await run_named(ctx, client_context_anonymous(), None)
    assert error is None and der is None


async def test_why_sni_routing_exists(ids: dict[str, Identity]) -> None:
    """OpenSSL picks one anchor per subject name, and every plntui certificate is CN=plntui:
    with two pinned certificates in one store, the second peer fails without SNI. If this
    starts passing, OpenSSL changed and the routing in ``server_context`` could go."""
    a, b, c = ids["a"], ids["b"], ids["c"]
    ctx = server_context(b, [a.cert_der, c.cert_der])
    outcomes = [
        (await run_named(ctx, client_context(peer, b.cert_der), None))[0] is None for peer in (a, c)
    ]
    assert outcomes.count(True) == 1, outcomes


def test_sni_names_are_valid_host_names_that_bind_both_sides(ids: dict[str, Identity]) -> None:
    a, b = ids["a"], ids["b"]
    name = sni_name(a.fingerprint, b.fingerprint)
    assert name != sni_name(b.fingerprint, a.fingerprint)
    assert name.endswith(".plntui") and len(name.split(".")[0]) <= 63
    assert a.fingerprint.hex()[:16] not in name  # it does not spell the fingerprint out
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).wrap_bio(
        ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=name
    )


def test_sni_names_differ_on_every_connection_and_route_to_the_right_peer(
    ids: dict[str, Identity],
) -> None:
    """A fresh salt per connection: no stable name of the pair on the wire. The server finds
    the peer from the salt, with or without the pair's secret; with one, a name made without
    the secret (what an observer could compute from the fingerprints) names nobody."""
    from sync.tls import route_sni

    a, b, c = ids["a"], ids["b"], ids["c"]
    key = b"k" * 32
    first, second = sni_name(a.fingerprint, b.fingerprint), sni_name(a.fingerprint, b.fingerprint)
    assert first != second
    peers = {a.fingerprint: None, c.fingerprint: None}
    assert route_sni(first, b.fingerprint, peers) == a.fingerprint
    assert route_sni(second, b.fingerprint, peers) == a.fingerprint
    assert route_sni(sni_name(c.fingerprint, b.fingerprint), b.fingerprint, peers) == c.fingerprint
    keyed = {a.fingerprint: key, c.fingerprint: None}
    assert route_sni(sni_name(a.fingerprint, b.fingerprint, key), b.fingerprint, keyed) == (
        a.fingerprint
    )
    assert route_sni(sni_name(a.fingerprint, b.fingerprint, key), b.fingerprint, peers) is None
    assert (
        route_sni(sni_name(a.fingerprint, b.fingerprint, b"x" * 32), b.fingerprint, keyed) is None
    )
    for junk in (None, "", "other.example", "p" + "z" * 56 + ".plntui", "p12.plntui"):
        assert route_sni(junk, b.fingerprint, keyed) is None
