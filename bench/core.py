"""Provides the core benchmark of plntui: search, who, open, edit, disk and memory by network size.

Usage: ``python bench/core.py [--sizes 1000,10000,100000] [--quick] [--keep] [--strict]``.
Prints one table on standard output (progress goes to standard error) and writes the figures as
JSON to ``bench/results/core-<date>.json``. See ``bench/README.md`` for what each row measures.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not bench/sync.py.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

from _profiles import BuildStats, build_profile  # noqa: E402

from plntui import crdt  # noqa: E402
from plntui.network import Network  # noqa: E402

TARGET_SIZE = 10_000
DEFAULT_SIZES = (1_000, 10_000)
SEARCH_TERM = "kubernetes"
WHO_TOPIC = "machine learning"
REIMPORT = 500
KHARD_SKIPPED = "khard not installed: skipped (khard takes about 6 s for 10,000 contacts)"


@dataclass(frozen=True, slots=True)
class Reps:
    """How many times each figure is measured."""

    process: int = 7  # search, who: whole processes
    cold: int = 3  # search after an external edit
    listing: int = 3  # contact list process, khard list
    open: int = 5  # open probes (fresh processes)
    edits: int = 50
    commits: int = 50


QUICK = Reps(process=3, cold=1, listing=1, open=2, edits=10, commits=10)


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the table."""

    key: str
    label: str
    unit: str  # "s", "bytes", "kib", "x"
    target: float | None = None  # upper bound at TARGET_SIZE


METRICS: tuple[Metric, ...] = (
    Metric("build_total", "build: whole profile (N contacts + N/5 notes)", "s"),
    Metric("import_per_1000", "build: import, per 1,000 contacts (last batch)", "s"),
    Metric("note_add_median", "build: add one note, own commit (median)", "s"),
    Metric("import_fresh", f"import {REIMPORT:,} more contacts, fresh index (one commit)", "s"),
    Metric("startup", "process start: plntui --version (median)", "s"),
    Metric("search_warm", f"plntui search {SEARCH_TERM} (fresh index, median)", "s", 0.5),
    Metric("search_cold", "plntui search, first after an external edit", "s", 0.5),
    Metric("who", f"plntui who {WHO_TOPIC} (median)", "s"),
    Metric("contact_list", "plntui contact list (median)", "s"),
    Metric("open_and_list", "open: Network.open + list contacts from index", "s", 0.3),
    Metric("load_docs", "open: load both Automerge documents", "s", 0.3),
    Metric("search_inproc", "in-process: net.search, fresh index", "s"),
    Metric("who_inproc", "in-process: net.who, fresh index", "s"),
    Metric("edit_median", "edit: net.edit role + fsync (median)", "s", 0.005),
    Metric("edit_p95", "edit: net.edit role + fsync (p95)", "s", 0.005),
    Metric("edit_max", "edit: net.edit role + fsync (max)", "s"),
    Metric("commit_median", "edit: DocumentStore.commit() only (median)", "s"),
    Metric("commit_p95", "edit: DocumentStore.commit() only (p95)", "s"),
    Metric("disk_snapshot", "disk: snapshots (network + private)", "bytes"),
    Metric("disk_log", "disk: logs (network + private)", "bytes"),
    Metric("disk_index", "disk: index.sqlite3 (+ wal, shm)", "bytes"),
    Metric("disk_total", "disk: whole profile folder", "bytes"),
    Metric("peak_rss", "memory: peak RSS (open, load docs, search)", "kib"),
    Metric("peak_rss_index", "memory: peak RSS (open, search, no docs)", "kib"),
    Metric("khard_list", "khard list (same contacts, median)", "s"),
    Metric("khard_ratio", "khard list / plntui contact list", "x"),
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


CPU_TIMES: dict[str, list[float]] = {}
"""CPU seconds (user + system) of each timed process, by label: unlike wall time, barely
affected by other processes competing for the CPUs."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(cmd: Sequence[str], label: str = "", timeout: float = 3600) -> float:
    """Wall time of one whole process; raise if it fails. Its CPU time goes to CPU_TIMES."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited with {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace')[-2000:]}"
        )
    if label:
        CPU_TIMES.setdefault(label, []).append(_children_cpu() - cpu0)
    return elapsed


def plntui(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "plntui", "--home", str(home), *args]


