"""Provides the child-process probes of the benchmarks: building a profile, open timings, edits,
imports and external writes, each in a fresh interpreter so that profiles of different sizes do
not pollute each other (nor the benchmark process's memory).

Run as ``python bench/_probe.py MODE HOME ARGS...`` (see ``main``); prints one JSON object.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not bench/sync.py.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]


def maxrss_kib() -> int:
    """Peak resident memory of this process in KiB.

    ``VmHWM`` belongs to the process image, so it starts afresh at exec; ``ru_maxrss`` would
    carry over the peak of the (large) benchmark process that forked this one.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux, bytes on macOS


def probe_build(home: Path, contacts: int, notes: int, seed: int) -> dict[str, Any]:
    """Build a profile (``_profiles.build_profile``); its figures for the report."""
    from _profiles import build_profile

    def log(text: str) -> None:
        sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
        sys.stderr.flush()

    stats = build_profile(home, contacts, notes, seed=seed, log=log)
    return {
        "contacts": stats.contacts,
        "notes": stats.notes,
        "seed": seed,
        "import_batch": stats.import_batch,
        "note_batch": stats.note_batch,
        "import_seconds": stats.import_seconds,
        "note_batch_seconds": stats.note_batch_seconds,
        "note_single_seconds": stats.note_single_seconds,
        "index_seconds": stats.index_seconds,
        "total_seconds": stats.total_seconds,
        "peak_rss_kib": maxrss_kib(),
    }


def probe_open(home: Path, term: str, topic: str) -> dict[str, Any]:
    """What a screen listing the contacts needs (open, freshness check, every contact from the
    index), then every listed record's values read; a search and a who from the index; then
    loading one contact shard and one note."""
    from plntui.network import Network

    t0 = time.perf_counter()
    net = Network.open(home)
    t1 = time.perf_counter()
    index = net.index()  # connect + freshness check (no reindex: the caller made it fresh)
    t2 = time.perf_counter()
    contacts = index.list("contacts")
    t_list = time.perf_counter() - t2
    # each listed record decodes its values when first read: what a reader of all of them pays
    t_read = time.perf_counter()
    read = sum(len(r.values) for r in contacts)
    t_values = time.perf_counter() - t_read
    t3 = time.perf_counter()
    lazy = index.lazy_rows("contacts")  # what the app's contacts screen reads
    t4 = time.perf_counter()
    found = net.search(term)
    t_search = time.perf_counter() - t4
    t0_who = time.perf_counter()
    who = net.who(topic)
    t_who = time.perf_counter() - t0_who
    loaded_by_reads = net.repo.loaded()
    shard = next(d for d in net.repo.storage.ids("s:") if not d.startswith("s:private"))
    note = next(iter(net.repo.storage.ids("n:")), None)
    t5 = time.perf_counter()
    with net.lock:
        net.repo.get(shard)
    t6 = time.perf_counter()
    if note is not None:
        with net.lock:
            net.repo.get(note)
    t7 = time.perf_counter()
    return {
        "open": t1 - t0,
        "index_check": t2 - t1,
        "list_contacts": t_list,
        "open_and_list": (t2 - t0) + t_list,
        "every_value_read": t_values,
        "values_read": read,
        "lazy_rows": t4 - t3,
        "open_and_lazy": (t2 - t0) + (t4 - t3),
        "listed": len(contacts),
        "listed_lazy": len(lazy),
        "search": t_search,
        "search_found": sum(len(v) for v in found.values()),
        "who": t_who,
        "who_found": sum(len(v) for v in who.values()),
        "documents_loaded_by_reads": len(loaded_by_reads),
        "load_one_shard": t6 - t5,
        "load_one_note": t7 - t6,
    }


def probe_memory(home: Path, term: str) -> dict[str, Any]:
    """Peak RSS of a process that opens the profile, lists the contacts and searches."""
    before = maxrss_kib()
    from plntui.network import Network

    imported = maxrss_kib()
    net = Network.open(home)
    records = net.index().list("contacts")
    found = net.search(term)
    return {
        "maxrss_start_kib": before,
        "maxrss_imported_kib": imported,
        "maxrss_kib": maxrss_kib(),
        "listed": len(records),
        "found": sum(len(v) for v in found.values()),
        "documents_loaded": len(net.repo.loaded()),
    }


