"""Provides the benchmark of the terminal app: first frame, filter latency, stalls while
writing, memory offline and with a peer.

Usage: ``python bench/tui.py [--contacts 10000] [--notes 2000] [--runs 5] [--home DIR]
[--quick] [--skip-peer] [--json PATH]``.

* Builds a profile (deterministic realistic data, ``bench/_profiles.py``: contact imports,
  notes imports, a few notes added one by one) in a child process, so that this process stays
  small (a forked child inherits its parent's peak in ``ru_maxrss``). ``--home DIR`` builds it
  there once and reuses it. Every measure that writes works on a copy.
* **Time to interactive**: the installed ``plntui --home H --offline`` is spawned on a
  pseudo-terminal of 120x40 (``pty.fork``) and its output is read until the first row of the
  contacts table (the first name in sort order) is drawn; one warm-up start, then the median
  of ``--runs``. The in-process ``App.run_test()`` time until the contacts screen is mounted
  with rows is a second, informative figure.
* **Filter latency**: in-process (``run_test(size=(120, 40))``), realistic queries typed one key
  at a time (plus backspaces and a clear after each): per keystroke, the screen's
  ``Input.Changed`` handler (``catalog.apply_filter`` + ``table.refresh_rows``) and one render of
  the table's visible lines (``render_lines``). Reported beside it: the detail pane update, and
  the whole path from a key event to the first frame showing the new filter, which also
  includes Textual's frame pacing (at most 60 updates a second).
* **Stalls while writing**: in-process, a ``LoopMonitor`` task wakes every millisecond on the
  app's event loop; any delay beyond that is a stall (the UI could not draw nor take a key).
  A note is opened and text typed into its editor at 12 keys a second as driver key events,
  with a pause after every three words so the note saves itself (``SAVE_DELAY``); then the
  contact form is opened on five contacts, the role changed and saved with ctrl+s. Reported:
  the longest stall while typing and saving the note, the longest from ctrl+s until the list
  has reloaded, and each save and reload timed on its own: the list is read again in a worker
  thread (``IndexList._read_list``, off the UI loop) and swapped in on the UI thread
  (``list_arrived``).
* **Memory with a peer**: the app as a process on a pseudo-terminal, syncing with LAN
  discovery off, listening on 127.0.0.1 (``SyncOptions(discovery=False)``: a few lines of
  Python start it, since ``plntui`` itself always starts discovery), and one peer, a new
  colleague in the profile's circle running ``plntui sync --no-discovery`` on 127.0.0.1, whom
  the app dials by address. ``VmRSS`` of the app once the peer holds every document, then once
  20 edits the colleague made (``plntui contact edit`` there) are stored in the app; ``VmHWM``
  over all of it.
* **Peak memory offline**: ``VmHWM`` of the app process once its start is done (CPU idle),
  and its ``ru_maxrss`` from ``wait4`` after quitting with ctrl+q.

The timed starts use ``--offline``: without it, the app would announce itself and browse the
LAN (zeroconf). ``--with-sync`` starts them as a user does, sync engine and discovery included;
run that only inside an isolated network namespace (e.g. ``unshare -rn`` with a
multicast-enabled loopback), never on a real network.

Prints one table with targets, the figures before the repository of documents, and
PASS/FAIL. When a target fails it also prints where the time or memory goes (each step of a
start in a fresh process, memory by stage); ``--cprofile`` adds cProfile output of one start and
of the filter keystrokes. Exit status 0 unless ``--strict`` and a target fails.
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
TARGET_PEAK_MB = 200.0  # MiB
TARGET_STALL = 0.050  # seconds: the longest stall of the UI loop while writing
TARGET_PEER_MIB = 150.0  # the app with one peer connected and synced
ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]"
    r"|\x1b[=>78DEHMNOZc]"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the profile (built in a child process) ---------------------------------------------------


def build(home: Path, contacts: int, notes: int, seed: int) -> dict[str, Any]:
    """Create the profile (``_profiles.build_profile``: contact imports, notes imports, a few
    notes added one by one; the search index kept fresh by every write)."""
    from _profiles import build_profile

    stats = build_profile(home, contacts, notes, seed=seed, log=log)
    return {
        "contacts": contacts,
        "notes": notes,
        "seed": seed,
        "import_seconds": stats.import_seconds,
        "notes_seconds": sum(stats.note_batch_seconds) + sum(stats.note_single_seconds),
        "index_seconds": stats.index_seconds,
        "total_seconds": stats.total_seconds,
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


# -- in-process: stalls of the UI loop while writing -------------------------------------------


class LoopMonitor:
    """Samples the asyncio loop the app runs on: a task that asks to wake every ``tick``
    seconds; whatever delays it beyond that is time the loop was blocked (a stall)."""

    def __init__(self, tick: float = 0.001) -> None:
        self.tick = tick
        self.gaps: list[tuple[float, float]] = []  # (when the stall ended, its length)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.tick)
            now = time.perf_counter()
            self.gaps.append((now, max(0.0, now - t0 - self.tick)))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def longest(self, since: float = 0.0, until: float = float("inf")) -> float:
        """The longest stall that ended within ``[since, until]`` (a stall ending after
        ``until`` began in the window if it is longer than the distance)."""
        found = [g for end, g in self.gaps if since <= end and end - g <= until]
        return max(found, default=0.0)


@dataclass(slots=True)
class Stalls:
    """The UI loop's stalls while typing into a note and saving, and while saving a contact."""

    keys: int = 0
    note_stall: float = 0.0  # the longest stall while typing and saving a note
    note_saves: list[float] = field(default_factory=list)  # NotesScreen.flush (a save), each
    note_reloads: list[float] = field(default_factory=list)  # list swapped in (UI thread), each
    note_reads: list[float] = field(default_factory=list)  # the list read again (worker), each
    key_to_frame: list[float] = field(default_factory=list)  # a keystroke until the next frame
    contact_saves: list[float] = field(default_factory=list)  # ContactForm.action_save, each
    contact_reloads: list[float] = field(default_factory=list)  # list swapped in (UI thread)
    contact_reads: list[float] = field(default_factory=list)  # the list read again (worker)
    contact_stall: float = 0.0  # the longest stall from ctrl+s to the list reloaded
    form_open_stall: float = 0.0  # the longest stall while the form opens (not a save)
    stalls_over_16ms: int = 0
    top: list[float] = field(default_factory=list)  # the five longest stalls, all phases


