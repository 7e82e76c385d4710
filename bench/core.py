"""Provides the core benchmark of plntui: what each command costs as a whole process, by size.

Usage: ``python bench/core.py [--sizes 1000,10000,100000] [--quick] [--keep] [--profiles DIR]
[--strict]``. Prints two tables on standard output (every figure by network size, then each
target beside its measured figure and the figure before the repository of documents); progress
goes to standard error; every figure is also written as JSON to ``bench/results/core-<date>.json``.
See ``bench/README.md`` for what each row measures.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not bench/sync.py.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

from _profiles import write_markdown_vault  # noqa: E402

DEFAULT_SIZES = (1_000, 10_000)
SEARCH_TERM = "kubernetes"
WHO_TOPIC = "machine learning"
VAULT_NOTES = 2_000  # the notes import: a folder of Markdown notes
REIMPORT = 500  # contacts imported into the finished profile (as before)
EXTERNAL = (20, 5)  # contacts and notes another process edits before the "first search" row
KHARD_SKIPPED = "khard not installed: skipped (khard takes about 6 s for 10,000 contacts)"
MIB = 1024  # KiB


@dataclass(frozen=True, slots=True)
class Reps:
    """How many times each figure is measured."""

    process: int = 7  # search, who: whole processes
    writes: int = 7  # each write command: whole processes
    cold: int = 3  # search after an external change
    listing: int = 3  # contact list process, khard list
    export: int = 3
    notes_import: int = 3  # each on a fresh copy of the profile
    open: int = 5  # open probes (fresh processes)
    edits: int = 50
    repo_writes: int = 50
    vault: int = VAULT_NOTES  # notes in the folder imported


QUICK = Reps(
    process=3,
    writes=3,
    cold=1,
    listing=1,
    export=1,
    notes_import=1,
    open=2,
    edits=10,
    repo_writes=10,
    vault=200,
)


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure: its row label, unit, targets by network size and the figures measured
    before the repository of documents (bench/README.md, 2026-11-23 and 2026-11-30)."""

    key: str
    label: str
    unit: str  # "s", "bytes", "kib", "x", "n"
    targets: dict[int, float] = field(default_factory=dict)
    before: dict[int, float] = field(default_factory=dict)


