"""The sync layer against a hostile LAN: floods, budgets, fabricated dependencies, hostile text,
bad certificates, huge lengths, fuzzed Automerge bytes and a man in the middle."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import ssl
import time
import tracemalloc
import zlib
from pathlib import Path

import automerge.core as am
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from sync_helpers import (
    GENESIS_HEADS,
    add_items,
    contents,
    eventually,
    hello_frame,
    items,
    replica,
    session,
    sync_message,
)
from test_sync_engine import Node, _read_all, _rogue_link, cluster, in_sync

from sync.engine import Limits, PeerConnected, PeerLost, PeerRefused, Timeouts
from sync.errors import RemoteProtocolError
from sync.fingerprint import fingerprint_of
from sync.framing import FrameKind, encode_frame
from sync.identity import Identity, check_peer_certificate
from sync.session import QueueOverflow, StagingReplica, SyncSession
from sync.text import clean_peer_text
from sync.tls import TlsChannel, client_context_anonymous, present_frame, present_ok_frame

pytestmark = pytest.mark.timeout(60)
FAST = Timeouts(handshake=0.5, partial_frame=0.5, idle=5.0, ping=1.0, connect=1.0)


def trust_rogue(b: Node, rogue: Identity, name: str = "rogue") -> None:
    b.trust.trust(rogue.fingerprint, name)
    b.trust.learn_cert(rogue.fingerprint, rogue.cert_der)
    b.engine.trust_changed()


async def good_pair(c: object, **kwargs: object) -> tuple[Node, Node]:
    b = await c.add("b", **kwargs)  # type: ignore[attr-defined]
    good = await c.add("good")  # type: ignore[attr-defined]
    b.pin(good)
    good.pin(b)
    b.edit("b-data", "1")
    good.dial(b)
    await eventually(lambda: in_sync(good, b))
    return b, good


async def still_serves(b: Node, good: Node, key: str = "still-alive") -> None:
    good.edit(key, "1")
    await eventually(lambda: key in contents(b.host.doc)["items"], what="the good peer synced")
    assert b.engine.running


# -- 4. peer text -------------------------------------------------------------------------------

HOSTILE = [
    "\x1b[31mred\x1b[0m \x1b]0;pwned\x07title",
    "evil\u202etxt.exe \u2066isolate\u2069 \u202aemb\u202c",
    "C1\x85\x9b31m DEL\x7f NUL\x00 line\u2028sep",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_clean_peer_text_strips_controls_and_bidi(text: str) -> None:
    clean = clean_peer_text(text)
    assert all(ch.isprintable() for ch in clean)
    assert not set(clean) & {"\x1b", "\x07", "\x7f", "\x85", "\x9b", "\u202e", "\u2066"}


def test_clean_peer_text_caps_huge_input_fast() -> None:
    huge = "A" * 1_000_000
    start = time.perf_counter()
    assert clean_peer_text(huge, 100) == "A" * 100
    assert clean_peer_text(huge.encode(), 50, ellipsis=True) == "A" * 49 + "…"
    assert clean_peer_text("\x1b" * 1_000_000) == ""
    assert time.perf_counter() - start < 0.5
    assert clean_peer_text("Zoë 李 👩\u200d💻") == "Zoë 李 👩\u200d💻"  # ZWJ emoji kept
    assert len(clean_peer_text("é" * 1000, 40, max_bytes=21)) == 10


async def test_a_hostile_bye_reaches_events_and_status_clean(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b")
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue, "\x1b[2Jevil\u202ename" + "x" * 10_000)
        channel = await _rogue_link(b, rogue)
        reason = ("\x1b]0;pwned\x07\u202egoodbye\r\n" * 100).encode()
        channel.write(hello_frame(heads=GENESIS_HEADS, empty=True))
        channel.write(encode_frame(FrameKind.BYE, reason))
        await channel.drain()
        await _read_all(channel)
        await eventually(lambda: b.of(PeerLost))
        texts = [e.reason for e in b.of(PeerLost)] + [e.name for e in b.of(PeerConnected)]
        texts += [b.engine.describe(e) for e in b.events]
        for text in texts:
            assert all(ch.isprintable() for ch in text), text
            assert len(text) < 700
        assert "goodbye" in b.of(PeerLost)[0].reason


# -- 1. connection floods -----------------------------------------------------------------------

PARTIAL_CLIENT_HELLO = bytes.fromhex("160301020001") + b"\x00\x01\xfc\x03\x03" + b"\x11" * 20


async def _flood(port: int, sources: list[str], total: int, burst: int = 100) -> int:
    opened = 0
    for n in range(0, total, burst):
        writers = []
        for i in range(burst):
            source = sources[(n + i) % len(sources)]
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            except OSError:
                continue
            opened += 1
            if i % 2:
                w.write(PARTIAL_CLIENT_HELLO)  # half send a partial ClientHello, half nothing
            writers.append(w)
        await asyncio.sleep(0.05)
        for w in writers:
            w.transport.abort()
    return opened


async def test_a_flood_from_one_host_leaves_room_for_a_trusted_peer(tmp_path: Path) -> None:
    limits = Limits(max_pending_handshakes=6, max_pending_per_address=3)
    async with cluster(tmp_path) as c:
        b = await c.add("b", timeouts=FAST, limits=limits)
        a = await c.add("a", timeouts=FAST)
        a.pin(b)
        b.pin(a)
        a.edit("during-flood", "1")
        worst = 0
        flooding = True

        async def watch() -> None:
            nonlocal worst
            while flooding:
                assert b.engine.pending_handshakes_from("127.0.0.2") <= 3
                worst = max(worst, b.engine.pending_handshakes)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        flood = asyncio.create_task(_flood(b.engine.port, ["127.0.0.2"], 1000))
        await asyncio.sleep(0.05)
        a.dial(b)
        await eventually(lambda: in_sync(a, b), timeout=15, what="a synced during the flood")
        assert not flood.done() or flood.result() == 1000  # the sync did not wait for the end
        opened = await flood
        flooding = False
        await watcher
        assert opened == 1000
        assert worst <= 3 + 1  # the flood's 3 slots, and a's own handshake
        assert b.engine.peak_pending_handshakes <= 6
        assert "during-flood" in contents(b.host.doc)["items"]
        await eventually(lambda: b.engine.pending_handshakes == 0, what="slots freed")


async def test_a_flood_from_many_hosts_never_exceeds_the_global_limit(tmp_path: Path) -> None:
    limits = Limits(max_pending_handshakes=5, max_pending_per_address=3)
    async with cluster(tmp_path) as c:
        b = await c.add("b", timeouts=FAST, limits=limits)
        sources = [f"127.0.0.{i}" for i in range(2, 8)]
        assert await _flood(b.engine.port, sources, 300) == 300
        assert b.engine.peak_pending_handshakes == 5  # reached, never passed
        assert b.engine.running
        await eventually(lambda: b.engine.pending_handshakes == 0, what="slots freed")


# -- 2. per-peer budgets ------------------------------------------------------------------------


@pytest.mark.parametrize("budget", ["frames", "bytes"])
async def test_a_trusted_peer_over_its_budget_is_dropped(tmp_path: Path, budget: str) -> None:
    limits = Limits(peer_frames_per_second=20, peer_frame_burst=50, peer_bytes_per_window=64 * 1024)
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c, limits=limits)
        before = (b.host.heads(), b.host.persist_calls)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        channel = await _rogue_link(b, rogue)
        channel.write(hello_frame(heads=GENESIS_HEADS, empty=False))
        if budget == "frames":
            channel.write(encode_frame(FrameKind.PING, b"") * 200)
        else:  # a frame Automerge would refuse anyway: the budget must stop it first
            channel.write(encode_frame(FrameKind.SYNC, b"\x42" + b"\x00" * 100_000))
        await channel.drain()
        received, _ = await _read_all(channel)
        await channel.aclose()
        word = b"frames per second" if budget == "frames" else b"65,536 bytes"
        assert word in received  # the BYE says why
        assert (b.host.heads(), b.host.persist_calls) == before
        (lost,) = [e for e in b.of(PeerLost) if e.fingerprint == rogue.fingerprint]
        assert "budget per peer" in lost.reason
        await still_serves(b, good)


async def test_an_honest_peer_over_budget_backs_off(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", limits=Limits(peer_frames_per_second=5, peer_frame_burst=20))
        a = await c.add("a")
        stamps: list[tuple[float, object]] = []
        a.engine.on_event = lambda e: (a.events.append(e), stamps.append((time.monotonic(), e)))
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        for i in range(60):
            a.edit(f"k{i}", "v")
            await asyncio.sleep(0)
        await eventually(lambda: a.of(PeerLost), what="b dropped a")
        lost_at = next(t for t, e in stamps if isinstance(e, PeerLost))
        assert "budget" in a.of(PeerLost)[0].reason  # a learns why from b's BYE
        await eventually(lambda: in_sync(a, b), timeout=10, what="a came back")
        back_at = next(t for t, e in stamps if isinstance(e, PeerConnected) and t > lost_at)
        assert back_at - lost_at >= 0.35  # backoff_delay(0) is 0.5 s ± 20 %
        assert b.engine.running


# -- 3. changes waiting on missing dependencies -------------------------------------------------


def chain(n: int) -> list[bytes]:
    """``n`` changes by one actor, each depending on the one before."""
    doc = replica()
    for i in range(n):
        with doc.transaction() as tx:
            tx.put(items(doc), f"k{i}", am.ScalarType.Str, "v")
    return [change.bytes for change in doc.get_changes(GENESIS_HEADS)]


def bounded_session(limit: int) -> SyncSession:
    doc = replica()
    s = session(doc, staging=StagingReplica(doc, max_queued_changes=limit))
    s.start()
    s.receive_data(hello_frame(heads=GENESIS_HEADS, empty=True))
    while s.next_event() is not None:
        pass
    s.data_to_send()
    return s


def feed_sync(s: SyncSession, changes: list[bytes]) -> None:
    s.receive_data(encode_frame(FrameKind.SYNC, sync_message(GENESIS_HEADS, changes=changes)))
    while s.next_event() is not None:
        pass


def test_changes_with_fabricated_dependencies_beyond_the_bound_are_refused() -> None:
    s = bounded_session(20)
    heads = s.doc.get_heads()
    changes = chain(40)[1:]  # the first is never sent: every other one waits for it
    feed_sync(s, changes[:15])
    assert s.doc.get_heads() == heads and s._staging.queued == 15
    with pytest.raises(QueueOverflow, match="waiting for dependencies"):
        feed_sync(s, changes[15:])
    assert s.doc.get_heads() == heads
    assert s._staging.queued == 0 and not s._staging.active  # the queue went with the replica
    assert b"waiting for dependencies" in s.data_to_send()  # BYE


def test_waiting_changes_apply_when_the_dependency_arrives() -> None:
    s = bounded_session(20)
    changes = chain(12)
    feed_sync(s, changes[1:])
    assert s._staging.queued == 11
    feed_sync(s, changes[:1])
    assert s._staging.queued == 0
    assert len(contents(s.doc)["items"]) == 12


def test_duplicates_never_count_as_waiting() -> None:
    s = bounded_session(20)
    changes = chain(30)
    for _ in range(3):  # the second and third time every change is a duplicate
        feed_sync(s, changes)
    assert s._staging.queued == 0
    assert len(contents(s.doc)["items"]) == 30


async def test_fabricated_dependencies_through_the_engine(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c, limits=Limits(max_queued_changes=50))
        before = (b.host.heads(), b.host.persist_calls)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        channel = await _rogue_link(b, rogue)
        channel.write(hello_frame(heads=GENESIS_HEADS, empty=False))
        message = sync_message(GENESIS_HEADS, changes=chain(80)[1:])
        channel.write(encode_frame(FrameKind.SYNC, message))
        await channel.drain()
        received, _ = await _read_all(channel)
        await channel.aclose()
        assert b"waiting for dependencies" in received
        assert (b.host.heads(), b.host.persist_calls) == before
        await still_serves(b, good)


# -- 5. huge lengths, fuzzed Automerge bytes ----------------------------------------------------


@pytest.mark.parametrize("length", [2**31, 2**32 - 1, 0x80000001])
async def test_huge_lengths_from_a_trusted_peer_are_refused_before_allocation(
    tmp_path: Path, length: int
) -> None:
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c)
        before = b.host.heads()
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        channel = await _rogue_link(b, rogue)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            channel.write(hello_frame(heads=GENESIS_HEADS, empty=False))
            channel.write(length.to_bytes(4, "big") + bytes([FrameKind.SYNC]) + b"x" * 1000)
            await channel.drain()
            received, _ = await _read_all(channel)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        await channel.aclose()
        assert b"the limit is" in received  # BYE: refused from the header
        assert peak - base < 4 * 1024 * 1024
        assert b.host.heads() == before
        await still_serves(b, good)


def _real_payloads() -> tuple[bytes, bytes]:
    """A real SYNC message carrying changes, and a real compressed SNAPSHOT."""
    src = replica()
    add_items(src, [f"n{i}" for i in range(30)])
    dst, s1, s2 = replica(), am.SyncState(), am.SyncState()
    sync = b""
    for _ in range(5):
        message = src.generate_sync_message(s1)
        if message is not None:
            raw = message.encode()
            if len(raw) > len(sync):
                sync = raw
            dst.receive_sync_message(s2, message)
        answer = dst.generate_sync_message(s2)
        if answer is not None:
            src.receive_sync_message(s1, answer)
    return sync, zlib.compress(src.save(), 6)


def _fuzz_cases() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    sync, snap = _real_payloads()
    cases = [("SYNC", rng.randbytes(300)), ("SNAPSHOT", rng.randbytes(300))]
    cases.append(("SYNC", sync[: rng.randrange(10, len(sync) - 1)]))
    cases.append(("SYNC", sync[:-40]))  # the last change cut short
    cases.append(("SYNC", bytes([0x42]) + sync[1:3] + rng.randbytes(len(sync) - 3)))
    cases.append(("SNAPSHOT", snap[: len(snap) // 2]))
    raw = bytearray(zlib.decompress(snap))
    raw[len(raw) // 2] ^= 0x55
    cases.append(("SNAPSHOT", zlib.compress(bytes(raw))))
    # honest: every case is one the sans-IO session refuses
    for kind, payload in cases:
        s = session(replica())
        s.start()
        s.receive_data(hello_frame(heads=GENESIS_HEADS, empty=kind == "SYNC"))
        s.receive_data(encode_frame(FrameKind[kind], payload))
        with pytest.raises(RemoteProtocolError):
            _drain(s)
    return cases


def _drain(s: SyncSession) -> None:
    while s.next_event() is not None:
        pass


async def test_fuzzed_automerge_bytes_through_the_engine_drop_only_that_link(
    tmp_path: Path,
) -> None:
    cases = _fuzz_cases()
    async with cluster(tmp_path) as c:
        b = await c.add("b")  # empty: a non-empty peer's HELLO makes it await a SNAPSHOT
        good = await c.add("good")
        b.pin(good)
        good.pin(b)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        before = (b.host.heads(), b.host.persist_calls)
        for kind, payload in cases:
            channel = await _rogue_link(b, rogue)
            heads = [] if kind == "SYNC" else [bytes(32)]
            empty = kind == "SYNC"
            channel.write(hello_frame(heads=heads or GENESIS_HEADS, empty=empty))
            channel.write(encode_frame(FrameKind[kind], payload))
            await channel.drain()
            received, _ = await _read_all(channel)
            await channel.aclose()
            assert b"protocol error" in received, (kind, received[-200:])
            assert (b.host.heads(), b.host.persist_calls) == before
        good.dial(b)
        await still_serves(b, good)


# -- 5. bad certificates ------------------------------------------------------------------------


def _bad_cert(kind: str) -> tuple[ed25519.Ed25519PrivateKey, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    signer = ed25519.Ed25519PrivateKey.generate() if kind == "badly-signed" else key
    now = dt.datetime.now(dt.UTC)
    start = now + dt.timedelta(days=30) if kind == "future" else now - dt.timedelta(days=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plntui")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(signer, None)
    )
    return key, cert.public_bytes(serialization.Encoding.DER)


def test_check_peer_certificate_refuses_bad_ones() -> None:
    for kind, match in [("future", "not valid before"), ("badly-signed", "not signed by")]:
        with pytest.raises(ValueError, match=match):
            check_peer_certificate(_bad_cert(kind)[1])
    with pytest.raises(ValueError, match="not a DER"):
        check_peer_certificate(b"\x30\x03\x02\x01\x00")
    check_peer_certificate(Identity.generate().cert_der)


@pytest.mark.parametrize("kind", ["future", "badly-signed", "garbage"])
async def test_a_client_presenting_a_bad_certificate_is_refused(tmp_path: Path, kind: str) -> None:
    der = b"\x30\x82\x01\x00" + bytes(256) if kind == "garbage" else _bad_cert(kind)[1]
    fp = fingerprint_of(der)
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c)
        b.trust.trust(fp, "bad")  # the user approved this fingerprint: still nothing is stored
        b.engine.trust_changed()
        reader, writer = await asyncio.open_connection("127.0.0.1", b.engine.port)
        channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
        await channel.handshake()
        channel.write(present_frame(der))
        await channel.drain()
        received, _ = await _read_all(channel)
        await channel.aclose()
        assert received == b""  # no PRESENT_OK
        await eventually(lambda: [e for e in b.of(PeerRefused) if e.fingerprint == fp])
        peer = b.trust.get(fp)
        assert peer is not None and peer.cert is None
        await still_serves(b, good)


def _raw_server_context(
    tmp_path: Path, key: ed25519.Ed25519PrivateKey, der: bytes
) -> ssl.SSLContext:
    cert_file, key_file = tmp_path / "bad-cert.pem", tmp_path / "bad-key.pem"
    cert_file.write_bytes(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


@pytest.mark.parametrize("kind", ["future", "badly-signed"])
async def test_a_server_presenting_a_bad_certificate_is_refused(tmp_path: Path, kind: str) -> None:
    key, der = _bad_cert(kind)
    fp = fingerprint_of(der)
    ctx = _raw_server_context(tmp_path, key, der)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = TlsChannel(reader, writer, ctx, server_side=True)
        try:
            await channel.handshake(2)
            await channel.read()
            channel.write(present_ok_frame())  # "your certificate is stored": a lie
            await channel.drain()
        except (ssl.SSLError, OSError, TimeoutError):
            pass
        await channel.aclose()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with cluster(tmp_path) as c:
            b = await c.add("b", timeouts=FAST)
            b.trust.trust(fp, "bad")
            b.engine.trust_changed()
            b.engine.connect(fp, "127.0.0.1", port)
            await eventually(lambda: _failed(b, fp), timeout=5, what="b refused the server")
            peer = b.trust.get(fp)
            assert peer is not None and peer.cert is None
            assert b.engine.running
    finally:
        server.close()


def _failed(b: Node, fp: bytes) -> bool:
    for status in b.engine.status():
        if status.fingerprint == fp:
            return status.state == "failed" and "certificate" in (status.last_error or "")
    return False


# -- 5. a man in the middle with its own key ----------------------------------------------------


class Interceptor:
    """Terminates TLS with its own identity toward the dialler and dials the target as itself."""

    def __init__(self, me: Identity, target_port: int) -> None:
        self.me = me
        self.target_port = target_port
        self.plaintext = bytearray()
        self.results: list[str] = []

    async def start(self) -> int:
        from sync.tls import client_context, server_context

        self._server_ctx = server_context(self.me, [])
        self._client_ctx = client_context(self.me, None)
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        down = TlsChannel(reader, writer, self._server_ctx, server_side=True)
        r2, w2 = await asyncio.open_connection("127.0.0.1", self.target_port)
        up = TlsChannel(r2, w2, self._client_ctx, server_side=False)
        outcomes = await asyncio.gather(down.handshake(2), up.handshake(2), return_exceptions=True)
        self.results.append(" / ".join(type(o).__name__ for o in outcomes))
        if not any(isinstance(o, BaseException) for o in outcomes):
            for _ in range(20):  # both sides accepted: relay what they say
                data = await asyncio.wait_for(down.read(), 1)
                self.plaintext += data
                up.write(data)
        down.abort()
        up.abort()

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("learned", [True, False])
async def test_a_man_in_the_middle_with_its_own_key_fails_on_both_sides(
    tmp_path: Path, learned: bool
) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", timeouts=FAST)
        b = await c.add("b", timeouts=FAST)
        a.pin(b)
        b.pin(a)
        if learned:  # they met before: both certificates are pinned
            a.trust.learn_cert(b.fp, b.identity.cert_der)
            b.trust.learn_cert(a.fp, a.identity.cert_der)
            a.engine.trust_changed()
            b.engine.trust_changed()
        a.edit("secret", "only for b")
        mitm = Interceptor(Identity.generate(), b.engine.port)
        port = await mitm.start()
        try:
            a.engine.connect(b.fp, "127.0.0.1", port)  # a believes b is there
            await eventually(lambda: mitm.results, what="the interceptor was tried")
            await eventually(
                lambda: a.state_of(b) == "failed", timeout=5, what="a refused the interceptor"
            )
            await asyncio.sleep(0.3)
        finally:
            mitm.close()
        assert mitm.plaintext == b""
        assert "secret" not in contents(b.host.doc)["items"]
        assert not a.of(PeerConnected) and not b.of(PeerConnected)
        assert a.trust.get(b.fp).cert == (b.identity.cert_der if learned else None)  # type: ignore[union-attr]
        assert b.trust.get(a.fp).cert == (a.identity.cert_der if learned else None)  # type: ignore[union-attr]
        status = {s.fingerprint: s for s in a.engine.status()}[b.fp]
        error = status.last_error or ""
        assert "not the expected peer" in error or "impersonating" in error
        # b refused the interceptor's own certificate (its handshake failed on b's side)
        await eventually(
            lambda: any("failed the TLS handshake" in e.reason for e in b.of(PeerRefused)),
            what="b refused the interceptor",
        )
