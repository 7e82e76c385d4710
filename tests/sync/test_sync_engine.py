"""The sync engine over real TLS sockets on 127.0.0.1: pinning, learning, converging, refusing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import automerge.core as am
import pytest
from sync_helpers import (
    DOC_ID,
    GENESIS_HEADS,
    MemoryHost,
    Relay,
    add_items,
    contents,
    eventually,
    hello_frame,
    items,
)

from sync.engine import (
    CertificateLearned,
    ChangesStored,
    EngineEvent,
    PeerConnected,
    PeerLost,
    PeerRefused,
    PeerStatus,
    PeerSynced,
    StoreFailed,
    SyncEngine,
    Timeouts,
    backoff_delay,
)
from sync.framing import FrameKind, encode_frame
from sync.identity import Identity
from sync.tls import TlsChannel, client_context, sni_name
from sync.trust import TrustStore

pytestmark = pytest.mark.timeout(60)
E = TypeVar("E")


@dataclass
class Node:
    name: str
    identity: Identity
    trust: TrustStore
    host: MemoryHost
    engine: SyncEngine
    events: list[EngineEvent] = field(default_factory=list)

    @property
    def fp(self) -> bytes:
        return self.identity.fingerprint

    def pin(self, *others: Node) -> None:
        """Trust others by fingerprint only (as ``plntui peer trust FINGERPRINT`` does)."""
        for other in others:
            self.trust.trust(other.fp, other.name)
        self.engine.trust_changed()

    def dial(self, other: Node) -> None:
        self.engine.connect(other.fp, "127.0.0.1", other.engine.port)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def edit(self, key: str, value: str) -> None:
        self.host.put(key, value)
        self.engine.local_change()

    def state_of(self, other: Node) -> str | None:
        for status in self.engine.status():
            if status.fingerprint == other.fp:
                return status.state
        return None


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[Node] = []

    async def add(self, name: str, *, start: bool = True, **kwargs: object) -> Node:
        folder = self.root / name
        identity = Identity.load_or_create(folder / "identity")
        trust = TrustStore(folder / "peers.json")
        host = MemoryHost()
        events: list[EngineEvent] = []
        engine = SyncEngine(
            host,
            identity,
            trust,
            on_event=events.append,
            poll_interval=0.05,
            name=name,
            **kwargs,  # type: ignore[arg-type]
        )
        node = Node(name, identity, trust, host, engine, events)
        self.nodes.append(node)
        if start:
            await engine.start()
        return node

    async def stop(self) -> None:
        await asyncio.gather(*(n.engine.stop() for n in self.nodes), return_exceptions=True)


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        await c.stop()


def cert_of(node: Node, other: Node) -> bytes | None:
    """The certificate ``node`` has stored for ``other``."""
    peer = node.trust.get(other.fp)
    assert peer is not None
    return peer.cert


def has(node: Node, key: str) -> Callable[[], bool]:
    """A condition: ``node``'s document holds the item ``key``."""
    return lambda: key in contents(node.host.doc)["items"]


def converged(*nodes: Node) -> bool:
    heads = {tuple(n.host.heads()) for n in nodes}
    return len(heads) == 1


def in_sync(a: Node, b: Node) -> bool:
    return a.state_of(b) == "in-sync" and b.state_of(a) == "in-sync" and converged(a, b)


def note_text(node: Node, key: str = "note") -> str:
    with node.host.lock:
        doc = node.host.doc
        found = doc.get(items(doc), key)
        assert found is not None
        return doc.text(found[1])


def type_into(node: Node, pos: int, text: str, key: str = "note") -> None:
    """Type ``text`` at ``pos`` one character per insert (as the notes editor does)."""
    with node.host.lock:
        doc = node.host.doc
        found = doc.get(items(doc), key)
        assert found is not None
        with doc.transaction() as tx:
            for i, ch in enumerate(text):
                tx.insert(found[1], pos + i, am.ScalarType.Str, ch)
    node.engine.local_change()


# -- converging -----------------------------------------------------------------------------------


