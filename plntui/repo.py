"""Provides the Repository: the one owner of a profile's live Automerge documents.

Everything that reads or changes a document asks the repository, by document id, and keeps no
``Document`` between calls: the domain API (``network``), the search index and the sync host
alike. The repository loads a document from storage when it is first asked for it and may drop
one nobody is using (a bounded cache), so memory grows with what is touched, not with the
network.

Writes are units of work (``writing``):

1. one storage transaction is opened (``BEGIN IMMEDIATE``: other processes' writers wait);
2. each document the work touches is first caught up with what other processes stored, then
   *forked*: the edit goes to the fork, never to the live document;
3. on success every fork's new changes are appended to storage (a fresh snapshot instead, when
   the chunks grew large) and the transaction commits: the edit is durable; only then are the
   forks merged into the live documents;
4. on any exception (a bug, Ctrl-C, a full disk) the transaction rolls back and the forks are
   dropped. The live documents never saw the edit, and no live document is ever replaced by
   another object, so whoever uses it next (the sync engine, the app) still has the right one.

``lock`` (re-entrant) guards the live documents of this process: hold it while using a document
returned by ``get``. Other processes' writes are noticed by ``poll`` (one query on the storage
generation) and merged into the live documents.

Listeners (``subscribe``) hear ``(origin, doc_ids)`` after each change: ``"local"`` (a write of
this process), ``"remote"`` (a peer's changes stored by the sync host) and ``"external"``
(another process wrote; seen by ``poll``).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import automerge.core as am

from . import layout
from .errors import StoreCorruptError
from .storage import REPAIR_HINT, Storage, StoredDoc, Writer, digest_of

CACHE_BYTES = 32 * 1024 * 1024
"""Memory the loaded documents may take besides those a unit of work holds (an estimate; least
recently used go first)."""
MEMORY_PER_STORED_BYTE: dict[str, int] = {"shard": 150, "circle": 150, "note": 400}
"""Automerge 0.5.7 holds about 120-150 bytes in memory per byte of a saved contact shard and
about 350 per byte of a saved note (bodies are the dearest: about 290 bytes per character);
``bench/README.md`` has the measurements."""
COMPACT_CHUNKS = 64
COMPACT_MIN_BYTES = 2 * 1024
"""A document is saved afresh (its chunks folded into one snapshot) after ``COMPACT_CHUNKS``
chunks, or once its chunks outgrow both this and half its snapshot: what is stored stays
within about 1.5 times a fresh save, and a new peer receives the stored bytes as they are
(each change record carries its own hashes, actor and header)."""

Listener = Callable[[str, frozenset[str]], None]


@dataclass(slots=True)
class LiveDoc:
    """A loaded document: its Automerge object and what storage holds of it."""

    id: str
    kind: layout.Kind
    circle: str
    doc: am.Document
    version: int
    saved_heads: list[bytes]
    n_chunks: int = 0
    chunk_bytes: int = 0
    snapshot_size: int = 0

    @property
    def digest(self) -> str:
        return digest_of(self.saved_heads)


@dataclass(slots=True)
class _Staged:
    live: LiveDoc | None
    doc: am.Document | None  # None: received whole and not loaded (``raw`` and ``heads``)
    kind: layout.Kind
    circle: str
    raw: bytes | None = None  # bytes received whole, written as they are
    heads: list[bytes] | None = None

    def loaded(self, actor: bytes) -> am.Document:
        if self.doc is None:
            assert self.raw is not None
            self.doc = am.Document.load(self.raw)
            self.doc.set_actor(actor)
        return self.doc


@dataclass(slots=True)
class Work:
    """One unit of work (see the module docstring): documents are edited through ``doc``."""

    repo: Repository
    writer: Writer
    origin: str
    staged: dict[str, _Staged] = field(default_factory=dict)
    after: list[Callable[[], None]] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    """Documents already caught up with storage in this write (the write lock is held: no other
    process can store anything until it ends)."""
    missing: set[str] = field(default_factory=set)
    """Documents found not to exist in this write."""
    staged_circles: set[str] = field(default_factory=set)

    def doc(self, doc_id: str, create: bool = False) -> am.Document:
        """The staged copy of ``doc_id`` to edit (created from its kind's genesis with
        ``create``); ``KeyError`` if it does not exist and ``create`` is false."""
        staged = self.staged.get(doc_id)
        if staged is not None:
            return staged.loaded(self.repo.actor)
        kind, circle, _ = _parsed(doc_id)
        live = self.repo._current(doc_id, in_write=True)
        if live is None:
            if not create:
                raise KeyError(doc_id)
            fork = layout.new_document(kind, self.repo.actor)
        else:
            fork = live.doc.fork()
            fork.set_actor(self.repo.actor)
        self.staged[doc_id] = _Staged(live, fork, kind, circle)
        self.missing.discard(doc_id)
        if kind == "circle":
            self.staged_circles.add(doc_id)
        return fork

    def existing(self, doc_id: str) -> am.Document | None:
        """The staged copy of ``doc_id`` if it exists, else ``None``."""
        try:
            return self.doc(doc_id)
        except KeyError:
            return None

    def adopt(
        self,
        doc_id: str,
        data: bytes,
        loaded: am.Document | None,
        heads: list[bytes] | None = None,
    ) -> None:
        """Store a document received whole: ``data`` as its snapshot, unchanged, when this
        device lacks it; merged into its copy otherwise. ``loaded`` is ``Document.load(data)``,
        or ``None`` with the document's ``heads``: then it is stored without being kept loaded
        (a new peer receiving thousands of documents keeps none of them in memory)."""
        kind, circle, _ = _parsed(doc_id)
        live = self.repo._current(doc_id, in_write=True)
        if live is None and doc_id not in self.staged:
            if loaded is not None:
                loaded.set_actor(self.repo.actor)
                heads = None
            elif heads is None:
                raise ValueError("adopt needs the loaded document or its heads")
            self.staged[doc_id] = _Staged(None, loaded, kind, circle, raw=data, heads=heads)
            self.missing.discard(doc_id)
            if kind == "circle":
                self.staged_circles.add(doc_id)
        else:
            self.doc(doc_id).merge(loaded if loaded is not None else am.Document.load(data))

    def freeze(self, doc_id: str) -> None:
        """Keep a document this work created as its saved bytes only, until the commit (a
        batch creating thousands of note documents keeps none of them loaded); using it again
        loads it again."""
        staged = self.staged.get(doc_id)
        if staged is None or staged.live is not None or staged.doc is None:
            return
        staged.raw, staged.heads = staged.doc.save(), staged.doc.get_heads()
        staged.doc = None

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the work is durable (still under the repository lock)."""
        self.after.append(action)


