"""Sync engines meeting through a real Magic Wormhole transit relay on 127.0.0.1.

No engine dials another: discovery is off and no address is known, so every link in these
tests goes through the relay, unless a test gives a direct address on purpose."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from pathlib import Path

import pytest
from sync_helpers import Node, Relay, cluster, converged, doc_with, eventually, in_sync

from sync.engine import PeerRefused, Timeouts
from sync.identity import Identity
from sync.pairing import PairingFailed
from sync.relay import RelayAddress, day, meet, peer_token, tls_client
from sync.tls import TlsChannel, client_context, server_context, sni_name
from tests.transit_relay import TransitRelay

pytestmark = pytest.mark.timeout(90)

FAST = Timeouts(handshake=5.0, connect=2.0)


def know_each_other(*nodes: Node, secret: bytes | None = None, pair: bool = True) -> None:
    """Every node trusts every other, with its certificate and (``pair``) a pair secret, as
    pairing by code leaves them: what the relay needs."""
    for node in nodes:
        for other in nodes:
            if other is node:
                continue
            node.trust.trust(other.fp, other.name)
            node.trust.learn_cert(other.fp, other.identity.cert_der)
            if pair:
                shared = secret or bytes(a ^ b for a, b in zip(node.fp, other.fp, strict=True))
                node.trust.set_relay_secret(other.fp, shared)
        node.engine.trust_changed()


async def completes(channel: TlsChannel) -> bool:
    """Whether a TLS handshake completes and the other side then talks over it. (TLS 1.3: a
    client learns that the server refused its certificate on its first read.)"""
    try:
        await channel.handshake(5.0)
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return False
    try:
        return await asyncio.wait_for(channel.read(), 5.0) != b""
    except (ssl.SSLError, ConnectionError):
        return False
    except TimeoutError:
        return True  # silence after a handshake: not refused


def route(node: Node, other: Node) -> str | None:
    for status in node.engine.status():
        if status.fingerprint == other.fp:
            return status.route
    return None


async def test_two_peers_sync_through_the_relay_alone(
    tmp_path: Path, transit: TransitRelay
) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", docs={"d:a": doc_with("a1")}, relay=transit.address, timeouts=FAST)
        b = await c.add("bob", docs={"d:b": doc_with("b1")}, relay=transit.address, timeouts=FAST)
        know_each_other(a, b)
        await eventually(lambda: in_sync(a, b) and converged(a, b), 20, "a sync through the relay")
        assert route(a, b) == route(b, a) == "relay"
        assert a.link_to(b).address == b.link_to(a).address == f"relay {transit.address}"
        # the one TLS client is the smaller fingerprint
        assert a.link_to(b).outbound == tls_client(a.fp, b.fp)
        a.edit("d:a", "after")
        await eventually(b.has("d:a", "after"), 10, "a live edit through the relay")


async def test_three_peers_sync_through_the_relay_alone(
    tmp_path: Path, transit: TransitRelay
) -> None:
    async with cluster(tmp_path) as c:
        nodes = [
            await c.add(name, docs={f"d:{name}": doc_with(name)}, relay=transit.address)
            for name in ("alice", "bob", "carol")
        ]
        know_each_other(*nodes)
        a, b, carol = nodes
        await eventually(
            lambda: in_sync(a, b) and in_sync(b, carol) and in_sync(a, carol) and converged(*nodes),
            30,
            "three peers through the relay",
        )
        assert {route(x, y) for x in nodes for y in nodes if x is not y} == {"relay"}
        carol.edit("d:carol", "late")
        await eventually(lambda: a.has("d:carol", "late")() and b.has("d:carol", "late")(), 10)


async def test_the_relay_carries_only_ciphertext(tmp_path: Path, transit: TransitRelay) -> None:
    """A capturing proxy in front of the relay keeps every byte both peers send through it."""
    proxy = await Relay(transit.port).start()
    via = RelayAddress("127.0.0.1", proxy.port)
    plaintext = "Grace-Hopper-" + secrets.token_hex(8)
    try:
        async with cluster(tmp_path) as c:
            a = await c.add("alice", docs={"d:known": doc_with(plaintext)}, relay=via)
            b = await c.add("bob", relay=via)
            know_each_other(a, b)
            await eventually(lambda: in_sync(a, b) and converged(a, b), 20, "sync via the proxy")
            a.edit("d:known", plaintext + "-edited")
            await eventually(b.has("d:known", plaintext + "-edited"), 10)
    finally:
        await proxy.stop()
    captured = bytes(proxy.captured)
    assert b"please relay " in captured  # the proxy did see the relay protocol
    assert len(captured) > 2000  # and the documents went through it
    assert plaintext.encode() not in captured
    assert b"Grace-Hopper" not in captured


def identity_with_order(folder: Path, other: Identity, smaller: bool) -> Identity:
    """A new identity in ``folder`` whose fingerprint sorts before ``other``'s (or after)."""
    import shutil

    while True:
        shutil.rmtree(folder, ignore_errors=True)
        made = Identity.load_or_create(folder)
        if (made.fingerprint < other.fingerprint) == smaller:
            return made


