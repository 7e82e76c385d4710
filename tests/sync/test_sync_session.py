"""The sans-IO sync session: two in-memory sessions pumping bytes, and a peer that misbehaves."""

from __future__ import annotations

import json
import os
import zlib

import automerge.core as am
import pytest
from sync_helpers import (
    DOC_ID,
    GENESIS,
    GENESIS_HEADS,
    Link,
    add_items,
    connect,
    contents,
    hello_frame,
    items,
    new_change,
    replica,
    session,
    sync_message,
)

from sync.errors import FrameTooLarge, LocalProtocolError, RemoteProtocolError
from sync.framing import Frame, FrameDecoder, FrameKind, encode_frame
from sync.session import (
    TRANSITIONS,
    ChangesApplied,
    Closed,
    InSync,
    PeerHello,
    SnapshotReceived,
    SnapshotSent,
    StagingReplica,
    State,
    SyncSession,
    Trigger,
)


def heads(doc: am.Document) -> list[bytes]:
    return sorted(doc.get_heads())


def frames_of(data: bytes) -> list[Frame]:
    return FrameDecoder().feed(data)


def drain(s: SyncSession) -> list[object]:
    out: list[object] = []
    while (event := s.next_event()) is not None:
        out.append(event)
    return out


# -- the happy paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("full_side", ["client", "server"])
def test_empty_peer_gets_exactly_one_snapshot(full_side: str) -> None:
    full, empty = replica(), replica()
    add_items(full, [f"item{i}" for i in range(300)], per_transaction=1)
    if full_side == "client":
        link = connect(full, empty)
        f, e, fname, ename = link.a, link.b, "a", "b"
    else:
        link = connect(empty, full)
        f, e, fname, ename = link.b, link.a, "b", "a"
    assert heads(full) == heads(empty)
    assert contents(full) == contents(empty)
    assert e.stats.frames_in_by_kind.get("SNAPSHOT") == 1
    assert f.stats.frames_out_by_kind.get("SNAPSHOT") == 1
    assert "SNAPSHOT" not in e.stats.frames_out_by_kind
    # the sender waited for the receiver's first SYNC: no change travelled as a sync message
    assert f.stats.bytes_out_by_kind["SYNC"] < 200
    (received,) = link.of(ename, SnapshotReceived)
    (sent,) = link.of(fname, SnapshotSent)
    assert received.bytes_len == sent.bytes_len and received.raw_len == sent.raw_len
    (applied,) = link.of(ename, ChangesApplied)
    assert applied.via_snapshot and applied.n_changes == 300
    assert applied.heads_before == tuple(GENESIS_HEADS)
    assert list(applied.heads_after) == heads(full)
    assert link.of(fname, ChangesApplied) == []
    assert link.of(ename, InSync) and link.of(fname, InSync)
    assert e.in_sync and f.in_sync
    assert e.state is State.SYNCING and f.state is State.SYNCING
    assert e.stats.changes_applied == 300


def test_peer_hello_reports_what_the_peer_said() -> None:
    full = replica()
    add_items(full, ["x"])
    link = connect(full, replica())
    (hello_at_b,) = link.of("b", PeerHello)
    assert hello_at_b == PeerHello(1, (1,), DOC_ID, tuple(heads(full)), False)
    (hello_at_a,) = link.of("a", PeerHello)
    assert hello_at_a.empty and hello_at_a.heads == tuple(GENESIS_HEADS)
    assert link.a.peer == hello_at_a


def test_divergent_edits_converge_through_sync_messages() -> None:
    a, b = replica(), replica()
    add_items(a, [f"a{i}" for i in range(50)], per_transaction=5)
    add_items(b, [f"b{i}" for i in range(40)], per_transaction=1)
    with a.transaction() as tx, b.transaction() as ty:
        tx.put(items(a), "shared", am.ScalarType.Str, "from a")
        ty.put(items(b), "shared", am.ScalarType.Str, "from b")
    expected_keys = {f"a{i}" for i in range(50)} | {f"b{i}" for i in range(40)} | {"shared"}
    link = connect(a, b)
    assert heads(a) == heads(b)
    assert contents(a) == contents(b)
    assert set(contents(a)["items"]) == expected_keys
    for side in (link.a, link.b):
        assert "SNAPSHOT" not in side.stats.frames_in_by_kind
        assert side.stats.frames_in_by_kind["SYNC"] >= 1
        assert side.in_sync
    (at_a,) = link.of("a", ChangesApplied)
    (at_b,) = link.of("b", ChangesApplied)
    assert at_a.n_changes == 40 + 1 and at_b.n_changes == 10 + 1
    assert not at_a.via_snapshot


