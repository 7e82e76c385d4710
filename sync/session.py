"""Provides the sans-IO sync session: one peer, many documents, bytes in, bytes out, events.

The session never touches a socket, a clock or a thread. The transport feeds it what the peer
sent (``receive_data``), asks it what happened (``next_event``) and writes what it returns
(``start``, ``data_to_send``, ``close``, ``ping``). Both ends run the same class. The documents
are the host's (``DocumentHost``): the session asks it which documents the peer may have
(its share policy), for stored bytes, and to check and store what the peer sends.

The protocol (version 2), in frames (see ``framing``):

1. Both sides send HELLO, a small JSON object ``{"protocol": 2, "versions": [2]}`` (plus
   ``"wants_introductions": true`` to ask an introducer for its peers), then a MANIFEST.
   A version-1 peer, which syncs one network document, is told to update (its own plntui
   says "the peer speaks protocol 2 ... upgrade one of them").
2. MANIFEST (``zlib`` of JSON ``{"docs": {id: digest}, "gone": [ids]}``): the documents this
   side shares with the peer and the digest of their heads (16 hex digits). Sent whole at the
   start and as a delta whenever a shared document appears or the sharing changes.
3. For a document both share whose digests differ, each side runs Automerge's sync protocol,
   one ``SyncState`` per document: DOC_SYNC frames (``uleb(len(id)) id message``). At most
   ``max_in_flight`` documents wait for an answer at once; the others queue (the whole
   repository is never in memory). A document whose messages go round ``STUCK_ROUNDS`` times
   without progress is asked for whole (WANT, ``ack`` 0), see ``_ask_whole``.
4. Every MANIFEST is answered by a WANT (JSON ``{"want": [ids], "ack": 1}``; ``ack`` 0 when a
   side asks again on its own): the documents the peer offers that this side lacks and accepts,
   circle documents first. A document asked for arrives whole in DOCS frames (``zlib`` of
   ``(uleb(len(id)) id uleb(len(digest)) digest uleb(len(data)) data)*``): its stored bytes,
   snapshot plus change records, as the host gives them (plntui: read from disk without
   loading, in their wire form with Automerge's columns inflated so that the frame's zlib
   compresses across documents; any valid ``Document.load`` input is accepted); at most
   ``batch_bytes`` per frame (the first frame of a link ``FIRST_BATCH_BYTES``, each next one
   twice the last, so the peer starts checking sooner), and a frame is made only when the
   transport asks (``data_to_send``), so the transport's drain paces the sender.
5. HELD (a document id, UTF-8): this side keeps the peer's changes to that document waiting
   for its user's decision (a mass deletion held by the host). The document stays behind the
   peer's on purpose: neither side syncs it again, asks for it whole or waits on it until one
   side's digest changes, and both count it as in sync. A change made on the sending side while
   the held message awaited its answer was never sent: it goes out after the HELD, and waits
   there too.
6. PING keeps an idle link alive; BYE (a UTF-8 reason) ends it; INTRODUCE as in version 1.

Every state change is one entry of ``TRANSITIONS``; a frame no entry allows in the current state
is a ``RemoteProtocolError``.

The peer's changes reach no stored document unchecked: the host applies a DOC_SYNC message to a
fork of the document, or loads a DOCS entry, runs the guard on the result, and stores it only
if it passes (``DocumentHost.receive_sync``, ``receive_docs``). A refusal (``Refused``) ends the
link with its reason; nothing of the refused batch is stored, so nothing of it is relayed.
A DOC_SYNC or DOCS entry for a document outside what this side shares with the peer is never
applied (``Ignored``): the peer is not a member of its circle, here.

Errors: ``RemoteProtocolError`` (the peer broke the protocol) closes the session and leaves a
BYE with the reason in ``data_to_send()``. ``LocalProtocolError`` means the caller misused the
API.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal, Protocol, TypeAlias

import automerge.core as am

from . import leb128
from .errors import LocalProtocolError, RemoteProtocolError, SyncError
from .framing import MAX_FRAME, Frame, FrameDecoder, FrameKind, encode_frame
from .introduce import MAX_INTRODUCE, encode_introductions, parse_introductions
from .text import TEXT_LIMIT, clean_peer_text
from .trust import Introduction

__all__ = [
    "MAX_DOC_BYTES",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "TRANSITIONS",
    "Closed",
    "DocsReceived",
    "DocumentHost",
    "Event",
    "Ignored",
    "InSync",
    "IntroductionsReceived",
    "PeerHello",
    "Received",
    "Refused",
    "SessionStats",
    "State",
    "SyncSession",
    "Trigger",
]

PROTOCOL_VERSION: Final = 2
SUPPORTED_VERSIONS: Final[tuple[int, ...]] = (2,)
MAX_HELLO: Final = 64 * 1024
MAX_PING: Final = 256
MAX_BYE: Final = 4096
MAX_WANT: Final = 4 * 1024 * 1024
MAX_MANIFEST_RAW: Final = 64 * 1024 * 1024
MAX_DOC_BYTES: Final = 64 * 1024 * 1024
MAX_DOCS_RAW: Final = MAX_DOC_BYTES + 1024 * 1024
"""Hard cap on a DOCS frame once inflated (a zip bomb stops here): a sender puts at most
``batch_bytes`` in one frame, or one document alone when it is larger."""
MAX_DOC_ID: Final = 64
MAX_IN_FLIGHT: Final = 64
BATCH_BYTES: Final = 2 * 1024 * 1024
FIRST_BATCH_BYTES: Final = 256 * 1024
"""The first DOCS frame of a link carries at most this much, each next one twice as much, up to
``batch_bytes``: the peer starts checking while the rest is read and compressed."""
STUCK_ROUNDS: Final = 4
"""Sync messages in a row that bring nothing new for a document before it is asked for whole."""
_DIGEST_RE = re.compile(r"^[0-9a-f]{16}\Z")
_DOC_ID_RE = re.compile(r"^[a-z]:[0-9a-z:]{1,62}\Z")  # \Z: "$" would let a final "\n" through

Role: TypeAlias = Literal["client", "server"]


# -- what the session needs from the application ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """What the host stored of a peer's batch for one document."""

    changes: int
    """Changes it added here (0: nothing new)."""
    digest: str | None
    """The document's digest here now."""
    reshare: bool = False
    """What this side shares with the peer changed (a circle arrived): send a new manifest."""
    held: bool = False
    """Some of what the peer sent waits here for the user's decision (a held mass deletion):
    the document stays behind the peer's on purpose, so it is neither synced again nor asked
    for whole until something changes."""