def probe_edits(home: Path, edits: int, writes: int, seed: int) -> dict[str, Any]:
    """Timed ``net.edit`` calls on random contacts (each one durable transaction with fsync,
    the search index kept fresh), then timed repository writes alone (fork, one change,
    append, fsync, merge; no index)."""
    from plntui import crdt
    from plntui.index import SearchIndex
    from plntui.network import Network

    net = Network.open(home)
    ids = [r.id for r in net.index().list("contacts")]
    rng = random.Random(seed)  # noqa: S311 (picks contacts to edit)
    sample = rng.sample(ids, k=min(len(ids), edits + writes + 2))
    for contact_id in sample[:2]:  # warm-up: imports, first statements
        net.edit("contacts", contact_id, {"role": "Warm-up role"})
    edit_times: list[float] = []
    for n, contact_id in enumerate(sample[2 : 2 + edits]):
        t0 = time.perf_counter()
        net.edit("contacts", contact_id, {"role": f"Benchmark role {n}"})
        edit_times.append(time.perf_counter() - t0)
    fresh = SearchIndex.for_profile(net.profile).is_fresh(net)
    write_times: list[float] = []
    touched: list[str] = []
    for n, contact_id in enumerate(sample[2 + edits :]):
        with net.lock:
            where = net._where("contacts", contact_id)
        assert where.shared is not None
        t0 = time.perf_counter()
        with net.repo.writing() as work:
            doc = work.doc(where.shared)
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "contacts", contact_id)
                crdt.put_scalar(tx, obj, "role", f"Repository write {n}")
        write_times.append(time.perf_counter() - t0)
        touched.append(where.shared)
    return {
        "edit_times": edit_times,
        "write_times": write_times,
        "index_fresh_after_edits": fresh,
        "edited": sample[: 2 + edits],
        "documents_loaded": len(net.repo.loaded()),
        "peak_rss_kib": maxrss_kib(),
    }


def probe_import(home: Path, count: int, seed: int) -> dict[str, Any]:
    """One import of ``count`` new contacts into the finished profile (product defaults)."""
    from _profiles import Generator

    from plntui.network import Network

    net = Network.open(home)
    gen = Generator(seed)
    drafts = [gen.contact(seed + n) for n in range(count)]
    t0 = time.perf_counter()
    summary = net.import_contacts(drafts, "more-contacts.vcf")
    elapsed = time.perf_counter() - t0
    from plntui.index import SearchIndex

    return {
        "seconds": elapsed,
        "added": len(summary.added),
        "merged": len(summary.merged),
        "rejected": len(summary.rejected),
        "index_fresh_after": SearchIndex.for_profile(net.profile).is_fresh(net),
        "peak_rss_kib": maxrss_kib(),
    }


def probe_external(home: Path, contacts: int, notes: int, seed: int) -> dict[str, Any]:
    """Another process writes: ``contacts`` contact edits and ``notes`` note edits stored
    through the repository alone, as one transaction, without touching the search index (what
    a writer that does not maintain the index leaves behind). The next reader must bring the
    index up to date for the documents written."""
    from plntui import crdt
    from plntui.index import SearchIndex
    from plntui.network import Network

    net = Network.open(home)
    index = net.index()
    rng = random.Random(seed)  # noqa: S311
    contact_ids = rng.sample([r.id for r in index.list("contacts")], k=contacts)
    note_ids = rng.sample([r.id for r in index.list("notes")], k=notes)
    stamp = time.strftime("%H:%M:%S")
    with net.lock, net.repo.writing() as work:
        for n, contact_id in enumerate(contact_ids):
            where = net._where("contacts", contact_id)
            assert where.shared is not None
            doc = work.doc(where.shared)
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "contacts", contact_id)
                crdt.put_scalar(tx, obj, "role", f"Edited elsewhere {stamp} {n}")
        for note_id in note_ids:
            where = net._where("notes", note_id)
            assert where.shared is not None
            doc = work.doc(where.shared)
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "notes", note_id)
                crdt.put_scalar(tx, obj, "title", f"Retitled elsewhere {stamp}")
        written = sorted(work.staged)
    stale = SearchIndex.for_profile(net.profile).stale_docs(net)
    return {"documents_written": written, "stale_after": len(stale)}


def main(argv: list[str]) -> int:
    mode, home = argv[0], Path(argv[1])
    result: dict[str, Any]
    if mode == "build":
        result = probe_build(home, int(argv[2]), int(argv[3]), int(argv[4]))
    elif mode == "open":
        result = probe_open(home, argv[2], argv[3])
    elif mode == "memory":
        result = probe_memory(home, argv[2])
    elif mode == "edits":
        result = probe_edits(home, int(argv[2]), int(argv[3]), int(argv[4]))
    elif mode == "import":
        result = probe_import(home, int(argv[2]), int(argv[3]))
    elif mode == "external":
        result = probe_external(home, int(argv[2]), int(argv[3]), int(argv[4]))
    else:
        raise SystemExit(f"unknown probe {mode!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
