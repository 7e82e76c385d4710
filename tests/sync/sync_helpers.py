"""Provides what the sync tests share: an in-memory ``DocumentHost`` of small documents, two
sessions joined by a byte pipe (h11 style), frames crafted by hand, engines on 127.0.0.1, waiting.

Nothing here imports ``plntui``: the sync layer is tested on its own, against ``MemoryHost``,
which answers the session's questions the way the application's host does (share policy, a guard
that raises ``Refused``, stored bytes, a fork checked before anything is stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import os
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import automerge.core as am

from sync.engine import EngineEvent, SyncEngine
from sync.errors import RemoteProtocolError
from sync.framing import Frame, FrameDecoder, FrameKind, encode_frame
from sync.identity import Identity
from sync.session import Event, Received, Refused, SyncSession, changes_of
from sync.trust import TrustStore

E = TypeVar("E")

# -- documents -------------------------------------------------------------------------------------


def _make_genesis() -> bytes:
    """The first change of every test document: a fixed actor and time, so top-level objects are
    the same on every replica (as ``plntui.layout`` does per kind)."""
    doc = am.Document(b"sync-test-genesis")
    with doc.transaction() as tx:
        tx.put(am.ROOT, "schema", am.ScalarType.Int, 1)
        tx.put_object(am.ROOT, "items", am.ObjType.Map)
    return doc.save()


GENESIS = _make_genesis()
GENESIS_HEADS: list[bytes] = am.Document.load(GENESIS).get_heads()


def new_doc(actor: bytes | None = None) -> am.Document:
    """A fresh replica of a test document: the genesis and nothing else."""
    doc = am.Document.load(GENESIS)
    doc.set_actor(actor or os.urandom(16))
    return doc


def items(doc: am.Document) -> bytes:
    found = doc.get(am.ROOT, "items")
    assert found is not None
    return found[1]  # type: ignore[no-any-return]


def put(doc: am.Document, key: str, value: str) -> None:
    with doc.transaction() as tx:
        tx.put(items(doc), key, am.ScalarType.Str, value)


def add_items(doc: am.Document, names: Iterable[str], *, per_transaction: int = 1) -> None:
    """Add one small map per name, ``per_transaction`` maps per commit."""
    batch: list[str] = []

    def commit() -> None:
        with doc.transaction() as tx:
            for name in batch:
                obj = tx.put_object(items(doc), name, am.ObjType.Map)
                tx.put(obj, "name", am.ScalarType.Str, name)
                tx.put(obj, "n", am.ScalarType.Int, len(name))
        batch.clear()

    for name in names:
        batch.append(name)
        if len(batch) >= per_transaction:
            commit()
    if batch:
        commit()


def doc_with(*keys: str, actor: bytes | None = None) -> am.Document:
    """A test document holding ``keys`` (each set to ``"1"``)."""
    doc = new_doc(actor)
    for key in keys:
        put(doc, key, "1")
    return doc


def contents(doc: am.Document) -> dict[str, Any]:
    """The document as plain Python values (what a user would see)."""

    def plain(value: Any, obj: bytes) -> Any:
        if isinstance(value, am.ObjType):
            if value == am.ObjType.Map:
                return {k: plain(*doc.get(obj, k)) for k in doc.keys(obj)}  # type: ignore[misc]
            if value == am.ObjType.Text:
                return doc.text(obj)
            return [plain(v, o) for v, o in doc.values(obj)]
        return value[1]

    return {k: plain(*doc.get(am.ROOT, k)) for k in doc.keys(am.ROOT)}  # type: ignore[misc]


def keys_of(doc: am.Document) -> set[str]:
    return set(contents(doc)["items"])


def digest_of(doc: am.Document) -> str:
    """The wire digest of a document's heads (16 hex digits of SHA-256 of the sorted heads)."""
    return hashlib.sha256(b"".join(sorted(doc.get_heads()))).hexdigest()[:16]