class Refused(SyncError):
    """The host's guard refused a peer's batch: nothing was stored, the link ends.

    ``pause``: the peer is not wrong but newer (a schema this side does not know): stop
    syncing with it until this side is updated."""

    def __init__(self, message: str, *, pause: bool = False, doc_id: str = "") -> None:
        super().__init__(message)
        self.pause = pause
        self.doc_id = doc_id
        self.stored: dict[str, Received] = {}
        """What the host stored of the same batch before refusing (the documents that passed)."""


class DocumentHost(Protocol):
    """The documents as the session sees them (``plntui.sync_host`` implements it)."""

    lock: threading.RLock
    """Held by the session's caller around every call of the session."""

    def manifest_for(self, peer: bytes) -> dict[str, str]:
        """Document id -> digest of every document this side shares with ``peer``."""
        ...

    def accepts(self, peer: bytes, doc_id: str) -> bool:
        """Whether a document the peer offers may come from it (a circle document of a circle
        unknown here may: the guard then checks that the circle names both as members)."""
        ...

    def digest(self, doc_id: str) -> str | None:
        """The document's digest here, ``None`` if this side lacks it."""
        ...

    def stored(self, doc_id: str) -> tuple[bytes, str] | None:
        """The stored bytes and digest of a document (``Document.load`` input)."""
        ...

    def generate(self, doc_id: str, state: Any) -> bytes | None:
        """Automerge's next sync message for the document, or ``None``."""
        ...

    def receive_sync(self, peer: bytes, doc_id: str, state: Any, message: bytes) -> Received:
        """Check and store what a sync message brings (raise ``Refused``)."""
        ...

    def receive_docs(self, peer: bytes, docs: list[tuple[str, bytes]]) -> dict[str, Received]:
        """Check and store whole documents, all or none (raise ``Refused``)."""
        ...

    def expect(self, doc_ids: list[str]) -> None:
        """The session asked the peer for these documents whole (``receive_docs`` follows):
        the host may get ready for them."""
        ...


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerHello:
    """The peer introduced itself: the version both will speak."""

    version: int
    versions: tuple[int, ...]
    wants_introductions: bool = False


@dataclass(frozen=True, slots=True)
class DocsReceived:
    """Documents changed because of the peer (already stored by the host)."""

    doc_ids: tuple[str, ...]
    changes: int
    whole: int
    """How many arrived whole (DOCS) rather than as sync messages."""


@dataclass(frozen=True, slots=True)
class InSync:
    """Every document both share has the same heads on both sides."""

    documents: int


@dataclass(frozen=True, slots=True)
class Ignored:
    """The peer sent changes to a document it does not share with this side here."""

    doc_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class IntroductionsReceived:
    """The peer (asked as an introducer) listed the peers it trusts; checked, not yet trusted."""

    entries: tuple[Introduction, ...]


@dataclass(frozen=True, slots=True)
class Closed:
    """The session ended; ``reason`` may quote the peer (show it as plain text).

    ``refused``: this side's guard refused a batch (``pause``: the peer is newer)."""

    reason: str
    by_peer: bool
    clean: bool
    refused: str = ""
    pause: bool = False
    doc_id: str = ""


Event: TypeAlias = PeerHello | DocsReceived | InSync | Ignored | IntroductionsReceived | Closed


# -- the state machine --------------------------------------------------------------------------


class State(Enum):
    START = "START"  # nothing sent yet
    HELLO_SENT = "HELLO_SENT"  # our HELLO is out, the peer's is awaited
    SYNCING = "SYNCING"  # manifests, documents and sync messages both ways
    CLOSED = "CLOSED"


class Trigger(Enum):
    """What moves the state machine: a frame from the peer, or a call from the owner."""

    HELLO = "HELLO"
    MANIFEST = "MANIFEST"
    WANT = "WANT"
    DOCS = "DOCS"
    DOC_SYNC = "DOC_SYNC"
    HELD = "HELD"
    PING = "PING"
    INTRODUCE = "INTRODUCE"
    BYE = "BYE"
    EOF = "end of stream"
    SEND_HELLO = "start()"
    CLOSE = "close()"
    FAIL = "protocol error"


