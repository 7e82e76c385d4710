"""Provides the benchmark of the terminal app: time to the first frame, filter latency, memory.

Usage: ``python bench/tui.py [--contacts 10000] [--notes 2000] [--runs 5] [--home DIR]``.

* Builds a profile (deterministic realistic data from ``bench/_profiles.py``: contacts imported
  in batches of 500, then all notes in one ``net._writing()`` commit) in a child process, so that
  this process stays small (a forked child inherits its parent's peak in ``ru_maxrss``).
* **Time to interactive**: the installed ``plntui --home H --offline`` is spawned on a
  pseudo-terminal of
  120x40 (``pty.fork``) and its output is read until the first row of the contacts table (the
  first name in sort order) is drawn; one warm-up start, then the median of ``--runs``. The
  in-process ``App.run_test()`` time until the contacts screen is mounted with rows is a second,
  informative figure.
* **Filter latency**: in-process (``run_test(size=(120, 40))``), realistic queries typed one key
  at a time (plus backspaces and a clear after each): per keystroke, the screen's
  ``Input.Changed`` handler (``catalog.apply_filter`` + ``table.refresh_rows``) and one render of
  the table's visible lines (``render_lines``). Reported beside it: the detail pane update, and
  the whole path from a key event to the first frame showing the new filter (driver message,
  Input, ``Input.Changed``, handler, compositor, frame rendered to terminal output), which also
  includes Textual's frame pacing (at most 60 updates a second). ``pilot.press`` is not used:
  it waits for the process to go idle (20 ms sleeps) after each key.
* **Peak memory**: ``VmHWM`` of the app process once its background load is done (CPU idle),
  and its ``ru_maxrss`` from ``wait4`` after quitting with ctrl+q.

The app is started with ``--offline``: without it, it would announce itself and browse the LAN
(zeroconf). ``--with-sync`` starts it as a user does, sync engine and discovery included; run
that only inside an isolated network namespace (e.g. ``unshare -rn`` with a multicast-enabled
loopback), never on a real network.

Prints one table with targets and PASS/FAIL. When a target fails it also prints where the time
or memory goes (each step of a start in a fresh process, the start without the background load
of the documents, memory by stage); ``--cprofile`` adds cProfile output of one start and of the
filter keystrokes. Exit status 0 unless ``--strict`` and a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository before this folder: ``import sync`` must find the package, not bench/sync.py.
sys.path[:] = [str(ROOT), str(BENCH)] + [
    p for p in sys.path if p not in (str(ROOT), str(BENCH)) and Path(p or ".").resolve() != BENCH
]

COLS, ROWS = 120, 40
IMPORT_BATCH = 500
SEED = 42
TARGET_FIRST_ROW = 0.6  # seconds, whole process
TARGET_KEY_MEDIAN = 0.016  # seconds: one frame at 60 Hz
TARGET_PEAK_MB = 200.0
ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]"
    r"|\x1b[=>78DEHMNOZc]"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the profile (built in a child process) ---------------------------------------------------


def build(home: Path, contacts: int, notes: int, seed: int) -> dict[str, Any]:
    """Create the profile: imports of ``IMPORT_BATCH`` contacts, then every note in one commit,
    then the search index brought up to date (as after the first search)."""
    from _profiles import Generator

    from plntui.model import Record
    from plntui.network import Network

    gen = Generator(seed)
    started = time.perf_counter()
    net = Network.create(home, "Bench User")
    imports: list[float] = []
    for first in range(0, contacts, IMPORT_BATCH):
        drafts = [gen.contact(n) for n in range(first, min(first + IMPORT_BATCH, contacts))]
        t0 = time.perf_counter()
        summary = net.import_contacts(drafts, f"contacts-{len(imports)}.vcf")
        imports.append(time.perf_counter() - t0)
        if summary.rejected:
            raise RuntimeError(f"generated contacts were rejected: {summary.rejected[:3]}")
        if len(imports) % 4 == 0 or first + IMPORT_BATCH >= contacts:
            log(f"  imported {min(first + IMPORT_BATCH, contacts):,}/{contacts:,} contacts")
    # (Network.list shadows the builtin in network.py's annotations: mypy cannot see the type.)
    everyone: Sequence[Record] = net.contacts()  # type: ignore[assignment]
    ids = [c.id for c in everyone]
    names = {c.id: c.label for c in everyone}
    values = [gen.note(ids, names) for _ in range(notes)]
    t0 = time.perf_counter()
    with net._writing():
        for note in values:
            net.add("notes", note)
    notes_seconds = time.perf_counter() - t0
    log(f"  added {notes:,} notes in one commit ({notes_seconds:.1f} s)")
    t0 = time.perf_counter()
    net.index()
    index_seconds = time.perf_counter() - t0
    return {
        "contacts": contacts,
        "notes": notes,
        "seed": seed,
        "import_seconds": imports,
        "notes_seconds": notes_seconds,
        "index_seconds": index_seconds,
        "total_seconds": time.perf_counter() - started,
    }


def ensure_profile(home: Path, contacts: int, notes: int, seed: int) -> dict[str, Any]:
    """Build the profile in a child process, or reuse the one ``home`` holds when it was built
    with the same parameters."""
    marker = home.parent / f"{home.name}.bench-tui.json"
    wanted = {"contacts": contacts, "notes": notes, "seed": seed}
    if marker.exists() and (home / "profile.json").exists():
        stats: dict[str, Any] = json.loads(marker.read_text())
        if {k: stats.get(k) for k in wanted} == wanted:
            log(f"reusing the profile in {home}")
            stats["reused"] = True
            return stats
        raise SystemExit(f"{home} holds a profile built with other parameters ({marker})")
    if home.exists() and any(home.iterdir()):
        raise SystemExit(f"{home} is not empty and holds no bench profile")
    log(f"building {contacts:,} contacts and {notes:,} notes in {home} ...")
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--build-only",
            "--home",
            str(home),
            "--contacts",
            str(contacts),
            "--notes",
            str(notes),
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"building the profile failed (exit status {done.returncode})")
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    marker.write_text(json.dumps(stats))
    stats["reused"] = False
    return stats


def first_rows(home: Path, count: int = 3) -> list[str]:
    """The names on the first rows of the contacts table (sorted by name, as the app does),
    read in a child process to keep this one small."""
    code = (
        "import json,sys; from plntui.catalog import fold; from plntui.network import "
        "Network; n=Network.open(sys.argv[1]); names=[r.label for r in "
        "n.index().list('contacts')]; names.sort(key=lambda s: (s == '', fold(s))); "
        "print(json.dumps(names[:int(sys.argv[2])]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home), str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return list(json.loads(out))


# -- the app as a whole process on a pseudo-terminal ------------------------------------------


def plntui_command() -> str:
    beside = shutil.which("plntui", path=str(Path(sys.executable).parent))
    found = beside or shutil.which("plntui")
    if found is None:
        raise SystemExit("the plntui console script is not installed (pip install -e .)")
    return found


@dataclass(slots=True)
class Start:
    """One start of the app on a pseudo-terminal."""

    first_row: float = 0.0  # seconds from spawn to the first table row on the terminal
    keys_ready: float | None = None  # ... to the footer listing the table's keys (focus settled)
    idle: float | None = None  # ... to the end of the background load (CPU idle)
    vm_hwm_kib: int = 0  # peak RSS while running, read from /proc before quitting
    ru_maxrss_kib: int = 0  # from wait4 after ctrl+q
    exit_status: int | None = None
    quit_seconds: float | None = None


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Terminal:
    """A child process on a pseudo-terminal; its output is kept (escape sequences removed)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: size the terminal, then become the app
            try:
                import fcntl
                import termios

                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
                os.execve(argv[0], list(argv), env)  # noqa: S606
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.raw = bytearray()
        self.text = ""
        self.status: int | None = None
        self.rusage: Any = None

    def read(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False when the terminal closed."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        self.raw += chunk
        return True

    def screen_text(self) -> str:
        if len(self.text) < len(self.raw):  # cheap enough: a first frame is ~100 KB
            self.text = ANSI.sub("", self.raw.decode("utf-8", "replace"))
        return self.text

    def wait_for(self, found: Callable[[str], bool], seconds: float) -> float | None:
        """Seconds from spawn until ``found(output)``; None on timeout or exit."""
        deadline = time.perf_counter() + seconds
        seen = 0
        while time.perf_counter() < deadline:
            alive = self.read(0.005)
            if len(self.raw) != seen:
                seen = len(self.raw)
                if found(self.screen_text()):
                    return time.perf_counter() - self.started
            if not alive:
                return None
        return None

    def wait_idle(self, seconds: float, quiet: float = 0.3) -> float | None:
        """Seconds from spawn until the process used (almost) no CPU for ``quiet`` seconds."""
        deadline = time.perf_counter() + seconds
        last, quiet_since = _cpu_ticks(self.pid), time.perf_counter()
        while time.perf_counter() < deadline:
            self.read(0.05)
            now, ticks = time.perf_counter(), _cpu_ticks(self.pid)
            if ticks - last > 1:  # a tick is 10 ms; the app polls its files twice a second
                quiet_since = now
            last = ticks
            if now - quiet_since >= quiet:
                return quiet_since - self.started
        return None

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def finish(self, seconds: float) -> bool:
        """Wait for the child to exit (reading its output); kill it after ``seconds``."""
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            self.read(0.02)
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.status, self.rusage = os.waitstatus_to_exitcode(status), rusage
                os.close(self.fd)
                return True
        os.kill(self.pid, signal.SIGKILL)
        _, status, rusage = os.wait4(self.pid, 0)
        self.status, self.rusage = os.waitstatus_to_exitcode(status), rusage
        os.close(self.fd)
        return False


def app_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COLUMNS", "LINES", "NO_COLOR", "TEXTUAL", "TEXTUAL_DRIVER")
        and not k.startswith("TMUX")
    }
    env.update(TERM="xterm-256color", PLNTUI_HOME=str(home), LANG="C.UTF-8", LC_ALL="C.UTF-8")
    return env


