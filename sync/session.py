"""Provides the sans-IO sync session: one Automerge document, one peer, bytes in, bytes out, events.

The session never touches a socket, a clock or a thread. The transport feeds it what the peer
sent (``receive_data``), asks it what happened (``next_event``) and writes what it returns
(``start``, ``data_to_send``, ``close``, ``ping``). Both ends run the same class: after the HELLO
exchange the protocol is symmetric; ``role`` is only a label.

The protocol (version 1), in frames (see ``framing``):

1. Both sides send HELLO, a small JSON object::

       {"protocol": 1, "versions": [1], "doc": "<document id>", "heads": ["<hex>", ...],
        "empty": false}

   ``empty`` means "I have no history beyond the shared genesis". No common version, or another
   document id, is a ``RemoteProtocolError`` that says what to do.
2. If exactly one side is empty, the other sends one SNAPSHOT: ``zlib`` (level 6) of
   ``doc.save()``. The receiver inflates it under a hard cap, loads it and merges it, then sends
   the first SYNC; the snapshot's sender sends no SYNC before that one arrives, so neither side
   pays for the change-by-change exchange Automerge would otherwise start with (about 37x the
   bytes of the compressed snapshot on a large network).
3. Otherwise (and after the snapshot) the sides exchange Automerge sync messages in SYNC frames,
   one ``SyncState`` per session, answering every received message and every ``local_change()``,
   until both hold the same heads (``InSync``). The link stays open: a later local edit goes out
   at once (live push).
4. PING keeps an idle link alive (no answer is due). BYE (payload: a UTF-8 reason) ends it.
5. Introductions: a side whose user marked the peer an introducer adds
   ``"wants_introductions": true`` to its HELLO. Only then may the peer send INTRODUCE frames
   (``introduce()``; the payload is ``introduce``'s JSON list of its trusted peers), any time
   after the HELLOs; each one becomes ``IntroductionsReceived`` and never touches the
   document. An INTRODUCE nobody asked for, or a malformed one, is a ``RemoteProtocolError``.
   A peer that predates introducers ignores the HELLO field and never sends INTRODUCE.

Every state change is one entry of ``TRANSITIONS``; a frame that no entry allows in the current
state is a ``RemoteProtocolError``.

What Automerge does with bad input, and why the session stages the peer's changes
------------------------------------------------------------------------------------
``Message.decode`` rejects malformed bytes (bad type byte, truncated fields, undecodable change
columns) before anything is applied. But a *well-formed* message can still fail halfway through
``receive_sync_message``: its changes are applied one by one, and a later change that, say,
reuses an actor's sequence number with different content raises ``duplicate seq`` after the
earlier ones are already in the document (automerge 0.5.7, the engine of ``automerge==1.0.0rc1``;
``tests/sync/test_sync_session.py`` shows it). So a message that carries changes is applied
first to a private replica of the document (``StagingReplica``: one ``fork()``, kept and
refreshed by cheap merges), and only after it succeeded are the new changes merged into the
caller's document. A message without changes only updates the ``SyncState``, never the
document, and is received directly. A snapshot is loaded into a fresh document, our document is
merged into it (a conflict fails there), and only then is it merged into ours. Either way: when
the session raises, the document's heads and contents are what they were.

Errors: ``RemoteProtocolError`` (the peer broke the protocol; ``FrameTooLarge`` from
``receive_data``, everything else from ``next_event``) closes the session and leaves a BYE with
the reason in ``data_to_send()`` for the transport to flush before it drops the link.
``LocalProtocolError`` means the caller misused the API (``next_event`` before ``start``,
``start`` twice).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

import automerge.core as am

from .errors import LocalProtocolError, RemoteProtocolError, SyncError
from .framing import MAX_FRAME, Frame, FrameDecoder, FrameKind, encode_frame
from .introduce import MAX_INTRODUCE, encode_introductions, parse_introductions
from .text import TEXT_LIMIT, clean_peer_text
from .trust import Introduction

if TYPE_CHECKING:
    from automerge.core import Document, Message, SyncState

__all__ = [
    "MAX_QUEUED_BYTES",
    "MAX_QUEUED_CHANGES",
    "MAX_SNAPSHOT",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "TRANSITIONS",
    "ChangesApplied",
    "Closed",
    "Event",
    "InSync",
    "IntroductionsReceived",
    "PeerHello",
    "QueueOverflow",
    "SessionStats",
    "SnapshotReceived",
    "SnapshotSent",
    "StagingReplica",
    "State",
    "SyncSession",
    "Trigger",
]

PROTOCOL_VERSION: Final = 1
SUPPORTED_VERSIONS: Final[tuple[int, ...]] = (1,)
MAX_SNAPSHOT: Final = 512 * 1024 * 1024
"""Hard cap on a snapshot once inflated (a zip bomb stops here)."""
SNAPSHOT_LEVEL: Final = 6
MAX_HELLO: Final = 64 * 1024
MAX_PING: Final = 256
MAX_BYE: Final = 4096
MAX_DOC_ID: Final = 256
HASH_SIZE: Final = 32
MAX_QUEUED_CHANGES: Final = 10_000
"""Changes a ``StagingReplica`` may hold back for missing dependencies (from every peer)."""
MAX_QUEUED_BYTES: Final = 64 * 1024 * 1024

Role: TypeAlias = Literal["client", "server"]
Heads: TypeAlias = tuple[bytes, ...]


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerHello:
    """The peer introduced itself: the version both will speak, its document and heads."""

    version: int
    versions: tuple[int, ...]
    doc_id: str
    heads: Heads
    empty: bool
    wants_introductions: bool = False


@dataclass(frozen=True, slots=True)
class IntroductionsReceived:
    """The peer (asked as an introducer) listed the peers it trusts; checked, not yet trusted."""

    entries: tuple[Introduction, ...]


@dataclass(frozen=True, slots=True)
class ChangesApplied:
    """The document changed because of the peer: the caller must persist the new changes.

    ``change_bytes(doc)`` returns them (``doc.get_changes(heads_before)``); after a snapshot
    (``via_snapshot``) writing a fresh snapshot of the document is usually cheaper.
    """

    heads_before: Heads
    heads_after: Heads
    n_changes: int
    via_snapshot: bool = False

    def change_bytes(self, doc: Document) -> list[bytes]:
        """The encoded changes that arrived (and any added since), oldest first."""
        return [change.bytes for change in doc.get_changes(list(self.heads_before))]


@dataclass(frozen=True, slots=True)
class InSync:
    """Both sides hold exactly these heads (sent again only when the heads move)."""

    heads: Heads


@dataclass(frozen=True, slots=True)
class SnapshotReceived:
    """The peer's snapshot arrived and was merged (``ChangesApplied`` follows if it added any)."""

    bytes_len: int
    raw_len: int