_FRAME_OF: Final[dict[Trigger, FrameKind]] = {
    Trigger.HELLO: FrameKind.HELLO,
    Trigger.MANIFEST: FrameKind.MANIFEST,
    Trigger.WANT: FrameKind.WANT,
    Trigger.DOCS: FrameKind.DOCS,
    Trigger.DOC_SYNC: FrameKind.DOC_SYNC,
    Trigger.HELD: FrameKind.HELD,
    Trigger.PING: FrameKind.PING,
    Trigger.INTRODUCE: FrameKind.INTRODUCE,
    Trigger.BYE: FrameKind.BYE,
}
_TRIGGER_OF: Final[dict[int, Trigger]] = {int(kind): trig for trig, kind in _FRAME_OF.items()}

_OPEN: Final = (State.HELLO_SENT, State.SYNCING)
_SYNC_FRAMES: Final = (
    Trigger.MANIFEST,
    Trigger.WANT,
    Trigger.DOCS,
    Trigger.DOC_SYNC,
    Trigger.HELD,
    Trigger.PING,
    Trigger.INTRODUCE,
)

TRANSITIONS: Final[dict[tuple[State, Trigger], State]] = {
    (State.START, Trigger.SEND_HELLO): State.HELLO_SENT,
    (State.START, Trigger.CLOSE): State.CLOSED,
    (State.HELLO_SENT, Trigger.HELLO): State.SYNCING,
    **{(State.SYNCING, trigger): State.SYNCING for trigger in _SYNC_FRAMES},
    **{(state, Trigger.BYE): State.CLOSED for state in _OPEN},
    **{(state, Trigger.EOF): State.CLOSED for state in _OPEN},
    **{(state, Trigger.CLOSE): State.CLOSED for state in _OPEN},
    **{(state, Trigger.FAIL): State.CLOSED for state in (State.START, *_OPEN)},
}
"""Every allowed (state, trigger) and the state it leads to; anything else is an error."""


# -- statistics ---------------------------------------------------------------------------------


@dataclass(slots=True)
class SessionStats:
    """Bytes and frames each way (wire bytes, headers included), changes and documents."""

    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_in_by_kind: dict[str, int] = field(default_factory=dict)
    bytes_out_by_kind: dict[str, int] = field(default_factory=dict)
    changes_in: int = 0
    changes_out: int = 0
    docs_in: int = 0
    docs_out: int = 0

    def _frame_in(self, frame: Frame, name: str) -> None:
        self.frames_in += 1
        self.bytes_in_by_kind[name] = self.bytes_in_by_kind.get(name, 0) + frame.wire_size

    def _frame_out(self, name: str, size: int) -> None:
        self.frames_out += 1
        self.bytes_out += size
        self.bytes_out_by_kind[name] = self.bytes_out_by_kind.get(name, 0) + size


# -- the session --------------------------------------------------------------------------------


