"""Provides what the sync tests share: replicas of a test genesis, a byte pump, message crafting."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import automerge.core as am

from sync.framing import FrameKind, encode_frame
from sync.session import Event, SyncSession


def _make_genesis() -> bytes:
    doc = am.Document(b"\x00" * 16)
    with doc.transaction() as tx:
        tx.put_object(am.ROOT, "items", am.ObjType.Map)
        tx.put(am.ROOT, "schema", am.ScalarType.Int, 1)
    return doc.save()


GENESIS = _make_genesis()
GENESIS_HEADS: list[bytes] = am.Document.load(GENESIS).get_heads()
DOC_ID = "net-test"


def replica(actor: bytes | None = None) -> am.Document:
    """A fresh replica: the shared genesis and nothing else."""
    doc = am.Document.load(GENESIS)
    doc.set_actor(actor or os.urandom(16))
    return doc


def items(doc: am.Document) -> bytes:
    found = doc.get(am.ROOT, "items")
    assert found is not None
    return found[1]


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


def session(doc: am.Document, role: str = "client", **kwargs: Any) -> SyncSession:
    return SyncSession(doc, DOC_ID, GENESIS_HEADS, role, **kwargs)  # type: ignore[arg-type]


@dataclass
class Link:
    """Two sessions joined by an in-memory pipe; records events and frames per direction."""

    a: SyncSession
    b: SyncSession
    events: dict[str, list[Event]] = field(default_factory=lambda: {"a": [], "b": []})
    rounds: int = 0

    def start(self) -> Link:
        hello_a, hello_b = self.a.start(), self.b.start()
        self.b.receive_data(hello_a)
        self.a.receive_data(hello_b)
        return self

    def pump(self, limit: int = 50) -> Link:
        """Deliver bytes both ways until neither side has anything to say."""
        for _ in range(limit):
            for name, side in (("a", self.a), ("b", self.b)):
                while (event := side.next_event()) is not None:
                    self.events[name].append(event)
            out_a, out_b = self.a.data_to_send(), self.b.data_to_send()
            if not out_a and not out_b:
                return self
            self.rounds += 1
            if out_a:
                self.b.receive_data(out_a)
            if out_b:
                self.a.receive_data(out_b)
        raise AssertionError(f"the sessions kept talking after {limit} rounds")

    def of(self, name: str, kind: type) -> list[Any]:
        return [e for e in self.events[name] if isinstance(e, kind)]


def connect(a: am.Document, b: am.Document) -> Link:
    return Link(session(a, "client"), session(b, "server")).start().pump()


def hello_frame(
    *,
    doc: str = DOC_ID,
    versions: list[int] | None = None,
    protocol: int = 1,
    heads: list[bytes] | None = None,
    empty: bool = False,
    **extra: Any,
) -> bytes:
    body: dict[str, Any] = {
        "protocol": protocol,
        "versions": [protocol] if versions is None else versions,
        "doc": doc,
        "heads": [h.hex() for h in (heads or [])],
        "empty": empty,
        **extra,
    }
    return encode_frame(FrameKind.HELLO, json.dumps(body).encode())


# -- crafting Automerge sync messages (layout of message type 0x42) -----------------------------


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sync_message(
    heads: list[bytes],
    *,
    need: Iterable[bytes] = (),
    haves: Iterable[tuple[list[bytes], bytes]] = (),
    changes: Iterable[bytes] = (),
) -> bytes:
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


def new_change(doc_actor: bytes, key: str, value: str) -> am.Change:
    """One change by ``doc_actor`` (its first) on top of the genesis."""
    doc = replica(doc_actor)
    with doc.transaction() as tx:
        tx.put(items(doc), key, am.ScalarType.Str, value)
    (change,) = doc.get_changes(GENESIS_HEADS)
    return change


# -- engine tests: an in-memory DocumentHost, a byte-capturing relay, waiting ---------------------

import asyncio  # noqa: E402
import inspect  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402


class MemoryHost:
    """A ``sync.engine.DocumentHost`` over an in-memory replica; counts ``persist`` calls."""

    doc_id = DOC_ID
    genesis_heads = GENESIS_HEADS

    def __init__(self, doc: am.Document | None = None) -> None:
        self.doc = doc if doc is not None else replica()
        self.lock = threading.RLock()
        self.persist_calls = 0
        self.persisted_heads: list[bytes] = list(self.doc.get_heads())
        self.fail_persist = False
        self.external: list[am.Document] = []  # "other processes" wrote these to disk

    def document(self) -> am.Document:
        return self.doc

    def persist(self, origin: str) -> None:
        with self.lock:
            self.persist_calls += 1
            if self.fail_persist:
                raise OSError(28, "No space left on device")
            self.persisted_heads = sorted(self.doc.get_heads())

    def poll_external(self) -> bool:
        with self.lock:
            if not self.external:
                return False
            for other in self.external:
                self.doc.merge(other)
            self.external.clear()
            return True

    def heads(self) -> list[bytes]:
        with self.lock:
            return sorted(self.doc.get_heads())

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return contents(self.doc)

    def put(self, key: str, value: str) -> None:
        with self.lock, self.doc.transaction() as tx:
            tx.put(items(self.doc), key, am.ScalarType.Str, value)


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
