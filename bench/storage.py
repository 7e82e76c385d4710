"""Provides the storage benchmark: one SQLite file against a snapshot and a log file per document.

Usage: ``python bench/storage.py [--shards 256] [--notes 2000] [--commits 200] [--quick]
[--dir DIR] [--out FILE]``.

The repository stores thousands of small Automerge documents. Two adapters are measured on the
same documents and the same workload:

* **SQLite**: ``plntui.storage.Storage``, the adapter plntui uses: one ``repo.sqlite3`` (WAL,
  ``synchronous=FULL``), a snapshot and change chunks per document, one transaction per write;
* **files**: ``plntui.store.DocumentStore``, the one-document store of plntui 0.1 (still in the
  product to read old profiles), one per document: ``NAME.snapshot`` (written atomically:
  temporary file, fsync, rename, fsync of the folder) and ``NAME.log`` (framed records with a
  checksum, fsynced on every commit).

The documents: ``--shards`` contact shards holding 10,000 generated contacts between them and
``--notes`` notes (a Text body of 200-600 characters each), made from the same genesis and
with the same fields as the repository's (``plntui.layout``, ``plntui.crdt``); 2,256 in all by
default, the size of a 10,000-contact network's circle. The workload, each step timed for
both: create every document (a new peer receiving them), single-document commits with fsync
(one field changed in a random document, then only the storage write is timed), one batch
commit across 200 documents (an import, a sync batch), opening a store and reading one
document among thousands (what a CLI command does), noticing what another process wrote, and
the files and bytes on disk. Prints one table; ``--out`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not bench/sync.py.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

import automerge.core as am  # noqa: E402
from _profiles import Generator  # noqa: E402

from plntui import crdt, layout  # noqa: E402
from plntui import store as store_mod  # noqa: E402
from plntui.storage import Storage  # noqa: E402

ACTOR = bytes.fromhex("0123456789abcdef0123456789abcdef")
CIRCLE = "0123456789abcdef"


def log(text: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


# -- the documents -------------------------------------------------------------------------------


@dataclass(slots=True)
class Docs:
    """The documents of the workload, by id, in memory."""

    docs: dict[str, am.Document] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return list(self.docs)


def make_docs(shards: int, contacts: int, notes: int, seed: int) -> Docs:
    """Contact shards (``contacts`` spread over ``shards``) and one document per note."""
    gen = Generator(seed)
    out = Docs()
    shard_docs = [layout.new_document("shard", ACTOR) for _ in range(shards)]
    per_shard: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in range(shards)]
    for n in range(contacts):
        values = gen.contact(n).values
        values.pop("remark", None)  # private fields: not in a circle's shard
        values.pop("rating", None)
        per_shard[n % shards].append((f"c{n:011x}", values))
    for number, (doc, people) in enumerate(zip(shard_docs, per_shard, strict=True)):
        for item_id, values in people:  # one change per contact, as an import makes them
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "contacts", item_id)
                crdt.write_fields(tx, "contacts", obj, values)
        out.docs[f"s:{CIRCLE}:{number:02x}" if shards <= 256 else f"s:{CIRCLE}:{number:04x}"] = doc
    ids = [f"{n:012x}" for n in range(notes)]
    for note_id in ids:
        doc = layout.new_document("note", ACTOR)
        values = gen.note([], {})
        values.pop("contacts", None)
        with doc.transaction() as tx:
            obj = crdt.ensure_item(tx, "notes", note_id)
            crdt.write_fields(tx, "notes", obj, values)
        out.docs[f"n:{CIRCLE}:{note_id}"] = doc
    return out


def edit(doc: am.Document, n: int) -> None:
    """One small change: a field of the first item of the document."""
    for collection in ("contacts", "notes"):
        try:
            items = crdt.top(doc, collection)
        except KeyError:
            continue
        keys = doc.keys(items)
        if keys:
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, keys[0])
                key = "role" if collection == "contacts" else "title"
                crdt.put_scalar(tx, obj, key, f"Changed by the storage benchmark {n}")
            return
    raise RuntimeError("a document with no item")


# -- the two adapters ----------------------------------------------------------------------------


class SqliteAdapter:
    """``plntui.storage.Storage``: what the repository does, without the repository."""

    name = "SQLite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.storage = Storage.create(folder / "repo.sqlite3")
        self.saved: dict[str, list[bytes]] = {}

    def create_all(self, docs: Docs, one_transaction: bool) -> None:
        if one_transaction:
            with self.storage.transaction() as writer:
                for doc_id, doc in docs.docs.items():
                    kind, circle, _ = layout.parse_doc_id(doc_id)  # type: ignore[misc]
                    writer.put(doc_id, circle, kind, doc.save(), doc.get_heads())
        else:
            for doc_id, doc in docs.docs.items():
                kind, circle, _ = layout.parse_doc_id(doc_id)  # type: ignore[misc]
                with self.storage.transaction() as writer:
                    writer.put(doc_id, circle, kind, doc.save(), doc.get_heads())
        self.saved = {d: doc.get_heads() for d, doc in docs.docs.items()}

    def commit(self, docs: Docs, doc_ids: Sequence[str]) -> None:
        """The changes of these documents since their last commit, as one transaction."""
        with self.storage.transaction() as writer:
            for doc_id in doc_ids:
                doc = docs.docs[doc_id]
                chunk = b"".join(c.bytes for c in doc.get_changes(self.saved[doc_id]))
                writer.append(doc_id, chunk, doc.get_heads())
        for doc_id in doc_ids:
            self.saved[doc_id] = docs.docs[doc_id].get_heads()

    def open_and_read(self, doc_id: str) -> am.Document:
        storage = Storage(self.folder / "repo.sqlite3")
        try:
            stored = storage.load(doc_id)
            assert stored is not None
            return am.Document.load(stored.data)
        finally:
            storage.close()

    def changed_since(self, token: Any) -> tuple[list[str], Any]:
        return self.storage.changed_since(token)

    def token(self) -> Any:
        return self.storage.generation()

    def close(self) -> None:
        self.storage.close()


class FileAdapter:
    """``plntui.store.DocumentStore``, one per document: a snapshot and a log file each."""

    name = "files"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.stores: dict[str, store_mod.DocumentStore] = {}

    @staticmethod
    def file_name(doc_id: str) -> str:
        return doc_id.replace(":", "_")

    def _store(self, doc_id: str) -> store_mod.DocumentStore:
        return store_mod.DocumentStore(self.folder, self.file_name(doc_id), ACTOR)

    def create_all(self, docs: Docs, one_transaction: bool) -> None:
        # A file store has no transaction across documents: each document is created on its
        # own (snapshot written atomically, then an empty log), as DocumentStore.create does.
        for doc_id, doc in docs.docs.items():
            store = self._store(doc_id)
            store_mod.atomic_write(store.snapshot_path, store_mod.encode_snapshot(doc.save()))
            store_mod.atomic_write(store.log_path, store_mod.LOG_MAGIC)
            store._adopt(doc, 0, len(store_mod.LOG_MAGIC))  # the live document is the caller's
            self.stores[doc_id] = store

    def commit(self, docs: Docs, doc_ids: Sequence[str]) -> None:
        """One ``DocumentStore.commit`` (append, fsync) per document: not atomic across them."""
        for doc_id in doc_ids:
            if self.stores[doc_id].commit() == 0:
                raise RuntimeError(f"nothing to commit in {doc_id}")

    def open_and_read(self, doc_id: str) -> am.Document:
        store = self._store(doc_id)
        store.load()
        return store.doc

    def token(self) -> Any:
        return {p.name: p.stat().st_mtime_ns for p in self.folder.iterdir()}

    def changed_since(self, token: Any) -> tuple[list[str], Any]:
        """Another process wrote: which documents? Every file's stat, compared."""
        now = self.token()
        changed = sorted(
            {name.rsplit(".", 1)[0] for name, m in now.items() if token.get(name) != m}
        )
        return changed, now

    def close(self) -> None:
        self.stores.clear()