@pytest.mark.parametrize("alice_dials", [True, False], ids=["alice-dials", "alice-serves"])
async def test_a_token_thief_disrupts_but_never_completes_a_handshake(
    tmp_path: Path, transit: TransitRelay, alice_dials: bool
) -> None:
    """Someone who learned the pair's token meets alice at the relay in bob's place, with its
    own certificate (not the one alice pinned for bob: a wrong pin), in the TLS role alice
    expects from bob (both roles): alice refuses it and keeps nothing of it; once the thief is
    gone alice and bob meet."""
    alice_id = Identity.load_or_create(tmp_path / "alice" / "identity")
    identity_with_order(tmp_path / "bob" / "identity", alice_id, smaller=not alice_dials)
    async with cluster(tmp_path) as c:
        a = await c.add("alice", docs={"d:a": doc_with("a1")}, relay=transit.address, timeouts=FAST)
        b = await c.add("bob", start=False, relay=transit.address, timeouts=FAST)
        assert tls_client(a.fp, b.fp) == alice_dials
        secret = secrets.token_bytes(32)
        know_each_other(a, b, secret=secret)
        thief = Identity.load_or_create(tmp_path / "thief")
        token = peer_token(secret, a.fp, b.fp, day())
        reader, writer = await asyncio.wait_for(meet(transit.address, token), 20)
        if alice_dials:  # the thief serves TLS as "bob"
            ctx = server_context(thief, [a.identity.cert_der])
            channel = TlsChannel(reader, writer, ctx, server_side=True)
        else:  # alice serves: the thief dials with its own certificate
            channel = TlsChannel(
                reader,
                writer,
                client_context(thief, a.identity.cert_der),
                server_side=False,
                server_hostname=sni_name(thief.fingerprint, a.fp),
            )
        assert not await completes(channel)
        channel.abort()
        await eventually(lambda: a.of(PeerRefused), 10, "alice refusing the thief")
        assert all(e.address.startswith("relay ") for e in a.of(PeerRefused))
        assert a.link_to(b) is None and a.engine.links == {}
        assert a.host.digests().keys() == {"d:a"}
        await b.engine.start()
        await eventually(lambda: in_sync(a, b) and converged(a, b), 20, "the real bob after it")


async def test_relay_down_falls_back_to_a_direct_link_and_comes_back(
    tmp_path: Path, transit: TransitRelay
) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", docs={"d:a": doc_with("a1")}, relay=transit.address, timeouts=FAST)
        b = await c.add("bob", relay=transit.address, timeouts=FAST)
        know_each_other(a, b)
        await eventually(lambda: in_sync(a, b), 20, "through the relay")
        assert route(a, b) == "relay"
        transit.stop()
        await eventually(lambda: a.link_to(b) is None, 10, "the relayed link dropping")
        a.dial(b)  # a direct address (as discovery or plntui peer add gives)
        await eventually(lambda: in_sync(a, b), 20, "a direct link")
        assert route(a, b) in ("lan", "direct")
        a.edit("d:a", "direct")
        await eventually(b.has("d:a", "direct"), 10)
        transit.start()
        a.engine.disconnect(b.fp)  # no direct address any more: only the relay is left
        b.engine.disconnect(a.fp)
        await eventually(lambda: in_sync(a, b) and route(a, b) == "relay", 40, "the relay again")
        a.edit("d:a", "relayed-again")
        await eventually(b.has("d:a", "relayed-again"), 10)