def test_two_empty_peers_agree_without_a_snapshot() -> None:
    link = connect(replica(), replica())
    assert link.a.in_sync and link.b.in_sync
    assert link.of("a", InSync) == [InSync(tuple(GENESIS_HEADS))]
    for side in (link.a, link.b):
        assert set(side.stats.frames_in_by_kind) == {"HELLO", "SYNC"}


@pytest.mark.parametrize("trial", range(8))
def test_live_push_reaches_the_peer_in_a_bounded_number_of_frames(trial: int) -> None:
    """Usually one SYNC frame carries the edit. When the edit's hash is a false positive of the
    Bloom filter the peer last sent (tiny filters make that a few percent likely), Automerge
    recovers in one more round trip: the peer names the head it lacks in ``need``."""
    a, b = replica(), replica()
    add_items(a, ["seed"])
    link = connect(a, b)
    frames_before, sent_before = link.b.stats.frames_in, link.a.stats.frames_out
    seen = len(link.events["b"])
    add_items(a, ["fresh"])
    link.a.local_change()
    pushed = link.a.data_to_send()
    assert [f.kind for f in frames_of(pushed)] == [FrameKind.SYNC]
    link.b.receive_data(pushed)
    link.pump()
    assert "fresh" in contents(b)["items"]
    assert heads(a) == heads(b)
    assert link.b.stats.frames_in - frames_before <= 3
    assert link.a.stats.frames_out - sent_before <= 3
    later = link.events["b"][seen:]
    applied = [e for e in later if isinstance(e, ChangesApplied)]
    assert len(applied) == 1 and applied[0].n_changes == 1
    assert [e for e in later if isinstance(e, InSync)] == [InSync(tuple(heads(a)))]
    assert link.a.in_sync and link.b.in_sync
    assert link.rounds <= 8


def test_changes_applied_gives_bytes_to_persist() -> None:
    a, b = replica(), replica()
    add_items(b, ["mine"])
    add_items(a, ["x", "y", "z"])
    link = connect(a, b)
    (applied,) = link.of("b", ChangesApplied)
    chunks = applied.change_bytes(b)
    assert len(chunks) == applied.n_changes == 3
    rebuilt = am.Document.load(GENESIS + b"".join(chunks))  # the store's snapshot + log layout
    assert set(contents(rebuilt)["items"]) == {"x", "y", "z"}


def test_an_edit_made_while_the_snapshot_travels_is_not_lost() -> None:
    full, empty = replica(), replica()
    add_items(full, [f"f{i}" for i in range(20)])
    link = Link(session(full, "server"), session(empty, "client")).start()
    # deliver only HELLOs: the full side answers with its snapshot, which we hold back
    for s in (link.a, link.b):
        drain(s)
    snapshot_bytes = link.a.data_to_send()
    add_items(full, ["late-on-full"])
    link.a.local_change()  # SNAPSHOT_SENT: nothing goes out before the peer's first SYNC
    assert link.a.data_to_send() == b""
    add_items(empty, ["late-on-empty"])
    link.b.local_change()  # AWAIT_SNAPSHOT: nothing goes out before the snapshot
    assert link.b.data_to_send() == b""
    link.b.receive_data(snapshot_bytes)
    link.pump()
    assert heads(full) == heads(empty)
    assert {"late-on-full", "late-on-empty", "f0"} <= set(contents(full)["items"])
    assert link.b.stats.frames_in_by_kind["SNAPSHOT"] == 1


def test_shared_staging_replica_serves_several_sessions() -> None:
    hub, p1, p2 = replica(), replica(), replica()
    add_items(hub, ["hub"])
    add_items(p1, ["p1"])
    add_items(p2, ["p2"])
    staging = StagingReplica(hub)
    l1 = (
        Link(SyncSession(hub, DOC_ID, GENESIS_HEADS, "server", staging=staging), session(p1))
        .start()
        .pump()
    )
    l2 = (
        Link(SyncSession(hub, DOC_ID, GENESIS_HEADS, "server", staging=staging), session(p2))
        .start()
        .pump()
    )
    assert staging.active
    l1.a.local_change()  # gossip: hub now holds p2's item; p1 should get it
    l1.pump()
    assert set(contents(p1)["items"]) == set(contents(hub)["items"]) == {"hub", "p1", "p2"}
    l2.a.local_change()  # and p2 gets p1's item through the same hub
    l2.pump()
    assert heads(p1) == heads(p2) == heads(hub)
    assert l1.a.in_sync and l2.a.in_sync
    staging.release()
    assert not staging.active
    with pytest.raises(LocalProtocolError, match="another document"):
        SyncSession(p1, DOC_ID, GENESIS_HEADS, "server", staging=staging)


