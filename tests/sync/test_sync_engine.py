"""The sync engine over real TLS sockets on 127.0.0.1: pinning, learning, converging on many
documents, relaying within what each peer shares, refusing, reporting, reconnecting."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import automerge.core as am
import pytest
from sync_helpers import (
    Node,
    Relay,
    add_items,
    bye_reasons,
    cluster,
    converged,
    copy_doc,
    doc_with,
    eventually,
    hello_frame,
    in_sync,
    items,
    manifest_frame,
    new_doc,
    put,
    read_all,
    rogue_link,
    trust_rogue,
    v1_hello_frame,
)

from sync.engine import (
    CertificateLearned,
    ChangesStored,
    PeerConnected,
    PeerLost,
    PeerRefused,
    PeerStatus,
    PeerSynced,
    StoreFailed,
    Timeouts,
    backoff_delay,
)
from sync.framing import FrameKind, encode_frame
from sync.identity import Identity
from sync.tls import TlsChannel, server_context
from sync.trust import TrustStore

pytestmark = pytest.mark.timeout(60)


def cert_of(node: Node, other: Node) -> bytes | None:
    """The certificate ``node`` has stored for ``other``."""
    peer = node.trust.get(other.fp)
    assert peer is not None
    return peer.cert


def status_of(node: Node, other: Node | bytes) -> PeerStatus:
    fp = other if isinstance(other, bytes) else other.fp
    return next(s for s in node.engine.status() if s.fingerprint == fp)


def untouched(node: Node) -> tuple[dict[str, str], int]:
    """What must not change when a refused peer talks to ``node``."""
    return node.host.digests(), node.host.writes


# -- notes typed character by character ------------------------------------------------------------


def note_doc(text: str) -> am.Document:
    doc = new_doc()
    with doc.transaction() as tx:
        note = tx.put_object(items(doc), "note", am.ObjType.Text)
        for i, ch in enumerate(text):
            tx.insert(note, i, am.ScalarType.Str, ch)
    return doc


def note_text(node: Node, doc_id: str = "n:note") -> str:
    with node.host.lock:
        doc = node.host.docs[doc_id]
        found = doc.get(items(doc), "note")
        assert found is not None
        return doc.text(found[1])  # type: ignore[no-any-return]


def type_into(node: Node, pos: int, text: str, doc_id: str = "n:note") -> None:
    """Type ``text`` at ``pos`` one character per insert (as the notes editor does)."""
    with node.host.lock:
        doc = node.host.docs[doc_id]
        found = doc.get(items(doc), "note")
        assert found is not None
        with doc.transaction() as tx:
            for i, ch in enumerate(text):
                tx.insert(found[1], pos + i, am.ScalarType.Str, ch)
    node.engine.changed([doc_id])


# -- converging ------------------------------------------------------------------------------------


async def test_two_peers_pinned_by_fingerprint_learn_certificates_and_converge(
    tmp_path: Path,
) -> None:
    base = doc_with("base")
    a_docs = {f"d:a{i}": doc_with(f"a{i}") for i in range(5)}
    a_docs |= {"d:common": copy_doc(base), "n:note": note_doc("Meeting notes.")}
    b_docs = {f"d:b{i}": doc_with(f"b{i}") for i in range(3)} | {"d:common": copy_doc(base)}
    add_items(a_docs["d:common"], [f"alice-contact-{i}" for i in range(30)])
    add_items(b_docs["d:common"], [f"bob-contact-{i}" for i in range(20)])
    async with cluster(tmp_path) as c:
        a, b = await c.add("alice", docs=a_docs), await c.add("bob", docs=b_docs)
        a.pin(b)
        b.pin(a)
        assert cert_of(a, b) is None
        a.dial(b)
        await eventually(lambda: in_sync(a, b) and converged(a, b), what="first sync")
        # certificate learning happened, both sides stored both certificates
        assert cert_of(a, b) == b.identity.cert_der
        assert cert_of(b, a) == a.identity.cert_der
        assert [e.fingerprint for e in a.of(CertificateLearned)] == [b.fp]
        assert [e.fingerprint for e in b.of(CertificateLearned)] == [a.fp]
        assert a.of(PeerConnected) and b.of(PeerConnected)
        assert a.host.snapshot() == b.host.snapshot()
        assert len(a.host.docs) == 5 + 3 + 2
        assert len(b.host.keys("d:common")) == 1 + 30 + 20
        assert sum(e.n for e in b.of(ChangesStored)) >= 30

        # concurrent character-level edits of one note on both sides
        type_into(a, 0, "Alice: ")
        type_into(b, len("Meeting notes."), " Bob was here.")
        await eventually(
            lambda: in_sync(a, b) and "Alice" in note_text(b) and "Bob" in note_text(a),
            what="text merge",
        )
        assert note_text(a) == note_text(b) == "Alice: Meeting notes. Bob was here."
        status = status_of(a, b)
        assert status.changes_in > 0 and status.bytes_in > 0 and status.bytes_out > 0
        assert status.last_sync is not None


async def test_a_new_peer_receives_documents_whole_and_shared_ones_by_doc_sync(
    tmp_path: Path,
) -> None:
    shared = doc_with("base")
    fresh = {f"d:n{i}": doc_with(f"k{i}") for i in range(4)}
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs=fresh | {"d:shared": copy_doc(shared)})
        b = await c.add("b", docs={"d:shared": copy_doc(shared)})
        a.host.put("d:shared", "newer", "1")  # B holds an older d:shared
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b) and converged(a, b), what="first sync")
        assert sorted(b.host.whole) == sorted(fresh)  # the ones it lacked: whole
        assert b.host.synced == ["d:shared"]  # the one it held: by sync messages
        assert sorted(a.host.served) == sorted(fresh)
        stats = b.link_to(a).session.stats
        assert stats.docs_in == 4 and stats.bytes_in_by_kind["DOC_SYNC"] > 0
        assert b.host.has("d:shared", "newer")


async def test_three_peers_in_a_line_converge_transitively(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:froma": doc_with("a")})
        b = await c.add("b")
        cc = await c.add("c", docs={"d:fromc": doc_with("c")})
        a.pin(b)
        b.pin(a, cc)
        cc.pin(b)
        a.dial(b)
        cc.dial(b)
        await eventually(lambda: converged(a, b, cc) and len(a.host.docs) == 2, what="A-B-C")
        assert a.host.snapshot() == cc.host.snapshot()
        # live: an edit at A reaches C through B, and back
        a.edit("d:froma", "live-a")
        await eventually(cc.has("d:froma", "live-a"), what="A to C")
        cc.edit("d:fromc", "live-c")
        await eventually(a.has("d:fromc", "live-c"), what="C to A")
        a.edit("d:new", "made-live")  # a new document while linked: offered, sent whole
        await eventually(cc.has("d:new", "made-live"), what="a new document from A to C")
        assert a.state_of(cc) is None  # A and C never met


async def test_relaying_carries_only_what_the_middle_peer_shares_onward(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:ab": doc_with("private-to-a-and-b"), "d:all": doc_with("x")})
        b = await c.add("b")
        cc = await c.add("c")
        b.host.share = lambda peer, doc_id: doc_id != "d:ab" or peer == a.fp
        a.pin(b)
        b.pin(a, cc)
        cc.pin(b)
        a.dial(b)
        cc.dial(b)
        await eventually(lambda: in_sync(a, b) and in_sync(b, cc), what="both links in sync")
        assert set(b.host.docs) == {"d:ab", "d:all"}
        assert set(cc.host.docs) == {"d:all"}
        # live edits of both at A: B relays d:all to C, and d:ab to nobody
        a.edit("d:ab", "secret-edit")
        a.edit("d:all", "public-edit")
        await eventually(
            lambda: b.host.has("d:ab", "secret-edit") and cc.host.has("d:all", "public-edit"),
            what="the edits relayed",
        )
        await eventually(lambda: in_sync(b, cc), what="B-C settled")
        assert set(cc.host.docs) == {"d:all"}
        # and C's new document goes to A through B (B shares it with both)
        cc.edit("d:fromc", "hello")
        await eventually(a.has("d:fromc", "hello"), what="C's document at A")
        assert "d:ab" not in cc.host.docs


async def test_ten_peers_that_edited_offline_converge(tmp_path: Path) -> None:
    base = doc_with("base")
    async with cluster(tmp_path) as c:
        nodes = []
        for i in range(10):
            docs = {f"d:own{i}": doc_with(f"n{i}"), "d:shared": copy_doc(base)}
            add_items(docs["d:shared"], [f"n{i}-item-{k}" for k in range(10)])
            put(docs["d:shared"], "clash", f"by n{i}")  # everyone edits one key
            nodes.append(await c.add(f"n{i}", docs=docs))
        hub, leaves = nodes[0], nodes[1:]
        hub.pin(*leaves)
        for leaf in leaves:
            leaf.pin(hub)
        start = time.perf_counter()
        for leaf in leaves:
            leaf.dial(hub)
        await eventually(
            lambda: converged(*nodes) and len(hub.host.docs) == 11, timeout=20, what="ten peers"
        )
        print(f"\nten peers converged {time.perf_counter() - start:.2f} s after dialling")
        expected = hub.host.snapshot()
        assert len(expected["d:shared"]["items"]) == 10 * 10 + 2
        assert all(n.host.snapshot() == expected for n in nodes)


async def test_a_local_edit_reaches_a_connected_peer_quickly(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:one": doc_with("x")})
        b = await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        times = []
        for i in range(10):
            stored = len(b.of(ChangesStored))
            start = time.perf_counter()
            a.edit("d:one", f"k{i}")
            while len(b.of(ChangesStored)) == stored:  # B checked and stored it
                assert time.perf_counter() - start < 5
                await asyncio.sleep(0)
            times.append(time.perf_counter() - start)
            assert b.host.has("d:one", f"k{i}")
        times.sort()
        print(
            f"\nlocal edit stored by the peer: median {times[5] * 1000:.2f} ms, "
            f"max {times[-1] * 1000:.2f} ms"
        )
        assert times[5] < 0.5
        # an edit of a document the peer received whole, from the peer's side
        b.edit("d:one", "from-b")
        await eventually(a.has("d:one", "from-b"), what="B's edit at A")


async def test_changes_other_processes_wrote_are_pushed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:one": doc_with("x")})
        b = await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        cli = copy_doc(a.host.docs["d:one"])  # "plntui add" in another process wrote this
        put(cli, "from-cli", "yes")
        with a.host.lock:
            a.host.external["d:one"] = cli
            a.host.external["d:cli"] = doc_with("new-from-cli")
        await eventually(b.has("d:one", "from-cli"), what="a CLI edit")
        await eventually(b.has("d:cli", "new-from-cli"), what="a CLI document")


async def test_an_eavesdropper_on_the_link_sees_no_plaintext(tmp_path: Path) -> None:
    marker = "SECRET-contact-Grace-Hopper"
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:secretdoc": doc_with(marker)})
        b = await c.add("b")
        a.pin(b)
        b.pin(a)
        relay = await Relay(b.engine.port).start()
        a.engine.connect(b.fp, "127.0.0.1", relay.port)
        await eventually(lambda: in_sync(a, b))
        a.edit("d:secretdoc", marker + "-live")
        await eventually(b.has("d:secretdoc", marker + "-live"))
        await relay.stop()
        wire = bytes(relay.captured)
        assert len(wire) > 1000
        for secret in (marker.encode(), b"Grace", b"d:secretdoc", b'"docs"', b'"want"'):
            assert secret not in wire


async def test_simultaneous_dials_keep_one_link_dialled_by_the_smaller_fingerprint(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a", docs={"d:one": doc_with("x")}), await c.add("b")
        a.pin(b)
        b.pin(a)
        # both know both certificates already, so both dial mutual TLS at once
        a.trust.learn_cert(b.fp, b.identity.cert_der)
        b.trust.learn_cert(a.fp, a.identity.cert_der)
        a.dial(b)
        b.dial(a)
        await eventually(lambda: in_sync(a, b))
        small, big = (a, b) if a.fp < b.fp else (b, a)
        await eventually(
            lambda: (
                status_of(small, big).outbound is True and status_of(big, small).outbound is False
            ),
            what="the smaller fingerprint's link kept",
        )
        await eventually(lambda: in_sync(a, b))
        small.edit("d:one", "after-dedup")
        await eventually(big.has("d:one", "after-dedup"))
        assert status_of(small, big).outbound is True


# -- refusing --------------------------------------------------------------------------------------


async def test_an_unpinned_certificate_is_refused_before_any_application_byte(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:adata": doc_with("a")})
        b = await c.add("b", docs={"d:bdata": doc_with("b")})
        stranger = await c.add("stranger", docs={"d:evil": doc_with("evil")})
        b.pin(a)  # B trusts only A
        stranger.pin(b)  # the stranger knows B's fingerprint (it is no secret)
        before = untouched(b)
        # 1) anonymous path: the stranger presents its certificate; B does not trust it
        stranger.dial(b)
        await eventually(lambda: b.of(PeerRefused), what="refusal of the anonymous stranger")
        assert b.of(PeerRefused)[0].fingerprint == stranger.fp
        assert b.trust.get(stranger.fp) is None
        # 2) mutual TLS with B's certificate known: B's handshake fails on the unknown cert
        stranger.trust.learn_cert(b.fp, b.identity.cert_der)
        stranger.engine.disconnect(b.fp)
        count = len(b.of(PeerRefused))
        stranger.dial(b)
        await eventually(lambda: len(b.of(PeerRefused)) > count, what="TLS refusal")
        assert any("TLS handshake" in e.reason for e in b.of(PeerRefused))
        await eventually(
            lambda: (
                "refused this device's certificate" in (status_of(stranger, b).last_error or "")
            ),
            what="the stranger told why",
        )
        assert untouched(b) == before
        assert set(b.host.docs) == {"d:bdata"} and set(stranger.host.docs) == {"d:evil"}
        assert not b.of(PeerConnected) and not stranger.of(PeerConnected)


async def test_pinned_b_answering_where_a_was_expected_is_refused(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a")
        b = await c.add("b", docs={"d:bdata": doc_with("b")})
        x = await c.add("x", docs={"d:xdata": doc_with("x")})
        x.pin(a, b)
        b.pin(x)
        a.pin(x)
        before = untouched(b)
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
            lambda: "not the expected peer" in (status_of(x, a).last_error or ""),
            what="wrong peer (mutual TLS)",
        )
        assert untouched(b) == before
        assert "d:bdata" not in x.host.docs and not x.of(PeerConnected)


async def test_revoking_cuts_the_live_link_and_reconnection_fails(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b", docs={"d:one": doc_with("x")})
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        b.trust.revoke(a.fp)
        b.engine.trust_changed()
        await eventually(lambda: a.of(PeerLost) and b.of(PeerLost), what="link cut")
        assert b.of(PeerLost)[0].reason == "revoked on this device"
        assert "no longer trusted" in a.of(PeerLost)[0].reason
        before = untouched(b)
        refused = len(b.of(PeerRefused))
        a.edit("d:one", "after-revoke")
        # A keeps trying (it still trusts B); every attempt is refused
        await eventually(lambda: len(b.of(PeerRefused)) >= refused + 2, what="refused retries")
        assert a.state_of(b) in ("failed", "connecting")
        assert b.state_of(a) is None
        assert untouched(b) == before
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


@pytest.mark.parametrize(
    "attack", ["oversized", "garbage-doc-sync", "garbage-first", "manifest-before-hello"]
)
async def test_bad_frames_from_a_trusted_peer_drop_only_that_link(
    tmp_path: Path, attack: str
) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", max_frame=1024 * 1024, docs={"d:one": doc_with("x")})
        good = await c.add("good")
        rogue = Identity.load_or_create(tmp_path / "rogue")
        b.pin(good)
        good.pin(b)
        trust_rogue(b, rogue)
        good.dial(b)
        await eventually(lambda: in_sync(good, b))
        before = untouched(b)
        channel = await rogue_link(b, rogue)
        hello = hello_frame() + manifest_frame({})
        payload = {
            "oversized": hello + (2**31).to_bytes(4, "big") + bytes([FrameKind.DOCS]) + b"x" * 99,
            "garbage-doc-sync": hello + encode_frame(FrameKind.DOC_SYNC, os.urandom(200)),
            "garbage-first": os.urandom(64),
            "manifest-before-hello": manifest_frame({"d:one": "0" * 16}),
        }[attack]
        channel.write(payload)
        await channel.drain()
        received, _ = await read_all(channel)
        await channel.aclose()
        # B said why (BYE) and hung up; nothing of the rogue's reached a document
        assert bytes([FrameKind.BYE]) in received
        assert untouched(b) == before
        assert any(
            isinstance(e, PeerLost | PeerRefused) and "protocol" in e.reason for e in b.events
        )
        # and B still serves the good peer
        good.edit("d:one", "still-alive")
        await eventually(b.has("d:one", "still-alive"))
        assert b.engine.running


async def test_a_failed_store_drops_the_link_unacknowledged_and_resumes(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:one": doc_with("x")})
        b = await c.add("b")
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        b.host.fail_store = True
        a.edit("d:one", "k")
        await eventually(lambda: b.of(StoreFailed), what="store failure")
        assert not b.host.has("d:one", "k")
        b.host.fail_store = False
        await eventually(lambda: in_sync(a, b) and b.host.has("d:one", "k"), what="resumed")


# -- a peer that runs plntui 0.1 -------------------------------------------------------------------


async def test_a_protocol_1_peer_that_dials_is_told_to_update(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = await c.add("b", docs={"d:one": doc_with("x")})
        old = Identity.load_or_create(tmp_path / "old")
        trust_rogue(b, old, "old laptop")
        channel = await rogue_link(b, old)
        channel.write(v1_hello_frame())
        await channel.drain()
        received, _ = await read_all(channel)
        await channel.aclose()
        advice = (
            "the peer runs an older plntui (sync protocol 1); update plntui there to sync with them"
        )
        assert bye_reasons(received) == [f"protocol error: {advice}"]
        await eventually(lambda: b.of(PeerRefused), what="the refusal")
        assert advice in b.of(PeerRefused)[0].reason
        assert b.host.served == []  # not a document went out


async def test_a_protocol_1_peer_that_is_dialled_is_reported(tmp_path: Path) -> None:
    old = Identity.load_or_create(tmp_path / "old")
    heard: list[bytes] = []

    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:one": doc_with("x")})
        ctx = server_context(old, [a.identity.cert_der])

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            channel = TlsChannel(reader, writer, ctx, server_side=True)
            try:
                await channel.handshake(2)
                channel.write(v1_hello_frame())
                await channel.drain()
                heard.append(await channel.read())
            finally:
                channel.abort()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        try:
            trust_rogue(a, old, "old laptop")
            a.engine.connect(old.fingerprint, "127.0.0.1", server.sockets[0].getsockname()[1])
            await eventually(
                lambda: "older plntui" in (status_of(a, old.fingerprint).last_error or ""),
                what="a reports the old peer",
            )
        finally:
            server.close()
        assert "update plntui there" in (status_of(a, old.fingerprint).last_error or "")
        assert a.host.served == []


# -- sync once, status, events ---------------------------------------------------------------------


async def test_sync_once_reports_every_trusted_peer(tmp_path: Path) -> None:
    both = doc_with("base")
    async with cluster(tmp_path) as c:
        a = await c.add("a", docs={"d:froma": doc_with("a"), "d:both": copy_doc(both)})
        once = await c.add(
            "once", start=False, listen=False, docs={"d:once": doc_with("o"), "d:both": both}
        )
        a.host.put("d:both", "by-a", "1")
        once.host.put("d:both", "by-once", "1")
        a.pin(once)
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
        assert once.host.has("d:froma", "a") and once.host.has("d:both", "by-a")
        await eventually(lambda: a.host.has("d:once", "o") and a.host.has("d:both", "by-once"))
        await once.engine.stop()
        saved = TrustStore(once.trust.path).get(a.fp)
        assert saved is not None and saved.last_sync is not None and saved.changes_in >= 1


async def test_events_and_status(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a", docs={"d:one": doc_with("x")}), await c.add("b")
        a.pin(b)
        b.pin(a)
        assert a.state_of(b) == "offline"
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        assert a.of(PeerSynced) and b.of(PeerSynced)
        assert sum(e.n_changes for e in b.of(PeerSynced)) >= 2  # d:one: genesis and one change
        status = status_of(b, a)
        assert status.name == "a" and status.outbound is False and status.state == "in-sync"
        assert status_of(a, b).outbound is True
        a.engine.disconnect(b.fp)
        await eventually(lambda: b.of(PeerLost), what="disconnect")
        await eventually(lambda: a.state_of(b) == "offline")


async def test_describe_gives_plain_log_lines(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b", docs={"d:one": doc_with("x")})
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b) and a.of(ChangesStored))
        lines = [a.engine.describe(e) for e in a.events]
        assert any(line.startswith("connected to b (") for line in lines)
        assert any(line.startswith("learned the certificate of b") for line in lines)
        assert any(line.startswith("in sync with b") for line in lines)
        assert any(line.startswith("stored 2 change(s) from b") for line in lines)


# -- dialling --------------------------------------------------------------------------------------


def test_backoff_doubles_to_thirty_seconds_with_jitter() -> None:
    delays = [backoff_delay(n) for n in range(12)]
    assert 0.4 <= delays[0] <= 0.6
    assert 0.8 <= delays[1] <= 1.2
    assert 1.6 <= delays[2] <= 2.4
    assert all(24 <= d <= 36 for d in delays[7:])


async def test_a_dropped_link_is_dialled_again(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b", docs={"d:one": doc_with("x")})
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        link = b.link_to(a)
        b.engine.close_link(link, "testing a drop")
        await eventually(lambda: a.of(PeerLost), what="the drop")
        assert "testing a drop" in a.of(PeerLost)[0].reason
        b.edit("d:one", "while-apart")
        await eventually(
            lambda: len(a.of(PeerConnected)) == 2 and a.host.has("d:one", "while-apart"),
            what="A dialled again",
        )


async def test_spoofed_hints_never_push_the_proven_address_out(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = await c.add("a"), await c.add("b")
        a.pin(b)
        b.pin(a)
        a.trust.add_address(b.fp, "192.0.2.1:1")  # stored by hand: tried before any hint
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        proven = ("127.0.0.1", b.engine.port)
        for i in range(100):  # announcements anyone on the LAN can fake
            a.engine.connect(b.fp, f"198.51.100.{i}", 4000 + i)
        addresses = a.engine.dialer.addresses(b.fp)
        assert addresses[0] == proven
        assert addresses[1] == ("192.0.2.1", 1)
        assert len(addresses) <= 2 + 16
        assert ("198.51.100.99", 4099) in addresses  # the newest hints are kept
        assert in_sync(a, b)


# -- deadlines -------------------------------------------------------------------------------------

SHORT = Timeouts(handshake=0.3, partial_frame=0.3, idle=5.0, ping=1.0)


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
        b = await c.add("b", timeouts=SHORT, docs={"d:one": doc_with("x")})
        rogue = Identity.load_or_create(tmp_path / "rogue")
        trust_rogue(b, rogue, "slow")
        channel = await rogue_link(b, rogue)
        if stall == "half-a-frame":
            channel.write(hello_frame() + encode_frame(FrameKind.DOC_SYNC, b"x" * 100)[:40])
            await channel.drain()
        received, took = await read_all(channel)
        await channel.aclose()
        assert took < 2
        expected = "did not say HELLO" if stall == "no-hello" else "stalled in the middle"
        assert any(expected in reason for reason in bye_reasons(received))  # the BYE says why
        assert b.host.writes == 0


async def test_an_idle_link_is_kept_alive_by_pings(tmp_path: Path) -> None:
    quick = Timeouts(handshake=2.0, partial_frame=2.0, idle=0.6, ping=0.15)
    async with cluster(tmp_path) as c:
        a = await c.add("a", timeouts=quick)
        b = await c.add("b", timeouts=quick, docs={"d:one": doc_with("x")})
        a.pin(b)
        b.pin(a)
        a.dial(b)
        await eventually(lambda: in_sync(a, b))
        link = a.link_to(b)
        await eventually(
            lambda: link.session.stats.bytes_in_by_kind.get("PING", 0) >= 5 * 5,
            what="five pings after the sync, over several idle deadlines",
        )
        assert a.link_to(b) is link and not a.of(PeerLost)


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