class SyncSession:
    """Sync the documents two devices share, h11 style: bytes in, bytes out, events.

    Single-threaded: call it from one thread (or one asyncio task) at a time, holding
    ``host.lock``.
    """

    def __init__(
        self,
        host: DocumentHost,
        peer: bytes,
        role: Role,
        *,
        max_frame: int = MAX_FRAME,
        wants_introductions: bool = False,
        skip: Iterable[str] = (),
        max_in_flight: int = MAX_IN_FLIGHT,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        """``skip``: documents never synced on this link (refused from this peer before)."""
        if role not in ("client", "server"):
            raise LocalProtocolError(f"role must be 'client' or 'server', not {role!r}")
        self.host = host
        self.peer_fp = peer
        self.role: Role = role
        self.max_frame = max_frame
        self.wants_introductions = bool(wants_introductions)
        self.max_in_flight = max_in_flight
        self.batch_bytes = min(batch_bytes, max_frame // 2)
        self._next_batch = min(FIRST_BATCH_BYTES, self.batch_bytes)
        self.stats = SessionStats()
        self.peer: PeerHello | None = None
        self.error: SyncError | None = None
        self._skip = set(skip)
        self._decoder = FrameDecoder(
            max_frame,
            limits={
                FrameKind.HELLO: MAX_HELLO,
                FrameKind.PING: MAX_PING,
                FrameKind.BYE: MAX_BYE,
                FrameKind.INTRODUCE: MAX_INTRODUCE,
                FrameKind.WANT: MAX_WANT,
            },
        )
        self._state = State.START
        self._frames: deque[Frame | None] = deque()  # None marks the end of the stream
        self._events: deque[Event] = deque()
        self._outgoing = bytearray()
        self._eof = False
        self._offered: dict[str, str] = {}  # what we told the peer we share (id -> digest)
        self._theirs: dict[str, str] = {}  # what the peer shares with us (id -> digest)
        self._states: dict[str, Any] = {}  # SyncState per document
        self._queue: deque[str] = deque()  # documents to start syncing
        self._queued: set[str] = set()
        self._awaiting: set[str] = set()  # documents whose sync message awaits an answer
        self._changed_awaiting: set[str] = set()  # changed here while awaiting: sent after
        self._wanted: set[str] = set()  # asked for whole, not received yet
        self._send_whole: dict[str, None] = {}  # asked for by the peer, not sent yet (in order)
        self._in_sync_reported = False
        self._unanswered = 0  # manifests sent that no WANT answered yet
        self._stale: dict[str, tuple[tuple[bytes, ...], str | None, int]] = {}
        self._holding: dict[str, str] = {}  # the peer's changes wait here: id -> their digest
        self._held_there: dict[str, str | None] = {}  # ours wait there: id -> our digest

    # -- public state -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def in_sync(self) -> bool:
        """Every shared document matches, and nothing is queued or awaited."""
        if self._state is not State.SYNCING or self._queue or self._wanted or self._send_whole:
            return False
        if self._unanswered:
            return False  # the peer may still ask for something
        for doc_id, digest in self._theirs.items():
            if doc_id in self._skip or doc_id not in self._offered:
                continue
            mine = self.host.digest(doc_id)
            if mine == digest or self._holding.get(doc_id) == digest:
                continue
            if doc_id in self._held_there and self._held_there[doc_id] == mine:
                continue
            return False
        return True

    @property
    def shared(self) -> int:
        """How many documents this side offers the peer."""
        return len(self._offered)

    @property
    def wants_to_send(self) -> bool:
        """Whole documents are waiting to go out (the transport should ask again after drain)."""
        return bool(self._send_whole) and self._state is State.SYNCING

    # -- calls from the owner -----------------------------------------------------------------

    def start(self) -> bytes:
        """Begin: returns our HELLO and MANIFEST (the first bytes to write)."""
        if self._state is not State.START:
            raise LocalProtocolError(f"start() was already called (state {self._state.name})")
        hello: dict[str, Any] = {"protocol": PROTOCOL_VERSION, "versions": list(SUPPORTED_VERSIONS)}
        if self.wants_introductions:
            hello["wants_introductions"] = True
        payload = json.dumps(hello, separators=(",", ":")).encode("utf-8")
        self._transition(Trigger.SEND_HELLO)
        self._send(FrameKind.HELLO, payload)
        self._offer_all()
        return self.data_to_send()

    def receive_data(self, data: bytes) -> int:
        """Store what the peer sent (``b""`` = the stream ended); ``next_event`` processes it.
        Returns how many frames it completed.

        Raises ``FrameTooLarge`` at once when a header announces a frame over the limit."""
        if self._state is State.CLOSED or self._eof:
            return 0
        self.stats.bytes_in += len(data)
        if not data:
            self._eof = True
            self._frames.append(None)
            return 0
        try:
            frames = self._decoder.feed(data)
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise
        self._frames.extend(frames)
        return len(frames)

    @property
    def partial_frame(self) -> bool:
        """Whether the stream stopped inside a frame (the transport's stall deadline)."""
        return self._decoder.buffered > 0

    def next_event(self) -> Event | None:
        """Process stored frames until an event is ready; ``None`` when more data is needed."""
        if self._state is State.START:
            if self._frames:
                raise LocalProtocolError("call start() before processing the peer's data")
            return None
        while not self._events and self._frames and self._state is not State.CLOSED:
            frame = self._frames.popleft()
            try:
                if frame is None:
                    self._on_eof()
                else:
                    self._on_frame(frame)
            except Refused as exc:
                self._refused(exc)
            except SyncError as exc:
                self._fail(exc)
                raise
        if not self._events and self._state is State.SYNCING:
            self._pump()
            self._check_in_sync()
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """The bytes to write now (possibly empty); whole documents go out one batch a call."""
        if self._send_whole and self._state is State.SYNCING:
            self._send_docs_batch()
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def local_change(self, doc_ids: Iterable[str]) -> None:
        """These documents changed here: offer new ones, sync the others with the peer."""
        if self._state is not State.SYNCING:
            return
        shared = self.host.manifest_for(self.peer_fp)
        offer: dict[str, str] = {}
        for doc_id in doc_ids:
            digest = shared.get(doc_id)
            if digest is None or doc_id in self._skip:
                continue
            if doc_id not in self._offered:
                offer[doc_id] = digest
            elif doc_id in self._theirs:
                self._schedule(doc_id)
            self._offered[doc_id] = digest
        if offer:
            self._send_manifest(offer, ())
        self._pump()
        self._in_sync_reported = False

    def reshare(self) -> None:
        """What this side shares with the peer changed: send the difference, and ask for what
        the peer offered that this side now accepts."""
        if self._state is not State.SYNCING:
            return
        self._offer_all()
        self._consider(self._theirs, ack=0)
        self._in_sync_reported = False

    def ping(self) -> bytes:
        if self._state in _OPEN:
            self._send(FrameKind.PING, b"")
        return self.data_to_send()

    def introduce(self, entries: Iterable[Introduction]) -> int:
        """Send the peers this side trusts to a peer that asked; returns how many went (those
        past the payload limit are left out)."""
        if self._state is not State.SYNCING:
            raise LocalProtocolError("introductions go out once the HELLOs are exchanged")
        if self.peer is None or not self.peer.wants_introductions:
            raise LocalProtocolError("the peer did not ask for introductions")
        payload, count = encode_introductions(entries, limit=min(MAX_INTRODUCE, self.max_frame - 1))
        self._send(FrameKind.INTRODUCE, payload)
        return count

    def close(self, reason: str = "goodbye") -> bytes:
        """End the link politely: returns what is pending plus a BYE."""
        if self._state in _OPEN:
            self._transition(Trigger.CLOSE)
            self._send(FrameKind.BYE, _bye_payload(reason))
            self._events.append(Closed(reason, by_peer=False, clean=True))
        elif self._state is State.START:
            self._transition(Trigger.CLOSE)
        self._send_whole.clear()
        return self.data_to_send()

    # -- manifests ----------------------------------------------------------------------------

    def _offer_all(self) -> None:
        current = {
            d: g for d, g in self.host.manifest_for(self.peer_fp).items() if d not in self._skip
        }
        added = {d: g for d, g in current.items() if self._offered.get(d) != g}
        gone = [d for d in self._offered if d not in current]
        for doc_id in gone:
            self._offered.pop(doc_id, None)
            self._states.pop(doc_id, None)
        self._offered.update(current)
        if added or gone or self._state is State.HELLO_SENT:
            self._send_manifest(added, gone)

    def _send_manifest(self, docs: Mapping[str, str], gone: Iterable[str]) -> None:
        body = json.dumps({"docs": dict(docs), "gone": list(gone)}, separators=(",", ":"))
        self._send(FrameKind.MANIFEST, zlib.compress(body.encode(), 6))
        self._unanswered += 1

    def _consider(self, offers: Mapping[str, str], ack: int) -> None:
        """Decide, per document the peer offers: ask for it whole, sync it, or leave it."""
        want: list[str] = []
        for doc_id, digest in offers.items():
            if doc_id in self._skip or not self.host.accepts(self.peer_fp, doc_id):
                continue
            mine = self.host.digest(doc_id)
            if mine is None:
                if doc_id not in self._wanted:
                    want.append(doc_id)
            elif mine != digest and doc_id in self._offered:
                self._schedule(doc_id)
        if want or ack:
            want.sort(key=lambda d: (not d.startswith("c:"), d))
            self._wanted.update(want)
            body = json.dumps({"want": want, "ack": ack}, separators=(",", ":"))
            self._send(FrameKind.WANT, body.encode())
            if want:
                self.host.expect(want)

    # -- frames -------------------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        trigger = _TRIGGER_OF.get(frame.kind)
        name = trigger.value if trigger is not None else f"type {frame.kind}"
        self.stats._frame_in(frame, name)
        if trigger is None:
            raise RemoteProtocolError(f"the peer sent an unknown frame type {frame.kind}")
        if (self._state, trigger) not in TRANSITIONS:
            raise RemoteProtocolError(
                f"the peer sent {trigger.value} in state {self._state.name}, which is not allowed"
            )
        handler = getattr(self, f"_on_{trigger.name.lower()}")
        handler(frame.payload)

    def _on_hello(self, payload: bytes) -> None:
        hello = _parse_hello(payload)
        self._transition(Trigger.HELLO)
        self.peer = hello
        self._events.append(hello)
        self._offer_all()  # what changed here since start() (local_change waits for SYNCING)

    def _on_manifest(self, payload: bytes) -> None:
        raw = _inflate(payload, MAX_MANIFEST_RAW, "manifest")
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise RemoteProtocolError("the peer's manifest is not JSON") from None
        docs, gone = (obj.get("docs"), obj.get("gone")) if isinstance(obj, dict) else (None, None)
        if not isinstance(docs, dict) or not isinstance(gone, list):
            raise RemoteProtocolError("the peer's manifest lacks its documents")
        offers: dict[str, str] = {}
        for doc_id, digest in docs.items():
            if (
                not _valid_doc_id(doc_id)
                or not isinstance(digest, str)
                or not _DIGEST_RE.match(digest)
            ):
                raise RemoteProtocolError(
                    f"the peer's manifest has a malformed entry {_show(doc_id)}"
                )
            offers[doc_id] = digest
        self._transition(Trigger.MANIFEST)
        for doc_id in gone:
            if isinstance(doc_id, str):
                self._theirs.pop(doc_id, None)
                self._wanted.discard(doc_id)  # it will not come
        self._theirs.update(offers)
        self._consider(offers, ack=1)
        self._in_sync_reported = False

    def _on_want(self, payload: bytes) -> None:
        try:
            obj = json.loads(payload)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise RemoteProtocolError("the peer's WANT is not JSON") from None
        wanted = obj.get("want") if isinstance(obj, dict) else None
        ack = obj.get("ack") if isinstance(obj, dict) else None
        if not isinstance(wanted, list) or not all(_valid_doc_id(d) for d in wanted):
            raise RemoteProtocolError("the peer's WANT is not a list of document ids")
        if ack not in (0, 1) or ack > self._unanswered:
            raise RemoteProtocolError("the peer's WANT answers no manifest")
        self._transition(Trigger.WANT)
        self._unanswered -= ack
        for doc_id in wanted:
            if doc_id in self._offered:
                self._send_whole.setdefault(doc_id)

    def _on_docs(self, payload: bytes) -> None:
        raw = _inflate(payload, MAX_DOCS_RAW, "documents")
        entries = _parse_docs(raw)
        self._transition(Trigger.DOCS)
        changed: list[str] = []
        changes = 0
        reshare = False
        batch: list[tuple[str, bytes]] = []
        for doc_id, _ignored, data in entries:
            if doc_id not in self._wanted:
                self._events.append(Ignored(doc_id, "it was not asked for"))
                continue
            batch.append((doc_id, data))
        refused: Refused | None = None
        try:
            results = self.host.receive_docs(self.peer_fp, batch) if batch else {}
        except Refused as exc:  # the documents that passed are stored: count them, then end
            refused, results = exc, exc.stored
        for doc_id, digest, _data in entries:
            received = results.get(doc_id)
            if received is None or doc_id not in self._wanted:
                continue
            self._wanted.discard(doc_id)
            self._states.pop(doc_id, None)  # a document held here and asked again: start afresh
            self._theirs[doc_id] = digest
            if received.digest is not None:  # held and shared here now, without a manifest
                self._offered[doc_id] = received.digest
            self.stats.docs_in += 1
            if received.changes:
                changed.append(doc_id)
                changes += received.changes
            reshare = reshare or received.reshare
            if received.held:
                self._holding[doc_id] = digest
            elif received.digest is not None and received.digest != digest:
                self._schedule(doc_id)  # it changed here meanwhile: sync what differs
        self.stats.changes_in += changes
        if changed:
            self._events.append(DocsReceived(tuple(changed), changes, len(changed)))
        if refused is not None:
            raise refused
        if reshare:
            self.reshare()
        self._in_sync_reported = False

    def _on_doc_sync(self, payload: bytes) -> None:
        doc_id, message = _split_doc_sync(payload)
        self._transition(Trigger.DOC_SYNC)
        if (
            doc_id in self._skip
            or doc_id not in self._offered
            or not self.host.accepts(self.peer_fp, doc_id)
        ):
            self._events.append(Ignored(doc_id, "this device does not share it with the peer"))
            return
        peek = _peek_sync_message(message)
        if peek is None:
            raise RemoteProtocolError(
                f"the peer sent a sync message for {_show(doc_id)} that is not Automerge's"
            )
        state = self._states.get(doc_id)
        if state is None:
            state = self._states[doc_id] = am.SyncState()
        self._awaiting.discard(doc_id)
        received = self.host.receive_sync(self.peer_fp, doc_id, state, message)
        self._theirs[doc_id] = _digest(peek[0])
        if received.changes:
            self.stats.changes_in += received.changes
            self._events.append(DocsReceived((doc_id,), received.changes, 0))
        if received.reshare:
            self.reshare()
        if received.held:  # behind on purpose, not stuck: say so instead of answering
            self._stale.pop(doc_id, None)
            self._holding[doc_id] = self._theirs[doc_id]
            self._send(FrameKind.HELD, doc_id.encode())
            self._in_sync_reported = False
            return
        self._holding.pop(doc_id, None)
        if self._rounds_without_progress(doc_id, peek[0], received) >= STUCK_ROUNDS:
            self._ask_whole(doc_id)
        self._generate(doc_id)
        self._in_sync_reported = False

    def _on_held(self, payload: bytes) -> None:
        try:
            doc_id = payload.decode()
        except UnicodeDecodeError:
            doc_id = ""
        if not _valid_doc_id(doc_id):
            raise RemoteProtocolError("the peer sent a HELD frame without a valid document id")
        self._transition(Trigger.HELD)
        if doc_id not in self._offered:
            self._events.append(Ignored(doc_id, "this device does not share it with the peer"))
            return
        self._awaiting.discard(doc_id)  # no answer comes until the peer's user decides
        self._stale.pop(doc_id, None)
        # Automerge sends nothing more on a state whose last message went unanswered: the next
        # change here starts afresh, and the peer learns of it (and holds it too)
        self._states.pop(doc_id, None)
        if doc_id in self._changed_awaiting:  # changed here after the held message went out:
            self._changed_awaiting.discard(doc_id)  # send that too (it waits there as well)
            self._held_there.pop(doc_id, None)
            self._schedule(doc_id)
        else:
            self._held_there[doc_id] = self.host.digest(doc_id)
        self._in_sync_reported = False

    def _rounds_without_progress(
        self, doc_id: str, heads: tuple[bytes, ...], received: Received
    ) -> int:
        """Messages in a row for ``doc_id`` with the same peer heads, nothing stored, and this
        side's heads unchanged, while the two differ."""
        mine = self.host.digest(doc_id)
        if received.changes or mine == _digest(heads):
            self._stale.pop(doc_id, None)
            return 0
        last = self._stale.get(doc_id)
        count = last[2] + 1 if last is not None and last[:2] == (heads, mine) else 0
        self._stale[doc_id] = (heads, mine, count)
        return count

    def _ask_whole(self, doc_id: str) -> None:
        """The sync of a document goes round without progress: ask for it whole.

        Automerge never sends a change twice on one ``SyncState``. A host that checks a message
        on a copy drops the changes that wait there for a dependency (one Bloom filter false
        positive is enough), so the peer would never send them again: the stored document
        brings them all at once."""
        if doc_id in self._wanted:
            return
        self._stale.pop(doc_id, None)
        self._wanted.add(doc_id)
        body = json.dumps({"want": [doc_id], "ack": 0}, separators=(",", ":"))
        self._send(FrameKind.WANT, body.encode())

    def _on_ping(self, payload: bytes) -> None:
        self._transition(Trigger.PING)

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

    # -- syncing ------------------------------------------------------------------------------

    def _schedule(self, doc_id: str) -> None:
        if doc_id in self._awaiting:  # the answer's reply carries it (or HELD: _on_held)
            self._changed_awaiting.add(doc_id)
        elif doc_id not in self._queued:
            self._queued.add(doc_id)
            self._queue.append(doc_id)

    def _pump(self) -> None:
        """Start queued documents while fewer than ``max_in_flight`` await an answer."""
        while self._queue and len(self._awaiting) < self.max_in_flight:
            doc_id = self._queue.popleft()
            self._queued.discard(doc_id)
            self._generate(doc_id)

    def _generate(self, doc_id: str) -> None:
        self._changed_awaiting.discard(doc_id)  # this message carries what changed
        state = self._states.get(doc_id)
        if state is None:
            state = self._states[doc_id] = am.SyncState()
        message = self.host.generate(doc_id, state)
        if message is None:
            return
        if self.host.digest(doc_id) != self._theirs.get(doc_id):
            self._awaiting.add(doc_id)  # not the last word: an answer is due
        peek = _peek_sync_message(message)
        if peek is not None and peek[1]:
            self.stats.changes_out += _count_changes(message)
        self._send(FrameKind.DOC_SYNC, _doc_sync_payload(doc_id, message))

    def _send_docs_batch(self) -> None:
        parts: list[bytes] = []
        size = 0
        while self._send_whole:
            doc_id = next(iter(self._send_whole))
            found = self.host.stored(doc_id)
            if found is None or doc_id not in self._offered:
                del self._send_whole[doc_id]
                continue
            data, digest = found
            if parts and size + len(data) > self._next_batch:
                break  # it opens the next batch (read again then: it may change meanwhile)
            del self._send_whole[doc_id]
            if len(data) > MAX_DOC_BYTES:
                raise LocalProtocolError(f"document {doc_id} is too large to send whole")
            parts.append(doc_entry(doc_id, digest, data))
            size += len(data)
            self._offered[doc_id] = digest
            self._theirs[doc_id] = digest  # the peer holds it now (or refuses and hangs up)
            self.stats.docs_out += 1
        if parts:
            self._next_batch = min(self._next_batch * 2, self.batch_bytes)
            payload = pack_docs(parts)
            if len(payload) + 1 > self.max_frame:
                raise LocalProtocolError("a batch of documents does not fit in one frame")
            self._send(FrameKind.DOCS, payload)

    def _check_in_sync(self) -> None:
        if self._in_sync_reported or not self._theirs_seen():
            return
        if self.in_sync:
            self._in_sync_reported = True
            self._events.append(InSync(len(self._offered)))

    def _theirs_seen(self) -> bool:
        return self.stats.bytes_in_by_kind.get("MANIFEST", 0) > 0

    # -- helpers ------------------------------------------------------------------------------

    def _refused(self, exc: Refused) -> None:
        self.error = exc
        if self._state in _OPEN:
            self._transition(Trigger.CLOSE)
            self._frames.clear()
            self._send_whole.clear()
            self._send(FrameKind.BYE, _bye_payload(f"refused: {exc.message}"))
        self._events.append(
            Closed(
                f"refused: {exc.message}",
                by_peer=False,
                clean=True,
                refused=exc.message,
                pause=exc.pause,
                doc_id=exc.doc_id,
            )
        )

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

    def _fail(self, exc: SyncError) -> None:
        self.error = exc
        if self._state is State.CLOSED:
            return
        started = self._state is not State.START
        self._transition(Trigger.FAIL)
        self._frames.clear()
        self._send_whole.clear()
        if started:
            prefix = "protocol error" if isinstance(exc, RemoteProtocolError) else "cannot go on"
            self._send(FrameKind.BYE, _bye_payload(f"{prefix}: {exc.message}"))


# -- pure helpers -------------------------------------------------------------------------------


def _digest(heads: Iterable[bytes]) -> str:
    import hashlib

    return hashlib.sha256(b"".join(sorted(heads))).hexdigest()[:16]


def _valid_doc_id(doc_id: Any) -> bool:
    return isinstance(doc_id, str) and len(doc_id) <= MAX_DOC_ID and bool(_DOC_ID_RE.match(doc_id))


def _printable(text: str | bytes, limit: int = TEXT_LIMIT) -> str:
    """A peer's text without control characters, capped (it must not drive the terminal)."""
    return clean_peer_text(text, limit, ellipsis=True)


def _show(text: Any, limit: int = 60) -> str:
    return clean_peer_text(repr(str(text)[: limit * 2]), limit + 2, ellipsis=True)


def _bye_payload(reason: str) -> bytes:
    data = reason.encode("utf-8")
    if len(data) > MAX_BYE:
        data = data[:MAX_BYE].decode("utf-8", "ignore").encode("utf-8")
    return data


def _inflate(payload: bytes, limit: int, what: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, limit + 1)
    except zlib.error as exc:
        raise RemoteProtocolError(f"the peer's {what} is not zlib data ({exc})") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise RemoteProtocolError(f"the peer's {what} inflates beyond the {limit:,}-byte limit")
    if not inflater.eof:
        raise RemoteProtocolError(f"the peer's {what} is truncated")
    if inflater.unused_data:
        raise RemoteProtocolError(f"the peer's {what} has bytes after its end")
    return raw


def _is_small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _parse_hello(payload: bytes) -> PeerHello:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RemoteProtocolError(
            f"the peer's HELLO is not JSON ({_printable(str(exc))})"
        ) from None
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
        theirs = max(versions)
        if theirs < PROTOCOL_VERSION:
            raise RemoteProtocolError(
                f"the peer runs an older plntui (sync protocol {theirs}); update plntui there "
                "to sync with them"
            )
        raise RemoteProtocolError(
            f"the peer runs a newer plntui (sync protocol {theirs}); update plntui here to "
            "sync with them"
        )
    wants = obj.get("wants_introductions", False)
    if not isinstance(wants, bool):
        raise RemoteProtocolError("the peer's HELLO has a malformed wants_introductions")
    return PeerHello(max(common), tuple(versions), wants)


def pack_docs(entries: list[bytes]) -> bytes:
    """A DOCS frame's payload: its entries (``doc_entry``) compressed together. Level 9 with the
    most memory: 1 % fewer bytes than level 6 for 10 % more time (the documents come in their
    wire form, which compresses across them)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 15, 9)
    return packer.compress(b"".join(entries)) + packer.flush()


def doc_entry(doc_id: str, digest: str, data: bytes) -> bytes:
    """One document of a DOCS frame: its id, its heads digest and its bytes, each sized."""
    ident, dig = doc_id.encode(), digest.encode()
    size = leb128.encode
    return b"".join((size(len(ident)), ident, size(len(dig)), dig, size(len(data)), data))


def _parse_docs(raw: bytes) -> list[tuple[str, str, bytes]]:
    out: list[tuple[str, str, bytes]] = []
    seen: set[str] = set()
    pos = 0
    try:
        while pos < len(raw):
            fields: list[bytes] = []
            for limit in (MAX_DOC_ID, 64, MAX_DOC_BYTES):
                size, pos = leb128.read(raw, pos)
                if size > limit or pos + size > len(raw):
                    raise ValueError("an entry overruns the frame")
                fields.append(raw[pos : pos + size])
                pos += size
            doc_id, digest = fields[0].decode(), fields[1].decode()
            if not _valid_doc_id(doc_id) or not _DIGEST_RE.match(digest):
                raise ValueError(f"a malformed entry {_show(doc_id)}")
            if doc_id in seen:
                raise ValueError(f"{_show(doc_id)} twice in one batch")
            seen.add(doc_id)
            out.append((doc_id, digest, fields[2]))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise RemoteProtocolError(
            f"the peer's documents are malformed ({_printable(str(exc))})"
        ) from None
    return out


def _doc_sync_payload(doc_id: str, message: bytes) -> bytes:
    ident = doc_id.encode()
    return leb128.encode(len(ident)) + ident + message


def _split_doc_sync(payload: bytes) -> tuple[str, bytes]:
    try:
        size, pos = leb128.read(payload, 0)
        if size > MAX_DOC_ID or pos + size > len(payload):
            raise ValueError
        doc_id = payload[pos : pos + size].decode()
    except (IndexError, ValueError, UnicodeDecodeError):
        raise RemoteProtocolError("the peer sent a DOC_SYNC frame without a document id") from None
    if not _valid_doc_id(doc_id):
        raise RemoteProtocolError(f"the peer sent a DOC_SYNC for a malformed id {_show(doc_id)}")
    return doc_id, payload[pos + size :]


def _hash_list(data: bytes, pos: int) -> tuple[list[bytes], int]:
    count, pos = leb128.read(data, pos)
    end = pos + count * 32
    if end > len(data):
        raise ValueError("hash list overruns the message")
    return [data[i : i + 32] for i in range(pos, end, 32)], end


def _peek_sync_message(payload: bytes) -> tuple[tuple[bytes, ...], bool] | None:
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
        n_haves, pos = leb128.read(payload, pos)
        for _ in range(n_haves):
            _last_sync, pos = _hash_list(payload, pos)
            size, pos = leb128.read(payload, pos)
            pos += size
            if pos > len(payload):
                return None
        n_changes, pos = leb128.read(payload, pos)
    except (IndexError, ValueError):
        return None
    return tuple(sorted(heads)), n_changes != 0


def _count_changes(payload: bytes) -> int:
    """How many changes a (well-formed) sync message carries."""
    try:
        _heads, pos = _hash_list(payload, 1)
        _need, pos = _hash_list(payload, pos)
        n_haves, pos = leb128.read(payload, pos)
        for _ in range(n_haves):
            _last, pos = _hash_list(payload, pos)
            size, pos = leb128.read(payload, pos)
            pos += size
        n_changes, _ = leb128.read(payload, pos)
    except (IndexError, ValueError):
        return 0
    return n_changes


def changes_of(payload: bytes) -> list[bytes]:
    """The encoded changes in a sync message; ``[]`` if the layout is not the one expected."""
    try:
        _heads, pos = _hash_list(payload, 1)
        _need, pos = _hash_list(payload, pos)
        n_haves, pos = leb128.read(payload, pos)
        for _ in range(n_haves):
            _last, pos = _hash_list(payload, pos)
            size, pos = leb128.read(payload, pos)
            pos += size
        n_changes, pos = leb128.read(payload, pos)
        out: list[bytes] = []
        for _ in range(n_changes):
            size, pos = leb128.read(payload, pos)
            if pos + size > len(payload):
                return out
            out.append(payload[pos : pos + size])
            pos += size
    except (IndexError, ValueError):
        return []
    return out