def copy_doc(doc: am.Document, actor: bytes | None = None) -> am.Document:
    """Another replica with the same history (another device that synced earlier)."""
    other = am.Document.load(doc.save())
    other.set_actor(actor or os.urandom(16))
    return other


# -- the in-memory host ----------------------------------------------------------------------------

SharePolicy = Callable[[bytes, str], bool]
Guard = Callable[[bytes, str, am.Document], None]


def share_all(_peer: bytes, _doc_id: str) -> bool:
    return True


class MemoryHost:
    """A ``sync.session.DocumentHost`` over a dict of documents (doc id -> Automerge document).

    ``share(peer, doc_id)``: whether the document goes to (and may come from) ``peer``;
    ``accept(peer, doc_id)``: whether a document the peer offers may come from it (``share`` by
    default). ``guard(peer, doc_id, staged)`` sees every document before it is stored and raises
    ``Refused`` to refuse the batch. Documents whose id starts with ``c:`` play the circles:
    storing one tells the session to reshare.
    """

    def __init__(
        self,
        docs: Mapping[str, am.Document] | None = None,
        *,
        share: SharePolicy = share_all,
        accept: SharePolicy | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.docs: dict[str, am.Document] = dict(docs or {})
        self.share = share
        self.accept = accept
        self.guard = guard
        self.fail_store = False
        self.drop_next = 0
        """Messages carrying changes to check and then drop (as a checked copy drops changes
        that wait for a dependency)."""
        self.writes = 0
        """Times something was stored (a unit of work)."""
        self.whole: list[str] = []
        """Documents stored from DOCS (whole), in order."""
        self.synced: list[str] = []
        """Documents changed by a DOC_SYNC message, in order."""
        self.served: list[str] = []
        """Documents whose stored bytes were read to be sent whole."""
        self.expected: list[str] = []
        """Documents the session said it asked for whole (``expect``), in order."""
        self.external: dict[str, am.Document] = {}
        """What "another process" wrote to disk, seen by ``poll``."""

    # -- DocumentHost ---------------------------------------------------------------------------

    def manifest_for(self, peer: bytes) -> dict[str, str]:
        with self.lock:
            return {d: digest_of(doc) for d, doc in self.docs.items() if self.share(peer, d)}

    def accepts(self, peer: bytes, doc_id: str) -> bool:
        return (self.accept or self.share)(peer, doc_id)

    def digest(self, doc_id: str) -> str | None:
        with self.lock:
            doc = self.docs.get(doc_id)
            return None if doc is None else digest_of(doc)

    def stored(self, doc_id: str) -> tuple[bytes, str] | None:
        with self.lock:
            doc = self.docs.get(doc_id)
            if doc is None:
                return None
            self.served.append(doc_id)
            return doc.save(), digest_of(doc)

    def generate(self, doc_id: str, state: Any) -> bytes | None:
        with self.lock:
            doc = self.docs.get(doc_id)
            if doc is None:
                return None
            message = doc.generate_sync_message(state)
            return None if message is None else message.encode()  # type: ignore[no-any-return]

    def receive_sync(self, peer: bytes, doc_id: str, state: Any, message: bytes) -> Received:
        with self.lock:
            try:
                decoded = am.Message.decode(message)
            except Exception as exc:
                raise RemoteProtocolError(f"not an Automerge sync message ({exc})") from None
            live = self.docs.get(doc_id)
            base = live if live is not None else new_doc()
            before = base.get_heads()
            if not changes_of(message):
                try:
                    base.receive_sync_message(state, decoded)
                except Exception as exc:
                    raise RemoteProtocolError(f"the peer's sync state is broken ({exc})") from None
                return Received(0, self.digest(doc_id))
            staged = base.fork()
            try:
                staged.receive_sync_message(state, decoded)
            except Exception as exc:
                raise Refused(
                    f"Automerge refused the changes to {doc_id} ({exc})", doc_id=doc_id
                ) from None
            after = staged.get_heads()
            if set(after) == set(before) or self.drop_next > 0:
                self.drop_next = max(0, self.drop_next - 1)
                return Received(0, self.digest(doc_id))
            if self.guard is not None:
                self.guard(peer, doc_id, staged)
            n_changes = len(staged.get_changes(before))
            self._write()
            if live is None:
                self.docs[doc_id] = staged
            else:
                live.merge(staged)
            self.synced.append(doc_id)
            return Received(n_changes, self.digest(doc_id), reshare=doc_id.startswith("c:"))

    def receive_docs(self, peer: bytes, docs: list[tuple[str, bytes]]) -> dict[str, Received]:
        """Check every document; store those that pass, then refuse if one failed (carrying
        what was stored), as the application's host does."""
        with self.lock:
            loaded: list[tuple[str, am.Document]] = []
            refused: Refused | None = None
            for doc_id, data in docs:
                try:
                    doc = self._check_whole(peer, doc_id, data)
                except Refused as exc:
                    refused = refused or exc
                    continue
                loaded.append((doc_id, doc))
            out: dict[str, Received] = {}
            if loaded:
                self._write()
            for doc_id, doc in loaded:
                live = self.docs.get(doc_id)
                if live is None:
                    doc.set_actor(os.urandom(16))
                    self.docs[doc_id] = doc
                    count = len(doc.get_changes([]))
                else:
                    before = live.get_heads()
                    live.merge(doc)
                    count = len(live.get_changes(before))
                self.whole.append(doc_id)
                out[doc_id] = Received(count, self.digest(doc_id), reshare=doc_id.startswith("c:"))
            if refused is not None:
                refused.stored = out
                raise refused
            return out

    def expect(self, doc_ids: list[str]) -> None:
        self.expected += doc_ids

    def _check_whole(self, peer: bytes, doc_id: str, data: bytes) -> am.Document:
        try:
            doc = am.Document.load(data)
            doc.fork(GENESIS_HEADS)  # a test document, not something else
        except Exception:
            raise Refused(f"the peer's {doc_id} is not a test document", doc_id=doc_id) from None
        if self.guard is not None:
            self.guard(peer, doc_id, doc)
        return doc

    def _write(self) -> None:
        if self.fail_store:
            raise OSError(28, "No space left on device")
        self.writes += 1

    # -- what tests do ----------------------------------------------------------------------------

    def put(self, doc_id: str, key: str, value: str) -> None:
        """Set ``key`` in a document, creating the document if need be."""
        with self.lock:
            doc = self.docs.get(doc_id)
            if doc is None:
                doc = self.docs[doc_id] = new_doc()
            put(doc, key, value)

    def keys(self, doc_id: str) -> set[str]:
        with self.lock:
            doc = self.docs.get(doc_id)
            return set() if doc is None else keys_of(doc)

    def has(self, doc_id: str, key: str) -> bool:
        return key in self.keys(doc_id)

    def digests(self) -> dict[str, str]:
        with self.lock:
            return {d: digest_of(doc) for d, doc in self.docs.items()}

    def snapshot(self) -> dict[str, Any]:
        """Every document as plain values: what a user would see."""
        with self.lock:
            return {d: contents(doc) for d, doc in sorted(self.docs.items())}

    def poll(self) -> list[str]:
        """Merge what "other processes" wrote; the documents that changed."""
        with self.lock:
            changed = []
            for doc_id, other in self.external.items():
                live = self.docs.get(doc_id)
                if live is None:
                    self.docs[doc_id] = copy_doc(other)
                else:
                    live.merge(other)
                changed.append(doc_id)
            self.external.clear()
            return changed


def refuse_key(key: str, *, pause: bool = False) -> Guard:
    """A guard that refuses any document holding ``key``."""

    def guard(_peer: bytes, doc_id: str, doc: am.Document) -> None:
        if key in keys_of(doc):
            raise Refused(f"{doc_id} holds a forbidden item {key!r}", pause=pause, doc_id=doc_id)

    return guard


# -- two sessions joined by a pipe -----------------------------------------------------------------


def frames_of(data: bytes) -> list[Frame]:
    return FrameDecoder().feed(data)


def drain(s: SyncSession) -> list[Event]:
    out: list[Event] = []
    while (event := s.next_event()) is not None:
        out.append(event)
    return out


PEER_A = b"A" * 32
PEER_B = b"B" * 32


@dataclass
class Pipe:
    """Two sessions joined in memory; records every event and every frame, per side."""

    a: SyncSession
    b: SyncSession
    events: dict[str, list[Event]] = field(default_factory=lambda: {"a": [], "b": []})
    sent: dict[str, list[Frame]] = field(default_factory=lambda: {"a": [], "b": []})
    rounds: int = 0
    watch: Callable[[Pipe], None] | None = None
    """Called after every delivery (to check an invariant at every step)."""

    def side(self, name: str) -> SyncSession:
        return self.a if name == "a" else self.b

    def start(self) -> Pipe:
        self._deliver("a", self.a.start())
        self._deliver("b", self.b.start())
        return self

    def _deliver(self, sender: str, data: bytes) -> None:
        if not data:
            return
        self.sent[sender] += frames_of(data)
        receiver = self.b if sender == "a" else self.a
        receiver.receive_data(data)
        if self.watch is not None:
            self.watch(self)

    def step(self) -> bool:
        """Drain both sides' events, deliver one call of ``data_to_send`` each way; ``False``
        when neither side had anything to say."""
        for name in ("a", "b"):
            self.events[name] += drain(self.side(name))
        out_a, out_b = self.a.data_to_send(), self.b.data_to_send()
        if not out_a and not out_b:
            return False
        self.rounds += 1
        self._deliver("a", out_a)
        self._deliver("b", out_b)
        return True

    def pump(self, limit: int = 500) -> Pipe:
        """Deliver bytes both ways until neither side has anything to say."""
        for _ in range(limit):
            if not self.step():
                return self
        raise AssertionError(f"the sessions kept talking after {limit} rounds")

    def of(self, name: str, kind: type[E]) -> list[E]:
        return [e for e in self.events[name] if isinstance(e, kind)]

    def kinds(self, name: str) -> list[str]:
        """The names of the frames ``name`` sent, in order."""
        return [FrameKind(f.kind).name for f in self.sent[name]]

    def payloads(self, name: str, kind: FrameKind) -> list[bytes]:
        return [f.payload for f in self.sent[name] if f.kind == kind]


def session(host: MemoryHost, role: str = "client", peer: bytes = PEER_B, **kw: Any) -> SyncSession:
    return SyncSession(host, peer, role, **kw)  # type: ignore[arg-type]


def pipe(
    a: MemoryHost,
    b: MemoryHost,
    *,
    a_kw: dict[str, Any] | None = None,
    b_kw: dict[str, Any] | None = None,
) -> Pipe:
    """Sessions for ``a`` (client, its peer is B) and ``b`` (server, its peer is A), started."""
    return Pipe(
        session(a, "client", PEER_B, **(a_kw or {})), session(b, "server", PEER_A, **(b_kw or {}))
    ).start()


def connect(a: MemoryHost, b: MemoryHost, **kw: Any) -> Pipe:
    """Two hosts' sessions, started and pumped until quiet."""
    return pipe(a, b, **kw).pump()


def shared_in_sync(
    a: MemoryHost, b: MemoryHost, peer_a: bytes = PEER_A, peer_b: bytes = PEER_B
) -> bool:
    """Every document one side shares with the other, and the other accepts, is on both sides
    with the same digest."""
    for mine, theirs, me, them in ((a, b, peer_a, peer_b), (b, a, peer_b, peer_a)):
        for doc_id, digest in mine.manifest_for(them).items():
            if theirs.accepts(me, doc_id) and theirs.digest(doc_id) != digest:
                return False
    return True


# -- frames crafted by hand ------------------------------------------------------------------------


def hello_frame(*, protocol: int = 2, versions: list[int] | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "protocol": protocol,
        "versions": [protocol] if versions is None else versions,
        **extra,
    }
    return encode_frame(FrameKind.HELLO, json.dumps(body).encode())


def v1_hello_frame() -> bytes:
    """What plntui 0.1 (sync protocol 1, one network document) says first."""
    return hello_frame(protocol=1, doc="network", heads=[], empty=False)


def manifest_payload(docs: Mapping[str, str], gone: Iterable[str] = ()) -> bytes:
    body = json.dumps({"docs": dict(docs), "gone": list(gone)}, separators=(",", ":"))
    return zlib.compress(body.encode())


def manifest_frame(docs: Mapping[str, str], gone: Iterable[str] = ()) -> bytes:
    return encode_frame(FrameKind.MANIFEST, manifest_payload(docs, gone))


def want_frame(want: Iterable[str], ack: int = 1) -> bytes:
    return encode_frame(FrameKind.WANT, json.dumps({"want": list(want), "ack": ack}).encode())


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def docs_entry(doc_id: str, digest: str, data: bytes) -> bytes:
    ident, dig = doc_id.encode(), digest.encode()
    return uleb(len(ident)) + ident + uleb(len(dig)) + dig + uleb(len(data)) + data


def docs_frame(entries: Iterable[tuple[str, am.Document | bytes]]) -> bytes:
    parts = []
    for doc_id, doc in entries:
        if isinstance(doc, bytes):
            parts.append(docs_entry(doc_id, "0" * 16, doc))
        else:
            parts.append(docs_entry(doc_id, digest_of(doc), doc.save()))
    return encode_frame(FrameKind.DOCS, zlib.compress(b"".join(parts)))


def doc_sync_payload(doc_id: str, message: bytes) -> bytes:
    return uleb(len(doc_id.encode())) + doc_id.encode() + message


def doc_sync_frame(doc_id: str, message: bytes) -> bytes:
    return encode_frame(FrameKind.DOC_SYNC, doc_sync_payload(doc_id, message))


def split_doc_sync(payload: bytes) -> tuple[str, bytes]:
    size = payload[0]
    return payload[1 : 1 + size].decode(), payload[1 + size :]


def parse_docs_payload(payload: bytes) -> list[tuple[str, str, bytes]]:
    """The entries of a DOCS payload: (doc id, digest, stored bytes)."""
    raw = zlib.decompress(payload)
    out, pos = [], 0

    def read_uleb() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = raw[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    while pos < len(raw):
        fields = []
        for _ in range(3):
            size = read_uleb()
            fields.append(raw[pos : pos + size])
            pos += size
        out.append((fields[0].decode(), fields[1].decode(), fields[2]))
    return out


def sync_message(
    heads: list[bytes],
    *,
    need: Iterable[bytes] = (),
    haves: Iterable[tuple[list[bytes], bytes]] = (),
    changes: Iterable[bytes] = (),
) -> bytes:
    """An Automerge sync message (type 0x42) built by hand."""
    need, haves, changes = list(need), list(haves), list(changes)
    out = bytearray([0x42])
    out += uleb(len(heads)) + b"".join(heads)
    out += uleb(len(need)) + b"".join(need)
    out += uleb(len(haves))
    for last_sync, bloom in haves:
        out += uleb(len(last_sync)) + b"".join(last_sync) + uleb(len(bloom)) + bloom
    out += uleb(len(changes))
    for change in changes:
        out += uleb(len(change)) + change
    return bytes(out)


def changes_since_genesis(doc: am.Document) -> list[bytes]:
    return [change.bytes for change in doc.get_changes(GENESIS_HEADS)]


# -- engines on 127.0.0.1 --------------------------------------------------------------------------


@dataclass
class Node:
    """One engine, its trust store and its in-memory documents."""

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

    def edit(self, doc_id: str, key: str, value: str = "1") -> None:
        """A local edit, told to the engine (as the application does after a write)."""
        self.host.put(doc_id, key, value)
        self.engine.changed([doc_id])

    def has(self, doc_id: str, key: str) -> Callable[[], bool]:
        """A condition: this node's ``doc_id`` holds ``key``."""
        return lambda: self.host.has(doc_id, key)

    def state_of(self, other: Node | bytes) -> str | None:
        fp = other if isinstance(other, bytes) else other.fp
        for status in self.engine.status():
            if status.fingerprint == fp:
                return status.state
        return None

    def link_to(self, other: Node | bytes) -> Any:
        """The live link to ``other`` (a node or a fingerprint), or ``None``."""
        return self.engine.links.get(other if isinstance(other, bytes) else other.fp)


class Cluster:
    """Engines on 127.0.0.1, each with its own folder; ``stop`` stops them all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[Node] = []

    async def add(
        self,
        name: str,
        *,
        start: bool = True,
        docs: Mapping[str, am.Document] | None = None,
        share: SharePolicy = share_all,
        guard: Guard | None = None,
        **kwargs: Any,
    ) -> Node:
        folder = self.root / name
        identity = Identity.load_or_create(folder / "identity")
        trust = TrustStore(folder / "peers.json")
        host = MemoryHost(docs, share=share, guard=guard)
        events: list[EngineEvent] = []
        kwargs.setdefault("poll_interval", 0.05)
        engine = SyncEngine(
            host, identity, trust, on_event=events.append, poll=host.poll, name=name, **kwargs
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


def converged(*nodes: Node) -> bool:
    """Every node holds the same documents with the same heads."""
    return len({tuple(sorted(n.host.digests().items())) for n in nodes}) == 1


def in_sync(a: Node, b: Node) -> bool:
    """Both engines report the other in sync, and what they share matches."""
    return (
        a.state_of(b) == "in-sync"
        and b.state_of(a) == "in-sync"
        and shared_in_sync(a.host, b.host, a.fp, b.fp)
    )


class Relay:
    """A TCP relay on 127.0.0.1 that forwards to ``target_port`` and keeps every byte it saw."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.captured = bytearray()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Relay:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                self.captured += data
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def eventually(
    condition: Callable[[], object], timeout: float = 5.0, what: str = ""
) -> float:
    """Wait until ``condition()`` is truthy (awaited if need be); return the seconds it took."""
    start = time.perf_counter()
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.005)


# -- a hostile trusted peer: a raw TLS client speaking whatever it likes ---------------------------


def trust_rogue(node: Node, rogue: Identity, name: str = "rogue") -> None:
    """``node`` trusts ``rogue`` and knows its certificate (they met before)."""
    node.trust.trust(rogue.fingerprint, name)
    node.trust.learn_cert(rogue.fingerprint, rogue.cert_der)
    node.engine.trust_changed()


async def rogue_link(node: Node, rogue: Identity) -> Any:
    """A mutual-TLS channel from ``rogue`` to ``node``, handshake done, not a byte sent."""
    from sync.tls import TlsChannel, client_context, sni_name

    reader, writer = await asyncio.open_connection("127.0.0.1", node.engine.port)
    channel = TlsChannel(
        reader,
        writer,
        client_context(rogue, node.identity.cert_der),
        server_side=False,
        server_hostname=sni_name(rogue.fingerprint, node.fp),
    )
    await channel.handshake()
    return channel


async def read_all(channel: Any, limit: float = 3.0) -> tuple[bytes, float]:
    """Everything the other side sends until it hangs up; and how long that took."""
    start = time.perf_counter()
    received = b""
    async with asyncio.timeout(limit):
        while chunk := await channel.read():
            received += chunk
    return received, time.perf_counter() - start


def bye_reasons(data: bytes) -> list[str]:
    """The BYE reasons in a stream of frames (cut at the first undecodable byte)."""
    try:
        frames = FrameDecoder().feed(data)
    except RemoteProtocolError:
        return []
    return [f.payload.decode("utf-8", "replace") for f in frames if f.kind == FrameKind.BYE]
