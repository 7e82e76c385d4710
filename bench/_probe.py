"""Provides the child-process probes of the benchmark: open timings and peak memory, measured in
a fresh interpreter so that profiles of different sizes do not pollute each other.

Run as ``python bench/_probe.py MODE HOME ARGS...`` (see ``main``); prints one JSON object.
"""

from __future__ import annotations

import contextlib
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


def _maxrss_kib() -> int:
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


def probe_open(home: Path, term: str, topic: str) -> dict[str, Any]:
    """What the app needs to show the contact list, a search and a who from the index, then
    what loading the two documents costs."""
    from plntui.network import Network

    t0 = time.perf_counter()
    net = Network.open(home)
    t1 = time.perf_counter()
    index = net.index()  # connect + freshness check (no rebuild: the caller made it fresh)
    t2 = time.perf_counter()
    contacts = index.list("contacts")
    t3 = time.perf_counter()
    found = net.search(term)
    t_search = time.perf_counter() - t3
    t0_who = time.perf_counter()
    who = net.who(topic)
    t_who = time.perf_counter() - t0_who
    if net.profile.shared.loaded or net.profile.private.loaded:
        raise RuntimeError("the index was stale: a document was loaded before the timed load")
    t3 = time.perf_counter()
    _ = net.profile.shared.doc
    t4 = time.perf_counter()
    _ = net.profile.private.doc
    t5 = time.perf_counter()
    net.check_schema()  # what the CLI's _open() adds (documents already loaded here)
    t6 = time.perf_counter()
    return {
        "search": t_search,
        "search_found": sum(len(v) for v in found.values()),
        "who": t_who,
        "who_found": sum(len(v) for v in who.values()),
        "open": t1 - t0,
        "index_check": t2 - t1,
        "list_contacts": t3 - t2,
        "open_and_list": t3 - t0,
        "listed": len(contacts),
        "load_shared": t4 - t3,
        "load_private": t5 - t4,
        "load_docs": t5 - t3,
        "check_schema_after_load": t6 - t5,
    }


def probe_memory(home: Path, term: str, load_docs: bool = True) -> dict[str, Any]:
    """Peak RSS of a process that opens the profile, loads both documents (unless
    ``load_docs`` is false) and searches."""
    before = _maxrss_kib()
    from plntui.network import Network

    imported = _maxrss_kib()
    net = Network.open(home)
    if load_docs:
        _ = net.profile.shared.doc
        _ = net.profile.private.doc
    loaded = _maxrss_kib()
    found = net.search(term)
    if not load_docs and (net.profile.shared.loaded or net.profile.private.loaded):
        raise RuntimeError("the index was stale: the search loaded the documents")
    return {
        "maxrss_start_kib": before,
        "maxrss_imported_kib": imported,
        "maxrss_loaded_kib": loaded,
        "maxrss_kib": _maxrss_kib(),
        "found": sum(len(v) for v in found.values()),
    }


def probe_edits(home: Path, edits: int, commits: int, seed: int) -> dict[str, Any]:
    """Timed ``net.edit`` calls (each one durable commit with fsync, index kept fresh), then
    timed raw ``DocumentStore.commit()`` calls, on a network whose documents are loaded."""
    from plntui import crdt
    from plntui.network import Network

    net = Network.open(home)
    ids = [r.id for r in net.index().list("contacts")]
    _ = net.shared_doc, net.private_doc
    rng = random.Random(seed)  # noqa: S311 (picks contacts to edit)
    sample = rng.sample(ids, k=min(len(ids), edits + 2))
    for contact_id in sample[:2]:  # warm-up
        net.edit("contacts", contact_id, {"role": "Warm-up role"})
    edit_times: list[float] = []
    for n, contact_id in enumerate(sample[2:]):
        t0 = time.perf_counter()
        net.edit("contacts", contact_id, {"role": f"Benchmark role {n}"})
        edit_times.append(time.perf_counter() - t0)
    fresh = net.index().is_fresh()
    store = net.profile.shared
    lock = getattr(net.profile, "_write_lock_held", contextlib.nullcontext)
    commit_times: list[float] = []
    for n in range(commits):
        contact_id = sample[n % len(sample)]
        with lock():  # callers of commit() hold the write lock
            with store.doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "contacts", contact_id)
                crdt.put_scalar(tx, obj, "role", f"Raw commit role {n}")
            t0 = time.perf_counter()
            written = store.commit()
            commit_times.append(time.perf_counter() - t0)
        if not written:
            raise RuntimeError("DocumentStore.commit() wrote nothing")
    return {
        "edit_times": edit_times,
        "commit_times": commit_times,
        "index_fresh_after_edits": fresh,
        "edited": sample,
    }


def probe_import(home: Path, count: int, seed: int) -> dict[str, Any]:
    """One import of ``count`` new contacts into the profile, whose index is fresh."""
    from _profiles import Generator

    from plntui.network import Network

    net = Network.open(home)
    fresh_before = net.index().is_fresh()
    gen = Generator(seed)
    drafts = [gen.contact(seed + n) for n in range(count)]
    t0 = time.perf_counter()
    summary = net.import_contacts(drafts, "more-contacts.vcf")
    elapsed = time.perf_counter() - t0
    return {
        "seconds": elapsed,
        "added": len(summary.added),
        "merged": len(summary.merged),
        "rejected": len(summary.rejected),
        "index_fresh_before": fresh_before,
        "index_fresh_after": net.index().is_fresh(),
    }


def main(argv: list[str]) -> int:
    mode, home = argv[0], Path(argv[1])
    result: dict[str, Any]
    if mode == "open":
        result = probe_open(home, argv[2], argv[3])
    elif mode == "memory":
        result = probe_memory(home, argv[2])
    elif mode == "memory-index":
        result = probe_memory(home, argv[2], load_docs=False)
    elif mode == "edits":
        result = probe_edits(home, int(argv[2]), int(argv[3]), int(argv[4]))
    elif mode == "import":
        result = probe_import(home, int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(f"unknown probe {mode!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
