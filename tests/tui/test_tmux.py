"""Provides the end-to-end test of the installed ``plntui`` command in a real terminal (tmux).

The Pilot tests drive the app in-process; this one starts the console script the way a user
does, in a 100x30 tmux pane, types keys and reads the screen back with ``capture-pane``. It needs
the ``tmux`` binary (Debian/Ubuntu package ``tmux``) and fails, rather than skips, without it.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from plntui.demo import PEOPLE, make_demo_profile

WIDTH, HEIGHT = 100, 30
START_SECONDS = 10.0  # the first frame, on a slow CI machine
STEP_SECONDS = 5.0  # any later change on screen
FILTER = "rust"
# Matches the topics of three people, and "zero trust" in how Hannah Vogel was met: the filter
# looks for the letters anywhere in name, organisation, topics, role, e-mails, how you met...
FILTER_MATCHES = {"Olusegun Adeyemi", "Sven Lindqvist", "Yuki Tanaka", "Hannah Vogel"}
NEW_NAME = "Zed Tmuxtester"
TMUX_CONF = """\
set -g default-terminal "xterm-256color"
set -g remain-on-exit on
set -g history-limit 0
set -s escape-time 0
set -g status off
"""


def plntui_command() -> str:
    """The console script installed beside this interpreter (else the one on PATH)."""
    beside = shutil.which("plntui", path=str(Path(sys.executable).parent))
    found = beside or shutil.which("plntui")
    if found is None:
        pytest.fail(
            "the plntui console script is not installed: run `pip install -e .` in the "
            f"environment of {sys.executable}"
        )
    return found


class Tmux:
    """A private tmux server (its own socket) with one session per started command."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        binary = shutil.which("tmux")
        if binary is None:
            pytest.fail(
                "tmux is not installed: this test drives the real terminal app in tmux "
                "(install the `tmux` package, e.g. `apt-get install -y tmux`)"
            )
        conf = tmp / "tmux.conf"
        conf.write_text(TMUX_CONF)
        self.base = [binary, "-L", f"plntui-test-{secrets.token_hex(6)}", "-f", str(conf)]
        self.env = env
        self.tmp = tmp
        self.started = False

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, session: str, command: list[str]) -> None:
        """Run ``command`` in a new session; a shell around it writes its exit status to a file
        (tmux 3.3 sometimes never reports ``pane_dead_status``)."""
        env_args = [
            item
            for key in ("TERM", "PLNTUI_HOME", "LANG", "LC_ALL")
            if key in self.env
            for item in ("-e", f"{key}={self.env[key]}")
        ]
        status = self.tmp / f"{session}.status"
        status.unlink(missing_ok=True)
        wrapper = ["/bin/sh", "-c", f'"$@"; echo $? > {shlex.quote(str(status))}', "sh"]
        self.started = True
        self.run(
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            *env_args,
            "--",
            *wrapper,
            *command,
        )

    def screen(self, session: str) -> str:
        return self.run("capture-pane", "-p", "-t", session)

    def keys(self, session: str, *keys: str) -> None:
        """Named keys (``Escape``, ``C-s``, ``/``), one send-keys each."""
        for key in keys:
            self.run("send-keys", "-t", session, key)

    def type(self, session: str, text: str) -> None:
        """Literal text, as if typed."""
        self.run("send-keys", "-t", session, "-l", text)

    def exit_status(self, session: str) -> str | None:
        """The exit status of the command, or None while it runs."""
        status = self.tmp / f"{session}.status"
        text = status.read_text().strip() if status.exists() else ""
        return text or None

    def wait(
        self,
        session: str,
        condition: Callable[[str], bool],
        what: str,
        seconds: float = STEP_SECONDS,
    ) -> str:
        """Poll the screen until ``condition(screen)``; fail showing the last screen."""
        deadline = time.monotonic() + seconds
        while True:
            screen = self.screen(session)
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                status = self.exit_status(session)
                state = "still running" if status is None else f"exited with status {status}"
                raise AssertionError(
                    f"timed out after {seconds:.0f} s waiting for {what} "
                    f"(plntui {state}); the screen was:\n{screen}"
                )
            time.sleep(0.05)

    def wait_exit(self, session: str, seconds: float = STEP_SECONDS) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status = self.exit_status(session)
            if status is not None:
                return status
            time.sleep(0.05)
        raise AssertionError(
            f"plntui did not exit within {seconds:.0f} s of ctrl+q; the screen "
            f"was:\n{self.screen(session)}"
        )

    def kill(self) -> None:
        """Stop the server and remove its socket file (tmux leaves it behind)."""
        if not self.started:
            return
        socket = subprocess.run(
            [*self.base, "display-message", "-p", "#{socket_path}"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        subprocess.run(
            [*self.base, "kill-server"], env=self.env, capture_output=True, timeout=10, check=False
        )
        if socket:
            Path(socket).unlink(missing_ok=True)


def table_names(screen: str) -> set[str]:
    """The demo people listed in the table (the left pane; the right one shows details)."""
    left = "\n".join(line.split("▏")[0] for line in screen.splitlines())
    shown = {str(p["name"]) for p in PEOPLE if str(p["name"])[:15] in left}
    if NEW_NAME in left:
        shown.add(NEW_NAME)
    return shown


def terminal_env(tmp: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TMUX")}
    env.update(
        TERM="xterm-256color",
        PLNTUI_HOME=str(tmp / "env-home"),
        XDG_DATA_HOME=str(tmp / "xdg"),
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
    )
    for key in ("NO_COLOR", "TEXTUAL", "TEXTUAL_DRIVER", "COLUMNS", "LINES"):
        env.pop(key, None)
    return env


def test_installed_app_in_a_terminal(tmp_path: Path) -> None:
    started = time.monotonic()
    plntui = plntui_command()
    demo = make_demo_profile(tmp_path / "demo")
    tmux = Tmux(tmp_path, terminal_env(tmp_path))
    tmux.env["PLNTUI_HOME"] = str(demo)
    try:
        drive(tmux, plntui, demo, tmp_path / "empty" / "profile")
    finally:
        tmux.kill()
    assert time.monotonic() - started < 60, "the terminal test should take well under 30 s"


def drive(tmux: Tmux, plntui: str, demo: Path, empty: Path) -> None:
    """The user's session: browse, filter, add, quit; then a first run in an empty folder."""
    everyone = {str(p["name"]) for p in PEOPLE}

    # Browse: the first frame lists the demo network.
    tmux.start("demo", [plntui, "--home", str(demo), "--offline"])  # no zeroconf here
    tmux.wait(
        "demo", lambda s: "Priya Raman" in table_names(s), "the contacts table", START_SECONDS
    )
    # Keys are routed to the widget focused when they arrive: wait until the table has the
    # focus, which the footer shows with the list's keys (a Add, e Edit...).
    screen = tmux.wait("demo", lambda s: "a Add" in s, "the focus on the table")
    assert "Contacts" in screen

    # Filter as you type: only the matching people stay in the table.
    tmux.keys("demo", "/")
    tmux.wait("demo", lambda s: "/ Filter" in s and "a Add" not in s, "the focus on the filter")
    tmux.type("demo", FILTER)
    screen = tmux.wait(
        "demo", lambda s: table_names(s) == FILTER_MATCHES, f"only the people matching {FILTER!r}"
    )
    assert FILTER in screen
    assert not (table_names(screen) & (everyone - FILTER_MATCHES))

    # Back to the list, add a contact with the form, save with ctrl+s.
    tmux.keys("demo", "Escape")
    tmux.wait("demo", lambda s: "a Add" in s, "the list's key bindings after Escape")
    tmux.keys("demo", "a")
    tmux.wait("demo", lambda s: "Add a contact" in s, "the add-contact form")
    tmux.type("demo", NEW_NAME)
    tmux.wait("demo", lambda s: NEW_NAME in s, "the typed name in the form")
    tmux.keys("demo", "C-s")
    tmux.wait(
        "demo",
        lambda s: "Add a contact" not in s and NEW_NAME in table_names(s),
        "the new contact in the table",
    )
    tmux.wait("demo", lambda s: f"Saved {NEW_NAME}" in s, "the notification of the save")

    # Quit: the process ends, cleanly.
    tmux.keys("demo", "C-q")
    assert tmux.wait_exit("demo") == "0"

    # What the app saved is what the command line reads.
    listed = subprocess.run(
        [plntui, "--home", str(demo), "contact", "list", "--json"],
        env=tmux.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    names = {item["name"] for item in json.loads(listed.stdout)}
    assert NEW_NAME in names
    assert everyone <= names

    # First run: a folder with no profile asks the name, then creates the profile.
    tmux.start("first", [plntui, "--home", str(empty), "--offline"])
    tmux.wait("first", lambda s: "Welcome to plntui" in s, "the welcome dialog", START_SECONDS)
    assert not (empty / "profile.json").exists()
    tmux.type("first", "Ada Firstrun")
    tmux.wait("first", lambda s: "Ada Firstrun" in s, "the typed name in the welcome dialog")
    tmux.keys("first", "Enter")
    tmux.wait(
        "first",
        lambda s: "Welcome to plntui" not in s and "No contacts yet" in s,
        "the empty contacts screen",
    )
    assert (empty / "profile.json").exists()
    assert json.loads((empty / "profile.json").read_text())["name"] == "Ada Firstrun"
    tmux.keys("first", "C-q")
    assert tmux.wait_exit("first") == "0"