@dataclass(frozen=True, slots=True)
class SnapshotSent:
    """This side sent its snapshot to an empty peer."""

    bytes_len: int
    raw_len: int


@dataclass(frozen=True, slots=True)
class Closed:
    """The session ended; ``reason`` may quote the peer (show it as plain text)."""

    reason: str
    by_peer: bool
    clean: bool


Event: TypeAlias = (
    PeerHello
    | ChangesApplied
    | InSync
    | SnapshotReceived
    | SnapshotSent
    | IntroductionsReceived
    | Closed
)


# -- the state machine --------------------------------------------------------------------------


class State(Enum):
    START = "START"  # nothing sent yet
    HELLO_SENT = "HELLO_SENT"  # our HELLO is out, the peer's is awaited
    AWAIT_SNAPSHOT = "AWAIT_SNAPSHOT"  # we are empty, the peer is not: its SNAPSHOT is next
    SNAPSHOT_SENT = "SNAPSHOT_SENT"  # we sent our snapshot; the peer's first SYNC is next
    SYNCING = "SYNCING"  # Automerge sync messages both ways (in sync or not)
    CLOSED = "CLOSED"


class Trigger(Enum):
    """What moves the state machine: a frame from the peer, or a call from the owner."""

    # what the two HELLOs say decides which branch a received HELLO takes
    HELLO_SYNC = "HELLO (no snapshot)"
    HELLO_GIVE_SNAPSHOT = "HELLO (the peer is empty: send it our snapshot)"
    HELLO_TAKE_SNAPSHOT = "HELLO (we are empty: the peer sends its snapshot)"
    SNAPSHOT = "SNAPSHOT"
    SYNC = "SYNC"
    PING = "PING"
    INTRODUCE = "INTRODUCE"
    BYE = "BYE"
    EOF = "end of stream"
    # local
    SEND_HELLO = "start()"
    CLOSE = "close()"
    FAIL = "protocol error"


_FRAME_OF: Final[dict[Trigger, FrameKind]] = {
    Trigger.HELLO_SYNC: FrameKind.HELLO,
    Trigger.HELLO_GIVE_SNAPSHOT: FrameKind.HELLO,
    Trigger.HELLO_TAKE_SNAPSHOT: FrameKind.HELLO,
    Trigger.SNAPSHOT: FrameKind.SNAPSHOT,
    Trigger.SYNC: FrameKind.SYNC,
    Trigger.PING: FrameKind.PING,
    Trigger.INTRODUCE: FrameKind.INTRODUCE,
    Trigger.BYE: FrameKind.BYE,
}

_OPEN: Final = (State.HELLO_SENT, State.AWAIT_SNAPSHOT, State.SNAPSHOT_SENT, State.SYNCING)
_PAST_HELLO: Final = (State.AWAIT_SNAPSHOT, State.SNAPSHOT_SENT, State.SYNCING)

