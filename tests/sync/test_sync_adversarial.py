"""The sync layer against a hostile LAN and a hostile trusted peer: floods, budgets, garbage and
oversized frames, zip bombs, documents it may not touch, batches the guard refuses, hostile text,
bad certificates, the anonymous path, and a man in the middle."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import ssl
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from sync_helpers import (
    GENESIS_HEADS,
    Cluster,
    MemoryHost,
    Node,
    add_items,
    bye_reasons,
    changes_since_genesis,
    cluster,
    connect,
    copy_doc,
    doc_sync_frame,
    doc_sync_payload,
    doc_with,
    eventually,
    hello_frame,
    in_sync,
    manifest_frame,
    new_doc,
    put,
    read_all,
    refuse_key,
    rogue_link,
    split_doc_sync,
    sync_message,
    trust_rogue,
)

from sync.engine import (
    CertificateLearned,
    ChangesRefused,
    EngineEvent,
    Limits,
    PeerConnected,
    PeerLost,
    PeerRefused,
    Timeouts,
)
from sync.fingerprint import fingerprint_of
from sync.framing import Frame, FrameDecoder, FrameKind, encode_frame
from sync.identity import Identity, check_peer_certificate
from sync.session import MAX_MANIFEST_RAW, changes_of
from sync.text import clean_peer_text
from sync.tls import TlsChannel, client_context_anonymous, present_frame, present_ok_frame

pytestmark = pytest.mark.timeout(60)
FAST = Timeouts(handshake=0.5, partial_frame=0.5, idle=5.0, ping=1.0, connect=1.0)


def untouched(node: Node) -> tuple[dict[str, str], int]:
    """What must not change when a hostile peer talks to ``node``."""
    return node.host.digests(), node.host.writes


async def good_pair(c: Cluster, **kwargs: object) -> tuple[Node, Node]:
    """B (holding d:one) in sync with a good peer; ``kwargs`` configure B."""
    b = await c.add("b", docs={"d:one": doc_with("b-data")}, **kwargs)  # type: ignore[arg-type]
    good = await c.add("good")
    b.pin(good)
    good.pin(b)
    good.dial(b)
    await eventually(lambda: in_sync(good, b))
    return b, good


def pinged(b: Node, rogue: Identity) -> bool:
    """B read the rogue's PING: everything sent before it was processed."""
    link = b.link_to(rogue.fingerprint)
    return link is not None and "PING" in link.session.stats.bytes_in_by_kind


async def still_serves(b: Node, good: Node, key: str = "still-alive") -> None:
    good.edit("d:one", key)
    await eventually(b.has("d:one", key), what="the good peer synced")
    assert b.engine.running


# -- peer text -------------------------------------------------------------------------------------

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
        channel = await rogue_link(b, rogue)
        reason = ("\x1b]0;pwned\x07\u202egoodbye\r\n" * 100).encode()
        channel.write(hello_frame() + manifest_frame({}))
        channel.write(encode_frame(FrameKind.BYE, reason))
        await channel.drain()
        await read_all(channel)
        await eventually(lambda: b.of(PeerLost))
        texts = [e.reason for e in b.of(PeerLost)] + [e.name for e in b.of(PeerConnected)]
        texts += [b.engine.describe(e) for e in b.events]
        for text in texts:
            assert all(ch.isprintable() for ch in text), text
            assert len(text) < 700
        assert "goodbye" in b.of(PeerLost)[0].reason


# -- connection floods: the handshake limits -------------------------------------------------------

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
        a = await c.add("a", timeouts=FAST, docs={"d:duringflood": doc_with("1")})
        a.pin(b)
        b.pin(a)
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
        assert b.host.has("d:duringflood", "1")
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


# -- the anonymous path answers the same whoever knocks --------------------------------------------