# -- the workload ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def disk(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def workload(
    make: Callable[[Path], Any],
    folder: Path,
    docs: Docs,
    commits: int,
    batch: int,
    reads: int,
    seed: int,
) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311
    ids = docs.ids
    out: dict[str, Any] = {}

    log("  create every document, one transaction per document")
    per_doc = make(folder / "per-doc")
    t0 = time.perf_counter()
    per_doc.create_all(docs, one_transaction=False)
    out["create_each"] = time.perf_counter() - t0
    per_doc.close()
    shutil.rmtree(folder / "per-doc", ignore_errors=True)

    log("  create every document, in one transaction where the adapter has them")
    adapter = make(folder / "store")
    t0 = time.perf_counter()
    adapter.create_all(docs, one_transaction=True)
    out["create_batch"] = time.perf_counter() - t0
    out["files"], out["bytes"] = disk(folder / "store")

    log(f"  {commits} single-document commits")
    times = []
    for n in range(commits):
        doc_id = rng.choice(ids)
        edit(docs.docs[doc_id], n)
        t0 = time.perf_counter()
        adapter.commit(docs, [doc_id])
        times.append(time.perf_counter() - t0)
    out["commit_median"], out["commit_p95"] = median(times), p95(times)
    out["commit_all"] = times

    log(f"  one commit across {batch} documents")
    token = adapter.token()
    chosen = rng.sample(ids, k=min(batch, len(ids)))
    for n, doc_id in enumerate(chosen):
        edit(docs.docs[doc_id], 10_000 + n)
    t0 = time.perf_counter()
    adapter.commit(docs, chosen)
    out["batch_commit"] = time.perf_counter() - t0

    log("  another process's view: which documents changed")
    t0 = time.perf_counter()
    changed, _ = adapter.changed_since(token)
    out["changed_since"] = time.perf_counter() - t0
    out["changed_found"] = len(changed)

    log(f"  open a store and read one document, x{reads}")
    times = []
    for _ in range(reads):
        doc_id = rng.choice(ids)
        t0 = time.perf_counter()
        doc = adapter.open_and_read(doc_id)
        times.append(time.perf_counter() - t0)
        if doc.get_heads() != docs.docs[doc_id].get_heads():
            raise RuntimeError(f"{adapter.name}: {doc_id} read back differs")
    out["read_median"], out["read_p95"] = median(times), p95(times)
    out["files_after"], out["bytes_after"] = disk(folder / "store")
    storage = getattr(adapter, "storage", None)
    if storage is not None:  # the WAL folded into the file (what a checkpoint leaves)
        storage.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    out["bytes_checkpointed"] = disk(folder / "store")[1]
    adapter.close()
    return out