def probe(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "_probe.py"), *args],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"probe {args[0]} failed: {proc.stderr.decode(errors='replace')}")
    return dict(json.loads(proc.stdout))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def disk_usage(home: Path) -> dict[str, int]:
    sizes = {p.name: p.stat().st_size for p in home.iterdir() if p.is_file()}
    return {
        "disk_snapshot": sum(v for k, v in sizes.items() if k.endswith(".snapshot")),
        "disk_log": sum(v for k, v in sizes.items() if k.endswith(".log")),
        "disk_index": sum(v for k, v in sizes.items() if k.startswith("index.sqlite3")),
        "disk_total": sum(sizes.values()),
    }


def external_edit(net: Network, contact_id: str, value: str) -> None:
    """A durable change that bypasses the domain API, so the search index is not updated: the
    next reader must rebuild it (plntui's own writers, sync included, keep it fresh)."""
    with net.profile.writing(), net.shared_doc.transaction() as tx:
        obj = crdt.ensure_item(tx, "contacts", contact_id)
        crdt.put_scalar(tx, obj, "role", value)


# -- khard -----------------------------------------------------------------------------------------


def _vcard_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def minimal_vcards(net: Network) -> str:
    """vCard 3.0 of every contact, written by the bench (used when plntui cannot export)."""
    cards: list[str] = []
    for record in net.index().list("contacts"):
        values = record.values
        name = str(values.get("name", ""))
        first, _, last = name.rpartition(" ") if " " in name else ("", "", name)
        lines = [
            "BEGIN:VCARD",
            "VERSION:3.0",
            f"UID:{record.id}",
            f"FN:{_vcard_escape(name)}",
            f"N:{_vcard_escape(last)};{_vcard_escape(first)};;;",
        ]
        lines += [f"EMAIL;TYPE=INTERNET:{e}" for e in values.get("emails", [])]
        lines += [f"TEL:{p}" for p in values.get("phones", [])]
        if values.get("org"):
            lines.append(f"ORG:{_vcard_escape(str(values['org']))}")
        if values.get("role"):
            lines.append(f"TITLE:{_vcard_escape(str(values['role']))}")
        if values.get("topics"):
            lines.append("CATEGORIES:" + ",".join(_vcard_escape(t) for t in values["topics"]))
        lines.append("END:VCARD")
        cards.append("\r\n".join(lines) + "\r\n")
    return "".join(cards)


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


def bench_khard(home: Path, net: Network, work: Path, reps: int) -> tuple[float | None, str]:
    khard = shutil.which("khard")
    if khard is None:
        return None, KHARD_SKIPPED
    export = work / "contacts.vcf"
    try:
        run_timed(
            plntui(
                home,
                "export",
                "contacts",
                "--format",
                "vcf",
                "--include-private",
                "--out",
                str(export),
            )
        )
        text = export.read_text(encoding="utf-8")
        how = "plntui export contacts --format vcf"
    except (RuntimeError, OSError):
        text = minimal_vcards(net)
        how = "minimal vCards written by the bench (plntui export failed)"
    book = work / "khard-book"
    cards = split_vcards(text, book)
    config = work / "khard.conf"
    config.write_text(
        "[addressbooks]\n[[bench]]\npath = " + str(book) + "\n\n"
        "[general]\ndebug = no\ndefault_action = list\neditor = true\nmerge_editor = true\n\n"
        "[contact table]\ndisplay = first_name\ngroup_by_addressbook = no\nreverse = no\n"
        "show_nicknames = no\nshow_uids = yes\nsort = last_name\n\n"
        "[vcard]\nsearch_in_source_files = no\nskip_unparsable = yes\n"
    )
    times = [run_timed([khard, "-c", str(config), "list"], "khard") for _ in range(reps)]
    return median(times), f"khard {cards:,} cards from {how}"


# -- one size --------------------------------------------------------------------------------------