# -- byte accounting ----------------------------------------------------------------------------


def raw_sync_bytes_to_empty(doc: am.Document) -> int:
    """What Automerge's sync protocol alone sends a fresh replica (for comparison)."""
    empty = replica()
    full_state, empty_state = am.SyncState(), am.SyncState()
    received = 0
    for _ in range(50):
        to_empty = doc.generate_sync_message(full_state)
        if to_empty is not None:
            data = to_empty.encode()
            received += len(data)
            empty.receive_sync_message(empty_state, am.Message.decode(data))
        to_full = empty.generate_sync_message(empty_state)
        if to_full is not None:
            doc.receive_sync_message(full_state, am.Message.decode(to_full.encode()))
        if to_empty is None and to_full is None:
            break
    assert heads(empty) == heads(doc)
    return received


def test_empty_peer_receives_at_most_one_and_a_half_compressed_snapshots() -> None:
    full = replica()
    add_items(full, [f"contact-{i:04d}" for i in range(2000)], per_transaction=1)
    compressed = len(zlib.compress(full.save(), 6))
    empty = replica()
    link = connect(full, empty)
    assert contents(empty) == contents(full)
    received = link.b.stats.bytes_in
    raw = raw_sync_bytes_to_empty(full)
    figures = (
        f"empty peer received {received:,} B = {received / compressed:.2f}x the compressed "
        f"snapshot ({compressed:,} B); Automerge sync alone would send {raw:,} B = "
        f"{raw / compressed:.1f}x; by frame type: {link.b.stats.bytes_in_by_kind}"
    )
    print(figures)
    assert received <= 1.5 * compressed, figures
    assert link.b.stats.bytes_in == link.a.stats.bytes_out
    assert link.a.stats.bytes_in == link.b.stats.bytes_out
    assert raw > 5 * received, figures


# -- a peer that speaks another language --------------------------------------------------------


def started(doc: am.Document | None = None) -> SyncSession:
    s = session(doc or replica())
    s.start()
    return s


def refuse(s: SyncSession, data: bytes, match: str) -> RemoteProtocolError:
    doc_heads = heads(s.doc)
    s.receive_data(data)
    with pytest.raises(RemoteProtocolError, match=match) as caught:
        drain(s)
    assert heads(s.doc) == doc_heads
    assert s.state is State.CLOSED
    assert s.error is caught.value
    *_, bye = frames_of(s.data_to_send())  # anything answered before the error, then BYE
    assert bye.kind == FrameKind.BYE
    assert bye.payload.decode().startswith("protocol error: ")
    assert s.next_event() is None
    s.receive_data(b"more bytes after the error are ignored")
    return caught.value


def test_wrong_protocol_version_is_refused_with_advice() -> None:
    err = refuse(
        started(),
        hello_frame(protocol=2, versions=[2, 3]),
        "speaks protocol 2; this plntui speaks 1 — upgrade one of them",
    )
    assert "upgrade" in err.message


def test_versions_are_negotiated_to_the_highest_common_one() -> None:
    s = started()
    s.receive_data(hello_frame(protocol=3, versions=[1, 2, 3]))
    (hello,) = [e for e in drain(s) if isinstance(e, PeerHello)]
    assert hello.version == 1 and hello.versions == (1, 2, 3)


