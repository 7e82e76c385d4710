"""Fuzzing with hypothesis: whatever a peer sends, the session raises nothing but
``RemoteProtocolError`` (``FrameTooLarge`` included), and the host's documents stay as they were.

The fuzzed sessions hold everything the real payloads being mutated could bring, so a payload
that survives mutation as a valid message brings nothing new: any change would be harm.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import automerge.core as am
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_helpers import (
    PEER_A,
    MemoryHost,
    SharePolicy,
    add_items,
    connect,
    copy_doc,
    digest_of,
    doc_with,
    docs_entry,
    drain,
    hello_frame,
    manifest_frame,
    share_all,
)

from sync.errors import FrameTooLarge, RemoteProtocolError
from sync.framing import Frame, FrameDecoder, FrameKind, encode_frame
from sync.session import Closed, DocsReceived, State, SyncSession

FUZZ = settings(
    max_examples=int(os.environ.get("SYNC_FUZZ_EXAMPLES", "150")),  # raise it for a long run
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SYNC_KINDS = [
    FrameKind.HELLO,
    FrameKind.MANIFEST,
    FrameKind.WANT,
    FrameKind.DOCS,
    FrameKind.DOC_SYNC,
    FrameKind.PING,
    FrameKind.BYE,
    FrameKind.INTRODUCE,
]


# -- real traffic to mutate ------------------------------------------------------------------------


def _real_traffic() -> tuple[dict[int, list[bytes]], dict[str, bytes], dict[str, bytes]]:
    """Every payload of two repositories converging, and both repositories after it
    (``held``: every document; ``lacking``: the same without ``d:three``, offered whole)."""
    base = doc_with("base")
    a = MemoryHost({"d:one": copy_doc(base), "d:two": doc_with("two"), "d:three": doc_with("3")})
    b = MemoryHost({"d:one": copy_doc(base), "c:team": doc_with("member")})
    add_items(a.docs["d:one"], [f"a{i}" for i in range(6)], per_transaction=2)
    add_items(b.docs["d:one"], [f"b{i}" for i in range(4)])
    add_items(a.docs["d:three"], [f"t{i}" for i in range(8)])
    p = connect(a, b)
    assert a.digests() == b.digests()
    payloads: dict[int, list[bytes]] = {}
    for frame in p.sent["a"] + p.sent["b"]:
        payloads.setdefault(frame.kind, []).append(frame.payload)
    assert {FrameKind.MANIFEST, FrameKind.WANT, FrameKind.DOCS, FrameKind.DOC_SYNC} <= set(payloads)
    held = {d: doc.save() for d, doc in b.docs.items()}
    lacking = {d: data for d, data in held.items() if d != "d:three"}
    return payloads, held, lacking


REAL, HELD, LACKING = _real_traffic()
REAL_DOCS_RAW = [zlib.decompress(p) for p in REAL[FrameKind.DOCS]]


def host_of(saved: dict[str, bytes], share: SharePolicy = share_all) -> MemoryHost:
    return MemoryHost({d: am.Document.load(data) for d, data in saved.items()}, share=share)


def syncing(saved: dict[str, bytes] = HELD, share: SharePolicy = share_all) -> SyncSession:
    """A session past the HELLOs; the peer offers every document of ``HELD``."""
    host = host_of(saved, share)
    s = SyncSession(host, PEER_A, "server")
    s.start()
    s.receive_data(hello_frame() + manifest_frame(OFFER))
    drain(s)
    s.data_to_send()
    assert s.state is State.SYNCING
    return s


OFFER = host_of(HELD).digests()


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


ALL_REAL = [p for payloads in REAL.values() for p in payloads]
payloads = st.one_of(st.binary(max_size=300), mutated(ALL_REAL), st.sampled_from(ALL_REAL))
kinds = st.one_of(st.sampled_from(SYNC_KINDS), st.integers(0, 255))


def feed(s: SyncSession, frames: list[tuple[int, bytes]], chunk: int) -> list[Any]:
    """Feed frames in ``chunk``-byte pieces; only a remote error may come out, and it must close
    the session. Returns the events."""
    events: list[Any] = []
    wire = b"".join(encode_frame(kind, payload) for kind, payload in frames)
    try:
        for i in range(0, len(wire), chunk):
            s.receive_data(wire[i : i + chunk])
            events += drain(s)
            s.data_to_send()
    except RemoteProtocolError:  # FrameTooLarge is one
        assert s.state is State.CLOSED
        assert s.next_event() is None
        assert frames_of_last(s.data_to_send()) in (FrameKind.BYE, None)
    return events


def frames_of_last(data: bytes) -> int | None:
    frames = FrameDecoder().feed(data)
    return frames[-1].kind if frames else None


def assert_unharmed(s: SyncSession, saved: dict[str, bytes] = HELD) -> None:
    host = s.host
    assert isinstance(host, MemoryHost)
    assert host.digests() == host_of(saved).digests()


# -- framing ---------------------------------------------------------------------------------------


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


# -- the session -----------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=600), chunk=st.integers(1, 100))
def test_random_byte_streams_only_raise_remote_errors_and_change_nothing(
    data: bytes, chunk: int
) -> None:
    s = syncing()
    try:
        for i in range(0, len(data), chunk):
            s.receive_data(data[i : i + chunk])
            drain(s)
    except (RemoteProtocolError, FrameTooLarge):
        assert s.state is State.CLOSED
    assert_unharmed(s)


@FUZZ
@given(
    frames=st.lists(st.tuples(kinds, payloads), min_size=1, max_size=4), chunk=st.integers(1, 512)
)
def test_random_frames_after_hello_only_raise_remote_errors_and_change_nothing(
    frames: list[tuple[int, bytes]], chunk: int
) -> None:
    s = syncing()
    feed(s, frames, chunk)
    assert_unharmed(s)


@FUZZ
@given(
    kind=st.sampled_from([FrameKind.MANIFEST, FrameKind.WANT, FrameKind.DOC_SYNC]), data=st.data()
)
def test_mutated_real_frames_only_raise_remote_errors_and_change_nothing(
    kind: FrameKind, data: st.DataObject
) -> None:
    payload = data.draw(mutated(REAL[kind]))
    s = syncing()
    feed(s, [(kind, payload)], 4096)
    assert_unharmed(s)


@FUZZ
@given(raw=st.one_of(mutated(REAL_DOCS_RAW), st.binary(max_size=300)), compressed=st.booleans())
def test_mutated_documents_asked_for_are_stored_only_if_intact(
    raw: bytes, compressed: bool
) -> None:
    s = syncing(LACKING)  # d:three was offered and asked for whole
    payload = zlib.compress(raw) if compressed else raw
    events = feed(s, [(FrameKind.DOCS, payload)], 65536)
    host = s.host
    assert isinstance(host, MemoryHost)
    before = host_of(LACKING).digests()
    assert {d: g for d, g in host.digests().items() if d != "d:three"} == before
    if "d:three" in host.docs:  # only the real document, as it was sent
        assert host.digest("d:three") == host_of(HELD).digest("d:three")
        assert any(isinstance(e, DocsReceived) for e in events)
    refused = [e for e in events if isinstance(e, Closed) and e.refused]
    assert all(e.doc_id for e in refused)


@FUZZ
@given(
    entries=st.lists(
        st.tuples(
            st.sampled_from(["d:three", "d:one", "c:team", "d:nope"]),
            st.sampled_from(["0" * 16, "ffffffffffffffff", "zz"]),
            st.one_of(
                st.sampled_from([HELD["d:three"], HELD["d:one"], b""]),
                mutated([HELD["d:three"]]),
            ),
        ),
        max_size=3,
    )
)
def test_crafted_document_batches_never_harm_what_is_held(
    entries: list[tuple[str, str, bytes]],
) -> None:
    s = syncing(LACKING)
    raw = b"".join(docs_entry(d, g, data) for d, g, data in entries)
    feed(s, [(FrameKind.DOCS, zlib.compress(raw))], 65536)
    host = s.host
    assert isinstance(host, MemoryHost)
    assert {d: g for d, g in host.digests().items() if d != "d:three"} == host_of(LACKING).digests()
    if "d:three" in host.docs:  # stored as sent: one of the intact documents offered as d:three
        sent = {data for d, _g, data in entries if d == "d:three"}
        intact = {digest_of(am.Document.load(data)) for data in sent if _loads(data)}
        assert host.digest("d:three") in intact


def _loads(data: bytes) -> bool:
    try:
        am.Document.load(data)
    except Exception:
        return False
    return True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
doc_ids = st.one_of(st.sampled_from(list(HELD) + ["d:nope"]), st.text(max_size=12))


@FUZZ
@given(
    extra=st.dictionaries(
        st.sampled_from(["protocol", "versions", "wants_introductions", "other"]),
        json_values,
        max_size=4,
    )
)
def test_hellos_with_random_fields_only_raise_remote_errors(extra: dict[str, object]) -> None:
    body: dict[str, object] = {"protocol": 2, "versions": [2]}
    body.update(extra)
    s = SyncSession(host_of(HELD), PEER_A, "server")
    s.start()
    feed(s, [(FrameKind.HELLO, json.dumps(body).encode())], 7)
    assert_unharmed(s)


@FUZZ
@given(
    docs=st.one_of(
        st.dictionaries(doc_ids, st.one_of(st.sampled_from(["0" * 16]), json_values), max_size=4),
        json_values,
    ),
    gone=st.one_of(st.lists(st.one_of(doc_ids, json_values), max_size=3), json_values),
)
def test_manifests_of_random_json_only_raise_remote_errors_and_change_nothing(
    docs: object, gone: object
) -> None:
    s = syncing()
    body = json.dumps({"docs": docs, "gone": gone}).encode()
    feed(s, [(FrameKind.MANIFEST, zlib.compress(body))], 4096)
    assert_unharmed(s)


@FUZZ
@given(
    want=st.one_of(st.lists(st.one_of(doc_ids, json_values), max_size=4), json_values),
    ack=st.one_of(st.sampled_from([0, 1, 1.0, True]), json_values),
)
def test_wants_of_random_json_only_raise_remote_errors_and_send_only_offered_documents(
    want: object, ack: object
) -> None:
    s = syncing(share=lambda _peer, doc_id: doc_id != "c:team")  # c:team is not the peer's
    feed(s, [(FrameKind.WANT, json.dumps({"want": want, "ack": ack}).encode())], 4096)
    assert_unharmed(s)
    host = s.host
    assert isinstance(host, MemoryHost)
    assert set(host.served) <= set(HELD) - {"c:team"}


def test_the_fuzzed_session_holds_every_real_change() -> None:
    """The premise of the tests above: the real payloads bring nothing new to ``HELD``."""
    s = syncing()
    for payload in REAL[FrameKind.DOC_SYNC]:
        s.receive_data(encode_frame(FrameKind.DOC_SYNC, payload))
        assert not [e for e in drain(s) if isinstance(e, DocsReceived)]
    assert_unharmed(s)
    lacking = syncing(LACKING)
    for payload in REAL[FrameKind.DOCS]:
        lacking.receive_data(encode_frame(FrameKind.DOCS, payload))
    drain(lacking)
    assert_unharmed(lacking)  # d:three arrived whole, as it is held