W10, W100 = 10_000, 100_000
METRICS: tuple[Metric, ...] = (
    Metric("build_total", "build: whole profile (N contacts + N/5 notes)", "s"),
    Metric("import_per_1000", "build: contact import, per 1,000 (last batch)", "s"),
    Metric("notes_import_per_1000", "build: notes import, per 1,000 (last batch)", "s"),
    Metric("note_add_median", "build: net.add one note, own commit (median)", "s"),
    Metric("startup", "process start: plntui --version (median)", "s"),
    Metric(
        "contact_edit",
        "plntui contact edit --role (process, median)",
        "s",
        {W10: 0.15, W100: 0.3},
        {W10: 1.54, W100: 18.0},
    ),
    Metric(
        "note_add",
        "plntui note add (process, median)",
        "s",
        {W10: 0.15, W100: 0.3},
        {W10: 1.54, W100: 18.0},
    ),
    Metric(
        "note_edit",
        "plntui note edit ID --body (process, median)",
        "s",
        {W10: 0.15, W100: 0.3},
        {W10: 1.54, W100: 18.0},
    ),
    Metric("write_cpu", "  CPU time of those writes (user + system, median)", "s"),
    Metric(
        "write_rss",
        "  peak RSS of those writes (largest run)",
        "kib",
        {W10: 60 * MIB},
        {W10: 425 * MIB, W100: 3748 * MIB},
    ),
    Metric(
        "search_warm",
        f"plntui search {SEARCH_TERM} (fresh index, median)",
        "s",
        {W10: 0.5, W100: 0.3},
        {W10: 0.113, W100: 19.02},
    ),
    Metric(
        "search_cold",
        "plntui search, first after another process wrote",
        "s",
        {W10: 0.5, W100: 2.0},
        {W10: 3.43, W100: 47.0},
    ),
    Metric("search_cold_cpu", "  its CPU time (user + system, median)", "s"),
    Metric("who", f"plntui who {WHO_TOPIC} (median)", "s", {}, {W10: 0.160, W100: 20.45}),
    Metric("contact_list", "plntui contact list (median)", "s", {}, {W10: 0.411, W100: 26.91}),
    Metric(
        "open_and_list",
        "open: Network.open + index.list(contacts)",
        "s",
        {W10: 0.3, W100: 0.5},
        {W10: 0.183, W100: 2.64},
    ),
    Metric("every_value_read", "  then every listed record's values read", "s"),
    Metric("open_and_lazy", "open: Network.open + index.lazy_rows (the app)", "s"),
    Metric("search_inproc", "in-process: net.search, fresh index", "s", {}, {W10: 0.0045}),
    Metric("who_inproc", "in-process: net.who, fresh index", "s", {}, {W10: 0.0116}),
    Metric("load_shard", "in-process: load one contact shard", "s"),
    Metric(
        "edit_median",
        "edit: net.edit role + fsync, in-process (median)",
        "s",
        {W10: 0.005},
        {W10: 0.0010, W100: 0.315},
    ),
    Metric("edit_p95", "edit: net.edit role + fsync, in-process (p95)", "s", {}, {W10: 0.0024}),
    Metric("repo_write_median", "edit: repository write alone, no index (median)", "s"),
    Metric(
        "export_md",
        "plntui export notes --format md (process, median)",
        "s",
        {W10: 0.5},
        {W10: 2.75},
    ),
    Metric("export_cpu", "  its CPU time (user + system, median)", "s"),
    Metric(
        "notes_import",
        "plntui import FOLDER of Markdown notes (process)",
        "s",
        {W10: 5.0},  # --quick imports 200
    ),
    Metric("notes_import_rss", "  its peak RSS", "kib"),
    Metric(
        "contacts_import",
        f"import {REIMPORT:,} more contacts (in a child, one commit)",
        "s",
        {},
        {W10: 2.45, W100: 49.86},
    ),
    Metric("disk_repo", "disk: repo.sqlite3 (+ wal)", "bytes"),
    Metric("disk_index", "disk: index.sqlite3 (+ wal, shm)", "bytes"),
    Metric("disk_total", "disk: whole profile folder", "bytes", {}, {W10: 21.1 * 2**20}),
    Metric("documents", "documents in the repository", "n"),
    Metric(
        "peak_rss_read",
        "memory: peak RSS (open, list contacts, search)",
        "kib",
        {},
        {W10: 23 * MIB, W100: 24 * MIB},
    ),
    Metric("khard_list", "khard list (same contacts, median)", "s"),
)


# -- helpers ---------------------------------------------------------------------------------------


