"""Introducers between real engines on 127.0.0.1: offered, approved, auto-accepted, refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_helpers import Node, cluster, converged, doc_with, eventually, in_sync

from sync.engine import IntroductionOffered, PeerIntroduced, PeerLost

pytestmark = pytest.mark.timeout(60)


def introduce_bytes(node: Node, other: Node) -> int:
    """Bytes of INTRODUCE frames ``node`` received on its live link with ``other``."""
    link = node.link_to(other)
    return 0 if link is None else link.session.stats.bytes_in_by_kind.get("INTRODUCE", 0)


async def test_an_introducer_offers_its_peers_and_approval_lets_them_sync(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b, cc = await c.add("a"), await c.add("b"), await c.add("c")
        a.pin(b)
        b.pin(a, cc)
        cc.pin(b)
        b.host.share = lambda peer, doc_id: peer == cc.fp  # B shares nothing with A
        a.trust.set_introducer(b.fp, introducer=True)
        a.engine.trust_changed()
        b.dial(cc)
        await eventually(lambda: in_sync(b, cc), what="B-C")
        a.dial(b)
        await eventually(lambda: bool(a.of(IntroductionOffered)), what="C offered to A")
        (offered,) = a.of(IntroductionOffered)
        assert (offered.introducer, offered.fingerprint, offered.name) == (b.fp, cc.fp, "c")
        (pending,) = a.trust.pending()
        assert pending.fingerprint == cc.fp and pending.introducer == b.fp
        assert pending.cert == cc.identity.cert_der  # B knew C's certificate
        assert pending.addresses == (f"127.0.0.1:{cc.engine.port}",)
        assert not a.trust.is_trusted(cc.fp) and a.state_of(cc) is None
        # B was not asked by C (C did not mark it): C got nothing
        assert cc.trust.pending() == [] and not cc.of(IntroductionOffered)
        # A approves C, and C trusts A (by hand here): they sync directly
        a.trust.approve(cc.fp)
        a.engine.trust_changed()
        cc.pin(a)
        cc.edit("d:fromc", "1")
        await eventually(lambda: in_sync(a, cc) and a.host.has("d:fromc", "1"), what="A-C")
        peer = a.trust.get(cc.fp)
        assert peer is not None and peer.introduced_by == b.fp


async def test_auto_accept_on_both_sides_converges_without_a_manual_step(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b, cc = await c.add("a"), await c.add("b"), await c.add("c")
        a.pin(b)
        b.pin(a, cc)
        cc.pin(b)
        for node in (a, cc):
            node.trust.set_introducer(b.fp, introducer=True, auto_accept=True)
            node.engine.trust_changed()
        a.host.docs["d:froma"] = doc_with("1")
        cc.host.docs["d:fromc"] = doc_with("1")
        b.host.share = lambda _peer, doc_id: doc_id == "d:fromb"  # only its own document
        b.host.docs["d:fromb"] = doc_with("1")
        b.dial(cc)
        await eventually(lambda: in_sync(b, cc), what="B-C")
        a.dial(b)
        await eventually(
            lambda: in_sync(a, cc) and converged(a, cc) and len(a.host.docs) == 3,
            what="A-C through introductions",
        )
        assert set(b.host.docs) == {"d:fromb"}  # B relayed nothing: A and C met directly
        assert [e.fingerprint for e in a.of(PeerIntroduced)] == [cc.fp]
        assert [e.fingerprint for e in cc.of(PeerIntroduced)] == [a.fp]
        assert a.trust.pending() == [] and cc.trust.pending() == []
        for node, other in ((a, cc), (cc, a)):
            peer = node.trust.get(other.fp)
            assert peer is not None and peer.trusted and peer.introduced_by == b.fp


async def test_a_revoked_peer_is_never_offered_again(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b, cc = await c.add("a"), await c.add("b"), await c.add("c")
        a.pin(b, cc)
        a.trust.revoke(cc.fp)
        a.trust.set_introducer(b.fp, introducer=True, auto_accept=True)
        a.engine.trust_changed()
        b.pin(a, cc)
        b.trust.add_address(cc.fp, f"127.0.0.1:{cc.engine.port}")
        a.dial(b)
        await eventually(lambda: in_sync(a, b), what="A-B")
        # B's list reached A (it holds C): nothing was offered or trusted
        await eventually(lambda: introduce_bytes(a, b) > 0, what="INTRODUCE at A")
        assert not a.trust.is_trusted(cc.fp) and a.trust.pending() == []
        assert not a.of(IntroductionOffered) and not a.of(PeerIntroduced)


async def test_marking_an_introducer_on_a_live_link_asks_it(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b, cc = await c.add("a"), await c.add("b"), await c.add("c")
        a.pin(b)
        b.pin(a, cc)
        b.trust.add_address(cc.fp, "127.0.0.1:9")
        a.dial(b)
        await eventually(lambda: in_sync(a, b), what="A-B")
        assert a.trust.pending() == []
        a.trust.set_introducer(b.fp, introducer=True)
        a.engine.trust_changed()
        await eventually(lambda: bool(a.trust.pending()), what="C offered after reconnecting")
        assert any("ask for introductions" in e.reason for e in a.of(PeerLost))
        # B trusts D later: A hears of D on the same link
        d = await c.add("d")
        b.pin(d)
        await eventually(lambda: len(a.trust.pending()) == 2, what="D offered")
        assert {p.fingerprint for p in a.trust.pending()} == {cc.fp, d.fp}