# -- the table -----------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        if value < 0.001:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value * 1000:.0f} ms"
        return f"{value:.2f} s"
    if unit == "bytes":
        return f"{value / (1 << 20):.1f} MiB" if value >= 1 << 20 else f"{value / 1024:.0f} KiB"
    return f"{value:,.0f}"


ROWS = (
    ("create_batch", "create every document (a new peer), one transaction if possible", "s"),
    ("create_each", "create every document, one transaction per document", "s"),
    ("commit_median", "single-document commit with fsync (median)", "s"),
    ("commit_p95", "single-document commit with fsync (p95)", "s"),
    ("batch_commit", "one commit across {batch} documents", "s"),
    ("changed_since", "which documents did another process change", "s"),
    ("read_median", "open a store + read and load one document (median)", "s"),
    ("read_p95", "open a store + read and load one document (p95)", "s"),
    ("files", "files on disk after creating", "n"),
    ("bytes", "bytes on disk after creating", "bytes"),
    ("bytes_after", "bytes on disk after the commits", "bytes"),
    ("bytes_checkpointed", "  after a checkpoint (WAL folded in and truncated)", "bytes"),
)


def render(results: dict[str, dict[str, Any]], batch: int) -> str:
    names = list(results)
    header = ["operation", *names, "files ÷ SQLite"]
    rows = []
    for key, label, unit in ROWS:
        values = [results[n].get(key) for n in names]
        ratio = f"{values[1] / values[0]:.1f}x" if len(values) == 2 and values[0] else ""
        rows.append([label.format(batch=batch), *(fmt(v, unit) for v in values), ratio])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            [
                cells[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)),
            ]
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=256)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=2_000)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: 456 documents, 20 commits"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to write (default: a temporary folder; use the disk a profile lives on)",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.notes, args.contacts, args.commits, args.batch, args.reads = 200, 1_000, 20, 50, 20
    base = Path(tempfile.mkdtemp(prefix="plntui-bench-storage-", dir=args.dir))
    started = time.perf_counter()
    load_start = os.getloadavg()
    try:
        log(f"making {args.shards} shards ({args.contacts:,} contacts) and {args.notes:,} notes")
        docs = make_docs(args.shards, args.contacts, args.notes, args.seed)
        results: dict[str, dict[str, Any]] = {}
        for adapter in (SqliteAdapter, FileAdapter):
            log(f"{adapter.name}:")
            fresh = Docs({d: doc.fork() for d, doc in docs.docs.items()})  # same starting point
            results[adapter.name] = workload(
                adapter, base / adapter.name, fresh, args.commits, args.batch, args.reads, args.seed
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    total = len(docs.docs)
    print(
        f"plntui storage benchmark: {total:,} documents ({args.shards} contact shards with "
        f"{args.contacts:,} contacts, {args.notes:,} notes), {args.commits} single commits, "
        f"{args.reads} reads; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"SQLite {__import__('sqlite3').sqlite_version}"
    )
    print()
    print(render(results, args.batch))
    print()
    print(
        "SQLite: plntui.storage.Storage (WAL, synchronous=FULL), one file; files: "
        "plntui.store.DocumentStore per document (snapshot written atomically, log fsynced per "
        "commit), two files each; a batch commit there is one fsynced commit per document, "
        "not atomic across them."
    )
    load = os.getloadavg()
    print(
        f"folder {base.parent} ({'given' if args.dir else 'temporary'}); "
        f"total {time.perf_counter() - started:.0f} s; "
        f"load average (1 min) {load_start[0]:.2f} at start, {load[0]:.2f} at end."
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "documents": total,
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "results": results,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