def log(text: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


PYCACHE: list[Path] = []
"""Where child processes keep their bytecode (set by ``main``)."""


def child_env() -> dict[str, str]:
    """Child processes find this checkout's plntui and, like an installed plntui, reuse compiled
    bytecode (kept in the bench's temporary folder, whatever PYTHONDONTWRITEBYTECODE says)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("PLNTUI_HOME", None)
    if PYCACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE[0])
    return env


TIME = shutil.which("time", path="/usr/bin:/bin")
"""GNU time: the peak RSS of exactly the command (a child of this big process would inherit
this process's high-water mark in ``ru_maxrss``; GNU time is small)."""


@dataclass(slots=True)
class Run:
    """One whole process: wall seconds, peak RSS (KiB, None without GNU time), CPU seconds
    (its worker processes included). ``tree_peak_kib``: with ``run_process(tree=True)``, the
    largest sum of the RSS of the process and every process it started, sampled every 20 ms."""

    seconds: float
    maxrss_kib: int | None
    cpu: float
    stdout: str
    tree_peak_kib: int | None = None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


class TreeSampler:
    """The peak of a process tree's summed RSS, sampled in a thread until ``stop()``."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every, self.peak_kib = pid, every, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            total = 0
            for pid in _descendants(self.pid):
                rss = status_kib_of(pid, "VmRSS")
                total += rss or 0
            self.peak_kib = max(self.peak_kib, total)
            self._done.wait(self.every)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak_kib


def status_kib_of(pid: int | str, key: str) -> int | None:
    """``key`` (VmRSS, VmHWM...) of ``/proc/PID/status`` in KiB (``pid`` "self": this one)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def run_process(
    cmd: Sequence[str], timeout: float = 3600, stdin: bytes | None = None, *, tree: bool = False
) -> Run:
    """Run one whole process; raise if it fails. ``tree``: also sample the summed RSS of the
    process and its children (worker processes)."""
    with tempfile.NamedTemporaryFile(prefix="plntui-bench-time-", suffix=".txt") as out:
        full = [TIME, "-f", "%M %U %S", "-o", out.name, *cmd] if TIME else list(cmd)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        popen = subprocess.Popen(
            full,
            env=child_env(),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        sampler = TreeSampler(popen.pid) if tree else None
        try:
            stdout, stderr = popen.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.communicate()
            raise
        finally:
            tree_peak = sampler.stop() if sampler is not None else None
        proc = subprocess.CompletedProcess(full, popen.returncode, stdout, stderr)
        elapsed = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited with {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace')[-2000:]}"
            )
        maxrss: int | None = None
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if TIME:
            fields = Path(out.name).read_text().strip().splitlines()[-1].split()
            maxrss, cpu = int(fields[0]), float(fields[1]) + float(fields[2])
    return Run(elapsed, maxrss, cpu, proc.stdout.decode(errors="replace"), tree_peak)


def plntui(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "plntui", "--home", str(home), *args]


def probe(*args: str, timeout: float = 7200) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "_probe.py"), *args],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None if args[0] == "build" else subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"probe {args[0]} failed (exit {proc.returncode}): {err[-3000:]}")
    return dict(json.loads(proc.stdout))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def disk_usage(home: Path) -> dict[str, int]:
    sizes = {p.name: p.stat().st_size for p in home.iterdir() if p.is_file()}
    total = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    return {
        "disk_repo": sum(v for k, v in sizes.items() if k.startswith("repo.sqlite3")),
        "disk_index": sum(v for k, v in sizes.items() if k.startswith("index.sqlite3")),
        "disk_total": total,
    }


def read_profile(home: Path) -> dict[str, Any]:
    """Ids and note bodies the write rows need, read from the index in a child process (this
    process stays small and holds no connection to the profile)."""
    code = (
        "import json,sys; from plntui.network import Network; n=Network.open(sys.argv[1]); "
        "i=n.index(); c=[r.id for r in i.list('contacts')]; "
        "notes=[(r.id, r.values.get('body','')) for r in i.list('notes')]; "
        "print(json.dumps({'contacts': c, 'notes': notes, "
        "'documents': len(n.repo.storage.manifest())}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home)],
        env=child_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out))


def copy_profile(home: Path, to: Path) -> Path:
    shutil.rmtree(to, ignore_errors=True)
    shutil.copytree(home, to, ignore=shutil.ignore_patterns("*.lock"))
    return to


# -- the profile -----------------------------------------------------------------------------------