def start_once(argv: Sequence[str], home: Path, names: list[str]) -> Start:
    """Spawn the app, time the first row and the settled state, read its memory, quit."""
    markers = [name[:12] for name in names]
    term = Terminal(argv, app_env(home))
    result = Start()
    try:
        first = term.wait_for(lambda out: any(m in out for m in markers), 60)
        if first is None:
            tail = term.screen_text()[-2000:]
            raise RuntimeError(f"the app never showed {markers[0]!r}; its last output:\n{tail}")
        result.first_row = first
        result.keys_ready = term.wait_for(lambda out: "a Add" in out, 20)
        result.idle = term.wait_idle(30)
        result.vm_hwm_kib = _vm_hwm_kib(term.pid)
        quit_at = time.perf_counter()
        term.send(b"\x11")  # ctrl+q
        if term.finish(10):
            result.quit_seconds = time.perf_counter() - quit_at
    finally:
        if term.status is None:
            term.finish(0)
    result.exit_status = term.status
    result.ru_maxrss_kib = term.rusage.ru_maxrss if term.rusage else 0
    return result


OFFLINE = ["--offline"]
"""Appended to every app start unless ``--with-sync`` (see the module docstring)."""


def measure_starts(home: Path, names: list[str], runs: int) -> list[Start]:
    argv = [plntui_command(), "--home", str(home), *OFFLINE]
    log(f"starting the app on a pseudo-terminal: 1 warm-up + {runs} timed starts ...")
    start_once(argv, home, names)
    starts = []
    for _ in range(runs):
        starts.append(start_once(argv, home, names))
        log(f"  first row after {starts[-1].first_row:.3f} s")
    return starts


