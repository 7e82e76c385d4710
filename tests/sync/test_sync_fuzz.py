"""Fuzzing with hypothesis: whatever a peer sends, only RemoteProtocolError, and no harm done."""

from __future__ import annotations

import json
import os
import zlib

import automerge.core as am
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_helpers import Link, add_items, connect, hello_frame, replica, session

from sync.errors import FrameTooLarge, RemoteProtocolError
from sync.framing import Frame, FrameDecoder, FrameKind, encode_frame
from sync.session import State, SyncSession

FUZZ = settings(
    max_examples=int(os.environ.get("SYNC_FUZZ_EXAMPLES", "150")),  # raise it for a long run
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def heads(doc: am.Document) -> list[bytes]:
    return sorted(doc.get_heads())


# -- real payloads to mutate ---------------------------------------------------------------------


def _real_sync_payloads() -> list[bytes]:
    """Every SYNC payload of a divergent pair converging (several carry changes)."""
    a, b = replica(), replica()
    add_items(a, [f"a{i}" for i in range(6)], per_transaction=2)
    add_items(b, [f"b{i}" for i in range(4)])
    link = Link(session(a), session(b)).start()
    payloads: list[bytes] = []
    for _ in range(20):
        for s in (link.a, link.b):
            while s.next_event() is not None:
                pass
        out_a, out_b = link.a.data_to_send(), link.b.data_to_send()
        if not out_a and not out_b:
            break
        for data in (out_a, out_b):
            payloads += [f.payload for f in FrameDecoder().feed(data) if f.kind == FrameKind.SYNC]
        link.b.receive_data(out_a)
        link.a.receive_data(out_b)
    assert any(len(p) > 150 for p in payloads)
    return payloads


REAL_SYNC = _real_sync_payloads()
_full = replica()
add_items(_full, [f"s{i}" for i in range(30)])
REAL_SNAPSHOT_RAW = _full.save()


@st.composite
def mutated(draw: st.DrawFn, bases: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "truncate"]))
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=40))
        else:
            del data[i:]
    return bytes(data)


payloads = st.one_of(
    st.binary(max_size=300),
    mutated(REAL_SYNC),
    st.sampled_from(REAL_SYNC),
)
kinds = st.one_of(st.sampled_from(list(FrameKind)), st.integers(0, 255))


# -- framing ------------------------------------------------------------------------------------


@FUZZ
@given(
    data=st.binary(max_size=2000),
    cuts=st.lists(st.integers(1, 300), max_size=30),
    max_frame=st.sampled_from([1, 16, 1000, 2**20]),
)
def test_frame_decoder_raises_only_remote_errors(
    data: bytes, cuts: list[int], max_frame: int
) -> None:
    decoder = FrameDecoder(max_frame, limits={FrameKind.PING: 4})
    pos = 0
    try:
        for size in [*cuts, len(data)]:
            for frame in decoder.feed(data[pos : pos + size]):
                assert 1 <= frame.wire_size - 4 <= max_frame
            pos += size
    except RemoteProtocolError:
        pass


@FUZZ
@given(
    frames=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=500)), max_size=12),
    cuts=st.lists(st.integers(1, 700), max_size=40),
)
def test_frames_survive_any_chunking(frames: list[tuple[int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(k, p) for k, p in frames)
    decoder = FrameDecoder()
    got: list[Frame] = []
    pos = 0
    for size in [*cuts, len(wire)]:
        got += decoder.feed(wire[pos : pos + size])
        pos += size
    assert got == [Frame(k, p) for k, p in frames]
    assert decoder.buffered == 0


# -- the session --------------------------------------------------------------------------------


def syncing() -> SyncSession:
    a, b = replica(), replica()
    add_items(a, ["a"])
    add_items(b, ["b"])
    link = connect(a, b)
    assert link.b.state is State.SYNCING
    return link.b


def feed_and_check(s: SyncSession, frames: list[tuple[int, bytes]], chunk: int) -> None:
    """Feed frames one at a time; an error must be remote and leave the heads as they were."""
    for kind, payload in frames:
        before = heads(s.doc)
        data = encode_frame(kind, payload)
        try:
            for i in range(0, len(data), chunk):
                s.receive_data(data[i : i + chunk])
            while s.next_event() is not None:
                pass
        except RemoteProtocolError:
            assert heads(s.doc) == before
            assert s.state is State.CLOSED
            assert s.next_event() is None
            return
        if s.state is State.CLOSED:
            return


@FUZZ
@given(
    frames=st.lists(st.tuples(kinds, payloads), min_size=1, max_size=4), chunk=st.integers(1, 512)
)
def test_session_after_hello_survives_random_frames(
    frames: list[tuple[int, bytes]], chunk: int
) -> None:
    feed_and_check(syncing(), frames, chunk)


@FUZZ
@given(payload=mutated(REAL_SYNC))
def test_session_survives_mutated_sync_messages(payload: bytes) -> None:
    feed_and_check(syncing(), [(FrameKind.SYNC, payload)], 4096)


@FUZZ
@given(
    raw=st.one_of(mutated([REAL_SNAPSHOT_RAW]), st.binary(max_size=400)), compressed=st.booleans()
)
def test_awaiting_session_survives_random_snapshots(raw: bytes, compressed: bool) -> None:
    s = session(replica())
    s.start()
    s.receive_data(hello_frame(empty=False))
    while s.next_event() is not None:
        pass
    payload = zlib.compress(raw) if compressed else raw
    feed_and_check(s, [(FrameKind.SNAPSHOT, payload)], 65536)


@FUZZ
@given(data=st.binary(max_size=600), chunk=st.integers(1, 100))
def test_session_survives_unframed_noise(data: bytes, chunk: int) -> None:
    s = syncing()
    before = heads(s.doc)
    try:
        for i in range(0, len(data), chunk):
            s.receive_data(data[i : i + chunk])
            while s.next_event() is not None:
                pass
    except (RemoteProtocolError, FrameTooLarge):
        assert heads(s.doc) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(
    extra=st.dictionaries(
        st.sampled_from(["protocol", "versions", "doc", "heads", "empty", "other"]),
        json_values,
        max_size=5,
    )
)
def test_hello_with_random_fields(extra: dict[str, object]) -> None:
    body: dict[str, object] = {
        "protocol": 1,
        "versions": [1],
        "doc": "net-test",
        "heads": [],
        "empty": False,
    }
    body.update(extra)
    s = session(replica())
    s.start()
    feed_and_check(s, [(FrameKind.HELLO, json.dumps(body).encode())], 7)