TRANSITIONS: Final[dict[tuple[State, Trigger], State]] = {
    (State.START, Trigger.SEND_HELLO): State.HELLO_SENT,
    (State.START, Trigger.CLOSE): State.CLOSED,
    (State.HELLO_SENT, Trigger.HELLO_SYNC): State.SYNCING,
    (State.HELLO_SENT, Trigger.HELLO_GIVE_SNAPSHOT): State.SNAPSHOT_SENT,
    (State.HELLO_SENT, Trigger.HELLO_TAKE_SNAPSHOT): State.AWAIT_SNAPSHOT,
    (State.AWAIT_SNAPSHOT, Trigger.SNAPSHOT): State.SYNCING,
    (State.SNAPSHOT_SENT, Trigger.SYNC): State.SYNCING,
    (State.SYNCING, Trigger.SYNC): State.SYNCING,
    **{(state, Trigger.PING): state for state in _PAST_HELLO},
    **{(state, Trigger.INTRODUCE): state for state in _PAST_HELLO},
    **{(state, Trigger.BYE): State.CLOSED for state in _OPEN},
    **{(state, Trigger.EOF): State.CLOSED for state in _OPEN},
    **{(state, Trigger.CLOSE): State.CLOSED for state in _OPEN},
    **{(state, Trigger.FAIL): State.CLOSED for state in (State.START, *_OPEN)},
}
"""Every allowed (state, trigger) and the state it leads to; anything else is an error."""

_ALLOWED_FRAMES: Final[dict[State, frozenset[FrameKind]]] = {
    state: frozenset(
        _FRAME_OF[trigger]
        for (source, trigger) in TRANSITIONS
        if source is state and trigger in _FRAME_OF
    )
    for state in State
}


# -- statistics ---------------------------------------------------------------------------------


@dataclass(slots=True)
class SessionStats:
    """Bytes and frames each way (wire bytes, headers included) and changes applied."""

    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_in_by_kind: dict[str, int] = field(default_factory=dict)
    bytes_out_by_kind: dict[str, int] = field(default_factory=dict)
    frames_in_by_kind: dict[str, int] = field(default_factory=dict)
    frames_out_by_kind: dict[str, int] = field(default_factory=dict)
    changes_applied: int = 0

    def _frame_in(self, frame: Frame, name: str) -> None:
        self.frames_in += 1
        self.frames_in_by_kind[name] = self.frames_in_by_kind.get(name, 0) + 1
        self.bytes_in_by_kind[name] = self.bytes_in_by_kind.get(name, 0) + frame.wire_size

    def _frame_out(self, name: str, size: int) -> None:
        self.frames_out += 1
        self.bytes_out += size
        self.frames_out_by_kind[name] = self.frames_out_by_kind.get(name, 0) + 1
        self.bytes_out_by_kind[name] = self.bytes_out_by_kind.get(name, 0) + size


# -- the staging replica ------------------------------------------------------------------------


class QueueOverflow(RemoteProtocolError):
    """Too many changes wait for dependencies nobody sent (fabricated ones, most likely)."""


