"""Provides the history and recovery benchmark: listing and restoring versions, and what the
check for mass deletions costs a sync.

Usage: ``python bench/history.py [--versions 1000] [--runs 5] [--contacts 10000]
[--profiles DIR] [--skip-held] [--out FILE]``.

* **History of a note with many versions**: a profile holding one note of 80 words, edited
  ``--versions`` times (``Network.edit``, one word replaced each time: one version each). Timed
  as whole processes (interpreter start to exit, median of ``--runs``, peak RSS by GNU time):
  ``plntui history note ID`` and ``plntui restore note ID VERSION`` (the middle version, on a
  fresh copy of the profile each run).
* **The held-batch check on a sync** of Alice's 10,000 contacts + 2,000 notes
  (``bench/_profiles.py``, shared with ``core.py`` through ``--profiles``), in this process,
  each way alternately, median of ``--runs``:
  - a new peer receives the whole network (``RepoHost.receive_docs``, 1 MiB frames, as the
    engine sends them);
  - a linked peer that holds the network receives Alice's edits of 300 contacts and the
    deletion of 15 (below the thresholds), each changed document by Automerge's sync
    protocol (``RepoHost.receive_sync`` until both sides are in sync).
  "Off" is ``RepoHost`` with the check taken out (``_hold`` keeps every change and no author
  is held); the figure is the extra time "on" takes.

Prints one table (figure, target, measured, result) and writes the figures as JSON to
``bench/results/history-<date>.json``. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

import automerge.core as am  # noqa: E402
from core import (  # noqa: E402
    PYCACHE,
    copy_profile,
    ensure_profile,
    fmt,
    log,
    machine,
    plntui,
    run_process,
    table,
)

from plntui.network import Network  # noqa: E402
from plntui.sync_host import RepoHost  # noqa: E402

FRAME_BYTES = 1 << 20
STUCK_ROUNDS = 8
EDITED, DELETED = 300, 15


# -- a note with many versions ------------------------------------------------------------------


def note_with_versions(home: Path, versions: int, seed: int) -> tuple[str, str]:
    """A profile with one note edited ``versions`` times; (its id, the middle version's id)."""
    net = Network.create(home, "Alice")
    rng = random.Random(seed)
    words = [f"word{i}" for i in range(80)]
    note = net.add("notes", {"title": "Meeting notes", "body": " ".join(words)})
    for n in range(versions):
        words[rng.randrange(len(words))] = f"edit{n}"
        net.edit("notes", note.id, {"body": " ".join(words)})
    listed = net.history("notes", note.id)
    middle = listed[len(listed) // 2].version
    net.profile.close()
    return note.id, middle


def history_figures(work: Path, versions: int, runs: int, seed: int) -> dict[str, Any]:
    home = work / "history"
    log(f"a note with {versions:,} versions")
    note, middle = note_with_versions(home, versions, seed)
    listing = [run_process(plntui(home, "history", "note", note)) for _ in range(runs + 1)][1:]
    assert listing[0].stdout.count("\n") >= versions, "history listed fewer versions"
    restores = []
    for n in range(runs + 1):
        copy = copy_profile(home, work / f"restore-{n}")
        restores.append(run_process(plntui(copy, "restore", "note", note, middle)))
        shutil.rmtree(copy, ignore_errors=True)
    restores = restores[1:]  # the first run warms the bytecode cache
    return {
        "history_seconds": statistics.median(r.seconds for r in listing),
        "history_rss_kib": max(r.maxrss_kib or 0 for r in listing) or None,
        "restore_seconds": statistics.median(r.seconds for r in restores),
        "restore_rss_kib": max(r.maxrss_kib or 0 for r in restores) or None,
        "versions": versions,
    }


# -- the held-batch check on a sync ---------------------------------------------------------------


class Unchecked(RepoHost):
    """``RepoHost`` without the held-batch check: every change is kept, no author is held."""

    def _hold(self, peer: bytes, doc_id: str, base: Any, staged: Any) -> Any:
        return staged

    def _held_authors(self, circle: str) -> dict[str, str]:
        return {}


def join(alice: Network, bob: Network) -> None:
    """Bob a member of Alice's default circle, each trusting the other (as after pairing)."""
    from plntui.peersync import load_identity, open_trust

    ida, idb = load_identity(alice.profile.home), load_identity(bob.profile.home)
    open_trust(alice.profile.home).trust(idb.fingerprint, "Bob")
    open_trust(bob.profile.home).trust(ida.fingerprint, "Alice")
    with alice.lock:
        alice.add_member(alice.default_circle().id, idb.fingerprint, "Bob")


def frames_of(alice: Network, bob_fp: bytes) -> list[list[tuple[str, bytes]]]:
    ids = list(RepoHost(alice).manifest_for(bob_fp))
    frames: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for doc_id in sorted(ids, key=lambda d: (not d.startswith("c:"), d)):
        stored = alice.repo.stored(doc_id)
        assert stored is not None
        frames[-1].append((doc_id, stored.data))
        size += len(stored.data)
        if size > FRAME_BYTES:
            frames.append([])
            size = 0
    alice.repo.drop(alice.repo.loaded())
    return [f for f in frames if f]


def new_peer(template: Path, work: Path, host_class: type[RepoHost], tag: str) -> float:
    alice_home = copy_profile(template, work / f"alice-{tag}")
    bob = Network.create(work / f"bob-{tag}", "Bob")
    alice = Network.open(alice_home)
    join(alice, bob)
    frames = frames_of(alice, bob.profile.fingerprint)
    host = host_class(bob)
    t0 = time.perf_counter()
    for frame in frames:
        host.receive_docs(alice.profile.fingerprint, frame)
    seconds = time.perf_counter() - t0
    host.close()
    alice.profile.close()
    bob.profile.close()
    return seconds


def sync_doc(alice: Network, host: RepoHost, peer: bytes, doc_id: str) -> float:
    """Automerge's sync protocol on one document until both sides are in sync; the seconds
    spent in ``host.receive_sync``. A document whose sync goes round without progress is
    received whole, as the session asks for it (``SyncSession._ask_whole``: a Bloom filter
    false positive leaves a change waiting for a dependency that is never sent again)."""
    doc = alice.repo.get(doc_id)
    assert doc is not None
    ours, theirs = am.SyncState(), am.SyncState()
    spent = 0.0
    for _round in range(STUCK_ROUNDS):
        message = doc.generate_sync_message(ours)
        if message is not None:
            t0 = time.perf_counter()
            host.receive_sync(peer, doc_id, theirs, message.encode())
            spent += time.perf_counter() - t0
        reply = host.generate(doc_id, theirs)
        if reply is not None:
            doc.receive_sync_message(ours, am.Message.decode(reply))
        if message is None and reply is None:
            return spent
    stored = alice.repo.stored(doc_id)
    assert stored is not None
    t0 = time.perf_counter()
    host.receive_docs(peer, [(doc_id, stored.data)])
    return spent + time.perf_counter() - t0


def linked_edits(
    template: Path, work: Path, host_class: type[RepoHost], tag: str, seed: int
) -> float:
    """Bob holds Alice's network; Alice edits ``EDITED`` contacts and deletes ``DELETED``;
    the seconds Bob's host spends storing them."""
    alice_home = copy_profile(template, work / f"alice-{tag}")
    bob_home = work / f"bob-{tag}"
    bob = Network.create(bob_home, "Bob")
    alice = Network.open(alice_home)
    join(alice, bob)
    host = host_class(bob)
    for frame in frames_of(alice, bob.profile.fingerprint):
        host.receive_docs(alice.profile.fingerprint, frame)
    ids = [r.id for r in alice.index().list("contacts")]
    if len(ids) < 2 * (EDITED + DELETED):
        raise SystemExit(f"--contacts must be at least {2 * (EDITED + DELETED)}")
    rng = random.Random(seed)
    chosen = rng.sample(ids, EDITED + DELETED)
    changed: set[str] = set()
    for n, contact_id in enumerate(chosen):
        where = alice._where("contacts", contact_id).shared
        assert where is not None
        changed.add(where)
        if n < EDITED:
            alice.edit("contacts", contact_id, {"role": f"Edited {n}"})
        else:
            alice.remove("contacts", contact_id)
    spent = sum(sync_doc(alice, host, alice.profile.fingerprint, d) for d in sorted(changed))
    assert not bob.held(), "the bench's deletions must stay below the thresholds"
    host.close()
    alice.profile.close()
    bob.profile.close()
    return spent


def held_figures(
    template: Path, work: Path, runs: int, seed: int
) -> dict[str, float | list[float]]:
    out: dict[str, list[float]] = {"new_on": [], "new_off": [], "edit_on": [], "edit_off": []}
    for n in range(runs):
        for name, cls in (("on", RepoHost), ("off", Unchecked)):
            log(f"held check {name}: a new peer, run {n + 1}/{runs}")
            out[f"new_{name}"].append(new_peer(template, work, cls, f"new-{name}-{n}"))
            log(f"held check {name}: linked edits, run {n + 1}/{runs}")
            out[f"edit_{name}"].append(linked_edits(template, work, cls, f"ed-{name}-{n}", seed))
            for path in work.glob(f"*-{name}-{n}"):
                shutil.rmtree(path, ignore_errors=True)
    figures: dict[str, float | list[float]] = {k: v for k, v in out.items()}
    for what in ("new", "edit"):
        on, off = statistics.median(out[f"{what}_on"]), statistics.median(out[f"{what}_off"])
        figures[f"{what}_on_median"] = on
        figures[f"{what}_off_median"] = off
        figures[f"{what}_overhead"] = on / off - 1
    return figures


# -- main ---------------------------------------------------------------------------------------


def verdict(value: float | None, bound: float) -> str:
    if value is None:
        return "—"
    return "PASS" if value < bound else "FAIL"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plntui history and recovery benchmark")
    parser.add_argument("--versions", type=int, default=1000, help="versions of the note")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--contacts", type=int, default=10_000, help="Alice's contacts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profiles", type=Path, default=None, help="reuse profiles built here")
    parser.add_argument("--skip-held", action="store_true", help="no sync with the held check")
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = parser.parse_args(argv)
    if args.versions < 2 or args.runs < 1:
        parser.error("--versions must be at least 2 and --runs at least 1")
    now = _dt.datetime.now()
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="plntui-history-bench-"))
    PYCACHE[:] = [work / "pycache"]
    try:
        results: dict[str, Any] = history_figures(work, args.versions, args.runs, args.seed)
        if not args.skip_held:
            profiles = args.profiles.resolve() if args.profiles else work / "profiles"
            template = profiles / f"profile-{args.contacts}"
            ensure_profile(template, args.contacts, args.seed)
            results |= held_figures(template, work, max(1, min(args.runs, 3)), args.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows: list[list[str]] = [
        [
            f"plntui history note ID ({args.versions:,} versions), median",
            "< 300 ms",
            fmt(results["history_seconds"], "s") + f", {fmt(results['history_rss_kib'], 'kib')}",
            verdict(results["history_seconds"], 0.3),
        ],
        [
            "plntui restore note ID VERSION (the middle one), median",
            "< 300 ms",
            fmt(results["restore_seconds"], "s") + f", {fmt(results['restore_rss_kib'], 'kib')}",
            verdict(results["restore_seconds"], 0.3),
        ],
    ]
    if "new_overhead" in results:
        for what, label in (
            ("new", "a new peer receives the network"),
            ("edit", f"a linked peer stores {EDITED} edits and {DELETED} deletions"),
        ):
            on, off = results[f"{what}_on_median"], results[f"{what}_off_median"]
            rows.append(
                [
                    f"held check on {label}: on / off (median)",
                    "≤ +10 %",
                    f"{fmt(on, 's')} / {fmt(off, 's')} ({results[f'{what}_overhead']:+.1%})",
                    verdict(results[f"{what}_overhead"], 0.10 + 1e-9),
                ]
            )
    info = machine()
    title = (
        f"plntui history benchmark, {now:%Y-%m-%d %H:%M}, plntui {info['plntui']}; "
        f"{info['cpus']} CPUs, Python {info['python']}; load average {load_start[0]:.2f} at "
        f"start, {os.getloadavg()[0]:.2f} at end"
    )
    text = "\n".join(table(["figure", "target", "measured", "result"], rows))
    sys.stdout.write(title + "\n\n" + text + "\n")
    out = args.out or BENCH / "results" / f"history-{now:%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": now.isoformat(), "results": results}, indent=2) + "\n")
    log(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