def test_another_document_is_refused() -> None:
    refuse(
        started(),
        hello_frame(doc="someone-elses-network"),
        "offers document 'someone-elses-network', not 'net-test'",
    )


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 5000 + b"]" * 5000, "not JSON"),
        (json.dumps({"versions": "1"}).encode(), "which protocol"),
        (json.dumps({"protocol": True}).encode(), "which protocol"),
        (json.dumps({"protocol": 1, "heads": [], "empty": False}).encode(), "names no document"),
        (
            json.dumps(
                {"protocol": 1, "doc": DOC_ID, "heads": ["zz" * 32], "empty": False}
            ).encode(),
            "malformed heads",
        ),
        (
            json.dumps({"protocol": 1, "doc": DOC_ID, "heads": "x", "empty": False}).encode(),
            "malformed heads",
        ),
        (
            json.dumps({"protocol": 1, "doc": DOC_ID, "heads": [], "empty": "no"}).encode(),
            "whether it is empty",
        ),
    ],
)
def test_malformed_hello_is_refused(payload: bytes, match: str) -> None:
    refuse(started(), encode_frame(FrameKind.HELLO, payload), match)


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        (
            [encode_frame(FrameKind.SYNC, b"\x42")],
            "SYNC frame, which is not allowed in state HELLO_SENT",
        ),
        (
            [encode_frame(FrameKind.PING, b"")],
            "PING frame, which is not allowed in state HELLO_SENT",
        ),
        ([encode_frame(FrameKind.SNAPSHOT, b"")], "SNAPSHOT frame, which is not allowed"),
        ([hello_frame(), hello_frame()], "HELLO frame, which is not allowed in state SYNCING"),
        (
            [hello_frame(), encode_frame(FrameKind.SNAPSHOT, zlib.compress(b""))],
            "SNAPSHOT frame, which is not allowed in state SYNCING",
        ),
        ([encode_frame(9, b"")], "unknown type 9"),
    ],
    ids=[
        "sync-first",
        "ping-first",
        "snapshot-first",
        "hello-twice",
        "unasked-snapshot",
        "unknown",
    ],
)
def test_frames_in_the_wrong_state_are_refused(frames: list[bytes], match: str) -> None:
    doc = replica()
    add_items(doc, ["not empty"])
    refuse(started(doc), b"".join(frames), match)


def test_sync_before_the_snapshot_is_refused() -> None:
    s = started()  # empty
    s.receive_data(hello_frame(empty=False))
    drain(s)
    assert s.state is State.AWAIT_SNAPSHOT
    refuse(s, encode_frame(FrameKind.SYNC, sync_message([])), "not allowed in state AWAIT_SNAPSHOT")


def test_snapshot_sender_refuses_a_second_hello_while_waiting() -> None:
    doc = replica()
    add_items(doc, ["x"])
    s = started(doc)
    s.receive_data(hello_frame(empty=True))
    assert [type(e) for e in drain(s)] == [PeerHello, SnapshotSent]
    assert s.state is State.SNAPSHOT_SENT
    refuse(s, hello_frame(empty=True), "not allowed in state SNAPSHOT_SENT")


def test_oversize_frame_closes_the_session_at_once() -> None:
    s = started()
    with pytest.raises(FrameTooLarge):
        s.receive_data(b"\x7f\xff\xff\xff")
    assert s.state is State.CLOSED
    assert [f.kind for f in frames_of(s.data_to_send())] == [FrameKind.BYE]


def test_oversize_hello_is_refused_from_its_header() -> None:
    s = started()
    with pytest.raises(FrameTooLarge, match="HELLO"):
        s.receive_data(b"\x00\x10\x00\x01\x01")  # a 1 MiB HELLO announced


# -- garbage that must not touch the document ---------------------------------------------------


def syncing_pair() -> Link:
    a, b = replica(), replica()
    add_items(a, ["a1", "a2"])
    add_items(b, ["b1"])
    return connect(a, b)


def valid_sync_payload_with_changes() -> tuple[bytes, bytes]:
    """(the changes-carrying SYNC payload b would receive, plus a)."""
    a, b = replica(), replica()
    add_items(a, ["a1"])
    add_items(b, ["b1"])
    sa = am.SyncState()
    msg = a.generate_sync_message(sa)
    b_state = am.SyncState()
    b.receive_sync_message(b_state, am.Message.decode(msg.encode()))
    reply = b.generate_sync_message(b_state)
    a.receive_sync_message(sa, am.Message.decode(reply.encode()))
    with_changes = a.generate_sync_message(sa)
    return with_changes.encode(), msg.encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00",
        b"\x42",
        b"\x43\x01",
        os.urandom(64),
        b"\x42" + os.urandom(200),
        valid_sync_payload_with_changes()[0][:-3],
        valid_sync_payload_with_changes()[0][:40],
    ],
    ids=[
        "empty",
        "zero",
        "type-only",
        "v2-truncated",
        "random",
        "random-after-type",
        "truncated-changes",
        "cut-in-heads",
    ],
)
def test_garbage_sync_payload_is_refused_and_changes_nothing(payload: bytes) -> None:
    link = syncing_pair()
    before = contents(link.b.doc)
    refuse(link.b, encode_frame(FrameKind.SYNC, payload), "sync message|refused|cannot")
    assert contents(link.b.doc) == before