class Repository:
    """The documents of one profile (see the module docstring)."""

    def __init__(self, storage: Storage, actor: bytes) -> None:
        self.storage = storage
        self.actor = actor
        self.lock = threading.RLock()
        self._live: OrderedDict[str, LiveDoc] = OrderedDict()
        self._work: Work | None = None
        self._owner: int | None = None
        self._listeners: list[Listener] = []
        self._seen_generation: int | None = None
        try:
            self._seen_generation = storage.generation()
        except Exception:  # noqa: S110 - a damaged file: reported when it is first read
            pass
        self._known: dict[str, int] = {}
        self.writes = 0

    # -- reading --------------------------------------------------------------------------------

    def get(self, doc_id: str) -> am.Document | None:
        """The live document ``doc_id`` (loaded on first use), or ``None`` if it does not exist.
        Hold ``lock`` while using it; do not keep it."""
        with self.lock:
            work = self._work
            writing = work is not None and self._owner == threading.get_ident()
            if writing:
                staged = work.staged.get(doc_id)  # type: ignore[union-attr]
                if staged is not None:  # inside a write, reads see the write
                    return staged.loaded(self.actor)
            # inside a write, a read also sees what other processes stored before it
            live = self._current(doc_id, in_write=writing)
            return None if live is None else live.doc

    def live(self, doc_id: str) -> LiveDoc | None:
        with self.lock:
            return self._current(doc_id)

    def exists(self, doc_id: str) -> bool:
        with self.lock:
            if doc_id in self._live:
                return True
        return self.storage.exists(doc_id)

    def digest(self, doc_id: str) -> str | None:
        with self.lock:
            live = self._live.get(doc_id)
            if live is not None:
                return live.digest
        found = self.storage.info([doc_id]).get(doc_id)
        return found[0] if found else None

    def loaded(self) -> list[str]:
        with self.lock:
            return list(self._live)

    def _current(self, doc_id: str, in_write: bool = False) -> LiveDoc | None:
        """The live document, caught up with storage when ``in_write`` (the storage write lock
        is held, so nothing can be stored in between: once per document per write)."""
        work = self._work if in_write else None
        if work is not None and doc_id in work.missing:
            return None
        live = self._live.get(doc_id)
        if live is not None:
            self._live.move_to_end(doc_id)
            if work is not None and doc_id not in work.checked:
                info = self.storage.info([doc_id]).get(doc_id)
                if info is not None and info[1] != live.version:
                    self._catch_up(live)
                work.checked.add(doc_id)
            return live
        stored = self.storage.load(doc_id)
        if work is not None:
            work.checked.add(doc_id)
        if stored is None:
            if work is not None:
                work.missing.add(doc_id)
            return None
        live = self._from_stored(stored)
        self._live[doc_id] = live
        self._known[doc_id] = live.version
        self._trim()
        return live

    def _from_stored(self, stored: StoredDoc) -> LiveDoc:
        try:
            doc = am.Document.load(stored.data)
        except Exception as err:  # Automerge refuses the bytes
            raise StoreCorruptError(
                f"document {stored.id} in {self.storage.path.name} cannot be read as Automerge "
                f"({err}). {REPAIR_HINT}"
            ) from None
        doc.set_actor(self.actor)
        kind, circle, _ = _parsed(stored.id)
        return LiveDoc(
            stored.id,
            kind,
            circle,
            doc,
            stored.version,
            doc.get_heads(),
            stored.n_chunks,
            len(stored.data) - stored.snapshot_size,
            stored.snapshot_size,
        )

    def _catch_up(self, live: LiveDoc) -> None:
        stored = self.storage.load(live.id)
        if stored is None:
            return
        fresh = self._from_stored(stored)
        live.doc.merge(fresh.doc)
        live.version = fresh.version
        live.saved_heads = live.doc.get_heads()
        live.n_chunks = fresh.n_chunks
        live.chunk_bytes = fresh.chunk_bytes
        live.snapshot_size = fresh.snapshot_size
        self._known[live.id] = fresh.version

    def _trim(self) -> None:
        """Drop the least recently used documents over ``CACHE_BYTES``. Those a unit of work
        holds stay and do not count: a large import keeps reading the few it just used."""
        staged = self._work.staged if self._work is not None else {}
        size = sum(_cost(live) for doc_id, live in self._live.items() if doc_id not in staged)
        for doc_id in list(self._live):
            if size <= CACHE_BYTES or len(self._live) <= 1:
                return
            if doc_id in staged:
                continue
            size -= _cost(self._live.pop(doc_id))

    def drop(self, doc_ids: Iterable[str]) -> None:
        """Forget loaded documents (memory); the next ``get`` loads them again."""
        with self.lock:
            for doc_id in doc_ids:
                if self._work is None or doc_id not in self._work.staged:
                    self._live.pop(doc_id, None)

    # -- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, origin: str = "local") -> Iterator[Work]:
        """A unit of work (see the module docstring); nested uses join the outer one."""
        with self.lock:
            if self._work is not None and self._owner == threading.get_ident():
                yield self._work
                return
            with self.storage.transaction() as writer:
                work = Work(self, writer, origin)
                self._work, self._owner = work, threading.get_ident()
                try:
                    yield work
                    self._store(work)
                finally:
                    self._work, self._owner = None, None
            changed = self._apply(work)
            try:
                for action in work.after:  # the index reads what was written: still loaded
                    action()
            finally:
                self._trim()
        if changed:
            self._notify(origin, changed)

    def _store(self, work: Work) -> None:
        for doc_id, staged in work.staged.items():
            if staged.raw is not None:
                heads = staged.heads if staged.doc is None else staged.doc.get_heads()
                assert heads is not None
                work.writer.put(doc_id, staged.circle, staged.kind, staged.raw, heads)
                continue
            assert staged.doc is not None
            heads = staged.doc.get_heads()
            live = staged.live
            if live is None:
                work.writer.put(doc_id, staged.circle, staged.kind, staged.doc.save(), heads)
                continue
            if sorted(heads) == sorted(live.saved_heads):
                continue
            chunk = b"".join(c.bytes for c in staged.doc.get_changes(live.saved_heads))
            n_chunks, chunk_bytes = live.n_chunks + 1, live.chunk_bytes + len(chunk)
            if n_chunks >= COMPACT_CHUNKS or chunk_bytes > max(
                COMPACT_MIN_BYTES, live.snapshot_size // 2
            ):
                work.writer.put(doc_id, staged.circle, staged.kind, staged.doc.save(), heads)
            else:
                work.writer.append(doc_id, chunk, heads)

    def _apply(self, work: Work) -> frozenset[str]:
        """After the commit: merge every fork into its live document (or make it live)."""
        changed: set[str] = set()
        infos = self.storage.info([d for d in work.staged if d in work.writer.touched])
        for doc_id, staged in work.staged.items():
            if doc_id not in work.writer.touched:
                continue
            changed.add(doc_id)
            info = infos.get(doc_id)
            version = info[1] if info else 0
            self._known[doc_id] = version
            if staged.doc is None:  # stored whole, not loaded: the next ``get`` loads it
                continue
            live = self._live.get(doc_id) if staged.live is None else staged.live
            if live is None:
                live = LiveDoc(
                    doc_id, staged.kind, staged.circle, staged.doc, version, staged.doc.get_heads()
                )
                live.snapshot_size = len(staged.raw) if staged.raw is not None else 0
                self._live[doc_id] = live
            else:
                try:
                    live.doc.merge(staged.doc)
                except Exception:  # never expected: drop it, the next use reloads it
                    self._live.pop(doc_id, None)
                    continue
                live.saved_heads = live.doc.get_heads()
                live.version = version
                self._live[doc_id] = live
            self._refresh_counts(live)
        self.writes += 1
        return frozenset(changed)

    def _refresh_counts(self, live: LiveDoc) -> None:
        row = self.storage.db.execute(
            "SELECT n_chunks, chunk_bytes, length(snapshot) FROM docs WHERE id = ?", (live.id,)
        ).fetchone()
        if row is not None:
            live.n_chunks, live.chunk_bytes, live.snapshot_size = row

    def compact(self) -> int:
        """Write a fresh snapshot of every document that has chunks. Returns how many."""
        count = 0
        with self.lock:
            ids = [r[0] for r in self.storage.db.execute("SELECT id FROM docs WHERE n_chunks > 0")]
            for start in range(0, len(ids), 200):
                with self.storage.transaction() as writer:
                    for doc_id in ids[start : start + 200]:
                        live = self._current(doc_id, in_write=True)
                        if live is None:
                            continue
                        writer.put(
                            doc_id, live.circle, live.kind, live.doc.save(), live.saved_heads
                        )
                        count += 1
                for doc_id in ids[start : start + 200]:
                    live = self._live.get(doc_id)
                    if live is not None:
                        info = self.storage.info([doc_id]).get(doc_id)
                        live.version = info[1] if info else live.version
                        self._known[doc_id] = live.version
                        self._refresh_counts(live)
                self.drop(ids[start : start + 200])
        return count

    def repair(self) -> list[str]:
        """Set aside what cannot be read (kept in the ``damaged`` table, never deleted) and
        store each damaged document again from what can. Returns what was set aside."""
        found: list[str] = []
        with self.lock:
            self._live.clear()
            for doc_id in list(self.storage.manifest()):
                found += self._repair_doc(doc_id)
            self._live.clear()
        return found

    def _repair_doc(self, doc_id: str) -> list[str]:
        import zlib

        row, chunks = self.storage.raw_rows(doc_id)
        if row is None:
            return []
        circle, kind, snapshot, snap_crc = row
        base: am.Document | None = None
        if zlib.crc32(snapshot) == snap_crc:
            try:
                base = am.Document.load(bytes(snapshot))
            except Exception:
                base = None
        good: list[bytes] = []
        bad: list[tuple[int, bytes]] = []
        if base is None:
            # the changes after a lost snapshot depend on it: keep them aside too
            bad = [(seq, bytes(data)) for seq, data, _crc in chunks]
        else:
            for seq, data, crc in chunks:
                data = bytes(data)
                try:
                    if zlib.crc32(data) != crc:
                        raise ValueError("checksum")
                    am.Document.load(base.save() + b"".join(good) + data)
                except Exception:
                    bad.append((seq, data))
                    continue
                good.append(data)
        if base is not None and not bad:
            return []
        notes: list[str] = []
        if base is None:
            notes.append(f"document {doc_id}: its snapshot cannot be read")
        if bad:
            notes.append(f"document {doc_id}: {len(bad)} change record(s) set aside")
        start = (
            base if base is not None else layout.new_document(layout.kind_of(doc_id), self.actor)
        )
        doc = am.Document.load(start.save() + b"".join(good))
        with self.storage.transaction() as writer:
            if base is None:
                writer.set_aside(doc_id, "snapshot", bytes(snapshot))
            for seq, data in bad:
                writer.set_aside(doc_id, f"change record {seq}", data)
            writer.put(doc_id, circle, kind, doc.save(), doc.get_heads())
        return notes

    # -- other processes ----------------------------------------------------------------------

    def poll(self) -> frozenset[str]:
        """Notice what other processes stored since the last poll: loaded documents catch up,
        listeners hear ``"external"``. Returns the ids of the documents they wrote."""
        with self.lock:
            if self._seen_generation is None:
                self._seen_generation = self.storage.generation()
            ids, generation = self.storage.changed_since(self._seen_generation)
            self._seen_generation = generation
            if not ids:
                return frozenset()
            info = self.storage.info(ids)
            external = {
                doc_id
                for doc_id in ids
                if doc_id in info and info[doc_id][1] != self._known.get(doc_id)
            }
            for doc_id in external:
                live = self._live.get(doc_id)
                if live is not None:
                    self._catch_up(live)
                else:
                    self._known[doc_id] = info[doc_id][1]
        if external:
            self._notify("external", frozenset(external))
        return frozenset(external)

    # -- listeners ----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, origin: str, doc_ids: frozenset[str]) -> None:
        for listener in list(self._listeners):
            listener(origin, doc_ids)

    # -- for the sync host ------------------------------------------------------------------------

    def manifest(self, circles: Iterable[str]) -> dict[str, str]:
        return self.storage.manifest(circles)

    def stored(self, doc_id: str) -> StoredDoc | None:
        return self.storage.load(doc_id)

    def close(self) -> None:
        with self.lock:
            self._live.clear()
        self.storage.close()


def _cost(live: LiveDoc) -> int:
    return (live.snapshot_size + live.chunk_bytes + 256) * MEMORY_PER_STORED_BYTE[live.kind]


def _parsed(doc_id: str) -> tuple[layout.Kind, str, str]:
    parsed = layout.parse_doc_id(doc_id)
    if parsed is None:
        raise ValueError(f"not a document id: {doc_id!r}")
    return parsed


def read_only(data: bytes) -> Any:
    """A document loaded from bytes, for looking only (the guard, history)."""
    return am.Document.load(data)