async def test_a_direct_link_replaces_a_relayed_one(tmp_path: Path, transit: TransitRelay) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", docs={"d:a": doc_with("a1")}, relay=transit.address, timeouts=FAST)
        b = await c.add("bob", relay=transit.address, timeouts=FAST)
        know_each_other(a, b)
        await eventually(lambda: in_sync(a, b) and route(a, b) == "relay", 20)
        a.dial(b)
        await eventually(lambda: in_sync(a, b) and route(a, b) != "relay", 20, "direct preferred")
        assert route(b, a) != "relay"


async def test_pairing_by_code_through_the_relay(tmp_path: Path, transit: TransitRelay) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", docs={"d:a": doc_with("a1")}, relay=transit.address, timeouts=FAST)
        b = await c.add("bob", relay=transit.address, timeouts=FAST)
        invite = a.engine.open_invite()
        result = await b.engine.pair_relayed(invite.text, timeout=20)
        assert result.fingerprint == a.fp
        peer_a, peer_b = a.trust.get(b.fp), b.trust.get(a.fp)
        assert peer_a is not None and peer_b is not None
        assert peer_a.trusted and peer_b.trusted
        assert peer_a.cert == b.identity.cert_der and peer_b.cert == a.identity.cert_der
        assert peer_a.relay_secret and peer_a.relay_secret == peer_b.relay_secret
        await eventually(lambda: in_sync(a, b) and converged(a, b), 20, "sync after pairing")
        assert route(a, b) == "relay"
        # the invite allowed one attempt: it is used
        with pytest.raises(PairingFailed):
            await b.engine.pair_relayed(invite.text, timeout=2)