def bench_size(size: int, reps: Reps, work: Path) -> tuple[dict[str, float | None], dict[str, Any]]:
    """All figures for one network size. Returns (table values, details for the JSON)."""
    home = work / f"profile-{size}"
    values: dict[str, float | None] = {}
    details: dict[str, Any] = {"home": str(home)}

    log(f"{size:,} contacts: building the profile in {home}")
    stats: BuildStats = build_profile(home, size, log=log)
    values["build_total"] = stats.total_seconds
    last_batch = size - stats.import_batch * (len(stats.import_seconds) - 1)
    values["import_per_1000"] = stats.import_seconds[-1] / last_batch * 1000
    values["note_add_median"] = (
        median(stats.note_single_seconds) if stats.note_single_seconds else None
    )
    details["build"] = {
        "contacts": stats.contacts,
        "notes": stats.notes,
        "import_batch": stats.import_batch,
        "import_seconds": stats.import_seconds,
        "note_batch_seconds": stats.note_batch_seconds,
        "note_single_seconds": stats.note_single_seconds,
    }
    gc.collect()

    log("process start")
    CPU_TIMES.clear()
    run_timed([sys.executable, "-m", "plntui", "--version"])  # compiles the bytecode once
    values["startup"] = median(
        [
            run_timed([sys.executable, "-m", "plntui", "--version"], "startup")
            for _ in range(reps.process)
        ]
    )

    log("first search builds the index")
    details["search_first_ever"] = run_timed(plntui(home, "search", SEARCH_TERM))
    values.update(disk_usage(home))  # with the index built, before the timed edits
    details["disk_files"] = {p.name: p.stat().st_size for p in sorted(home.iterdir())}

    log(f"search x{reps.process}, who x{reps.process}, contact list x{reps.listing}")
    search_times = [
        run_timed(plntui(home, "search", SEARCH_TERM), "search_warm") for _ in range(reps.process)
    ]
    values["search_warm"] = median(search_times)
    who_times = [
        run_timed(plntui(home, "who", *WHO_TOPIC.split()), "who") for _ in range(reps.process)
    ]
    values["who"] = median(who_times)
    list_times = [
        run_timed(plntui(home, "contact", "list"), "contact_list") for _ in range(reps.listing)
    ]
    values["contact_list"] = median(list_times)
    details.update(search_warm_all=search_times, who_all=who_times, contact_list_all=list_times)

    log(f"open probes x{reps.open}, memory probe")
    opens = [probe("open", str(home), SEARCH_TERM, WHO_TOPIC) for _ in range(reps.open)]
    details["open_probes"] = opens
    values["open_and_list"] = median([o["open_and_list"] for o in opens])
    values["load_docs"] = median([o["load_docs"] for o in opens])
    values["search_inproc"] = median([o["search"] for o in opens])
    values["who_inproc"] = median([o["who"] for o in opens])
    details["open_breakdown_median"] = {
        k: median([o[k] for o in opens])
        for k in (
            "open",
            "index_check",
            "list_contacts",
            "load_shared",
            "load_private",
            "check_schema_after_load",
        )
    }
    memory = probe("memory", str(home), SEARCH_TERM)
    details["memory"] = memory
    values["peak_rss"] = memory["maxrss_kib"]
    details["memory_index_only"] = probe("memory-index", str(home), SEARCH_TERM)
    values["peak_rss_index"] = details["memory_index_only"]["maxrss_kib"]

    log(f"edits x{reps.edits}, raw commits x{reps.commits}")
    edits = probe("edits", str(home), str(reps.edits), str(reps.commits), str(size))
    if not edits["index_fresh_after_edits"]:
        raise RuntimeError("the index went stale during edits through the domain API")
    edit_times, commit_times = edits["edit_times"], edits["commit_times"]
    values["edit_median"] = median(edit_times)
    values["edit_p95"] = p95(edit_times)
    values["edit_max"] = max(edit_times)
    values["commit_median"] = median(commit_times)
    values["commit_p95"] = p95(commit_times)
    details.update(edit_all=edit_times, commit_all=commit_times)
    sample: list[str] = edits["edited"]

    net = Network.open(home)  # for the external edits and the bench's own vCards
    log(f"search after an external edit x{reps.cold}")
    cold_times: list[float] = []
    for n in range(reps.cold):
        external_edit(net, sample[n % len(sample)], f"Edited elsewhere {n}")
        cold_times.append(run_timed(plntui(home, "search", SEARCH_TERM), "search_cold"))
    values["search_cold"] = median(cold_times)
    details["search_cold_all"] = cold_times

    log("khard")
    khard_time, khard_note = bench_khard(home, net, work / f"khard-{size}", reps.listing)
    values["khard_list"] = khard_time
    values["khard_ratio"] = (
        khard_time / values["contact_list"]
        if khard_time is not None and values["contact_list"]
        else None
    )
    details["khard"] = khard_note

    net.index().close()
    del net
    gc.collect()

    log(f"import {REIMPORT:,} more contacts with a fresh index")
    run_timed(plntui(home, "search", SEARCH_TERM))  # the index is fresh (rebuilt if it was not)
    imported = probe("import", str(home), str(REIMPORT), str(size + 1_000_003))
    values["import_fresh"] = imported["seconds"]
    details["import_fresh"] = imported
    details["cpu_seconds_median"] = {k: median(v) for k, v in CPU_TIMES.items()}
    details["cpu_seconds_all"] = dict(CPU_TIMES)
    return values, details


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
    return f"{value:.1f}x"


