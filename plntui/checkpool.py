"""Provides the check of documents a peer sends whole, spread over worker processes.

A new peer receives the whole network as stored documents (``RepoHost.receive_docs``). Each is
loaded, checked by the guard and read for the index before anything is stored; Automerge's
``Document.load`` and the guard's reading hold the GIL, so a thread would not help. A batch of
at least ``POOL_MIN`` documents is checked by worker processes (one per core, at most
``MAX_WORKERS``: this process mostly waits meanwhile); a smaller one, or any batch on a
one-core machine, in this process. Both run ``check_new``, a function of the document's bytes
alone: what it returns is plain data (the index rows of its records, the heads, the
redirects, the conflicting fields), never a loaded document.

The workers are started (``spawn``) when the sync session asks a peer for a large batch
(``warm``: they import what they need while the peer sends) and stopped once idle for
``IDLE_SECONDS``, so a device that is not catching up keeps no extra processes; a worker whose
parent was killed ends by itself. A pool that breaks (a worker killed) is dropped and the batch
is checked here instead.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import automerge.core as am

from . import amchunks, crdt, history, layout
from .guard import GuardRefused, check
from .history import conflicted_keys
from .index import IndexRow, index_row

log = logging.getLogger(__name__)

POOL_MIN = 48
"""Documents a batch must hold to be checked by worker processes (or ``POOL_MIN_BYTES``)."""
POOL_MIN_BYTES = 256 * 1024
"""Stored bytes that make a batch of fewer documents large (a few big contact shards)."""
MAX_WORKERS = 4
IDLE_SECONDS = 20.0
PARENT_POLL = 0.5
"""How often a worker checks that the process that started it still runs (seconds)."""
_CHUNK = 16
"""The most documents sent to a worker at a time."""


@dataclass(frozen=True)
class Checked:
    """A document new to this device that passed the guard, as plain data."""

    doc_id: str
    data: bytes
    """Its bytes to store (compact: ``amchunks.deflated``)."""
    rows: list[IndexRow]
    """The index rows of its records as the guard read them (deleted ones left out)."""
    heads: list[bytes]
    changes: int
    redirects: dict[str, str]
    """A shard's merged-contact redirects (old id → new id)."""
    conflicts: frozenset[tuple[str, str, str]]
    """``(collection, id, field)`` set at once on two devices, both values still standing."""
    contacts: int


@dataclass(frozen=True)
class Failed:
    """A document the guard refused (or that is not an Automerge document at all)."""

    doc_id: str
    message: str
    pause: bool = False


def check_new(doc_id: str, data: bytes) -> Checked | Failed:
    """Load a shard or note document a peer sent whole, check it, and read what the index
    needs (its rows). A function of its arguments alone: it runs in a worker process as well
    as here."""
    kind = layout.kind_of(doc_id)
    try:
        doc, data = _loaded(data)
        doc.fork(layout.GENESIS_HEADS[kind])
    except Exception:
        return Failed(doc_id, f"the peer's {doc_id} is not a plntui {kind} document")
    try:
        read = check(doc_id, doc, None)
    except GuardRefused as exc:
        return Failed(doc_id, exc.message, exc.pause)
    circle = layout.circle_of(doc_id)
    rows = [
        index_row(crdt.assemble(collection, item_id, values, None, circle), doc_id, None)  # type: ignore[arg-type]
        for (collection, item_id), values in read.items()
    ]
    redirects: dict[str, str] = {}
    if kind == "shard":
        redirects = {k: v for k, v in crdt.read_map(doc, "redirects").items() if isinstance(v, str)}
    return Checked(
        doc_id,
        data,
        rows,
        doc.get_heads(),
        len(doc.get_changes([])),
        redirects,
        frozenset(conflicted_keys(doc)) if history.concurrent(doc) else frozenset(),
        sum(1 for collection, _id in read if collection == "contacts"),
    )


def _loaded(data: bytes) -> tuple[am.Document, bytes]:
    """The document a peer sent whole, and the bytes to store: compact again when it came in
    its wire form (``amchunks.deflated``; loading them checks that they hold the same
    changes), as they came otherwise."""
    try:
        compact = amchunks.deflated(data)
    except ValueError:
        compact = data
    if compact is not data:
        try:
            return am.Document.load(compact), compact
        except Exception:  # noqa: S110 - the bytes as they came are checked below
            pass
    return am.Document.load(data), data