async def test_pairing_through_the_relay_across_utc_midnight(
    tmp_path: Path, transit: TransitRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens change at UTC midnight. Alice's clock is a few seconds ahead: her invite already
    waits under the new day's token while Bob's clock says the old day. Bob's wait moves to
    the new day's token when his clock passes midnight, and they meet."""
    midnight = time.monotonic() + 1.5
    monkeypatch.setattr("sync.relaylink.day", lambda: "2026-12-06")
    monkeypatch.setattr(
        "sync.engine.day", lambda: "2026-12-05" if time.monotonic() < midnight else "2026-12-06"
    )
    monkeypatch.setattr(
        "sync.engine.seconds_to_next_day",
        lambda: midnight - time.monotonic() if time.monotonic() < midnight else 86400.0,
    )
    async with cluster(tmp_path) as c:
        a = await c.add("alice", relay=transit.address, timeouts=FAST)
        b = await c.add("bob", relay=transit.address, timeouts=FAST)
        invite = a.engine.open_invite()
        result = await b.engine.pair_relayed(invite.text, timeout=20)
        assert time.monotonic() >= midnight  # they met under the new day's token
        assert result.fingerprint == a.fp
        peer_a = a.trust.get(b.fp)
        assert peer_a is not None and peer_a.trusted


async def test_a_wrong_code_through_the_relay_fails_and_pins_nothing(
    tmp_path: Path, transit: TransitRelay
) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", relay=transit.address, timeouts=FAST)
        b = await c.add("bob", relay=transit.address, timeouts=FAST)
        invite = a.engine.open_invite()
        wrong = invite.text[:3] + ("0000-0000" if not invite.text.endswith("0000") else "1111-1111")
        with pytest.raises(PairingFailed):
            await b.engine.pair_relayed(wrong, timeout=20)
        assert a.trust.get(b.fp) is None and b.trust.get(a.fp) is None


async def test_circle_secrets_meet_even_when_the_two_views_differ(
    tmp_path: Path, transit: TransitRelay
) -> None:
    """No pair secret: Alice shares circles with secrets X and Y with Bob, who knows only of
    Y's circle yet (X's has not reached him). They still meet, under Y's token."""
    x, y = b"X" * 32, b"Y" * 32
    async with cluster(tmp_path) as c:
        a = await c.add(
            "alice",
            docs={"d:a": doc_with("a1")},
            relay=transit.address,
            relay_secrets=lambda fp: [x, y],
        )
        b = await c.add("bob", relay=transit.address, relay_secrets=lambda fp: [y])
        know_each_other(a, b, pair=False)
        await eventually(lambda: in_sync(a, b) and converged(a, b), 20, "a meeting under Y")
        assert route(a, b) == "relay"


async def test_a_link_that_drops_at_once_is_retried_with_backoff(
    tmp_path: Path, transit: TransitRelay
) -> None:
    """Bob's side ends every relayed link as soon as it is admitted (as an incompatible peer
    would): the two sides back off instead of meeting again in a tight loop."""
    async with cluster(tmp_path) as c:
        a = await c.add("alice", relay=transit.address, timeouts=FAST)
        b = await c.add("bob", relay=transit.address, timeouts=FAST)
        admitted: list[float] = []
        admit = b.engine.admit

        def admit_then_close(*args: object, **kwargs: object) -> object:
            link = admit(*args, **kwargs)  # type: ignore[arg-type]
            if link is not None:
                admitted.append(asyncio.get_running_loop().time())
                b.engine.loop.call_soon(b.engine.close_link, link, "not today")  # type: ignore[union-attr]
            return link

        b.engine.admit = admit_then_close  # type: ignore[method-assign]
        know_each_other(a, b)
        await eventually(lambda: len(admitted) >= 2, 20, "two relayed links")
        await asyncio.sleep(3.0)  # a window to count in: a tight loop makes hundreds
        assert len(admitted) < 12, len(admitted)


async def test_turning_the_relay_off_ends_relayed_links_and_on_again_brings_them_back(
    tmp_path: Path, transit: TransitRelay
) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", docs={"d:a": doc_with("a1")}, relay=transit.address)
        b = await c.add("bob", relay=transit.address)
        know_each_other(a, b)
        await eventually(lambda: in_sync(a, b) and route(a, b) == "relay", 20)
        a.engine.set_relay(None)
        await eventually(lambda: a.link_to(b) is None and b.link_to(a) is None, 10, "links cut")
        await eventually(lambda: not a.engine.relayer.tasks, 5, "no waiter left")
        assert a.link_to(b) is None and not a.engine.relayer.meeting  # no route at all now
        a.edit("d:a", "while-off")
        a.engine.set_relay(transit.address)
        await eventually(lambda: in_sync(a, b) and b.host.has("d:a", "while-off"), 20)
        assert route(a, b) == "relay"
        assert len(a.engine.relayer.tasks) == 1


async def test_revoking_a_peer_cuts_its_relayed_link_and_its_waiting(
    tmp_path: Path, transit: TransitRelay
) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", relay=transit.address)
        b = await c.add("bob", relay=transit.address)
        know_each_other(a, b)
        await eventually(lambda: in_sync(a, b), 20)
        a.trust.revoke(b.fp)
        a.engine.trust_changed()
        await eventually(lambda: a.link_to(b) is None, 10, "the link cut")
        await eventually(lambda: b.fp not in a.engine.relayer.tasks, 5, "no waiter for bob")


async def test_sync_once_through_the_relay(tmp_path: Path, transit: TransitRelay) -> None:
    async with cluster(tmp_path) as c:
        a = await c.add("alice", docs={"d:a": doc_with("a1")}, relay=transit.address)
        b = await c.add("bob", relay=transit.address, listen=False, auto_dial=False)
        know_each_other(a, b)
        summary = await b.engine.sync_once(timeout=20)
        assert [r.outcome for r in summary.results] == ["in-sync"]
        assert summary.results[0].address == f"relay {transit.address}"
        assert b.host.has("d:a", "a1")


async def test_an_invite_at_the_relay_answers_only_pairing(
    tmp_path: Path, transit: TransitRelay
) -> None:
    """Someone who computes the day's rendezvous of a nameplate meets the invite there: an INFO
    query (which would tell the inviter's certificate and clock) is not answered."""
    from sync.relay import pairing_token
    from sync.tls import client_context_anonymous, info_frame, read_one_frame

    async with cluster(tmp_path) as c:
        a = await c.add("alice", relay=transit.address, timeouts=FAST)
        invite = a.engine.open_invite()
        reader, writer = await asyncio.wait_for(
            meet(transit.address, pairing_token(invite.nameplate, day())), 20
        )
        channel = TlsChannel(reader, writer, client_context_anonymous(), server_side=False)
        await channel.handshake(5.0)
        channel.write(info_frame())
        await channel.drain()
        try:
            answer = await asyncio.wait_for(read_one_frame(channel, max_payload=4096), 5)
        except (ssl.SSLError, ConnectionError):
            answer = None
        assert answer is None
        channel.abort()
        assert invite.is_open()  # an INFO does not spend it