async def test_two_peers_pinned_by_fingerprint_learn_certificates_and_converge(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("alice"), await c.add("bob")
        # offline history on both sides: contacts, and a note A wrote
        add_items(a.host.doc, [f"alice-contact-{i}" for i in range(30)])
        add_items(b.host.doc, [f"bob-contact-{i}" for i in range(20)])
        with a.host.doc.transaction() as tx:
            note = tx.put_object(items(a.host.doc), "note", am.ObjType.Text)
            for i, ch in enumerate("Meeting notes."):
                tx.insert(note, i, am.ScalarType.Str, ch)
        a.pin(b)
        b.pin(a)
        assert cert_of(a, b) is None
        a.dial(b)
        await eventually(lambda: in_sync(a, b), what="first sync")
        # certificate learning happened, both sides stored both certificates
        assert cert_of(a, b) == b.identity.cert_der
        assert cert_of(b, a) == a.identity.cert_der
        assert [e.fingerprint for e in a.of(CertificateLearned)] == [b.fp]
        assert [e.fingerprint for e in b.of(CertificateLearned)] == [a.fp]
        assert a.of(PeerConnected) and b.of(PeerConnected)
        assert contents(a.host.doc) == contents(b.host.doc)
        assert len(contents(b.host.doc)["items"]) == 51
        assert b.host.persist_calls >= 1 and a.host.persist_calls >= 1
        assert sum(e.n for e in b.of(ChangesStored)) >= 31

        # concurrent character-level edits of one note on both sides
        type_into(a, 0, "Alice: ")
        type_into(b, len("Meeting notes."), " Bob was here.")
        await eventually(lambda: in_sync(a, b) and "Bob" in note_text(a), what="text merge")
        text = note_text(a)
        assert text == note_text(b)
        assert text == "Alice: Meeting notes. Bob was here."
        (status,) = a.engine.status()
        assert status.changes_in > 0 and status.bytes_in > 0 and status.bytes_out > 0
        assert status.last_sync is not None


async def test_three_peers_in_a_line_converge_transitively(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b, cc = await c.add("a"), await c.add("b"), await c.add("c")
        a.pin(b)
        b.pin(a, cc)
        cc.pin(b)
        a.edit("from-a", "1")
        cc.edit("from-c", "1")
        a.dial(b)
        cc.dial(b)
        await eventually(lambda: converged(a, b, cc), what="A-B-C")
        assert contents(a.host.doc) == contents(cc.host.doc)
        assert {"from-a", "from-c"} <= set(contents(cc.host.doc)["items"])
        # live: an edit at A reaches C through B, and back
        a.edit("live-a", "x")
        await eventually(lambda: "live-a" in contents(cc.host.doc)["items"], what="A to C")
        cc.edit("live-c", "y")
        await eventually(lambda: "live-c" in contents(a.host.doc)["items"], what="C to A")
        assert a.state_of(cc) is None  # A and C never met


async def test_ten_peers_that_edited_offline_converge(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        nodes = [await c.add(f"n{i}") for i in range(10)]
        hub, leaves = nodes[0], nodes[1:]
        for i, node in enumerate(nodes):
            add_items(node.host.doc, [f"n{i}-item-{k}" for k in range(25)])
            with node.host.doc.transaction() as tx:  # and everyone edits one shared key
                tx.put(items(node.host.doc), "shared", am.ScalarType.Str, f"by n{i}")
        hub.pin(*leaves)
        for leaf in leaves:
            leaf.pin(hub)
        start = time.perf_counter()
        for leaf in leaves:
            leaf.dial(hub)
        took = await eventually(lambda: converged(*nodes), timeout=20, what="ten peers")
        print(f"\nten peers converged {time.perf_counter() - start:.2f} s after dialling")
        assert took < 20
        expected = contents(hub.host.doc)
        assert len(expected["items"]) == 10 * 25 + 1
        assert all(contents(n.host.doc) == expected for n in nodes)


async def test_a_local_edit_reaches_a_connected_peer_quickly(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        times = []
        for i in range(10):
            stored = len(b.of(ChangesStored))
            start = time.perf_counter()
            a.edit(f"k{i}", "v")  # edit, then local_change()
            while len(b.of(ChangesStored)) == stored:  # B applied and persisted it
                assert time.perf_counter() - start < 5
                await asyncio.sleep(0)
            times.append(time.perf_counter() - start)
            assert has(b, f"k{i}")()
        times.sort()
        print(
            f"\nlocal edit applied and stored by the peer: median {times[5] * 1000:.2f} ms, "
            f"max {times[-1] * 1000:.2f} ms"
        )
        assert times[-1] < 5


async def test_changes_other_processes_wrote_are_pushed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        cli = a.host.doc.fork()  # "plntui add" in another process wrote this to the profile
        cli.set_actor(os.urandom(16))
        with cli.transaction() as tx:
            tx.put(items(cli), "from-cli", am.ScalarType.Str, "yes")
        with a.host.lock:
            a.host.external.append(cli)
        await eventually(lambda: "from-cli" in contents(b.host.doc)["items"], what="CLI change")


async def test_an_eavesdropper_on_the_link_sees_no_plaintext(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        marker = "SECRET-contact-Grace-Hopper"
        a.edit("c1", marker)
        relay = await Relay(b.engine.port).start()
        a.engine.connect(b.fp, "127.0.0.1", relay.port)
        await eventually(lambda: in_sync(a, b))
        a.edit("c2", marker + "-live")
        await eventually(lambda: "c2" in contents(b.host.doc)["items"])
        await relay.stop()
        wire = bytes(relay.captured)
        assert len(wire) > 1000
        for secret in (marker.encode(), b"Grace", DOC_ID.encode(), b'"heads"'):
            assert secret not in wire


async def test_simultaneous_dials_keep_one_link_dialled_by_the_smaller_fingerprint(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        # both know both certificates already, so both dial mutual TLS at once
        a.trust.learn_cert(b.fp, b.identity.cert_der)
        b.trust.learn_cert(a.fp, a.identity.cert_der)
        a.dial(b)
        b.dial(a)
        await eventually(lambda: in_sync(a, b))
        await asyncio.sleep(1.0)  # let any duplicate settle
        small, big = (a, b) if a.fp < b.fp else (b, a)
        (s_status,) = small.engine.status()
        (b_status,) = big.engine.status()
        assert s_status.outbound is True and b_status.outbound is False
        assert s_status.state == b_status.state == "in-sync"
        small.edit("after-dedup", "1")
        await eventually(lambda: "after-dedup" in contents(big.host.doc)["items"])


# -- refusing -------------------------------------------------------------------------------------


async def test_an_unpinned_certificate_is_refused_before_any_application_byte(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        stranger = await c.add("stranger")
        b.pin(a)  # B trusts only A
        a.edit("a-data", "1")
        stranger.edit("evil", "1")
        stranger.pin(b)  # the stranger knows B's fingerprint (it is no secret)
        before = (b.host.heads(), b.host.persist_calls)
        # 1) anonymous path: the stranger presents its certificate; B does not trust it
        stranger.dial(b)
        await eventually(lambda: b.of(PeerRefused), what="refusal of the anonymous stranger")
        refusal = b.of(PeerRefused)[0]
        assert refusal.fingerprint == stranger.fp
        assert b.trust.get(stranger.fp) is None
        await eventually(
            lambda: "does not trust this device" in (_status(stranger, b).last_error or "")
        )
        # 2) mutual TLS with B's certificate known: B's handshake fails on the unknown cert
        stranger.trust.learn_cert(b.fp, b.identity.cert_der)
        stranger.engine.disconnect(b.fp)
        count = len(b.of(PeerRefused))
        stranger.dial(b)
        await eventually(lambda: len(b.of(PeerRefused)) > count, what="TLS refusal")
        assert any("TLS handshake" in e.reason for e in b.of(PeerRefused))
        await asyncio.sleep(0.3)
        assert (b.host.heads(), b.host.persist_calls) == before
        assert "evil" not in contents(b.host.doc)["items"]
        assert "a-data" not in contents(stranger.host.doc)["items"]
        assert not b.of(PeerConnected) and not stranger.of(PeerConnected)
        assert stranger.state_of(b) in ("failed", "connecting")


async def test_pinned_b_answering_where_a_was_expected_is_refused(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b, x = await c.add("a"), await c.add("b"), await c.add("x")
        x.pin(a, b)
        b.pin(x)
        a.pin(x)
        b.edit("b-data", "1")
        x.edit("x-data", "1")
        before = (b.host.heads(), b.host.persist_calls)
        # X dials A's fingerprint at B's port: first anonymously (A's certificate unknown)
        x.engine.connect(a.fp, "127.0.0.1", b.engine.port)
        await eventually(lambda: x.of(PeerRefused), what="wrong peer (anonymous path)")
        refusal = x.of(PeerRefused)[0]
        assert refusal.fingerprint == b.fp
        assert "expected the device" in refusal.reason
        assert cert_of(b, x) is None  # X never presented
        # then with A's certificate known: TLS itself refuses B's
        x.engine.disconnect(a.fp)
        x.trust.learn_cert(a.fp, a.identity.cert_der)
        x.engine.trust_changed()
        x.engine.connect(a.fp, "127.0.0.1", b.engine.port)
        await eventually(
            lambda: "not the expected peer" in (_status(x, a).last_error or ""),
            what="wrong peer (mutual TLS)",
        )
        assert (b.host.heads(), b.host.persist_calls) == before
        assert "b-data" not in contents(x.host.doc)["items"]
        assert not x.of(PeerConnected)


def _status(node: Node, other: Node) -> PeerStatus:
    return next(s for s in node.engine.status() if s.fingerprint == other.fp)


async def test_revoking_cuts_the_live_link_and_reconnection_fails(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        b.trust.revoke(a.fp)
        b.engine.trust_changed()
        await eventually(lambda: a.of(PeerLost) and b.of(PeerLost), what="link cut")
        assert b.of(PeerLost)[0].reason == "revoked on this device"
        assert "no longer trusted" in a.of(PeerLost)[0].reason
        before = (b.host.heads(), b.host.persist_calls)
        refused = len(b.of(PeerRefused))
        a.edit("after-revoke", "secret")
        # A keeps trying (it still trusts B); every attempt is refused
        await eventually(lambda: len(b.of(PeerRefused)) >= refused + 2, what="refused retries")
        assert a.state_of(b) in ("failed", "connecting")
        assert b.state_of(a) is None
        assert (b.host.heads(), b.host.persist_calls) == before
        assert len(a.of(PeerConnected)) == 1


async def test_revoking_from_another_process_is_noticed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        TrustStore(b.trust.path).revoke(a.fp)  # "plntui peer revoke" while the daemon runs
        await eventually(lambda: b.of(PeerLost), timeout=3, what="link cut by the poll")
        assert not b.trust.is_trusted(a.fp)


@pytest.mark.parametrize("attack", ["oversized", "garbage-sync", "garbage-first", "early-snapshot"])
async def test_bad_frames_from_a_trusted_peer_drop_only_that_link(
    tmp_path: Path, attack: str
) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", max_frame=1024 * 1024)
        good = await c.add("good")
        rogue_id = Identity.load_or_create(tmp_path / "rogue")
        b.pin(good)
        good.pin(b)
        b.trust.trust(rogue_id.fingerprint, "rogue")
        b.trust.learn_cert(rogue_id.fingerprint, rogue_id.cert_der)
        b.engine.trust_changed()
        b.edit("b-data", "1")
        good.dial(b)
        await eventually(lambda: in_sync(good, b))
        before = (b.host.heads(), b.host.persist_calls)

        reader, writer = await asyncio.open_connection("127.0.0.1", b.engine.port)
        channel = TlsChannel(
            reader,
            writer,
            client_context(rogue_id, b.identity.cert_der),
            server_side=False,
            server_hostname=sni_name(rogue_id.fingerprint, b.fp),
        )
        await channel.handshake()
        hello = hello_frame(heads=GENESIS_HEADS, empty=False)
        payload = {
            "oversized": hello + (2**31).to_bytes(4, "big") + bytes([FrameKind.SYNC]) + b"x" * 100,
            "garbage-sync": hello + encode_frame(FrameKind.SYNC, os.urandom(200)),
            "garbage-first": os.urandom(64),
            "early-snapshot": encode_frame(FrameKind.SNAPSHOT, b"\x78\x9c" + os.urandom(50)),
        }[attack]
        channel.write(payload)
        await channel.drain()
        received = b""
        async with asyncio.timeout(5):
            while chunk := await channel.read():
                received += chunk
        await channel.aclose()
        # B said why (BYE) and hung up; nothing of the rogue's reached the document
        assert bytes([FrameKind.BYE]) in received
        assert (b.host.heads(), b.host.persist_calls) == before
        assert any(
            isinstance(e, PeerLost | PeerRefused) and "protocol" in e.reason for e in b.events
        )
        # and B still serves the good peer
        good.edit("still-alive", "1")
        await eventually(lambda: "still-alive" in contents(b.host.doc)["items"])
        assert b.engine.running


async def test_a_failed_store_drops_the_link_unacknowledged_and_resumes(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        b.host.fail_persist = True
        a.edit("k", "v")
        await eventually(lambda: b.of(StoreFailed), what="store failure")
        b.host.fail_persist = False
        await eventually(lambda: in_sync(a, b) and b.host.persisted_heads == b.host.heads())
        assert "k" in contents(b.host.doc)["items"]


# -- sync once ------------------------------------------------------------------------------------


async def test_sync_once_reports_every_trusted_peer(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a")
        once = await c.add("once", start=False, listen=False)
        a.pin(once)
        a.edit("from-a", "1")
        once.host.put("from-once", "1")
        once.trust.trust(a.fp, "a")
        once.trust.add_address(a.fp, f"127.0.0.1:{a.engine.port}")
        nowhere = Identity.generate().fingerprint
        once.trust.trust(nowhere, "nowhere")
        closed = Identity.generate().fingerprint
        once.trust.trust(closed, "gone")
        once.trust.add_address(closed, "127.0.0.1:9")  # nothing listens there
        await once.engine.start()
        summary = await once.engine.sync_once(timeout=5)
        by_name = {r.name: r for r in summary.results}
        assert by_name["a"].outcome == "in-sync", by_name["a"].error
        assert by_name["a"].changes_in >= 1 and by_name["a"].changes_out >= 1
        assert by_name["a"].address == f"127.0.0.1:{a.engine.port}"
        assert by_name["nowhere"].outcome == "no-address"
        assert "plntui peer add" in (by_name["nowhere"].error or "")
        assert by_name["gone"].outcome == "failed"
        assert not summary.ok and len(summary.synced) == 1 and len(summary.failed) == 2
        assert "from-a" in contents(once.host.doc)["items"]
        await eventually(lambda: "from-once" in contents(a.host.doc)["items"])
        await once.engine.stop()
        saved = TrustStore(once.trust.path).get(a.fp)
        assert saved is not None and saved.last_sync is not None and saved.changes_in >= 1


async def test_events_and_status(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        assert a.state_of(b) == "offline"
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        assert a.of(PeerSynced) and b.of(PeerSynced)
        (status,) = b.engine.status()
        assert status.name == "a" and status.outbound is False and status.state == "in-sync"
        a.engine.disconnect(b.fp)
        await eventually(lambda: b.of(PeerLost), what="disconnect")
        await eventually(lambda: a.state_of(b) == "offline")


def test_backoff_doubles_to_thirty_seconds_with_jitter() -> None:
    delays = [backoff_delay(n) for n in range(12)]
    assert 0.4 <= delays[0] <= 0.6
    assert 0.8 <= delays[1] <= 1.2
    assert all(24 <= d <= 36 for d in delays[7:])


def test_the_engine_does_not_import_the_application() -> None:
    code = (
        "import sync.engine, sync.tls, sync.trust, json, sys\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    roots = set(json.loads(out.stdout))
    assert not roots & {"plntui", "textual", "rich", "zeroconf"}


# -- deadlines ------------------------------------------------------------------------------------

SHORT = Timeouts(handshake=0.3, partial_frame=0.3, idle=5.0, ping=1.0)


async def _rogue_link(b: Node, rogue: Identity) -> TlsChannel:
    reader, writer = await asyncio.open_connection("127.0.0.1", b.engine.port)
    channel = TlsChannel(
        reader,
        writer,
        client_context(rogue, b.identity.cert_der),
        server_side=False,
        server_hostname=sni_name(rogue.fingerprint, b.fp),
    )
    await channel.handshake()
    return channel


async def _read_all(channel: TlsChannel, limit: float = 3.0) -> tuple[bytes, float]:
    start = time.perf_counter()
    received = b""
    async with asyncio.timeout(limit):
        while chunk := await channel.read():
            received += chunk
    return received, time.perf_counter() - start


async def test_a_silent_tcp_client_is_dropped_after_the_handshake_deadline(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", timeouts=SHORT)
        reader, writer = await asyncio.open_connection("127.0.0.1", b.engine.port)
        start = time.perf_counter()
        assert await asyncio.wait_for(reader.read(), 3) == b""
        assert time.perf_counter() - start < 2
        writer.close()
        await eventually(lambda: b.of(PeerRefused))
        assert "timed out" in b.of(PeerRefused)[0].reason


@pytest.mark.parametrize("stall", ["no-hello", "half-a-frame"])
async def test_a_stalled_trusted_peer_is_dropped(tmp_path: Path, stall: str) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", timeouts=SHORT)
        rogue = Identity.load_or_create(tmp_path / "rogue")
        b.trust.trust(rogue.fingerprint, "slow")
        b.trust.learn_cert(rogue.fingerprint, rogue.cert_der)
        b.engine.trust_changed()
        channel = await _rogue_link(b, rogue)
        if stall == "half-a-frame":
            hello = hello_frame(heads=GENESIS_HEADS, empty=True)
            channel.write(hello + encode_frame(FrameKind.SYNC, b"x" * 100)[:40])
            await channel.drain()
        received, took = await _read_all(channel)
        await channel.aclose()
        assert took < 2
        expected = b"did not say HELLO" if stall == "no-hello" else b"stalled in the middle"
        assert expected in received  # the BYE says why
        assert b.host.persist_calls == 0


async def test_describe_gives_plain_log_lines(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        lines = [a.engine.describe(e) for e in a.events]
        assert any(line.startswith("connected to b (") for line in lines)
        assert any(line.startswith("learned the certificate of b") for line in lines)
        assert any(line.startswith("in sync with b") for line in lines)