def _chunks(docs: Sequence[tuple[str, bytes]], workers: int) -> list[Sequence[tuple[str, bytes]]]:
    """The batch in parts of similar size (four per worker at least, ``_CHUNK`` documents at
    most), so that the workers share the work even when a batch is a dozen big shards."""
    target = sum(len(d) for _i, d in docs) / (workers * 4)
    out: list[Sequence[tuple[str, bytes]]] = []
    start, size = 0, 0
    for n, (_doc_id, data) in enumerate(docs):
        size += len(data)
        if size >= target or n + 1 - start >= _CHUNK:
            out.append(docs[start : n + 1])
            start, size = n + 1, 0
    if start < len(docs):
        out.append(docs[start:])
    return out


def _check_chunk(docs: Sequence[tuple[str, bytes]]) -> list[Checked | Failed]:
    return [check_new(doc_id, data) for doc_id, data in docs]


def _tracker_running() -> None:
    """Start multiprocessing's resource tracker, which every spawned worker is handed. It is
    given this process's standard error, and the app (Textual) replaces ``sys.stderr`` with an
    object whose ``fileno()`` is -1: spawning would fail ("bad value(s) in fds_to_keep"). The
    tracker then gets ``/dev/null`` instead (it must not write over the app's screen)."""
    from multiprocessing import resource_tracker

    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable:
        resource_tracker.ensure_running()
        return
    saved = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


def _worker_start(parent: int) -> None:
    """A worker leaves Ctrl-C to the process that started it (which stops the pool), and ends
    when that process is gone (killed: nothing would ever stop the worker otherwise)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(0)

    threading.Thread(target=watch, name="plntui-parent-watch", daemon=True).start()


def _ready() -> None:
    """Nothing: sent to a new worker so that it starts (and imports this module) at once."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CheckPool:
    """Checks batches of whole documents, in worker processes when a batch is large."""

    def __init__(self, workers: int | None = None, *, pool_min: int = POOL_MIN) -> None:
        self.workers = min(MAX_WORKERS, cores()) if workers is None else workers
        self.pool_min = pool_min
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._idle: threading.Timer | None = None
        self._lock = threading.Lock()
        self.used_workers = False
        """Whether a batch was ever checked by worker processes (tests and the bench read it)."""

    def check(self, docs: Sequence[tuple[str, bytes]]) -> Iterator[Checked | Failed]:
        """Each document's result, in the order given."""
        large = len(docs) >= self.pool_min or sum(len(d) for _i, d in docs) >= POOL_MIN_BYTES
        executor = self._start() if large and len(docs) > 1 and self.workers > 1 else None
        if executor is None:
            yield from (check_new(doc_id, data) for doc_id, data in docs)
            return
        chunks = _chunks(docs, self.workers)
        done = 0
        try:
            futures = [executor.submit(_check_chunk, chunk) for chunk in chunks]
            self.used_workers = True
            for future in futures:
                results = future.result()
                done += len(results)
                yield from results
        except (concurrent.futures.process.BrokenProcessPool, OSError, RuntimeError, ValueError):
            log.warning("a checking worker failed: checking the rest here")
            self._stop()  # a worker died: check the rest here
            yield from (check_new(doc_id, data) for doc_id, data in docs[done:])
        finally:
            self._idle_later()

    def warm(self) -> None:
        """Start the worker processes now (each imports what it needs before a batch comes)."""
        if self.workers < 2:
            return
        executor = self._start()
        if executor is None:
            return
        try:
            for _ in range(self.workers):
                executor.submit(_ready)
        except (concurrent.futures.process.BrokenProcessPool, OSError, RuntimeError, ValueError):
            self._stop()
            return
        self._idle_later()

    def close(self) -> None:
        self._stop()

    def _start(self) -> concurrent.futures.ProcessPoolExecutor | None:
        with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            if self._executor is None:
                try:
                    _tracker_running()
                    self._executor = concurrent.futures.ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_worker_start,
                        initargs=(os.getpid(),),
                    )
                except (OSError, ValueError) as exc:
                    log.warning("cannot start the checking workers (%s): checking here", exc)
                    return None
            return self._executor

    def _idle_later(self) -> None:
        with self._lock:
            if self._executor is None:
                return
            if self._idle is not None:
                self._idle.cancel()
            self._idle = threading.Timer(IDLE_SECONDS, self._stop)
            self._idle.daemon = True
            self._idle.start()

    def _stop(self) -> None:
        with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