async def _present(port: int, cert: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
    await channel.handshake()
    channel.write(present_frame(cert))
    await channel.drain()
    received, _ = await read_all(channel)
    await channel.aclose()
    return received


async def test_present_answers_the_same_for_trusted_and_untrusted_certificates(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", docs={"d:one": doc_with("x")})
        friend, stranger = Identity.generate(), Identity.generate()
        b.trust.trust(friend.fingerprint, "friend")  # pinned by fingerprint, certificate unknown
        b.engine.trust_changed()
        to_friend = await _present(b.engine.port, friend.cert_der)
        to_stranger = await _present(b.engine.port, stranger.cert_der)
        assert to_friend == to_stranger == present_ok_frame()  # the path tells no one who is known
        await eventually(lambda: b.of(CertificateLearned) and b.of(PeerRefused))
        friend_peer = b.trust.get(friend.fingerprint)
        assert friend_peer is not None and friend_peer.cert == friend.cert_der  # stored
        assert b.trust.get(stranger.fingerprint) is None  # not stored, not trusted
        assert [e.fingerprint for e in b.of(CertificateLearned)] == [friend.fingerprint]
        assert [e.fingerprint for e in b.of(PeerRefused)] == [stranger.fingerprint]
        assert b.host.served == []


# -- per-peer budgets ------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", ["frames", "bytes"])
async def test_a_trusted_peer_over_its_budget_is_dropped(tmp_path: Path, budget: str) -> None:
    limits = Limits(peer_frames_per_second=20, peer_frame_burst=50, peer_bytes_per_window=64 * 1024)
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c, limits=limits)
        before = untouched(b)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        channel = await rogue_link(b, rogue)
        channel.write(hello_frame() + manifest_frame({}))
        if budget == "frames":
            channel.write(encode_frame(FrameKind.PING, b"") * 200)
        else:  # a frame the session would refuse anyway: the budget must stop it first
            payload = doc_sync_payload("d:one", b"\x42" + bytes(100_000))
            channel.write(encode_frame(FrameKind.DOC_SYNC, payload))
        await channel.drain()
        received, _ = await read_all(channel)
        await channel.aclose()
        word = "frames per second" if budget == "frames" else "65,536 bytes"
        assert any(word in reason for reason in bye_reasons(received))  # the BYE says why
        assert untouched(b) == before
        (lost,) = [e for e in b.of(PeerLost) if e.fingerprint == rogue.fingerprint]
        assert "budget per peer" in lost.reason
        await still_serves(b, good)


async def test_an_honest_peer_over_budget_backs_off(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", limits=Limits(peer_frames_per_second=5, peer_frame_burst=20))
        a = await c.add("a", docs={"d:one": doc_with("x")})
        stamps: list[tuple[float, object]] = []

        def stamped(event: EngineEvent) -> None:
            a.events.append(event)
            stamps.append((time.monotonic(), event))

        a.engine.on_event = stamped
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        for i in range(40):  # one edit at a time, each a round trip: the frames add up
            a.edit("d:one", f"k{i}")
            await eventually(lambda: b.host.has("d:one", f"k{i}") or a.of(PeerLost))  # noqa: B023
            if a.of(PeerLost):
                break
        await eventually(lambda: a.of(PeerLost), what="b dropped a")
        lost_at = next(t for t, e in stamps if isinstance(e, PeerLost))
        assert "budget" in a.of(PeerLost)[0].reason  # a learns why from b's BYE
        await eventually(lambda: in_sync(a, b), timeout=10, what="a came back")
        back_at = next(t for t, e in stamps if isinstance(e, PeerConnected) and t > lost_at)
        assert back_at - lost_at >= 0.35  # backoff_delay(0) is 0.5 s ± 20 %
        assert b.host.has("d:one", f"k{i}")


# -- garbage, oversized frames and zip bombs from a trusted peer -----------------------------------


@pytest.mark.parametrize("length", [2**31, 2**32 - 1, 0x80000001])
async def test_huge_lengths_from_a_trusted_peer_are_refused_before_allocation(
    tmp_path: Path, length: int
) -> None:
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c)
        before = untouched(b)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        channel = await rogue_link(b, rogue)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            channel.write(hello_frame() + manifest_frame({}))
            channel.write(length.to_bytes(4, "big") + bytes([FrameKind.DOCS]) + b"x" * 1000)
            await channel.drain()
            received, _ = await read_all(channel)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        await channel.aclose()
        assert any("the limit is" in reason for reason in bye_reasons(received))
        assert peak - base < 4 * 1024 * 1024
        assert untouched(b) == before
        await still_serves(b, good)


def _manifest_bomb() -> bytes:
    inflater = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    bomb = b"".join(inflater.compress(chunk) for _ in range(MAX_MANIFEST_RAW // len(chunk) + 1))
    return bomb + inflater.flush()


async def test_a_manifest_zip_bomb_drops_only_that_link(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c)
        before = untouched(b)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        channel = await rogue_link(b, rogue)
        channel.write(hello_frame() + encode_frame(FrameKind.MANIFEST, _manifest_bomb()))
        await channel.drain()
        received, _ = await read_all(channel, 10)
        await channel.aclose()
        assert any("inflates beyond" in reason for reason in bye_reasons(received))
        assert untouched(b) == before
        await still_serves(b, good)


BASE = doc_with("base")


def _real_doc_sync() -> bytes:
    """A real sync message carrying changes for d:one, to a peer that holds ``BASE``."""
    a = MemoryHost({"d:one": copy_doc(BASE)})
    b = MemoryHost({"d:one": copy_doc(BASE)})
    add_items(a.docs["d:one"], [f"n{i}" for i in range(30)])
    p = connect(a, b)
    return max((split_doc_sync(x)[1] for x in p.payloads("a", FrameKind.DOC_SYNC)), key=len)


def _fuzz_cases() -> list[bytes]:
    rng = random.Random(7)
    real = _real_doc_sync()
    flipped = bytearray(real)
    flipped[real.rindex(changes_of(real)[-1])] ^= 0xFF  # the magic bytes of the last change
    return [
        rng.randbytes(300),
        b"\x42" + rng.randbytes(300),
        real[: rng.randrange(10, len(real) - 1)],
        real[:-40],  # the last change cut short
        bytes([0x42]) + real[1:3] + rng.randbytes(len(real) - 3),
        bytes(flipped),
    ]


async def test_fuzzed_automerge_bytes_through_the_engine_store_nothing(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", docs={"d:one": copy_doc(BASE)})
        good = await c.add("good")
        b.pin(good)
        good.pin(b)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        before = untouched(b)
        cases = _fuzz_cases()

        def ended() -> list[PeerLost | PeerRefused]:
            return [
                e
                for e in b.of(PeerLost) + b.of(PeerRefused)  # type: ignore[operator]
                if e.fingerprint == rogue.fingerprint
            ]

        for message in cases:
            count = len(ended())
            channel = await rogue_link(b, rogue)
            channel.write(hello_frame() + manifest_frame({}) + doc_sync_frame("d:one", message))
            channel.write(encode_frame(FrameKind.PING, b""))
            await channel.drain()
            await eventually(
                lambda: len(ended()) > count or pinged(b, rogue),  # noqa: B023
                what="B dealt with it",
            )
            await channel.aclose()
            await eventually(lambda: len(ended()) > count, what="the link gone")  # noqa: B023
            assert untouched(b) == before
        dropped = [e for e in ended() if "protocol error" in e.reason]
        assert len(dropped) >= len(cases) - 1  # all but the one whose broken change is dropped
        good.dial(b)
        await still_serves(b, good)


# -- documents the peer may not touch, changes that cannot land ------------------------------------


async def test_a_doc_sync_for_a_document_not_shared_with_the_peer_is_ignored(
    tmp_path: Path,
) -> None:
    secret = doc_with("diary")
    async with cluster(tmp_path) as c:
        b = await c.add("b", docs={"d:secret": secret, "d:one": doc_with("x")})
        rogue = Identity.load_or_create(tmp_path / "rogue")
        b.host.share = lambda peer, doc_id: doc_id != "d:secret" or peer != rogue.fingerprint
        trust_rogue(b, rogue)
        before = untouched(b)
        channel = await rogue_link(b, rogue)
        planted = copy_doc(secret)
        put(planted, "planted", "1")
        message = sync_message(
            secret.get_heads(), changes=[ch.bytes for ch in planted.get_changes(secret.get_heads())]
        )
        channel.write(hello_frame() + manifest_frame({}) + doc_sync_frame("d:secret", message))
        channel.write(encode_frame(FrameKind.WANT, b'{"want": ["d:secret"], "ack": 0}'))
        await channel.drain()
        decoder, frames = FrameDecoder(), list[Frame]()
        async with asyncio.timeout(5):
            while not any(f.kind == FrameKind.MANIFEST for f in frames):
                frames += decoder.feed(await channel.read())
        channel.write(encode_frame(FrameKind.PING, b""))  # one more round trip: B has read all
        await channel.drain()
        await eventually(lambda: pinged(b, rogue), what="B read everything")
        assert untouched(b) == before and not b.host.has("d:secret", "planted")
        assert b.link_to(rogue.fingerprint).session.state.name == "SYNCING"  # not fatal
        manifest = [f for f in frames if f.kind == FrameKind.MANIFEST][0]
        assert b"d:secret" not in zlib.decompress(manifest.payload)
        assert "d:secret" not in b.host.served
        await channel.aclose()


async def test_changes_waiting_for_a_fabricated_dependency_change_nothing(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b, good = await good_pair(c)
        before = untouched(b)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue)
        channel = await rogue_link(b, rogue)
        chain = new_doc()
        for i in range(80):
            put(chain, f"k{i}", "v")
        message = sync_message(GENESIS_HEADS, changes=changes_since_genesis(chain)[1:])
        channel.write(hello_frame() + manifest_frame({}) + doc_sync_frame("d:one", message))
        channel.write(encode_frame(FrameKind.PING, b""))
        await channel.drain()
        await eventually(lambda: pinged(b, rogue), what="B read everything")
        assert untouched(b) == before
        await channel.aclose()
        await still_serves(b, good)


# -- the guard refuses a batch ---------------------------------------------------------------------


async def test_a_batch_the_guard_refuses_ends_the_link_and_quarantines_the_document(
    tmp_path: Path,
) -> None:
    base = {"d:bad": doc_with("base"), "d:good": doc_with("base")}
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={d: copy_doc(doc) for d, doc in base.items()})
        b = await c.add(
            "b", docs={d: copy_doc(doc) for d, doc in base.items()}, guard=refuse_key("poison")
        )
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        a.edit("d:bad", "poison")
        await eventually(lambda: b.of(ChangesRefused), what="the refusal")
        (refused,) = b.of(ChangesRefused)
        assert refused.fingerprint == a.fp and refused.doc_id == "d:bad" and not refused.pause
        assert "forbidden item 'poison'" in refused.reason
        await eventually(lambda: a.of(PeerLost), what="the link ended")
        assert "refused: d:bad holds a forbidden item" in a.of(PeerLost)[0].reason  # A told why
        assert b.engine.synchronizer.quarantine[a.fp] == {"d:bad"}
        # the next link carries on with the others, never with d:bad
        a.edit("d:good", "after")
        a.edit("d:new", "created")
        await eventually(
            lambda: b.host.has("d:good", "after") and b.host.has("d:new", "created"),
            what="the other documents on the next link",
        )
        await eventually(  # both in sync, though d:bad differs: it is not synced with A
            lambda: a.state_of(b) == b.state_of(a) == "in-sync", what="in sync again"
        )
        assert a.host.digest("d:bad") != b.host.digest("d:bad")
        assert not b.host.has("d:bad", "poison")
        assert len(b.of(ChangesRefused)) == 1  # never tried again on this run
        assert len(a.of(PeerConnected)) >= 2


async def test_a_refusal_for_a_newer_schema_pauses_the_peer(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:one": doc_with("x")})
        b = await c.add("b", guard=refuse_key("schema-v9", pause=True))
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        admitted: list[bytes] = []
        admit = b.engine.admit

        def counting_admit(fp: bytes, *args: object, **kwargs: object) -> object:
            admitted.append(fp)
            return admit(fp, *args, **kwargs)  # type: ignore[arg-type]

        b.engine.admit = counting_admit  # type: ignore[method-assign]
        a.edit("d:one", "schema-v9")
        await eventually(lambda: b.of(ChangesRefused), what="the refusal")
        assert b.of(ChangesRefused)[0].pause
        assert "update plntui" in b.engine.describe(b.of(ChangesRefused)[0])
        connected = len(b.of(PeerConnected))
        await eventually(lambda: len(admitted) >= 2, timeout=10, what="A dialled again twice")
        assert len(b.of(PeerConnected)) == connected  # refused while paused
        assert b.state_of(a) != "in-sync" and not b.host.has("d:one", "schema-v9")


# -- bad certificates ------------------------------------------------------------------------------


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
        assert await _present(b.engine.port, der) == b""  # no PRESENT_OK: it hung up
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


# -- a man in the middle with its own key ----------------------------------------------------------


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
        a = await c.add("a", timeouts=FAST, docs={"d:secret": doc_with("only for b")})
        b = await c.add("b", timeouts=FAST)
        a.pin(b)
        b.pin(a)
        if learned:  # they met before: both certificates are pinned
            a.trust.learn_cert(b.fp, b.identity.cert_der)
            b.trust.learn_cert(a.fp, a.identity.cert_der)
            a.engine.trust_changed()
            b.engine.trust_changed()
        mitm = Interceptor(Identity.generate(), b.engine.port)
        port = await mitm.start()
        try:
            a.engine.connect(b.fp, "127.0.0.1", port)  # a believes b is there
            await eventually(lambda: mitm.results, what="the interceptor was tried")
            await eventually(
                lambda: a.state_of(b) == "failed", timeout=5, what="a refused the interceptor"
            )
            # b refused the interceptor's own certificate (its handshake failed on b's side)
            await eventually(
                lambda: any("failed the TLS handshake" in e.reason for e in b.of(PeerRefused)),
                what="b refused the interceptor",
            )
        finally:
            mitm.close()
        assert mitm.plaintext == b""
        assert "d:secret" not in b.host.docs and a.host.served == []
        assert not a.of(PeerConnected) and not b.of(PeerConnected)
        assert a.trust.get(b.fp).cert == (b.identity.cert_der if learned else None)  # type: ignore[union-attr]
        assert b.trust.get(a.fp).cert == (a.identity.cert_der if learned else None)  # type: ignore[union-attr]
        error = next(s for s in a.engine.status() if s.fingerprint == b.fp).last_error or ""
        assert "not the expected peer" in error or "impersonating" in error