def growth(new: float | None, old: float | None) -> str:
    if new is None or old is None or old <= 0:
        return "—"
    return f"×{new / old:.1f}"


def render(
    sizes: Sequence[int], results: dict[int, dict[str, float | None]], notes: Sequence[str]
) -> str:
    header = ["metric"]
    for i, size in enumerate(sizes):
        header.append(f"{size:,}")
        if i:
            header.append("growth")
    header += ["target", f"at {TARGET_SIZE:,}"]
    rows: list[list[str]] = []
    for metric in METRICS:
        row = [metric.label]
        for i, size in enumerate(sizes):
            value = results[size].get(metric.key)
            row.append(fmt(value, metric.unit))
            if i:
                row.append(growth(value, results[sizes[i - 1]].get(metric.key)))
        if metric.target is None:
            row += ["", ""]
        else:
            row.append(f"< {fmt(metric.target, metric.unit)}")
            value = results.get(TARGET_SIZE, {}).get(metric.key)
            row.append(
                "not run"
                if TARGET_SIZE not in results
                else "—"
                if value is None
                else "PASS"
                if value < metric.target
                else "FAIL"
            )
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out += ["", *notes]
    return "\n".join(out)


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
    """The commit measured, and whether plntui/ had uncommitted changes (it often does)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "plntui"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.strip() + (" + uncommitted changes in plntui/" if dirty.strip() else "")


def parse_sizes(text: str) -> list[int]:
    sizes: list[int] = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        number = int(float(part[:-1]) * 1000) if part.endswith("k") else int(part)
        if number < 10:
            raise argparse.ArgumentTypeError(f"size {part!r} is too small (at least 10)")
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
        help="comma-separated contact counts (default: 1000,10000)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 contacts only, few repetitions (a smoke test)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated profiles")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target measured at 10,000 fails"
    )
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
    PYCACHE[:] = [work / "pycache"]
    results: dict[int, dict[str, float | None]] = {}
    details: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    say: Callable[[str], None] = log
    try:
        for size in sizes:
            results[size], details[size] = bench_size(size, reps, work)
            khard_note = details[size]["khard"]
            if khard_note not in notes:
                notes.append(khard_note)
    finally:
        if args.keep:
            say(f"profiles kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    title = (
        f"plntui core benchmark, {now:%Y-%m-%d %H:%M}, plntui {info['plntui']}\n"
        f"{info['cpus']} CPUs, Python {info['python']}, automerge {info['automerge']}, "
        f"SQLite {info['sqlite']}{', --quick' if args.quick else ''}"
    )
    notes += [
        f"search term {SEARCH_TERM!r}, who topic {WHO_TOPIC!r}; process rows are whole "
        "`python -m plntui` runs (interpreter start included).",
        "growth: ratio to the previous size. target: the bound at "
        f"{TARGET_SIZE:,} contacts; PASS/FAIL is judged there.",
        f"total bench time {time.perf_counter() - started:.0f} s; load average (1 min) "
        f"{load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end: other processes on "
        "the machine slow the wall times (CPU times are in the JSON).",
    ]
    table = render(sizes, results, notes)
    sys.stdout.write(title + "\n\n" + table + "\n")
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
        "targets": {m.key: m.target for m in METRICS if m.target is not None},
        "target_size": TARGET_SIZE,
        "results": {str(s): results[s] for s in sizes},
        "details": {str(s): details[s] for s in sizes},
        "table": table,
    }
    out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    log(f"results written to {out}")
    failed = [
        m.label
        for m in METRICS
        if m.target is not None
        and TARGET_SIZE in results
        and (results[TARGET_SIZE].get(m.key) or 0) >= m.target
    ]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