def test_automerge_applies_a_failing_message_halfway() -> None:
    """Why the session stages changes: Automerge alone keeps what came before the failure."""
    actor = os.urandom(16)
    doc = replica(actor)
    with doc.transaction() as tx:
        tx.put(items(doc), "mine", am.ScalarType.Str, "original")
    good = new_change(os.urandom(16), "good", "applied first")
    clash = new_change(actor, "mine", "same actor, same seq, other content")
    message = am.Message.decode(sync_message(doc.get_heads(), changes=[good.bytes, clash.bytes]))
    before = heads(doc)
    with pytest.raises(Exception, match="duplicate seq"):
        doc.receive_sync_message(am.SyncState(), message)
    assert heads(doc) != before and "good" in contents(doc)["items"]


def test_a_message_failing_halfway_leaves_the_document_untouched() -> None:
    actor = os.urandom(16)
    doc = replica(actor)
    add_items(doc, ["mine"])
    link = connect(doc, replica())
    before = contents(doc)
    good = new_change(os.urandom(16), "good", "would be applied first")
    clash = new_change(actor, "other", "same actor, same seq, other content")
    payload = sync_message(doc.get_heads(), changes=[good.bytes, clash.bytes])
    refuse(link.a, encode_frame(FrameKind.SYNC, payload), "duplicate seq.*nothing was applied")
    assert contents(doc) == before
    assert "good" not in contents(doc)["items"]


def test_a_valid_crafted_message_is_applied_through_the_staging_replica() -> None:
    link = syncing_pair()
    change = new_change(os.urandom(16), "crafted", "ok")
    link.b.receive_data(
        encode_frame(FrameKind.SYNC, sync_message(link.b.doc.get_heads(), changes=[change.bytes]))
    )
    events = drain(link.b)
    assert any(isinstance(e, ChangesApplied) and e.n_changes == 1 for e in events)
    assert contents(link.b.doc)["items"]["crafted"] == "ok"


def awaiting_snapshot(doc: am.Document | None = None, **kwargs: object) -> SyncSession:
    s = session(doc or replica(), **kwargs)  # type: ignore[arg-type]
    s.start()
    s.receive_data(hello_frame(empty=False))
    drain(s)
    assert s.state is State.AWAIT_SNAPSHOT
    return s


def foreign_snapshot() -> bytes:
    other = am.Document()
    with other.transaction() as tx:
        tx.put(am.ROOT, "items", am.ScalarType.Str, "not a map")
    return zlib.compress(other.save())


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "truncated"),
        (b"definitely not zlib", "not zlib data"),
        (zlib.compress(replica().save())[:-6], "truncated"),
        (zlib.compress(replica().save()) + b"tail", "bytes after its end"),
        (zlib.compress(b"not an automerge document"), "not an Automerge document"),
        (zlib.compress(replica().save()[:-10]), "not an Automerge document"),
        (foreign_snapshot(), "another network"),
    ],
    ids=[
        "empty",
        "not-zlib",
        "truncated-zlib",
        "trailing",
        "not-automerge",
        "torn-doc",
        "no-genesis",
    ],
)
def test_garbage_snapshot_is_refused_and_changes_nothing(payload: bytes, match: str) -> None:
    s = awaiting_snapshot()
    refuse(s, encode_frame(FrameKind.SNAPSHOT, payload), match)
    assert heads(s.doc) == heads(replica())


def test_snapshot_bomb_stops_at_the_cap() -> None:
    s = awaiting_snapshot(max_snapshot=1 << 20)
    bomb = zlib.compress(b"\x00" * (8 << 20), 9)  # 8 MiB of zeros in about 8 KiB
    assert len(bomb) < 20_000
    refuse(s, encode_frame(FrameKind.SNAPSHOT, bomb), "inflates beyond the 1,048,576-byte limit")