class StagingReplica:
    """A private replica of one document where a peer's changes land before they reach it.

    The replica is a ``fork()`` made on first use and kept: before each use it catches up with
    the document (a merge of what is new, usually nothing), and after a message applied cleanly
    the document merges what is new in the replica. A failure drops the replica (it may hold
    half a message) and leaves the document untouched. Sessions of one document can share one
    instance (one fork in memory instead of one per peer) as long as they run on one thread.

    Automerge keeps a change whose dependencies it lacks in a queue inside the replica (not in
    the document) until they arrive; automerge 1.0.0rc1 does not show that queue. The replica
    therefore tracks every change a message brought that was not applied (by hash; an
    over-estimate, as a change it already held counts too) and, when the estimate passes
    ``max_queued_changes`` or ``max_queued_bytes``, recounts against the replica's history. Still
    over the bound, the message fails with ``QueueOverflow``: the replica, queue included, is
    dropped and the document is unchanged by that message.
    """

    __slots__ = (
        "_queued",
        "_queued_bytes",
        "_replica",
        "doc",
        "max_queued_bytes",
        "max_queued_changes",
    )

    def __init__(
        self,
        doc: Document,
        *,
        max_queued_changes: int = MAX_QUEUED_CHANGES,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
    ) -> None:
        self.doc = doc
        self.max_queued_changes = max_queued_changes
        self.max_queued_bytes = max_queued_bytes
        self._replica: Document | None = None
        self._queued: dict[bytes, int] = {}
        self._queued_bytes = 0

    @property
    def queued(self) -> int:
        """Changes (at most) held back in the replica for missing dependencies."""
        return len(self._queued)

    @property
    def active(self) -> bool:
        """Whether a replica is held in memory (``release()`` frees it)."""
        return self._replica is not None

    def receive(self, state: SyncState, message: Message, changes: Iterable[bytes] = ()) -> None:
        """``receive_sync_message`` on the replica, then merge the result into the document.

        ``changes`` are the encoded changes the message carries (to bound the queue). Automerge's
        exception, or ``QueueOverflow``, propagates when the message fails; the document is
        unchanged then.
        """
        replica, self._replica = self._replica, None
        if replica is None:
            replica = self._fresh()
        else:
            try:
                replica.merge(self.doc)
            except BaseException as exc:  # pragma: no cover - the replica never holds more
                if not _is_automerge_failure(exc):
                    raise
                replica = self._fresh()
        before = replica.get_heads()
        replica.receive_sync_message(state, message)
        self._track(replica, before, changes)
        self.doc.merge(replica)
        self._replica = replica

    def _fresh(self) -> Document:
        self._queued.clear()
        self._queued_bytes = 0
        return self.doc.fork()

    def _track(self, replica: Document, before: list[bytes], changes: Iterable[bytes]) -> None:
        keys = [(_change_key(raw), len(raw)) for raw in changes]
        if not keys and not self._queued:
            return
        applied = {change.hash for change in replica.get_changes(before)}
        for key in [k for k in self._queued if k in applied]:
            self._queued_bytes -= self._queued.pop(key)
        for key, size in keys:
            if key not in applied and key not in self._queued:
                self._queued[key] = size
                self._queued_bytes += size
        if not self._over():
            return
        history = {change.hash for change in replica.get_changes([])}
        prefixes = {h[:4] for h in history}
        for key in list(self._queued):
            if key in history or (len(key) == 4 and key in prefixes):
                self._queued_bytes -= self._queued.pop(key)
        if self._over():
            count, size = len(self._queued), self._queued_bytes
            self._queued.clear()
            self._queued_bytes = 0
            raise QueueOverflow(
                f"the peer's changes leave {count:,} changes ({size:,} bytes) waiting for "
                f"dependencies nobody sent; the limit is {self.max_queued_changes:,} changes or "
                f"{self.max_queued_bytes:,} bytes; nothing was applied"
            )

    def _over(self) -> bool:
        return (
            len(self._queued) > self.max_queued_changes
            or self._queued_bytes > self.max_queued_bytes
        )

    def adopt(self, replica: Document) -> None:
        """Keep ``replica`` (a document holding no more than ``doc``) if none is held yet."""
        if self._replica is None:
            self._replica = replica

    def release(self) -> None:
        """Free the replica; the next message that carries changes forks a new one."""
        self._replica = None
        self._queued.clear()
        self._queued_bytes = 0


# -- the session --------------------------------------------------------------------------------