def ensure_profile(home: Path, size: int, seed: int) -> dict[str, Any]:
    """Build the profile in a child process, or reuse the one ``home`` holds when it was built
    with the same parameters (``--profiles DIR``)."""
    marker = home.parent / f"{home.name}.bench-core.json"
    if marker.exists() and (home / "repo.sqlite3").exists():
        stats: dict[str, Any] = json.loads(marker.read_text())
        if stats.get("contacts") == size and stats.get("seed") == seed:
            log(f"{size:,} contacts: reusing the profile in {home} (built {stats.get('built')})")
            stats["reused"] = True
            return stats
    shutil.rmtree(home, ignore_errors=True)
    log(f"{size:,} contacts: building the profile in {home}")
    stats = probe("build", str(home), str(size), str(size // 5), str(seed))
    stats["built"] = _dt.datetime.now().isoformat(timespec="seconds")
    marker.write_text(json.dumps(stats))
    stats["reused"] = False
    return stats


# -- khard -----------------------------------------------------------------------------------------


def split_vcards(text: str, folder: Path) -> int:
    """khard reads a vdir: one card per ``.vcf`` file."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    card: list[str] = []
    for line in text.splitlines():
        if line.strip().upper() == "BEGIN:VCARD":
            card = []
        card.append(line)
        if line.strip().upper() == "END:VCARD":
            (folder / f"card-{count:06d}.vcf").write_text("\r\n".join(card) + "\r\n")
            count += 1
    return count


def bench_khard(home: Path, work: Path, reps: int) -> tuple[float | None, str]:
    khard = shutil.which("khard")
    if khard is None:
        return None, KHARD_SKIPPED
    export = work / "contacts.vcf"
    run_process(plntui(home, "export", "contacts", "--format", "vcf", "--out", str(export)))
    book = work / "khard-book"
    cards = split_vcards(export.read_text(encoding="utf-8"), book)
    config = work / "khard.conf"
    config.write_text(
        "[addressbooks]\n[[bench]]\npath = " + str(book) + "\n\n"
        "[general]\ndebug = no\ndefault_action = list\neditor = true\nmerge_editor = true\n\n"
        "[contact table]\ndisplay = first_name\ngroup_by_addressbook = no\nreverse = no\n"
        "show_nicknames = no\nshow_uids = yes\nsort = last_name\n\n"
        "[vcard]\nsearch_in_source_files = no\nskip_unparsable = yes\n"
    )
    times = [run_process([khard, "-c", str(config), "list"]).seconds for _ in range(reps)]
    return median(times), f"khard {cards:,} cards from plntui export contacts --format vcf"


# -- one size --------------------------------------------------------------------------------------


def bench_size(
    size: int, reps: Reps, work: Path, profiles: Path, seed: int
) -> tuple[dict[str, float | None], dict[str, Any]]:
    """All figures for one network size. Returns (table values, details for the JSON)."""
    home = profiles / f"profile-{size}"
    values: dict[str, float | None] = {}
    details: dict[str, Any] = {"home": str(home)}
    rng = random.Random(seed + size)  # noqa: S311 (picks items to edit)

    built = ensure_profile(home, size, seed)
    details["build"] = built
    if built.get("total_seconds"):  # also when reused: the figures of the build that made it
        values["build_total"] = built["total_seconds"]
        batches = built["import_seconds"]
        last = size - built["import_batch"] * (len(batches) - 1)
        values["import_per_1000"] = batches[-1] / last * 1000
        if built["note_batch_seconds"]:
            notes_last = (size // 5 - len(built["note_single_seconds"])) - built["note_batch"] * (
                len(built["note_batch_seconds"]) - 1
            )
            values["notes_import_per_1000"] = built["note_batch_seconds"][-1] / notes_last * 1000
        if built["note_single_seconds"]:
            values["note_add_median"] = median(built["note_single_seconds"])
    # the bench works on a copy: a reused profile stays as it was built
    home = copy_profile(home, work / f"run-{size}")
    details["home"] = str(home)

    log("process start")
    run_process([sys.executable, "-m", "plntui", "--version"])  # compiles the bytecode once
    values["startup"] = median(
        [
            run_process([sys.executable, "-m", "plntui", "--version"]).seconds
            for _ in range(reps.process)
        ]
    )

    log("the profile's ids (a child process)")
    known = read_profile(home)
    contacts: list[str] = known["contacts"]
    notes: list[tuple[str, str]] = known["notes"]
    values["documents"] = known["documents"]
    values.update(disk_usage(home))
    details["disk_files"] = {
        str(p.relative_to(home)): p.stat().st_size for p in sorted(home.rglob("*")) if p.is_file()
    }

    log(f"search x{reps.process}, who x{reps.process}, contact list x{reps.listing}")
    run_process(plntui(home, "search", SEARCH_TERM))  # the index is fresh; warms the page cache
    searches = [run_process(plntui(home, "search", SEARCH_TERM)) for _ in range(reps.process)]
    values["search_warm"] = median([r.seconds for r in searches])
    whos = [run_process(plntui(home, "who", *WHO_TOPIC.split())) for _ in range(reps.process)]
    values["who"] = median([r.seconds for r in whos])
    lists = [run_process(plntui(home, "contact", "list")) for _ in range(reps.listing)]
    values["contact_list"] = median([r.seconds for r in lists])
    details["search_all"] = [[r.seconds, r.maxrss_kib, r.cpu] for r in searches]
    details["who_all"] = [[r.seconds, r.maxrss_kib, r.cpu] for r in whos]
    details["contact_list_all"] = [[r.seconds, r.maxrss_kib, r.cpu] for r in lists]

    log(f"open probes x{reps.open}, memory probe")
    opens = [probe("open", str(home), SEARCH_TERM, WHO_TOPIC) for _ in range(reps.open)]
    details["open_probes"] = opens
    for key, name in (
        ("open_and_list", "open_and_list"),
        ("every_value_read", "every_value_read"),
        ("open_and_lazy", "open_and_lazy"),
        ("search_inproc", "search"),
        ("who_inproc", "who"),
        ("load_shard", "load_one_shard"),
    ):
        values[key] = median([o[name] for o in opens])
    memory = probe("memory", str(home), SEARCH_TERM)
    details["memory"] = memory
    values["peak_rss_read"] = memory["maxrss_kib"]

    log(f"write processes x{reps.writes} each: contact edit, note add, note edit")
    writes: dict[str, list[Run]] = {"contact_edit": [], "note_add": [], "note_edit": []}
    edit_contacts = rng.sample(contacts, k=min(len(contacts), reps.writes + 1))
    edit_notes = rng.sample(notes, k=min(len(notes), reps.writes + 1))
    linked = rng.sample(contacts, k=min(len(contacts), 2 * (reps.writes + 1)))
    for n in range(reps.writes + 1):  # the first round warms the page cache: not counted
        runs = [
            run_process(
                plntui(home, "contact", "edit", edit_contacts[n], "--role", f"Bench role {n}")
            ),
            run_process(
                plntui(
                    home,
                    "note",
                    "add",
                    "--title",
                    f"Bench note {n}",
                    "--tag",
                    "benchmark",
                    "--body",
                    f"# Bench note {n}\n\nWritten by bench/core.py, run {n}.\n",
                    "--contact",
                    linked[2 * n],
                    "--contact",
                    linked[2 * n + 1],
                )
            ),
            run_process(
                plntui(
                    home,
                    "note",
                    "edit",
                    edit_notes[n][0],
                    "--body",
                    edit_notes[n][1] + f"\nEdited by the benchmark, run {n}.\n",
                )
            ),
        ]
        if n:
            for key, run in zip(writes, runs, strict=True):
                writes[key].append(run)
    for key, runs in writes.items():
        values[key] = median([r.seconds for r in runs])
        details[f"{key}_all"] = [[r.seconds, r.maxrss_kib, r.cpu] for r in runs]
    values["write_cpu"] = median([r.cpu for runs in writes.values() for r in runs])
    rss = [r.maxrss_kib for runs in writes.values() for r in runs if r.maxrss_kib is not None]
    values["write_rss"] = max(rss) if rss else None

    log(f"edits x{reps.edits}, repository writes x{reps.repo_writes} (a child process)")
    edits = probe("edits", str(home), str(reps.edits), str(reps.repo_writes), str(seed + size))
    if not edits["index_fresh_after_edits"]:
        raise RuntimeError("the index went stale during edits through the domain API")
    values["edit_median"] = median(edits["edit_times"])
    values["edit_p95"] = p95(edits["edit_times"])
    values["repo_write_median"] = median(edits["write_times"])
    details["edits"] = edits

    log(f"search after another process wrote x{reps.cold}")
    colds: list[Run] = []
    externals = []
    for n in range(reps.cold):
        externals.append(
            probe("external", str(home), str(EXTERNAL[0]), str(EXTERNAL[1]), str(seed + n))
        )
        colds.append(run_process(plntui(home, "search", SEARCH_TERM)))
    values["search_cold"] = median([r.seconds for r in colds])
    values["search_cold_cpu"] = median([r.cpu for r in colds])
    details["search_cold_all"] = [[r.seconds, r.maxrss_kib, r.cpu] for r in colds]
    details["external_writes"] = [
        {"documents": len(e["documents_written"]), "stale_after": e["stale_after"]}
        for e in externals
    ]

    log(f"export notes as Markdown x{reps.export}")
    exports = []
    for n in range(reps.export):
        out = work / f"export-{size}-{n}"
        exports.append(
            run_process(plntui(home, "export", "notes", "--format", "md", "--out", str(out)))
        )
        shutil.rmtree(out, ignore_errors=True)
    values["export_md"] = median([r.seconds for r in exports])
    values["export_cpu"] = median([r.cpu for r in exports])
    details["export_all"] = [[r.seconds, r.maxrss_kib, r.cpu] for r in exports]

    log("khard")
    khard_time, khard_note = bench_khard(home, work / f"khard-{size}", reps.listing)
    values["khard_list"] = khard_time
    details["khard"] = khard_note

    log(f"import {reps.vault:,} Markdown notes x{reps.notes_import}, each into a fresh copy")
    vault = work / f"vault-{size}"
    details["vault_notes"] = reps.vault
    details["vault_bytes"] = write_markdown_vault(
        vault, reps.vault, names=sorted(set(_names(home)))[:400]
    )
    imports = []
    for n in range(reps.notes_import):
        target = copy_profile(home, work / f"import-{size}")
        imports.append(run_process(plntui(target, "import", str(vault))))
        if n == reps.notes_import - 1:
            details["notes_import_output"] = imports[-1].stdout[-500:]
        shutil.rmtree(target, ignore_errors=True)
    values["notes_import"] = median([r.seconds for r in imports])
    values["notes_import_rss"] = max((r.maxrss_kib or 0) for r in imports) or None
    details["notes_import_all"] = [[r.seconds, r.maxrss_kib, r.cpu] for r in imports]

    log(f"import {REIMPORT:,} more contacts (a child process, product defaults)")
    imported = probe("import", str(home), str(REIMPORT), str(size + 1_000_003))
    values["contacts_import"] = imported["seconds"]
    details["contacts_import"] = imported
    return values, details


def _names(home: Path) -> list[str]:
    code = (
        "import json,sys; from plntui.network import Network; n=Network.open(sys.argv[1]); "
        "print(json.dumps([r.label for r in n.index().list('contacts')[:2000]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home)],
        env=child_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return list(json.loads(out))


# -- output ----------------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        if value < 0.001:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value * 1000:.0f} ms"
        return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    if unit == "bytes":
        if value < 10 * 1024:
            return f"{value:.0f} B"
        if value < 1 << 20:
            return f"{value / 1024:.0f} KiB"
        return f"{value / (1 << 20):.1f} MiB"
    if unit == "kib":
        return f"{value / 1024:.0f} MiB"
    if unit == "n":
        return f"{value:,.0f}"
    return f"{value:.1f}x"


def growth(new: float | None, old: float | None) -> str:
    if new is None or old is None or old <= 0:
        return "—"
    return f"×{new / old:.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def passed(metric: Metric, size: int, value: float | None) -> str:
    bound = metric.targets.get(size)
    if bound is None:
        return ""
    if value is None:
        return "—"
    return "PASS" if value < bound else "FAIL"


def render(
    sizes: Sequence[int], results: dict[int, dict[str, float | None]], notes: Sequence[str]
) -> str:
    """Every figure by size, then each target beside its figure and the one before."""
    header = ["metric"]
    for i, size in enumerate(sizes):
        header.append(f"{size:,}")
        if i:
            header.append("growth")
    rows: list[list[str]] = []
    for metric in METRICS:
        row = [metric.label]
        for i, size in enumerate(sizes):
            value = results[size].get(metric.key)
            row.append(fmt(value, metric.unit))
            if i:
                row.append(growth(value, results[sizes[i - 1]].get(metric.key)))
        rows.append(row)
    out = table(header, rows)
    judged = []
    for metric in METRICS:
        for size, bound in metric.targets.items():
            value = results[size].get(metric.key) if size in results else None
            judged.append(
                [
                    metric.label.strip(),
                    f"{size:,}",
                    f"< {fmt(bound, metric.unit)}",
                    fmt(value, metric.unit),
                    fmt(metric.before.get(size), metric.unit),
                    passed(metric, size, value) if size in results else "not run",
                ]
            )
    out += ["", "targets (the size each is judged at; before: the one-document design)", ""]
    out += table(["figure", "size", "target", "measured", "before", "result"], judged)
    return "\n".join([*out, "", *notes])


def machine() -> dict[str, Any]:
    try:
        automerge = metadata.version("automerge")
    except metadata.PackageNotFoundError:
        automerge = "?"
    return {
        "plntui": code_version(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "automerge": automerge,
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def code_version() -> str:
    """The commit measured, and whether plntui/ or sync/ had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "plntui", "sync"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.strip() + (" + uncommitted changes in plntui/ or sync/" if dirty.strip() else "")


def parse_sizes(text: str) -> list[int]:
    sizes: list[int] = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        number = int(float(part[:-1]) * 1000) if part.endswith("k") else int(part)
        if number < 100:
            raise argparse.ArgumentTypeError(f"size {part!r} is too small (at least 100)")
        sizes.append(number)
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sorted(set(sizes))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plntui core benchmark")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="comma-separated contact counts (default: 1000,10000); notes are N/5",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 contacts only, few repetitions (a smoke test)"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--profiles",
        type=Path,
        default=None,
        help="build the profiles here and reuse them on the next run (default: a temporary "
        "folder); the bench works on copies",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results file (default: bench/results/core-<date>.json)",
    )
    args = parser.parse_args(argv)
    sizes: list[int] = args.sizes or ([1_000] if args.quick else list(DEFAULT_SIZES))
    reps = QUICK if args.quick else Reps()
    started = time.perf_counter()
    now = _dt.datetime.now()
    load_start = os.getloadavg()
    info = machine()  # before the run: the code may change while it runs
    work = Path(tempfile.mkdtemp(prefix="plntui-bench-"))
    profiles = args.profiles.resolve() if args.profiles else work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    PYCACHE[:] = [work / "pycache"]
    results: dict[int, dict[str, float | None]] = {}
    details: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    say: Callable[[str], None] = log
    try:
        for size in sizes:
            results[size], details[size] = bench_size(size, reps, work, profiles, args.seed)
            khard_note = details[size]["khard"]
            if khard_note not in notes:
                notes.append(khard_note)
    finally:
        if args.keep:
            say(f"work folder kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    title = (
        f"plntui core benchmark, {now:%Y-%m-%d %H:%M}, plntui {info['plntui']}\n"
        f"{info['cpus']} CPUs, Python {info['python']}, automerge {info['automerge']}, "
        f"SQLite {info['sqlite']}{', --quick' if args.quick else ''}"
    )
    notes += [
        f"search term {SEARCH_TERM!r}, who topic {WHO_TOPIC!r}; process rows are whole "
        "`python -m plntui` runs (interpreter start included), peak RSS measured by GNU time"
        + ("" if TIME else " (not installed: memory rows of processes are missing)")
        + ".",
        f"notes import: a folder of {reps.vault:,} Markdown notes with front matter (Obsidian "
        "style, in subfolders of 100), into a fresh copy of the profile each run.",
        f"first search after another process wrote: that process edited {EXTERNAL[0]} contacts "
        f"and {EXTERNAL[1]} notes through the repository alone (the index not told).",
        "growth: ratio to the previous size (notes are always N/5).",
        f"total bench time {time.perf_counter() - started:.0f} s; load average (1 min) "
        f"{load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end: other processes on "
        "the machine slow the wall times (CPU times are in the JSON).",
    ]
    text = render(sizes, results, notes)
    sys.stdout.write(title + "\n\n" + text + "\n")
    suffix = "-quick" if args.quick else ""
    out = args.out or BENCH / "results" / f"core-{now:%Y-%m-%d}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": now.isoformat(timespec="seconds"),
        "machine": info,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "quick": args.quick,
        "reps": {k: getattr(reps, k) for k in Reps.__slots__},
        "search_term": SEARCH_TERM,
        "who_topic": WHO_TOPIC,
        "targets": {m.key: {str(s): b for s, b in m.targets.items()} for m in METRICS if m.targets},
        "before": {m.key: {str(s): b for s, b in m.before.items()} for m in METRICS if m.before},
        "results": {str(s): results[s] for s in sizes},
        "details": {str(s): details[s] for s in sizes},
        "table": text,
    }
    out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    log(f"results written to {out}")
    failed = [
        m.key
        for m in METRICS
        for size in m.targets
        if size in results and passed(m, size, results[size].get(m.key)) == "FAIL"
    ]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