def test_snapshot_conflicting_with_a_local_change_changes_nothing() -> None:
    actor = os.urandom(16)
    doc = replica(actor)
    s = awaiting_snapshot(doc)
    add_items(doc, ["local"])  # made while the snapshot travels
    before = contents(doc)
    hostile = replica(actor)  # same actor, same seq, different content
    add_items(hostile, ["impostor"])
    refuse(
        s,
        encode_frame(FrameKind.SNAPSHOT, zlib.compress(hostile.save())),
        "conflicts with this document",
    )
    assert contents(doc) == before


# -- ending -------------------------------------------------------------------------------------


def test_close_sends_bye_and_the_peer_ends_cleanly() -> None:
    link = syncing_pair()
    data = link.a.close("shutting down")
    assert [f.kind for f in frames_of(data)] == [FrameKind.BYE]
    assert link.a.state is State.CLOSED
    assert drain(link.a) == [Closed("shutting down", by_peer=False, clean=True)]
    assert link.a.close() == b""  # idempotent
    link.b.receive_data(data + encode_frame(FrameKind.PING, b""))
    assert drain(link.b) == [Closed("shutting down", by_peer=True, clean=True)]
    assert link.b.state is State.CLOSED
    assert link.b.data_to_send() == b""
    link.b.local_change()  # harmless after the end
    assert link.b.data_to_send() == b""


def test_bye_reason_is_stripped_of_control_characters() -> None:
    link = syncing_pair()
    link.b.receive_data(encode_frame(FrameKind.BYE, b"\x1b[31mred\x07 alert\r\n"))
    (closed,) = drain(link.b)
    assert isinstance(closed, Closed) and closed.reason == "[31mred alert"


def test_end_of_stream_without_bye() -> None:
    link = syncing_pair()
    link.a.receive_data(b"")
    assert drain(link.a) == [
        Closed("the peer went away without saying goodbye", by_peer=True, clean=False)
    ]
    link = syncing_pair()
    link.a.receive_data(encode_frame(FrameKind.SYNC, b"\x42\x00")[:3])
    link.a.receive_data(b"")
    (closed,) = drain(link.a)
    assert isinstance(closed, Closed) and "middle of a frame" in closed.reason


def test_ping_keeps_the_link_and_raises_no_event() -> None:
    link = syncing_pair()
    ping = link.a.ping()
    assert [f.kind for f in frames_of(ping)] == [FrameKind.PING]
    link.b.receive_data(ping)
    assert drain(link.b) == []
    assert link.b.stats.frames_in_by_kind["PING"] == 1
    assert link.b.state is State.SYNCING


def test_close_before_start_sends_nothing() -> None:
    s = session(replica())
    assert s.close() == b""
    assert s.state is State.CLOSED


# -- API misuse and the table -------------------------------------------------------------------


def test_api_misuse_is_a_local_protocol_error() -> None:
    s = session(replica())
    with pytest.raises(LocalProtocolError, match="before next_event"):
        s.next_event()
    with pytest.raises(LocalProtocolError, match="before ping"):
        s.ping()
    s.start()
    with pytest.raises(LocalProtocolError, match="already called"):
        s.start()
    with pytest.raises(LocalProtocolError, match="role"):
        SyncSession(replica(), DOC_ID, GENESIS_HEADS, "peer")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="genesis_heads"):
        SyncSession(replica(), DOC_ID, [b"short"], "client")
    with pytest.raises(LocalProtocolError, match="doc_id"):
        SyncSession(replica(), "", GENESIS_HEADS, "client")


def test_data_may_arrive_before_start() -> None:
    a, b = session(replica()), session(replica())
    b.receive_data(a.start())  # b has not started yet
    b.start()
    events = drain(b)
    assert isinstance(events[0], PeerHello)


def test_transition_table_is_the_whole_state_machine() -> None:
    assert not any(state is State.CLOSED for state, _ in TRANSITIONS)
    targets = set(TRANSITIONS.values()) | {State.START}
    assert targets == set(State)
    for state in State:
        if state is not State.CLOSED:
            assert TRANSITIONS[(state, Trigger.FAIL)] is State.CLOSED
    assert TRANSITIONS[(State.HELLO_SENT, Trigger.HELLO_GIVE_SNAPSHOT)] is State.SNAPSHOT_SENT
    assert TRANSITIONS[(State.AWAIT_SNAPSHOT, Trigger.SNAPSHOT)] is State.SYNCING
    assert (State.SYNCING, Trigger.SNAPSHOT) not in TRANSITIONS