class SyncSession:
    """Sync one Automerge document with one peer, h11 style: bytes in, bytes out, events.

    Single-threaded: call it from one thread (or one asyncio task) at a time, and do not swap
    the document object under it (merge into it instead).
    """

    def __init__(
        self,
        doc: Document,
        doc_id: str,
        genesis_heads: Iterable[bytes],
        role: Role,
        *,
        max_frame: int = MAX_FRAME,
        max_snapshot: int = MAX_SNAPSHOT,
        staging: StagingReplica | None = None,
        wants_introductions: bool = False,
    ) -> None:
        """``wants_introductions``: ask the peer (an introducer here) for the peers it trusts."""
        if role not in ("client", "server"):
            raise LocalProtocolError(f"role must be 'client' or 'server', not {role!r}")
        if not isinstance(doc_id, str) or not 0 < len(doc_id) <= MAX_DOC_ID:
            raise LocalProtocolError(f"doc_id must be 1..{MAX_DOC_ID} characters of text")
        genesis = tuple(genesis_heads)
        if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in genesis):
            raise LocalProtocolError("genesis_heads must be 32-byte change hashes")
        if staging is not None and staging.doc is not doc:
            raise LocalProtocolError("the staging replica belongs to another document")
        self.doc = doc
        self.doc_id = doc_id
        self.role: Role = role
        self.genesis_heads: Heads = genesis
        self.max_frame = max_frame
        self.max_snapshot = max_snapshot
        self.wants_introductions = bool(wants_introductions)
        self.stats = SessionStats()
        self.peer: PeerHello | None = None
        self.error: SyncError | None = None
        self._staging = staging if staging is not None else StagingReplica(doc)
        self._sync_state = am.SyncState()
        self._decoder = FrameDecoder(
            max_frame,
            limits={
                FrameKind.HELLO: MAX_HELLO,
                FrameKind.PING: MAX_PING,
                FrameKind.BYE: MAX_BYE,
                FrameKind.INTRODUCE: MAX_INTRODUCE,
            },
        )
        self._state = State.START
        self._frames: deque[Frame | None] = deque()  # None marks the end of the stream
        self._events: deque[Event] = deque()
        self._outgoing = bytearray()
        self._eof = False
        self._sent_empty = False
        self._peer_heads: Heads | None = None
        self._in_sync_heads: Heads | None = None

    # -- public state -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def in_sync(self) -> bool:
        """Whether the peer's last message showed exactly our current heads."""
        return self._in_sync_heads is not None and self._in_sync_heads == _heads(self.doc)

    @property
    def peer_heads(self) -> Heads | None:
        """The heads the peer announced last (HELLO, then every SYNC)."""
        return self._peer_heads

    @property
    def pending_frames(self) -> int:
        """Frames received but not yet processed by ``next_event`` (each within ``max_frame``)."""
        return len(self._frames)

    @property
    def is_empty(self) -> bool:
        """Whether the document holds nothing beyond the shared genesis."""
        return set(self.doc.get_heads()) <= set(self.genesis_heads)

    # -- calls from the owner -----------------------------------------------------------------

    def start(self) -> bytes:
        """Begin: returns our HELLO (the first bytes to write)."""
        if self._state is not State.START:
            raise LocalProtocolError(f"start() was already called (state {self._state.name})")
        heads = _heads(self.doc)
        empty = set(heads) <= set(self.genesis_heads)
        hello = {
            "protocol": PROTOCOL_VERSION,
            "versions": list(SUPPORTED_VERSIONS),
            "doc": self.doc_id,
            "heads": [head.hex() for head in heads],
            "empty": empty,
        }
        if self.wants_introductions:
            hello["wants_introductions"] = True
        payload = json.dumps(hello, separators=(",", ":")).encode("utf-8")
        if len(payload) > MAX_HELLO:
            raise LocalProtocolError(f"HELLO of {len(payload):,} bytes exceeds {MAX_HELLO:,}")
        self._transition(Trigger.SEND_HELLO)
        self._sent_empty = empty
        self._send(FrameKind.HELLO, payload)
        return self.data_to_send()

    def receive_data(self, data: bytes) -> None:
        """Store what the peer sent (``b""`` = the stream ended); ``next_event`` processes it.

        Raises ``FrameTooLarge`` at once when a header announces a frame over the limit.
        Data arriving after the session closed is ignored. Data may arrive before ``start()``
        (the peer was quicker); it is processed once the session started.
        """
        if self._state is State.CLOSED or self._eof:
            return
        self.stats.bytes_in += len(data)
        if not data:
            self._eof = True
            self._frames.append(None)
            return
        try:
            self._frames.extend(self._decoder.feed(data))
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise

    def next_event(self) -> Event | None:
        """The next event, processing stored frames one at a time; ``None`` when idle.

        Raises ``RemoteProtocolError`` when a frame breaks the protocol; the session is then
        closed, the document untouched by that frame, and a BYE waits in ``data_to_send()``.
        """
        if self._state is State.START:
            raise LocalProtocolError("call start() before next_event()")
        while not self._events:
            if not self._frames or self._state is State.CLOSED:
                return None
            frame = self._frames.popleft()
            try:
                if frame is None:
                    self._on_eof()
                else:
                    self._on_frame(frame)
            except SyncError as exc:
                self._fail(exc)
                raise
        return self._events.popleft()

    def local_change(self) -> None:
        """The document changed here (a local edit, or another peer's changes): push it.

        Does nothing until the sync phase (the change then goes out with the first messages)
        and after the session closed.
        """
        if self._state is not State.SYNCING:
            return
        try:
            self._generate()
        except SyncError as exc:
            self._fail(exc)
            raise
        self._check_in_sync()

    def data_to_send(self) -> bytes:
        """Drain and return the bytes waiting to be written to the peer."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def ping(self) -> bytes:
        """A PING to keep an idle link alive (with anything else waiting to be sent)."""
        if self._state is State.START:
            raise LocalProtocolError("call start() before ping()")
        if self._state is not State.CLOSED:
            self._send(FrameKind.PING, b"")
        return self.data_to_send()

    def introduce(self, entries: Iterable[Introduction]) -> int:
        """Send the peers this side trusts to a peer that asked for them; returns how many.

        ``LocalProtocolError`` before the peer's HELLO, or if its HELLO did not ask; nothing
        is sent after the session closed. Entries beyond the payload limit are left out.
        """
        if self._state is State.CLOSED:
            return 0
        if self.peer is None or self._state not in _PAST_HELLO:
            raise LocalProtocolError("introduce() needs the peer's HELLO first")
        if not self.peer.wants_introductions:
            raise LocalProtocolError("the peer did not ask for introductions")
        payload, count = encode_introductions(entries, limit=min(MAX_INTRODUCE, self.max_frame - 1))
        self._send(FrameKind.INTRODUCE, payload)
        return count

    def close(self, reason: str = "") -> bytes:
        """End the session: returns what is still waiting to be sent, then a BYE."""
        if self._state is State.CLOSED:
            return self.data_to_send()
        started = self._state is not State.START
        self._transition(Trigger.CLOSE)
        self._frames.clear()
        if started:
            self._send(FrameKind.BYE, _bye_payload(reason))
        self._events.append(Closed(reason or "closed", by_peer=False, clean=True))
        return self.data_to_send()

    # -- frames from the peer -----------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        try:
            kind = FrameKind(frame.kind)
        except ValueError:
            self.stats._frame_in(frame, f"type {frame.kind}")
            raise RemoteProtocolError(
                f"the peer sent a frame of unknown type {frame.kind}"
            ) from None
        self.stats._frame_in(frame, kind.name)
        if kind not in _ALLOWED_FRAMES[self._state]:
            raise RemoteProtocolError(
                f"the peer sent a {kind.name} frame, which is not allowed in state "
                f"{self._state.name}"
            )
        if kind is FrameKind.HELLO:
            self._on_hello(frame.payload)
        elif kind is FrameKind.SNAPSHOT:
            self._on_snapshot(frame.payload)
        elif kind is FrameKind.SYNC:
            self._on_sync(frame.payload)
        elif kind is FrameKind.PING:
            self._transition(Trigger.PING)
        elif kind is FrameKind.INTRODUCE:
            self._on_introduce(frame.payload)
        else:
            self._on_bye(frame.payload)

    def _on_hello(self, payload: bytes) -> None:
        hello = _parse_hello(payload, self.doc_id)
        if hello.empty and not self._sent_empty:
            trigger = Trigger.HELLO_GIVE_SNAPSHOT
        elif self._sent_empty and not hello.empty:
            trigger = Trigger.HELLO_TAKE_SNAPSHOT
        else:
            trigger = Trigger.HELLO_SYNC
        snapshot = self._make_snapshot() if trigger is Trigger.HELLO_GIVE_SNAPSHOT else None
        self._transition(trigger)
        self.peer = hello
        self._peer_heads = hello.heads
        self._events.append(hello)
        if snapshot is not None:
            payload, raw_len = snapshot
            self._send(FrameKind.SNAPSHOT, payload)
            self._events.append(SnapshotSent(len(payload), raw_len))
        elif trigger is Trigger.HELLO_SYNC:
            self._generate()

    def _make_snapshot(self) -> tuple[bytes, int]:
        raw = self.doc.save()
        payload = zlib.compress(raw, SNAPSHOT_LEVEL)
        if len(payload) + 1 > self.max_frame:
            raise SyncError(
                f"this document's snapshot ({len(payload):,} bytes compressed) does not fit in "
                f"one {self.max_frame:,}-byte frame"
            )
        return payload, len(raw)

    def _on_snapshot(self, payload: bytes) -> None:
        raw = _inflate(payload, self.max_snapshot)
        try:
            loaded = am.Document.load(raw)
        except BaseException as exc:
            _reraise_unless_automerge(exc)
            raise RemoteProtocolError(
                f"the peer's snapshot is not an Automerge document ({_why(exc)})"
            ) from None
        if self.genesis_heads:
            try:
                loaded.fork(list(self.genesis_heads))
            except BaseException as exc:
                _reraise_unless_automerge(exc)
                raise RemoteProtocolError(
                    "the peer's snapshot is of another network: it lacks the shared genesis"
                ) from None
        heads_before = _heads(self.doc)
        try:
            loaded.merge(self.doc)  # a conflict with what we hold fails here, not in our doc
        except BaseException as exc:
            _reraise_unless_automerge(exc)
            raise RemoteProtocolError(
                f"the peer's snapshot conflicts with this document ({_why(exc)})"
            ) from None
        self._transition(Trigger.SNAPSHOT)
        self.doc.merge(loaded)  # loaded now holds all of doc, consistently: this cannot fail
        self._staging.adopt(loaded)
        self._events.append(SnapshotReceived(len(payload), len(raw)))
        self._note_changes(heads_before, via_snapshot=True)
        self._generate()

    def _on_sync(self, payload: bytes) -> None:
        try:
            message = am.Message.decode(payload)
        except BaseException as exc:
            _reraise_unless_automerge(exc)
            raise RemoteProtocolError(
                f"the peer sent a sync message Automerge cannot decode ({_why(exc)})"
            ) from None
        peek = _peek_sync_message(payload)
        heads_before = _heads(self.doc)
        try:
            if peek is not None and not peek[1]:
                # no changes: only the SyncState moves; the document cannot change
                self.doc.receive_sync_message(self._sync_state, message)
            else:
                changes = _changes_of(payload) if peek is not None else ()
                self._staging.receive(self._sync_state, message, changes)
        except BaseException as exc:
            _reraise_unless_automerge(exc)
            raise RemoteProtocolError(
                f"the peer sent changes Automerge refused ({_why(exc)}); nothing was applied"
            ) from None
        self._transition(Trigger.SYNC)
        if peek is not None:
            self._peer_heads = peek[0]
        self._note_changes(heads_before, via_snapshot=False)
        self._generate()
        self._check_in_sync()

    def _on_introduce(self, payload: bytes) -> None:
        if not self.wants_introductions:
            raise RemoteProtocolError("the peer sent introductions this device did not ask for")
        entries = parse_introductions(payload)
        self._transition(Trigger.INTRODUCE)
        self._events.append(IntroductionsReceived(entries))

    def _on_bye(self, payload: bytes) -> None:
        reason = _printable(payload) or "the peer closed the link"
        self._transition(Trigger.BYE)
        self._frames.clear()
        self._events.append(Closed(reason, by_peer=True, clean=True))

    def _on_eof(self) -> None:
        if self._decoder.buffered:
            reason = "the connection dropped in the middle of a frame"
        else:
            reason = "the peer went away without saying goodbye"
        self._transition(Trigger.EOF)
        self._events.append(Closed(reason, by_peer=True, clean=False))

    # -- helpers ------------------------------------------------------------------------------

    def _transition(self, trigger: Trigger) -> None:
        try:
            self._state = TRANSITIONS[(self._state, trigger)]
        except KeyError:
            text = f"{trigger.value} is not allowed in state {self._state.name}"
            if trigger in _FRAME_OF or trigger is Trigger.EOF:
                raise RemoteProtocolError(f"the peer sent {text}") from None
            raise LocalProtocolError(text) from None

    def _send(self, kind: FrameKind, payload: bytes) -> None:
        data = encode_frame(kind, payload, max_frame=self.max_frame)
        self._outgoing += data
        self.stats._frame_out(kind.name, len(data))

    def _generate(self) -> None:
        if self._state is not State.SYNCING:
            return
        try:
            message: Message | None = self.doc.generate_sync_message(self._sync_state)
        except BaseException as exc:
            # generate_sync_message reads only our document and what the peer told us
            _reraise_unless_automerge(exc)
            raise RemoteProtocolError(
                f"the peer's sync state cannot be answered ({_why(exc)})"
            ) from None
        if message is not None:
            self._send(FrameKind.SYNC, message.encode())

    def _note_changes(self, heads_before: Heads, *, via_snapshot: bool) -> None:
        heads_after = _heads(self.doc)
        if heads_after == heads_before:
            return
        n_changes = len(self.doc.get_changes(list(heads_before)))
        self.stats.changes_applied += n_changes
        self._events.append(ChangesApplied(heads_before, heads_after, n_changes, via_snapshot))

    def _check_in_sync(self) -> None:
        heads = _heads(self.doc)
        if self._peer_heads is not None and set(self._peer_heads) == set(heads):
            if self._in_sync_heads != heads:
                self._in_sync_heads = heads
                self._events.append(InSync(heads))
        else:
            self._in_sync_heads = None

    def _fail(self, exc: SyncError) -> None:
        self.error = exc
        if self._state is State.CLOSED:
            return
        started = self._state is not State.START
        self._transition(Trigger.FAIL)
        self._frames.clear()
        if started:
            prefix = "protocol error" if isinstance(exc, RemoteProtocolError) else "cannot go on"
            self._send(FrameKind.BYE, _bye_payload(f"{prefix}: {exc.message}"))


# -- pure helpers -------------------------------------------------------------------------------


def _heads(doc: Document) -> Heads:
    return tuple(sorted(doc.get_heads()))


def _is_automerge_failure(exc: BaseException) -> bool:
    """Automerge raises ``Exception``; a Rust panic surfaces as pyo3's ``PanicException``,
    which derives from ``BaseException`` and must not escape as if it were Ctrl-C."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _reraise_unless_automerge(exc: BaseException) -> None:
    if not _is_automerge_failure(exc) or isinstance(exc, SyncError):
        raise exc