def _timed(target: Any, name: str, into: list[float]) -> Callable[[], None]:
    """Wrap ``target.name`` to time each call into ``into``; returns the undo."""
    inner = getattr(target, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    setattr(target, name, timed)
    return lambda: setattr(target, name, inner)


TYPED = (
    "Follow up with the platform team about the rollout next week. ",
    "Ask about their incident review template and the on-call rotation. ",
    "Notes from today's call: they moved to a monorepo and kept the build fast. ",
)


async def writing_stalls(
    home: Path,
    sentences: int = len(TYPED),
    forms: int = 5,
    words_per_save: int = 3,
    pace: float = 0.08,
) -> Stalls:
    """Type into a note the way a person does (a key every ``pace`` seconds, a pause after a
    few words so the note saves itself), then edit five contacts in the form and save each;
    a ``LoopMonitor`` on the app's loop records every stall. The profile is changed: run it
    on a copy."""
    from textual import events
    from textual.widgets import Input

    from plntui.tui.app import PlntuiApp
    from plntui.tui.dialogs.contact_form import ContactForm
    from plntui.tui.screens.contacts import ContactsScreen
    from plntui.tui.screens.notes import NotesScreen

    result = Stalls()
    app: Any = PlntuiApp(home)  # Any: the bench wraps private methods of the running app
    async with app.run_test(size=(COLS, ROWS)) as pilot:
        await _wait(
            lambda: isinstance(app.screen, ContactsScreen) and bool(app.screen.catalog.visible), 60
        )
        await pilot.press("2")
        await _wait(
            lambda: isinstance(app.screen, NotesScreen) and bool(app.screen.catalog.visible), 60
        )
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        await pilot.pause()
        screen.table.cursor = len(screen.catalog.visible) // 2
        await pilot.press("enter")  # open the note: the editor gets the focus
        await _wait(lambda: screen.body_area.has_focus and screen._note_id is not None, 10)
        screen.body_area.move_cursor(screen.body_area.document.end)
        await pilot.pause(0.5)
        undo = [
            _timed(screen, "flush", result.note_saves),
            _timed(screen, "list_arrived", result.note_reloads),
            _timed(screen, "_read_list", result.note_reads),
        ]
        frames: list[float] = []
        display = app._display

        def counted(on: Any, renderable: Any) -> None:
            display(on, renderable)
            if renderable is not None:
                frames.append(time.perf_counter())

        app._display = counted
        monitor = LoopMonitor()
        monitor.start()
        started = time.perf_counter()
        try:
            text = "".join(TYPED[:sentences])
            words = 0
            for char in text:
                key = "space" if char == " " else char
                seen = len(frames)
                t0 = time.perf_counter()
                app._driver.send_message(events.Key(key, char))
                await asyncio.sleep(pace)
                shown = next((f for f in frames[seen:] if f > t0), None)
                if shown is not None:
                    result.key_to_frame.append(shown - t0)
                result.keys += 1
                if char == " ":
                    words += 1
                    if words % words_per_save == 0:
                        await asyncio.sleep(screen.SAVE_DELAY + 0.4)  # the note saves itself
            await asyncio.sleep(screen.SAVE_DELAY + 0.5)
            typed_end = time.perf_counter()
            result.note_stall = monitor.longest(started, typed_end)
            expected = text.strip()
            net = app.net
            assert net is not None
            with app.net_lock:
                body = net.get("notes", screen._note_id).values.get("body", "")
            if expected not in body:
                raise RuntimeError("the typed text did not reach the note")
        finally:
            app._display = display
            for u in undo:
                u()
        # the contact form: open, change the role, ctrl+s
        await pilot.press("escape")  # out of the editor (a "1" there would be typed)
        await pilot.pause()
        await pilot.press("1")
        await _wait(lambda: isinstance(app.screen, ContactsScreen), 10)
        contacts = app.screen
        assert isinstance(contacts, ContactsScreen)
        undo = [
            _timed(ContactForm, "action_save", result.contact_saves),
            _timed(contacts, "list_arrived", result.contact_reloads),
            _timed(contacts, "_read_list", result.contact_reads),
        ]
        try:
            for n in range(forms):
                contacts.table.cursor = (100 + 37 * n) % max(1, len(contacts.catalog.visible))
                contacts.table.focus()
                await pilot.pause(0.2)
                t0 = time.perf_counter()
                await pilot.press("e")
                await _wait(lambda: isinstance(app.screen, ContactForm), 10)
                await pilot.pause(0.2)
                result.form_open_stall = max(
                    result.form_open_stall, monitor.longest(t0, time.perf_counter())
                )
                form = app.screen
                form.query_one("#field-role", Input).value = f"Role saved from the form {n}"
                await pilot.pause(0.2)
                t0 = time.perf_counter()
                await pilot.press("ctrl+s")
                await _wait(lambda: isinstance(app.screen, ContactsScreen), 10)
                await pilot.pause(0.6)  # the reload after the save
                result.contact_stall = max(
                    result.contact_stall, monitor.longest(t0, time.perf_counter())
                )
        finally:
            for u in undo:
                u()
            await monitor.stop()
        gaps = [g for _, g in monitor.gaps]
        result.stalls_over_16ms = sum(1 for g in gaps if g > 0.016)
        result.top = sorted(gaps, reverse=True)[:5]
    return result


# -- the app as a process, syncing with a peer ---------------------------------------------------

APP_WITH_SYNC = """
import sys
from pathlib import Path
from plntui.tui.app import PlntuiApp
from plntui.tui.sync_service import SyncOptions
options = SyncOptions(listen_host="127.0.0.1", port=int(sys.argv[2]), discovery=False,
                      fallback_port=False)
app = PlntuiApp(Path(sys.argv[1]), sync=options)
app.run()
sys.exit(app.return_code or 0)
"""


@dataclass(slots=True)
class PeerMemory:
    """The app (a process on a pseudo-terminal, syncing without discovery on 127.0.0.1) and one
    peer (``plntui sync``, a new colleague in the app's circle) that receives the network."""

    synced_after: float = 0.0  # seconds from the app's start until the peer held everything
    rss_synced_kib: int = 0  # the app's VmRSS once the peer is in sync
    rss_after_edits_kib: int = 0  # ... after the peer's edits reached the app
    hwm_kib: int = 0  # the app's peak (VmHWM) over all of it
    documents: int = 0
    edits: int = 0
    edits_seconds: float = 0.0  # the peer's edits (another process there) until stored in the app


def _manifest(home: Path, circle: str) -> dict[str, str]:
    from plntui.storage import Storage

    storage = Storage(home / "repo.sqlite3")
    try:
        return storage.manifest([circle])
    finally:
        storage.close()


def peer_memory(home: Path, work: Path, names: list[str], edits: int = 20) -> PeerMemory:
    """The app's memory with one peer connected and synced (see ``PeerMemory``)."""
    import socket

    from plntui.network import Network
    from plntui.peersync import load_identity, open_trust

    result = PeerMemory()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    peer_home = work / "peer"
    shutil.rmtree(peer_home, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "plntui", "--home", str(peer_home), "init", "--name", "Colleague"],
        env=env,
        check=True,
        capture_output=True,
    )
    me, peer = load_identity(home), load_identity(peer_home)
    for folder, other, name in ((home, peer, "Colleague"), (peer_home, me, "Bench User")):
        trust = open_trust(folder)
        trust.trust(other.fingerprint, name)
        trust.learn_cert(other.fingerprint, other.cert_der)
    net = Network.open(home)
    circle = net.default_circle().id
    net.add_member(circle, peer.fingerprint, "Colleague")
    net.profile.close()
    del net
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    open_trust(home).add_address(peer.fingerprint, f"127.0.0.1:{ports[1]}")
    peer_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plntui",
            "--home",
            str(peer_home),
            "sync",
            "--no-discovery",
            "--listen",
            "127.0.0.1",
            "--port",
            str(ports[1]),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    term = Terminal(
        [sys.executable, "-c", APP_WITH_SYNC, str(home), str(ports[0])],
        app_env(home) | {"PYTHONPATH": env["PYTHONPATH"]},
    )
    try:
        markers = [name[:12] for name in names]
        if term.wait_for(lambda out: any(m in out for m in markers), 60) is None:
            raise RuntimeError(
                "the app with sync never showed its contacts:\n" + term.screen_text()[-2000:]
            )
        expected = _manifest(home, circle)
        result.documents = len(expected)
        deadline = time.perf_counter() + 300
        while _manifest(peer_home, circle) != expected:
            term.read(0.05)
            if time.perf_counter() > deadline:
                raise RuntimeError("the peer did not receive the app's network in 300 s")
        result.synced_after = time.perf_counter() - term.started
        term.wait_idle(30)
        result.rss_synced_kib = _status(term.pid, "VmRSS")
        # the colleague edits contacts (a command there; its plntui sync pushes them)
        ids = subprocess.run(
            [
                sys.executable,
                "-c",
                "import json,sys; from plntui.network import Network; "
                "n=Network.open(sys.argv[1]); print(json.dumps([r.id for r in "
                "n.index().list('contacts')][::97][:int(sys.argv[2])]))",
                str(peer_home),
                str(edits),
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        t0 = time.perf_counter()
        for n, contact_id in enumerate(json.loads(ids)):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "plntui",
                    "--home",
                    str(peer_home),
                    "contact",
                    "edit",
                    contact_id,
                    "--role",
                    f"Changed by the colleague {n}",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
        result.edits = edits
        deadline = time.perf_counter() + 120
        while True:
            theirs = _manifest(peer_home, circle)
            if _manifest(home, circle) == theirs:
                break
            term.read(0.05)
            if time.perf_counter() > deadline:
                raise RuntimeError("the colleague's edits did not reach the app in 120 s")
        result.edits_seconds = time.perf_counter() - t0
        term.wait_idle(30)
        result.rss_after_edits_kib = _status(term.pid, "VmRSS")
        result.hwm_kib = _status(term.pid, "VmHWM")
        term.send(b"\x11")  # ctrl+q
        term.finish(15)
    finally:
        if term.status is None:
            term.finish(0)
        peer_proc.send_signal(signal.SIGTERM)
        try:
            peer_proc.wait(20)
        except subprocess.TimeoutExpired:
            peer_proc.kill()
            peer_proc.wait()
    return result


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


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
rows = net.index().lazy_rows('contacts')
mark('Network.open + index.lazy_rows(contacts)')
from plntui.catalog import Catalog, contact_columns
catalog = Catalog(contact_columns()); catalog.load_lazy(rows, sorted_by='name')
mark('Catalog rows for the table')
records = net.index().list('contacts')
mark('+ index.list(contacts): every record decoded')
with net.lock:
    for doc_id in net.repo.storage.ids('s:')[:64]:
        net.repo.get(doc_id)
mark('+ 64 contact shards loaded')
print(json.dumps(out))
"""


STARTUP = """
import json, sys, time
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
t0 = t(); rows = index.lazy_rows('contacts'); out['index.lazy_rows(contacts)'] = t() - t0
t0 = t(); catalog = Catalog(contact_columns()); catalog.load_lazy(rows, sorted_by='name')
out['Catalog.load_lazy (haystacks, sort)'] = t() - t0
t0 = t(); index.list('notes'); out['index.list(notes)'] = t() - t0
print(json.dumps(out))
"""


def startup_breakdown(home: Path) -> dict[str, float]:
    """Where a start's time goes, step by step in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", STARTUP, str(home)], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out))


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
    parser.add_argument(
        "--skip-peer", action="store_true", help="do not measure the app syncing with a peer"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: one sentence typed, two contact saves (use a small profile)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.with_sync:
        OFFLINE.clear()

    if args.build_only:
        print(json.dumps(build(args.home, args.contacts, args.notes, args.seed)))
        return 0

    temp = Path(tempfile.mkdtemp(prefix="plntui-bench-tui-"))
    home = temp / "profile" if args.home is None else args.home.resolve()
    try:
        return report(args, home, temp)
    finally:
        if args.keep:
            log(f"kept the work folder {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


def _copy(home: Path, to: Path) -> Path:
    shutil.rmtree(to, ignore_errors=True)
    shutil.copytree(home, to, ignore=shutil.ignore_patterns("*.lock"))
    return to


def report(args: argparse.Namespace, home: Path, work: Path) -> int:
    built = ensure_profile(home, args.contacts, args.notes, args.seed)
    load_start = os.getloadavg()
    names = first_rows(home)
    starts = measure_starts(home, names, args.runs)
    inproc = run_in_process(home, 1 if args.quick else max(args.runs, 3), args.cprofile)
    log("in-process: typing into a note and saving, then saving the contact form (a copy) ...")
    stalls = asyncio.run(
        writing_stalls(_copy(home, work / "stalls"), *((1, 2) if args.quick else (len(TYPED), 5)))
    )
    peer: PeerMemory | None = None
    if not args.skip_peer:
        log("the app as a process with sync (no discovery, 127.0.0.1) and a new peer ...")
        peer = peer_memory(_copy(home, work / "with-peer"), work, names, 5 if args.quick else 20)

    first = [s.first_row for s in starts]
    keys_ready = [s.keys_ready for s in starts if s.keys_ready is not None]
    idle = [s.idle for s in starts if s.idle is not None]
    hwm_mb = max(s.vm_hwm_kib for s in starts) / 1024
    maxrss_mb = max(s.ru_maxrss_kib for s in starts) / 1024
    handler = [k.handler + k.render for k in inproc.keys]
    with_detail = [k.handler + k.render + k.detail for k in inproc.keys]
    first_median = statistics.median(first)
    key_median = statistics.median(handler)

    def both(values: Sequence[float]) -> str:
        if not values:
            return "—"
        return f"{ms(statistics.median(values))} / {ms(max(values))}"

    rows: list[tuple[str, str, str, str, str]] = [
        (
            "time to first row: plntui on a pty, median",
            f"{first_median:.3f} s",
            f"< {TARGET_FIRST_ROW} s",
            "0.456 s",
            verdict(first_median, TARGET_FIRST_ROW),
        ),
        ("  min / max of the timed starts", f"{min(first):.3f} / {max(first):.3f} s", "", "", ""),
        (
            "  footer shows the table's keys (focus settled)",
            f"{statistics.median(keys_ready):.3f} s" if keys_ready else "not seen",
            "",
            "",
            "",
        ),
        (
            "  CPU idle after start",
            f"{statistics.median(idle):.3f} s" if idle else "not idle in 30 s",
            "",
            "",
            "",
        ),
        (
            "time to mounted: in-process run_test, median",
            f"{statistics.median(inproc.mounted):.3f} s",
            "",
            "0.163 s",
            "info",
        ),
        (
            f"filter keystroke: handler + table render, median (n={len(handler)})",
            ms(key_median),
            f"< {TARGET_KEY_MEDIAN * 1000:.0f} ms",
            "4.2 ms",
            verdict(key_median, TARGET_KEY_MEDIAN),
        ),
        (
            "filter keystroke: handler + table render, p95",
            ms(pct(handler, 0.95)),
            "",
            "8.1 ms",
            "info",
        ),
        (
            "  of which apply_filter + refresh_rows, median",
            ms(statistics.median(k.handler for k in inproc.keys)),
            "",
            "",
            "",
        ),
        (
            "  of which render_lines of the table, median",
            ms(statistics.median(k.render for k in inproc.keys)),
            "",
            "",
            "",
        ),
        (
            "filter keystroke + detail pane, median / p95",
            f"{ms(statistics.median(with_detail))} / {ms(pct(with_detail, 0.95))}",
            "",
            "",
            "info",
        ),
        (
            f"filter keystroke, key event to frame, median / p95 (n={len(inproc.frame_keys)})",
            f"{ms(statistics.median(inproc.frame_keys))} / {ms(pct(inproc.frame_keys, 0.95))}",
            "",
            "12.7 / 27.3 ms",
            "info",
        ),
        (
            f"longest UI stall: typing into a note + its saves ({stalls.keys} keys)",
            ms(stalls.note_stall),
            f"< {TARGET_STALL * 1000:.0f} ms",
            "1.4 s",
            verdict(stalls.note_stall, TARGET_STALL),
        ),
        (
            f"  a note save (flush), median / max (n={len(stalls.note_saves)})",
            both(stalls.note_saves),
            "",
            "",
            "",
        ),
        (
            f"  the notes list swapped in (UI), median / max (n={len(stalls.note_reloads)})",
            both(stalls.note_reloads),
            "",
            "",
            "",
        ),
        (
            "  the notes list read again (worker thread), median / max",
            both(stalls.note_reads),
            "",
            "",
            "",
        ),
        (
            "  a keystroke until the next frame, median / p95",
            f"{ms(statistics.median(stalls.key_to_frame))} / {ms(pct(stalls.key_to_frame, 0.95))}"
            if stalls.key_to_frame
            else "—",
            "",
            "",
            "",
        ),
        (
            f"longest UI stall: saving the contact form ({len(stalls.contact_saves)} saves)",
            ms(stalls.contact_stall),
            f"< {TARGET_STALL * 1000:.0f} ms",
            "1.4 s",
            verdict(stalls.contact_stall, TARGET_STALL),
        ),
        ("  ContactForm save (ctrl+s), median / max", both(stalls.contact_saves), "", "", ""),
        (
            "  (opening the form, not a save: longest stall)",
            ms(stalls.form_open_stall),
            "",
            "",
            "info",
        ),
        (
            "  the contacts list swapped in after it (UI), median / max",
            both(stalls.contact_reloads),
            "",
            "",
            "",
        ),
        (
            "  the contacts list read again (worker thread), median / max",
            both(stalls.contact_reads),
            "",
            "",
            "",
        ),
        (
            "  stalls over 16 ms (all of the above); the five longest",
            f"{stalls.stalls_over_16ms}; "
            + ", ".join(f"{g * 1000:.0f}" for g in stalls.top)
            + " ms",
            "",
            "",
            "",
        ),
        (
            "peak memory: VmHWM of the app after its load (offline)",
            f"{hwm_mb:.0f} MiB",
            f"< {TARGET_PEAK_MB:.0f} MiB",
            "58 MiB",
            verdict(hwm_mb, TARGET_PEAK_MB),
        ),
        ("peak memory: ru_maxrss of the app (wait4)", f"{maxrss_mb:.0f} MiB", "", "", "info"),
    ]
    if peer is not None:
        rss_mib = max(peer.rss_synced_kib, peer.rss_after_edits_kib) / 1024
        rows += [
            (
                "app RSS, one peer connected and synced (VmRSS)",
                f"{rss_mib:.0f} MiB",
                f"< {TARGET_PEER_MIB:.0f} MiB",
                "~500 MiB",
                verdict(rss_mib, TARGET_PEER_MIB),
            ),
            (
                f"  once the new peer held all {peer.documents:,} documents",
                f"{peer.rss_synced_kib / 1024:.0f} MiB",
                "",
                "",
                "",
            ),
            (
                f"  after {peer.edits} edits of the peer reached the app",
                f"{peer.rss_after_edits_kib / 1024:.0f} MiB",
                "",
                "",
                "",
            ),
            (
                "  the app's peak over all of it (VmHWM)",
                f"{peer.hwm_kib / 1024:.0f} MiB",
                "",
                "",
                "info",
            ),
            ("  peer in sync after the app's start", f"{peer.synced_after:.2f} s", "", "", "info"),
            (
                f"  the peer's {peer.edits} edits (processes) until stored in the app",
                f"{peer.edits_seconds:.2f} s",
                "",
                "",
                "info",
            ),
        ]
    from core import code_version

    title = (
        f"plntui TUI benchmark: {args.contacts:,} contacts, {args.notes:,} notes, "
        f"terminal {COLS}x{ROWS}, plntui {code_version()}"
    )
    print(title)
    if not built.get("reused"):
        print(
            f"profile built in {built['total_seconds']:.1f} s ({len(built['import_seconds'])} "
            f"contact imports, notes {built['notes_seconds']:.1f} s, "
            f"index {built['index_seconds']:.1f} s)"
        )
    width = max(len(r[0]) for r in rows)
    vwidth = max(17, max(len(r[1]) for r in rows))
    print(f"{'measure':<{width}}  {'value':>{vwidth}}  {'target':>9}  {'before':>14}  result")
    for name, value, target, before, result in rows:
        print(f"{name:<{width}}  {value:>{vwidth}}  {target:>9}  {before:>14}  {result}".rstrip())
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

    failed = [r[0] for r in rows if r[4] == "FAIL"]
    breakdown: dict[str, list[int]] = {}
    if hwm_mb >= TARGET_PEAK_MB or args.cprofile:
        breakdown = memory_breakdown(home)
        print("\nmemory by stage (fresh process: VmRSS / VmHWM in MiB)")
        for stage, (rss, hwm) in breakdown.items():
            print(f"  {stage:<46} {rss:>6} {hwm:>6}")
    steps: dict[str, float] = {}
    if first_median >= TARGET_FIRST_ROW or args.cprofile:
        steps = startup_breakdown(home)
        print("\nstart, step by step (fresh process, seconds)")
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
                    "stalls": asdict(stalls),
                    "peer": asdict(peer) if peer is not None else None,
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