def profile_start(home: Path, names: list[str], out: Path) -> str:
    """One start under cProfile (main thread; the load worker's thread is not profiled)."""
    argv = [
        sys.executable,
        "-m",
        "cProfile",
        "-o",
        str(out),
        plntui_command(),
        "--home",
        str(home),
        *OFFLINE,
    ]
    start_once(argv, home, names)
    return _top(pstats.Stats(str(out)), 30)


def _top(stats: pstats.Stats, lines: int) -> str:
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("cumulative").print_stats(lines)
    return buffer.getvalue()


# -- in-process: mount time and filter latency ------------------------------------------------


@dataclass(slots=True)
class Keystroke:
    value: str
    rows: int
    handler: float  # Input.Changed handler: apply_filter + refresh_rows
    render: float  # one render of the table's visible lines
    detail: float  # the detail pane for the highlighted record (when it changed)


@dataclass(slots=True)
class InProcess:
    mounted: list[float] = field(default_factory=list)
    keys: list[Keystroke] = field(default_factory=list)
    frame_keys: list[float] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    profile_text: str = ""


def _keystrokes(queries: Sequence[str]) -> list[str]:
    """Filter values as typed: each query letter by letter, two backspaces, then cleared."""
    values: list[str] = []
    for query in queries:
        values += [query[:i] for i in range(1, len(query) + 1)]
        values += [query[:-1], query[:-2], ""]
    return values