def _why(exc: BaseException) -> str:
    text = _printable(str(exc), 200)
    return text or type(exc).__name__


def _printable(text: str | bytes, limit: int = TEXT_LIMIT) -> str:
    """A peer's text without control characters, capped (it must not drive the terminal)."""
    return clean_peer_text(text, limit, ellipsis=True)


def _show(text: str, limit: int = 60) -> str:
    return clean_peer_text(repr(text[: limit * 2]), limit + 2, ellipsis=True)


def _bye_payload(reason: str) -> bytes:
    data = reason.encode("utf-8")
    if len(data) > MAX_BYE:
        data = data[:MAX_BYE].decode("utf-8", "ignore").encode("utf-8")
    return data


def _inflate(payload: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, limit + 1)
    except zlib.error as exc:
        raise RemoteProtocolError(f"the peer's snapshot is not zlib data ({exc})") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise RemoteProtocolError(f"the peer's snapshot inflates beyond the {limit:,}-byte limit")
    if not inflater.eof:
        raise RemoteProtocolError("the peer's snapshot is truncated")
    if inflater.unused_data:
        raise RemoteProtocolError("the peer's snapshot has bytes after its end")
    return raw


def _is_small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _parse_hello(payload: bytes, expected_doc: str) -> PeerHello:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"the peer's HELLO is not JSON ({_why(exc)})") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError("the peer's HELLO is not a JSON object")
    protocol = obj.get("protocol")
    versions = obj.get("versions", [protocol])
    if not (
        isinstance(versions, list)
        and 0 < len(versions) <= 64
        and all(_is_small_int(v) for v in versions)
    ):
        raise RemoteProtocolError("the peer's HELLO does not say which protocol it speaks")
    common = set(versions) & set(SUPPORTED_VERSIONS)
    if not common:
        theirs = protocol if _is_small_int(protocol) else max(versions)
        raise RemoteProtocolError(
            f"the peer speaks protocol {theirs}; this plntui speaks {PROTOCOL_VERSION} "
            "— upgrade one of them"
        )
    doc = obj.get("doc")
    if not isinstance(doc, str) or not 0 < len(doc) <= MAX_DOC_ID:
        raise RemoteProtocolError("the peer's HELLO names no document")
    if doc != expected_doc:
        raise RemoteProtocolError(
            f"the peer offers document {_show(doc)}, not {_show(expected_doc)}; "
            "both sides must sync the same network"
        )
    raw_heads = obj.get("heads")
    if not isinstance(raw_heads, list) or not all(
        isinstance(h, str) and len(h) == 2 * HASH_SIZE for h in raw_heads
    ):
        raise RemoteProtocolError("the peer's HELLO has malformed heads")
    try:
        heads = tuple(sorted(bytes.fromhex(h) for h in raw_heads))
    except ValueError:
        raise RemoteProtocolError("the peer's HELLO has malformed heads") from None
    empty = obj.get("empty")
    if not isinstance(empty, bool):
        raise RemoteProtocolError("the peer's HELLO does not say whether it is empty")
    wants = obj.get("wants_introductions", False)
    if not isinstance(wants, bool):
        raise RemoteProtocolError("the peer's HELLO has a malformed wants_introductions")
    return PeerHello(max(common), tuple(versions), doc, heads, empty, wants)


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("LEB128 too long")


