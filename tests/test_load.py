"""Under load: five peers in the test namespace, each writing 300 edits over about a minute
while linked (a writer process per peer plus CLI commands, beside each peer's ``plntui sync``
daemon), converge to identical documents, and no daemon's memory keeps growing."""

from __future__ import annotations

import json
import socket
import sqlite3
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lan import reruns_in_lan
from tests.processes import PLNTUI, cli

pytestmark = pytest.mark.slow
in_lan = reruns_in_lan(400)
PEERS = 5
EDITS = 300
SECONDS = 60.0

WRITER = textwrap.dedent("""
    import random, sys, time
    from plntui.network import Network
    home, circle = sys.argv[1], sys.argv[2]
    edits, seconds, seed = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(seed)
    net = Network.open(home)
    started = time.monotonic()
    mine = []
    for n in range(edits):
        while time.monotonic() < started + seconds * n / edits:
            time.sleep(0.01)
        net.profile.refresh()
        shared = [c for c in net.contacts() if c.circle == circle]
        notes = [x for x in net.notes() if x.circle == circle]
        roll = rng.random()
        if roll < 0.35 or not shared:
            values = {"name": f"p{seed} contact {n}", "topics": ["load"]}
            mine.append(net.add("contacts", values, circle=circle).id)
        elif roll < 0.65:
            target = rng.choice(shared)
            values = {"role": f"role {seed}.{n}", "topics": ["load", f"t{seed}"]}
            net.edit("contacts", target.id, values)
        elif roll < 0.8 or not notes:
            net.add("notes", {"title": f"p{seed} note {n}", "body": "start"}, circle=circle)
        else:
            note = rng.choice(notes)
            body = net.get("notes", note.id).values.get("body", "")
            net.splice_note(note.id, rng.randint(0, len(body)), 0, f" {seed}.{n}")
    print("DONE", flush=True)
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def manifest(home: Path, circle: str) -> dict[str, str]:
    db = sqlite3.connect(f"file:{home / 'repo.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return dict(db.execute("SELECT id, digest FROM docs WHERE circle = ?", (circle,)))
    finally:
        db.close()


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@in_lan
def test_five_peers_writing_while_linked_converge_with_steady_memory(tmp_path: Path) -> None:
    homes = [tmp_path / f"p{i}" for i in range(PEERS)]
    fps = []
    for home in homes:
        cli(home, "init", "--name", home.name)
        fps.append(cli(home, "id").stdout.splitlines()[0])
    for i, home in enumerate(homes):  # everyone trusts everyone
        for j, fp in enumerate(fps):
            if i != j:
                cli(home, "peer", "trust", fp, "--name", homes[j].name)
    circle_name = cli(homes[0], "circle", "default").stdout.strip()
    for fp in fps[1:]:
        cli(homes[0], "circle", "add", circle_name, fp)
    circle = json.loads(cli(homes[0], "circle", "show", circle_name, "--json").stdout)["id"]
    daemons = []
    logs = []
    for home in homes:
        log = open(tmp_path / f"{home.name}.log", "w")  # noqa: SIM115 - closed below
        logs.append(log)
        daemons.append(
            subprocess.Popen(
                [
                    *PLNTUI,
                    "--home",
                    str(home),
                    "sync",
                    "--listen",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        )
    samples: list[list[int]] = [[] for _ in homes]
    try:
        wait_until(
            lambda: all(manifest(h, circle) for h in homes), 90, "every peer to get the circle"
        )
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(home), circle, str(EDITS), str(SECONDS), str(i)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, home in enumerate(homes)
        ]
        started = time.monotonic()
        cli_edits = 0
        while any(w.poll() is None for w in writers):
            for k, daemon in enumerate(daemons):
                assert daemon.poll() is None, f"daemon {k} died"
                samples[k].append(rss_kib(daemon.pid))
            if cli_edits < 10 and time.monotonic() - started > 3 * cli_edits:
                home = homes[cli_edits % PEERS]  # CLI processes write too, beside the writers
                cli(home, "contact", "add", "--name", f"cli {cli_edits}", "--circle", circle)
                cli_edits += 1
            time.sleep(1.0)
            assert time.monotonic() - started < SECONDS * 4, "the writers are far too slow"
        for writer in writers:
            out, err = writer.communicate(timeout=30)
            assert writer.returncode == 0 and "DONE" in out, err[-2000:]

        def converged() -> bool:
            first = manifest(homes[0], circle)
            return all(manifest(h, circle) == first for h in homes[1:])

        wait_until(converged, 120, "five peers to converge")
        for k, daemon in enumerate(daemons):
            samples[k].append(rss_kib(daemon.pid))
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
        for log in logs:
            log.close()
    # identical documents everywhere, and every write of every peer made it
    names = {c["name"] for c in json.loads(cli(homes[0], "contact", "list", "--json").stdout)}
    assert {f"cli {n}" for n in range(10)} <= names
    for k in range(PEERS):
        assert any(name.startswith(f"p{k} contact") for name in names)
    # memory: after the first third the daemons hold steady (no growth with every edit)
    for k, series in enumerate(samples):
        third = max(1, len(series) // 3)
        steady = statistics.median(series[third : 2 * third] or series)
        assert max(series[2 * third :]) < steady * 1.3 + 20 * 1024, (k, series)
