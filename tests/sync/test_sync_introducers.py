"""Introducers without the network: the trust store's part, the INTRODUCE payload, the session."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_helpers import PEER_A, PEER_B, MemoryHost, doc_with, drain, hello_frame, session

from sync.errors import LocalProtocolError, RemoteProtocolError
from sync.fingerprint import fingerprint_of
from sync.framing import FrameDecoder, FrameKind, encode_frame
from sync.introduce import MAX_ENTRIES, MAX_INTRODUCE, encode_introductions, parse_introductions
from sync.session import IntroductionsReceived, PeerHello, State, SyncSession
from sync.trust import (
    MAX_AUTO_ACCEPTED,
    MAX_PENDING,
    Introduction,
    TrustStore,
    TrustStoreError,
    UnknownIntroduction,
    UnknownPeer,
)

FUZZ = settings(
    max_examples=int(os.environ.get("SYNC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# a "certificate" here is any DER-sized blob: the store only checks that it hashes to its peer
CERT_B, CERT_C, CERT_D = b"cert of bob", b"cert of carol", b"cert of dave"
B, C, D = (fingerprint_of(c) for c in (CERT_B, CERT_C, CERT_D))
OWN = bytes(32)


@pytest.fixture
def store(tmp_path: Path) -> TrustStore:
    store = TrustStore(tmp_path / "peers.json")
    store.trust(B, "Bob")
    return store


def offer(fp: bytes, name: str = "", cert: bytes | None = None, *addresses: str) -> Introduction:
    return Introduction(fp, name, cert, tuple(addresses))


# -- the trust store ------------------------------------------------------------------------------


def test_an_old_peers_file_without_introducer_fields_loads(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "generation": 3,
                "peers": {B.hex(): {"name": "Bob", "state": "trusted", "cert": None}},
            }
        )
    )
    store = TrustStore(path)
    peer = store.get(B)
    assert peer is not None and peer.trusted
    assert (peer.introducer, peer.auto_accept, peer.introduced_by) == (False, False, None)
    assert store.pending() == []
    store.set_introducer(B, introducer=True, auto_accept=True)
    again = TrustStore(path).get(B)
    assert again is not None and again.introducer and again.auto_accept


def test_introductions_count_only_from_a_peer_marked_introducer(store: TrustStore) -> None:
    assert store.receive_introductions(B, [offer(C, "Carol")], own=OWN) == []
    assert store.pending() == [] and store.get(C) is None
    store.set_introducer(B, introducer=True)
    ((entry, outcome),) = store.receive_introductions(B, [offer(C, "Carol", CERT_C)], own=OWN)
    assert (entry.fingerprint, outcome) == (C, "offered")
    (pending,) = store.pending()
    assert (pending.fingerprint, pending.introducer, pending.name) == (C, B, "Carol")
    assert pending.cert == CERT_C and pending.offered is not None
    assert not store.is_trusted(C) and store.get(C) is None  # offered, not trusted
    # offered again on the next link: nothing new, nothing written
    stat = store.path.stat().st_mtime_ns
    assert store.receive_introductions(B, [offer(C, "Carol", CERT_C)], own=OWN) == []
    assert store.path.stat().st_mtime_ns == stat


def test_approve_trusts_with_certificate_addresses_and_introducer(store: TrustStore) -> None:
    store.set_introducer(B, introducer=True)
    store.receive_introductions(B, [offer(C, "Carol", CERT_C, "10.0.0.9:47600")], own=OWN)
    peer = store.approve(C)
    assert peer.trusted and peer.cert == CERT_C and peer.addresses == ("10.0.0.9:47600",)
    assert peer.introduced_by == B and peer.name == "Carol"
    assert store.pending() == []
    reread = TrustStore(store.path).get(C)
    assert reread is not None and reread.introduced_by == B and reread.trusted
    with pytest.raises(UnknownIntroduction, match="plntui peer pending"):
        store.approve(C)


def test_reject_keeps_the_peer_revoked_and_it_is_never_offered_again(store: TrustStore) -> None:
    store.set_introducer(B, introducer=True)
    store.receive_introductions(B, [offer(C, "Carol")], own=OWN)
    rejected = store.reject(C)
    assert rejected.state == "revoked" and rejected.introduced_by == B
    assert store.receive_introductions(B, [offer(C, "Carol")], own=OWN) == []
    assert store.pending() == []
    store.set_introducer(B, introducer=True, auto_accept=True)
    assert store.receive_introductions(B, [offer(C, "Carol", CERT_C)], own=OWN) == []
    assert not store.is_trusted(C)


def test_auto_accept_trusts_at_once_but_never_a_revoked_peer_or_ourselves(
    store: TrustStore,
) -> None:
    store.trust(D, "Dave")
    store.revoke(D)
    store.set_introducer(B, introducer=True, auto_accept=True)
    outcomes = store.receive_introductions(
        B,
        [offer(OWN, "me"), offer(B, "Bob himself"), offer(D, "Dave", CERT_D), offer(C, "Carol")],
        own=OWN,
    )
    assert [(e.fingerprint, o) for e, o in outcomes] == [(C, "trusted")]
    carol = store.get(C)
    assert carol is not None and carol.trusted and carol.introduced_by == B
    assert not store.is_trusted(D) and store.get(OWN) is None
    assert store.pending() == []


def test_a_trusted_peer_only_gets_a_missing_certificate_that_matches(store: TrustStore) -> None:
    store.trust(C, "Carol")
    store.set_introducer(B, introducer=True)
    outcomes = store.receive_introductions(B, [offer(C, "Mallory", CERT_C)], own=OWN)
    assert [o for _, o in outcomes] == ["certificate"]
    carol = store.get(C)
    assert carol is not None and carol.cert == CERT_C and carol.name == "Carol"
    assert carol.introduced_by is None  # trusted by hand, not through the introducer
    with pytest.raises(ValueError, match="does not belong"):
        store.receive_introductions(B, [offer(D, "Dave", CERT_C)], own=OWN)
    assert store.get(D) is None and store.pending() == []


def test_pending_introductions_are_bounded(store: TrustStore) -> None:
    store.set_introducer(B, introducer=True)
    many = [offer(os.urandom(32), f"p{i}") for i in range(MAX_PENDING + 10)]
    outcomes = store.receive_introductions(B, many, own=OWN)
    assert len(outcomes) == MAX_PENDING == len(store.pending())
    assert len(TrustStore(store.path).pending()) == MAX_PENDING


def test_ending_or_revoking_an_introducer_drops_its_offers(store: TrustStore) -> None:
    store.set_introducer(B, introducer=True, auto_accept=True)
    store.set_introducer(B, introducer=True)
    store.receive_introductions(B, [offer(C, "Carol")], own=OWN)
    store.set_introducer(B, introducer=False)
    bob = store.get(B)
    assert bob is not None and not bob.introducer and not bob.auto_accept
    assert store.pending() == []
    store.set_introducer(B, introducer=True, auto_accept=True)
    store.revoke(B)
    bob = store.get(B)
    assert bob is not None and not bob.introducer and not bob.auto_accept
    with pytest.raises(ValueError, match="revoked"):
        store.set_introducer(B, introducer=True)
    with pytest.raises(UnknownPeer):
        store.set_introducer(C, introducer=True)


def test_trusting_an_offered_peer_by_hand_closes_the_offer(store: TrustStore) -> None:
    store.set_introducer(B, introducer=True)
    store.receive_introductions(B, [offer(C, "Carol")], own=OWN)
    store.trust(C, "Carol")
    assert store.pending() == []


def test_a_damaged_pending_list_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    bad = {
        "format": 1,
        "peers": {},
        "pending": [{"fingerprint": C.hex(), "introducer": B.hex(), "cert": "bm90IGl0"}],
    }
    path.write_text(json.dumps(bad))
    with pytest.raises(TrustStoreError, match="does not match"):
        TrustStore(path)
    assert json.loads(path.read_text()) == bad


def test_an_auto_accept_introducer_brings_a_bounded_number_of_peers(store: TrustStore) -> None:
    store.set_introducer(B, introducer=True, auto_accept=True)
    many = [offer(os.urandom(32), f"p{i}") for i in range(MAX_AUTO_ACCEPTED + 5)]
    outcomes = store.receive_introductions(B, many, own=OWN)
    trusted = [entry for entry, outcome in outcomes if outcome == "trusted"]
    offered = [entry for entry, outcome in outcomes if outcome == "offered"]
    assert len(trusted) == MAX_AUTO_ACCEPTED and len(offered) == 5
    assert {p.fingerprint for p in store.pending()} == {e.fingerprint for e in offered}


# -- the INTRODUCE payload ------------------------------------------------------------------------


def test_the_payload_round_trips_with_sanitised_names() -> None:
    entries = [offer(C, "Carol\x1b[31m", CERT_C, "10.0.0.9:47600", "[::1]:5"), offer(D)]
    payload, count = encode_introductions(entries)
    assert count == 2
    parsed = parse_introductions(payload)
    assert parsed[0] == Introduction(C, "Carol [31m", CERT_C, ("10.0.0.9:47600", "[::1]:5"))
    assert parsed[1] == Introduction(D, "", None, ())


def test_encoding_leaves_out_what_does_not_fit() -> None:
    big = [offer(os.urandom(32), "x" * 100, None, "h.example:1") for _ in range(MAX_ENTRIES + 5)]
    payload, count = encode_introductions(big)
    assert count == MAX_ENTRIES and len(parse_introductions(payload)) == MAX_ENTRIES
    payload, count = encode_introductions(big, limit=2000)
    assert len(payload) <= 2000 and 0 < count == len(parse_introductions(payload))


def _entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "fingerprint": C.hex(),
        "name": "Carol",
        "cert": base64.b64encode(CERT_C).decode(),
        "addresses": ["10.0.0.9:47600"],
    }
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"\xff", "not JSON"),
        (b"[]", "no list"),
        (b'{"peers": {}}', "no list"),
        (json.dumps({"peers": [1]}).encode(), "not a JSON object"),
        (json.dumps({"peers": [_entry(fingerprint="ab")]}).encode(), "fingerprint"),
        (json.dumps({"peers": [_entry(fingerprint="zz" * 32)]}).encode(), "fingerprint"),
        (json.dumps({"peers": [_entry(name=5)]}).encode(), "name"),
        (json.dumps({"peers": [_entry(name="n" * 401)]}).encode(), "name"),
        (json.dumps({"peers": [_entry(cert="!!")]}).encode(), "base64"),
        (
            json.dumps({"peers": [_entry(cert=base64.b64encode(CERT_D).decode())]}).encode(),
            "does not match",
        ),
        (json.dumps({"peers": [_entry(addresses="x")]}).encode(), "addresses"),
        (json.dumps({"peers": [_entry(addresses=["nohost"])]}).encode(), "wrong"),
        (json.dumps({"peers": [_entry(addresses=["a:1"] * 17)]}).encode(), "at most 16"),
        (json.dumps({"peers": [_entry(), _entry()]}).encode(), "twice"),
        (
            json.dumps(
                {"peers": [_entry(fingerprint=os.urandom(32).hex(), cert=None)] * 257}
            ).encode(),
            "limit",
        ),
    ],
)
def test_malformed_payloads_are_refused(payload: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        parse_introductions(payload)


def test_unknown_keys_are_tolerated() -> None:
    (entry,) = parse_introductions(json.dumps({"v": 2, "peers": [_entry(extra=[1])]}).encode())
    assert entry.fingerprint == C and entry.cert == CERT_C


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    try:
        parse_introductions(data)
    except RemoteProtocolError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@st.composite
def mutated_entries(draw: st.DrawFn) -> bytes:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        entry = _entry()
        for key in draw(st.lists(st.sampled_from(sorted(entry)), max_size=3)):
            if draw(st.booleans()):
                entry.pop(key, None)
            else:
                entry[key] = draw(_json)
        entries.append(entry)
    return json.dumps({"peers": entries}).encode()


@FUZZ
@given(mutated_entries())
def test_fuzz_mutated_entries_parse_to_checked_values_or_are_refused(payload: bytes) -> None:
    try:
        parsed = parse_introductions(payload)
    except RemoteProtocolError:
        return
    for entry in parsed:
        assert len(entry.fingerprint) == 32
        assert entry.cert is None or fingerprint_of(entry.cert) == entry.fingerprint
        assert all(ch.isprintable() for ch in entry.name) and len(entry.name) <= 100
        assert len(entry.addresses) <= 16


# -- the session ----------------------------------------------------------------------------------


def host() -> MemoryHost:
    return MemoryHost({"d:one": doc_with("x")})


def pair(*, a_asks: bool = False, b_asks: bool = False) -> tuple[SyncSession, SyncSession]:
    """Two sessions past their HELLOs (each has read the other's HELLO and manifest)."""
    a = session(host(), "client", PEER_B, wants_introductions=a_asks)
    b = session(host(), "server", PEER_A, wants_introductions=b_asks)
    ha, hb = a.start(), b.start()
    a.receive_data(hb)
    b.receive_data(ha)
    return a, b


def test_hello_asks_only_when_told_and_the_asked_side_may_introduce() -> None:
    a, b = pair(a_asks=True)
    (hello_at_b,) = [e for e in drain(b) if isinstance(e, PeerHello)]
    (hello_at_a,) = [e for e in drain(a) if isinstance(e, PeerHello)]
    assert hello_at_b.wants_introductions and not hello_at_a.wants_introductions
    with pytest.raises(LocalProtocolError, match="did not ask"):
        a.introduce([offer(C, "Carol", CERT_C)])  # B did not ask A
    assert b.introduce([offer(C, "Carol", CERT_C, "10.0.0.9:1")]) == 1
    before = a.host.snapshot()  # type: ignore[attr-defined]
    a.receive_data(b.data_to_send())
    (event,) = [e for e in drain(a) if isinstance(e, IntroductionsReceived)]
    assert event.entries == (Introduction(C, "Carol", CERT_C, ("10.0.0.9:1",)),)
    assert a.host.snapshot() == before  # type: ignore[attr-defined]
    assert a.state is State.SYNCING and b.state is State.SYNCING


def test_introductions_past_the_frame_limit_are_left_out() -> None:
    a = session(host(), "client", PEER_B, wants_introductions=True)
    b = session(host(), "server", PEER_A, max_frame=4096)
    b.receive_data(a.start())
    a.receive_data(b.start())
    drain(b)
    many = [offer(os.urandom(32), "x" * 90, None, "h.example:1") for _ in range(100)]
    sent = b.introduce(many)
    assert 0 < sent < 100
    a.receive_data(b.data_to_send())
    (event,) = [e for e in drain(a) if isinstance(e, IntroductionsReceived)]
    assert len(event.entries) == sent


def test_introduce_needs_the_peers_hello_first() -> None:
    b = session(host(), "server")
    b.start()
    with pytest.raises(LocalProtocolError, match="HELLO"):
        b.introduce([])


def test_a_hello_without_the_field_asks_for_nothing() -> None:
    b = session(host(), "server")
    b.start()
    b.receive_data(hello_frame())
    (hello, *_) = drain(b)
    assert isinstance(hello, PeerHello) and not hello.wants_introductions


def test_a_malformed_wants_field_is_refused() -> None:
    b = session(host(), "server")
    b.start()
    b.receive_data(hello_frame(wants_introductions="yes"))
    with pytest.raises(RemoteProtocolError, match="wants_introductions"):
        drain(b)


def test_unasked_introductions_drop_the_link() -> None:
    a, b = pair()
    drain(a), drain(b)
    payload, _ = encode_introductions([offer(C, "Carol")])
    a.receive_data(encode_frame(FrameKind.INTRODUCE, payload))
    with pytest.raises(RemoteProtocolError, match="did not ask"):
        drain(a)
    assert a.state is State.CLOSED
    bye = FrameDecoder().feed(a.data_to_send())[-1]
    assert bye.kind == FrameKind.BYE and b"did not ask" in bye.payload


def test_malformed_introductions_drop_the_link_and_leave_the_documents() -> None:
    a, b = pair(a_asks=True)
    drain(a), drain(b)
    before = a.host.snapshot()  # type: ignore[attr-defined]
    a.receive_data(encode_frame(FrameKind.INTRODUCE, b'{"peers": [{"fingerprint": "00"}]}'))
    with pytest.raises(RemoteProtocolError, match="fingerprint"):
        drain(a)
    assert a.state is State.CLOSED
    assert a.host.snapshot() == before  # type: ignore[attr-defined]


def test_introductions_before_hello_are_refused() -> None:
    a = session(host(), "client", wants_introductions=True)
    a.start()
    a.receive_data(encode_frame(FrameKind.INTRODUCE, b'{"peers": []}'))
    with pytest.raises(RemoteProtocolError, match="not allowed"):
        drain(a)


def test_an_oversized_introduce_frame_is_refused_unread() -> None:
    a, _ = pair(a_asks=True)
    header = (MAX_INTRODUCE + 2).to_bytes(4, "big") + bytes([FrameKind.INTRODUCE])
    with pytest.raises(RemoteProtocolError, match="limit"):
        a.receive_data(header)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_introduce_frames_never_touch_the_documents(data: bytes) -> None:
    a, b = pair(a_asks=True)
    drain(a), drain(b)
    before = a.host.snapshot()  # type: ignore[attr-defined]
    a.receive_data(encode_frame(FrameKind.INTRODUCE, data))
    try:
        events = drain(a)
    except RemoteProtocolError:
        assert a.state is State.CLOSED
    else:
        assert all(isinstance(e, IntroductionsReceived) for e in events)
    assert a.host.snapshot() == before  # type: ignore[attr-defined]