async def _wait(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError("the app did not reach the expected state in time")
        await asyncio.sleep(0.002)


async def mounted_once(home: Path) -> float:
    """``run_test`` from creating the app to the contacts screen mounted with rows."""
    from plntui.tui.app import PlntuiApp
    from plntui.tui.screens.contacts import ContactsScreen

    started = time.perf_counter()
    app = PlntuiApp(home)
    async with app.run_test(size=(COLS, ROWS)):
        await _wait(
            lambda: isinstance(app.screen, ContactsScreen) and bool(app.screen.catalog.visible), 60
        )
        elapsed = time.perf_counter() - started
        await app.workers.wait_for_complete()
    return elapsed


async def filter_latency(home: Path, result: InProcess, profile: bool) -> None:
    from textual.geometry import Region
    from textual.widgets import Input

    from plntui.tui.app import PlntuiApp
    from plntui.tui.screens.contacts import ContactsScreen

    app = PlntuiApp(home)
    async with app.run_test(size=(COLS, ROWS)) as pilot:
        await _wait(
            lambda: isinstance(app.screen, ContactsScreen) and bool(app.screen.catalog.visible), 60
        )
        await app.workers.wait_for_complete()  # the documents are loaded in the background
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ContactsScreen)
        table = screen.table
        filter_input = screen.query_one("#filter", Input)
        rows = screen.catalog.rows
        person = rows[len(rows) // 3].record.label.lower()
        org = str(rows[len(rows) // 2].record.values.get("org") or "northwind").split()[0]
        result.queries = ["kubernetes", "machine learning", person, org.lower(), "berlin"]
        await pilot.press("slash")
        await pilot.pause()
        region = Region(0, 0, table.size.width, table.size.height)
        values = _keystrokes(result.queries)
        result.keys = await handler_pass(pilot, screen, filter_input, region, values, None)
        if profile:  # a second pass: the profiler's overhead stays out of the figures
            profiler = cProfile.Profile()
            await handler_pass(pilot, screen, filter_input, region, values, profiler)
            result.profile_text = _top(pstats.Stats(profiler), 30)
        # The same keystrokes through the whole app: a key event from the driver, the Input,
        # Input.Changed, the handler, the compositor, and the frame written as terminal output.
        filter_input.value = ""
        await pilot.pause()
        await frame_latency(app, screen, result)


async def handler_pass(
    pilot: Any,
    screen: Any,
    filter_input: Any,
    region: Any,
    values: Sequence[str],
    profiler: cProfile.Profile | None,
) -> list[Keystroke]:
    """Call the screen's Input.Changed handler for each value, then render the table."""
    from textual.widgets import Input

    table = screen.table
    keys = []
    shown = table.current
    for value in values:
        if profiler:
            profiler.enable()
        t0 = time.perf_counter()
        screen._filter(Input.Changed(filter_input, value))
        t1 = time.perf_counter()
        table.render_lines(region)
        t2 = time.perf_counter()
        if table.current is not shown:
            shown = table.current
            screen._show_detail(shown)
        t3 = time.perf_counter()
        if profiler:
            profiler.disable()
        keys.append(Keystroke(value, len(table.rows), t1 - t0, t2 - t1, t3 - t2))
        await pilot.pause()  # let the app handle what the keystroke posted (not timed)
    return keys


async def frame_latency(app: Any, screen: Any, result: InProcess) -> None:
    """Per keystroke, from the key event to the first frame drawn with the new filter."""
    from textual import events
    from textual._compositor import CompositorUpdate

    frames: list[tuple[float, str]] = []
    display = app._display

    def timed_display(on: Any, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate):  # what a real terminal gets written
            renderable.render_segments(app.console)
        display(on, renderable)
        if renderable is not None:
            frames.append((time.perf_counter(), screen.catalog.query))

    app._display = timed_display
    try:
        for value, key, char in _key_events(result.queries):
            await asyncio.sleep(0.02)  # a typist's pace: the previous frame is done
            seen = len(frames)
            t0 = time.perf_counter()
            app._driver.send_message(events.Key(key, char))
            deadline = t0 + 5
            while not any(q == value for _, q in frames[seen:]):
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"no frame showed the filter {value!r}")
                await asyncio.sleep(0.0005)
            shown = next(t for t, q in frames[seen:] if q == value)
            result.frame_keys.append(shown - t0)
    finally:
        app._display = display


def _key_events(queries: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """(filter value after the key, key, character) for the keystrokes of ``_keystrokes``."""
    keys: list[tuple[str, str, str | None]] = []
    for query in queries:
        for i, char in enumerate(query, 1):
            keys.append((query[:i], "space" if char == " " else char, char))
        keys += [
            (query[:-1], "backspace", None),
            (query[:-2], "backspace", None),
            ("", "ctrl+u", None),
        ]
    return keys


def run_in_process(home: Path, mounts: int, profile: bool) -> InProcess:
    result = InProcess()
    log(f"in-process: {mounts} x run_test to mounted, then the filter keystrokes ...")
    for _ in range(mounts):
        result.mounted.append(asyncio.run(mounted_once(home)))
    asyncio.run(filter_latency(home, result, profile))
    return result


# -- memory breakdown (when the target fails) --------------------------------------------------

BREAKDOWN = """
import json, sys, time
from pathlib import Path
def rss():
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(('VmRSS:', 'VmHWM:')):
            yield line.split()[1]
out = {}
def mark(name):
    out[name] = [int(v) // 1024 for v in rss()]
mark('python')
import textual.app, plntui.tui.app, plntui.tui.screens.contacts
mark('imports (textual, plntui.tui)')
from plntui.network import Network
net = Network.open(sys.argv[1])
records = net.index().list('contacts')
mark('Network.open + index.list(contacts)')
from plntui.catalog import Catalog, contact_columns
catalog = Catalog(contact_columns()); catalog.sort_key = 'name'; catalog.load(records)
mark('Catalog rows for the table')
_ = net.shared_doc
mark('+ shared Automerge document loaded')
_ = net.private_doc
mark('+ private Automerge document loaded')
print(json.dumps(out))
"""


STARTUP = """
import json, sys, threading, time
t = time.perf_counter
out = {}
t0 = t()
import plntui.tui.app, plntui.tui.screens.contacts
out['import the app (textual)'] = t() - t0
t0 = t()
import plntui.tui.screens.notes, plntui.tui.screens.who, plntui.tui.screens.followups
out['import the other screens (get_modes)'] = t() - t0
from plntui.network import Network
from plntui.catalog import Catalog, contact_columns
t0 = t(); net = Network.open(sys.argv[1]); index = net.index()
out['Network.open + index()'] = t() - t0
t0 = t(); records = index.list('contacts'); out['index.list(contacts)'] = t() - t0
t0 = t(); index.list('interactions'); index.list('notes')
out['index.list(interactions) + list(notes)'] = t() - t0
t0 = t(); catalog = Catalog(contact_columns()); catalog.sort_key = 'name'; catalog.load(records)
out['Catalog.load (cells, haystacks, sort)'] = t() - t0
gaps = []
def load():
    net.shared_doc, net.private_doc
worker = threading.Thread(target=load)
t0 = last = t(); worker.start()
while worker.is_alive():
    time.sleep(0.001); now = t(); gaps.append(now - last); last = now
out['load both documents in a thread'] = t() - t0
out['  longest stall of the main thread meanwhile'] = max(gaps)
print(json.dumps(out))
"""
NO_LOAD = """
import sys
from plntui.tui.app import PlntuiApp
PlntuiApp._load_documents = lambda self: None
from plntui.cli import main
sys.exit(main())
"""


def startup_breakdown(home: Path, names: list[str], runs: int) -> dict[str, float]:
    """Where a start's time goes, step by step in a fresh process; then the whole start again
    with the background load of the documents switched off."""
    out = subprocess.run(
        [sys.executable, "-c", STARTUP, str(home)], check=True, capture_output=True, text=True
    ).stdout
    steps: dict[str, float] = json.loads(out)
    argv = [sys.executable, "-c", NO_LOAD, "--home", str(home)]
    starts = [start_once(argv, home, names) for _ in range(runs)]
    steps["whole start, documents not loaded: first row"] = statistics.median(
        s.first_row for s in starts
    )
    steps["whole start, documents not loaded: VmHWM MB"] = max(s.vm_hwm_kib for s in starts) / 1024
    return steps


def memory_breakdown(home: Path) -> dict[str, list[int]]:
    out = subprocess.run(
        [sys.executable, "-c", BREAKDOWN, str(home)], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out))


# -- report ------------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def verdict(value: float, target: float) -> str:
    return "PASS" if value < target else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--runs", type=int, default=5, help="timed starts (median)")
    parser.add_argument("--home", type=Path, help="build (or reuse) the profile here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary profile")
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="print cProfile output for the start and the filter keystrokes",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--with-sync",
        action="store_true",
        help="start the app with sync and LAN discovery (inside a private network namespace)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.with_sync:
        OFFLINE.clear()

    if args.build_only:
        print(json.dumps(build(args.home, args.contacts, args.notes, args.seed)))
        return 0

    temp = None
    if args.home is None:
        temp = Path(tempfile.mkdtemp(prefix="plntui-bench-tui-"))
        home = temp / "profile"
    else:
        home = args.home.resolve()
    try:
        return report(args, home)
    finally:
        if temp is not None:
            if args.keep:
                log(f"kept the profile in {home}")
            else:
                shutil.rmtree(temp, ignore_errors=True)


def report(args: argparse.Namespace, home: Path) -> int:
    built = ensure_profile(home, args.contacts, args.notes, args.seed)
    load_start = os.getloadavg()
    names = first_rows(home)
    starts = measure_starts(home, names, args.runs)
    inproc = run_in_process(home, max(args.runs, 3), args.cprofile)

    first = [s.first_row for s in starts]
    keys_ready = [s.keys_ready for s in starts if s.keys_ready is not None]
    idle = [s.idle for s in starts if s.idle is not None]
    hwm_mb = max(s.vm_hwm_kib for s in starts) / 1024
    maxrss_mb = max(s.ru_maxrss_kib for s in starts) / 1024
    handler = [k.handler + k.render for k in inproc.keys]
    with_detail = [k.handler + k.render + k.detail for k in inproc.keys]
    first_median = statistics.median(first)
    key_median = statistics.median(handler)

    rows: list[tuple[str, str, str, str]] = [
        (
            "time to first row: plntui on a pty, median",
            f"{first_median:.3f} s",
            f"< {TARGET_FIRST_ROW} s",
            verdict(first_median, TARGET_FIRST_ROW),
        ),
        ("  min / max of the timed starts", f"{min(first):.3f} / {max(first):.3f} s", "", ""),
        (
            "  footer shows the table's keys (focus settled)",
            f"{statistics.median(keys_ready):.3f} s" if keys_ready else "not seen",
            "",
            "",
        ),
        (
            "  CPU idle after start",
            f"{statistics.median(idle):.3f} s" if idle else "not idle in 30 s",
            "",
            "",
        ),
        (
            "time to mounted: in-process run_test, median",
            f"{statistics.median(inproc.mounted):.3f} s",
            "",
            "info",
        ),
        (
            f"filter keystroke: handler + table render, median (n={len(handler)})",
            ms(key_median),
            f"< {TARGET_KEY_MEDIAN * 1000:.0f} ms",
            verdict(key_median, TARGET_KEY_MEDIAN),
        ),
        ("filter keystroke: handler + table render, p95", ms(pct(handler, 0.95)), "", "info"),
        (
            "  of which apply_filter + refresh_rows, median",
            ms(statistics.median(k.handler for k in inproc.keys)),
            "",
            "",
        ),
        (
            "  of which render_lines of the table, median",
            ms(statistics.median(k.render for k in inproc.keys)),
            "",
            "",
        ),
        (
            "filter keystroke + detail pane, median / p95",
            f"{ms(statistics.median(with_detail))} / {ms(pct(with_detail, 0.95))}",
            "",
            "info",
        ),
        (
            f"filter keystroke, key event to frame, median / p95 (n={len(inproc.frame_keys)})",
            f"{ms(statistics.median(inproc.frame_keys))} / {ms(pct(inproc.frame_keys, 0.95))}",
            "",
            "info",
        ),
        (
            "peak memory: VmHWM of the app after its load",
            f"{hwm_mb:.0f} MB",
            f"< {TARGET_PEAK_MB:.0f} MB",
            verdict(hwm_mb, TARGET_PEAK_MB),
        ),
        ("peak memory: ru_maxrss of the app (wait4)", f"{maxrss_mb:.0f} MB", "", "info"),
    ]
    title = (
        f"plntui TUI benchmark: {args.contacts:,} contacts, {args.notes:,} notes, "
        f"terminal {COLS}x{ROWS}"
    )
    print(title)
    if not built.get("reused"):
        print(
            f"profile built in {built['total_seconds']:.1f} s ({len(built['import_seconds'])} "
            f"imports of {IMPORT_BATCH}, notes in one commit {built['notes_seconds']:.1f} s, "
            f"index {built['index_seconds']:.1f} s)"
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>17}  {'target':>9}  result")
    for name, value, target, result in rows:
        print(f"{name:<{width}}  {value:>17}  {target:>9}  {result}")
    slow = sorted(inproc.keys, key=lambda k: k.handler + k.render, reverse=True)[:3]
    print(
        "slowest keystrokes: "
        + ", ".join(f"{k.value!r} -> {k.rows:,} rows {ms(k.handler + k.render)}" for k in slow)
    )
    print(f"queries typed: {', '.join(repr(q) for q in inproc.queries)}")
    bad_exit = [s.exit_status for s in starts if s.exit_status != 0]
    if bad_exit:
        print(f"warning: the app exited with status {bad_exit} after ctrl+q")
    load = os.getloadavg()
    print(
        f"load average (1 min) at the start {load_start[0]:.2f}, at the end {load[0]:.2f}; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )

    failed = [r[0] for r in rows if r[3] == "FAIL"]
    breakdown: dict[str, list[int]] = {}
    if hwm_mb >= TARGET_PEAK_MB or args.cprofile:
        breakdown = memory_breakdown(home)
        print("\nmemory by stage (fresh process: VmRSS / VmHWM in MB)")
        for stage, (rss, hwm) in breakdown.items():
            print(f"  {stage:<42} {rss:>6} {hwm:>6}")
    steps: dict[str, float] = {}
    if first_median >= TARGET_FIRST_ROW or args.cprofile:
        steps = startup_breakdown(home, names, 3)
        print("\nstart, step by step (fresh process, seconds; the last two: the whole app)")
        for step, seconds in steps.items():
            print(f"  {step:<46} {seconds:>7.3f}")
    if args.cprofile:
        with tempfile.TemporaryDirectory() as tmp:
            print("\ncProfile of one start (main thread, until ctrl+q after the first row):")
            print(profile_start(home, names, Path(tmp) / "start.prof"))
    if inproc.profile_text:
        print("cProfile of the filter keystrokes (handler + render + detail):")
        print(inproc.profile_text)
    elif key_median >= TARGET_KEY_MEDIAN:
        print("(run with --cprofile for the profile of the filter keystrokes)")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "contacts": args.contacts,
                    "notes": args.notes,
                    "build": built,
                    "starts": [asdict(s) for s in starts],
                    "mounted": inproc.mounted,
                    "keystrokes": [asdict(k) for k in inproc.keys],
                    "frame_keys": inproc.frame_keys,
                    "memory_breakdown": breakdown,
                    "startup_steps": steps,
                    "failed": failed,
                    "loadavg": [load_start, load],
                },
                indent=1,
            )
        )
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