def _hash_list(data: bytes, pos: int) -> tuple[list[bytes], int]:
    count, pos = _uleb(data, pos)
    end = pos + count * HASH_SIZE
    if end > len(data):
        raise ValueError("hash list overruns the message")
    return [data[i : i + HASH_SIZE] for i in range(pos, end, HASH_SIZE)], end


def _change_key(raw: bytes) -> bytes:
    """A change's hash (SHA-256 of the chunk after magic and checksum) when it is stored
    uncompressed, as Automerge sends changes; else its 4-byte checksum (the hash's prefix)."""
    if len(raw) > 9 and raw[8] == 1:
        return hashlib.sha256(raw[8:]).digest()
    return bytes(raw[4:8])


def _changes_of(payload: bytes) -> list[bytes]:
    """The encoded changes in a sync message (``_peek_sync_message`` accepted it); ``[]`` if the
    layout is not the one expected."""
    try:
        _heads_list, pos = _hash_list(payload, 1)
        _need, pos = _hash_list(payload, pos)
        n_haves, pos = _uleb(payload, pos)
        for _ in range(n_haves):
            _last_sync, pos = _hash_list(payload, pos)
            size, pos = _uleb(payload, pos)
            pos += size
        n_changes, pos = _uleb(payload, pos)
        out: list[bytes] = []
        for _ in range(n_changes):
            size, pos = _uleb(payload, pos)
            if pos + size > len(payload):
                return out
            out.append(payload[pos : pos + size])
            pos += size
    except (IndexError, ValueError):
        return []
    return out


def _peek_sync_message(payload: bytes) -> tuple[Heads, bool] | None:
    """(sender's heads, carries changes) from an Automerge sync message; ``None`` if unsure.

    The layout, shared by message types 0x42 and 0x43: type, heads, need, haves (each: last-sync
    hashes, length-prefixed Bloom filter), then the changes, led by a count that is 0 when the
    message carries none.
    """
    try:
        if payload[0] not in (0x42, 0x43):
            return None
        heads, pos = _hash_list(payload, 1)
        _need, pos = _hash_list(payload, pos)
        n_haves, pos = _uleb(payload, pos)
        for _ in range(n_haves):
            _last_sync, pos = _hash_list(payload, pos)
            size, pos = _uleb(payload, pos)
            pos += size
            if pos > len(payload):
                return None
        n_changes, pos = _uleb(payload, pos)
    except (IndexError, ValueError):
        return None
    return tuple(sorted(heads)), n_changes != 0
