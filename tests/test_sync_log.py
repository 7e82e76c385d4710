"""``plntui sync`` as a real process prints each event once, with the time, on standard output.

The engine logs every event and the runner prints it; a refusal used to reach the terminal a
second time, on standard error and without the time, through Python's last-resort log handler.
No discovery here: the peers are reached by address on loopback.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sync.fingerprint import parse_fingerprint
from tests.processes import PLNTUI, cli

STAMP = re.compile(r"^\d\d:\d\d:\d\d (.*)$")


def make_peer(root: Path, name: str) -> tuple[Path, str]:
    home = root / name
    cli(home, "init", "--name", name)
    return home, cli(home, "id").stdout.splitlines()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reach_at(home: Path, fingerprint: str, address: str) -> None:
    """Remember ``address`` for a trusted peer without asking whoever answers there (``peer
    add`` would refuse a device that proves another fingerprint)."""
    from plntui.peersync import open_trust

    open_trust(home).add_address(parse_fingerprint(fingerprint), address)


def sync_once(home: Path) -> subprocess.CompletedProcess[str]:
    return cli(
        home, "sync", "--once", "--no-discovery", "--port", "0", "--timeout", "5", check=False
    )


def events(stdout: str) -> list[str]:
    """The timestamped lines, without their time."""
    return [m.group(1) for line in stdout.splitlines() if (m := STAMP.match(line))]


def assert_each_line_once(text: str) -> None:
    repeated = {line: n for line, n in Counter(text.splitlines()).items() if n > 1}
    assert not repeated, text


@contextmanager
def daemon(home: Path, port: int) -> Iterator[tuple[Path, Path]]:
    """``plntui sync`` on ``port`` until the block ends: (its stdout file, its stderr file)."""
    stdout, stderr = home.parent / f"{home.name}.out", home.parent / f"{home.name}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        proc = subprocess.Popen(
            [*PLNTUI, "--home", str(home), "sync", "--no-discovery"]
            + ["--listen", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while "listening on" not in stdout.read_text():
                assert proc.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, "the daemon did not start"
                time.sleep(0.1)
            yield stdout, stderr
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_sync_once_with_no_peer_prints_each_line_once(tmp_path: Path) -> None:
    home, _ = make_peer(tmp_path, "alice")
    result = sync_once(home)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert_each_line_once(result.stdout)
    assert [e.split(" ")[0] for e in events(result.stdout)] == ["listening"]
    assert result.stdout.splitlines()[-1] == "0 of 0 peer(s) in sync"


def test_sync_once_with_an_unreachable_peer_prints_each_line_once(tmp_path: Path) -> None:
    alice, bob = make_peer(tmp_path, "alice"), make_peer(tmp_path, "bob")
    cli(alice[0], "peer", "trust", bob[1], "--name", "bob")
    reach_at(alice[0], bob[1], f"127.0.0.1:{free_port()}")  # nobody listens there
    result = sync_once(alice[0])
    assert result.returncode == 1
    assert result.stderr == ""
    assert_each_line_once(result.stdout)
    assert "connection refused" in result.stdout
    # nobody answering is being offline, not a failure
    assert any(
        line.startswith("bob ") and " offline: cannot connect" in line
        for line in result.stdout.splitlines()
    )
    assert "failed" not in result.stdout
    assert result.stdout.splitlines()[-1] == "0 of 1 peer(s) in sync; 1 offline"


def test_refusals_are_printed_once_with_their_time(tmp_path: Path) -> None:
    """Refusals are the engine's warnings: the events that used to be printed twice."""
    alice, bob = make_peer(tmp_path, "alice"), make_peer(tmp_path, "bob")
    carol = make_peer(tmp_path, "carol")
    cli(alice[0], "peer", "trust", bob[1], "--name", "bob")
    cli(alice[0], "peer", "trust", carol[1], "--name", "carol")
    port = free_port()
    reach_at(alice[0], bob[1], f"127.0.0.1:{port}")
    reach_at(alice[0], carol[1], f"127.0.0.1:{port}")  # bob's daemon answers in carol's place
    with daemon(bob[0], port) as (bob_out, bob_err):
        result = sync_once(alice[0])
        time.sleep(1.0)  # bob's daemon logs what it refused as the connections end
        bob_stdout, bob_stderr = bob_out.read_text(), bob_err.read_text()
    # alice dials carol's address and bob's certificate answers: refused on the dialling side
    # (the engine may try twice: each try is one line)
    assert result.returncode == 1
    assert result.stderr == ""
    assert any(e.startswith("refused") and "impersonating" in e for e in events(result.stdout))
    summary = result.stdout.splitlines()[-3:]
    assert [line.split()[0] for line in summary] == ["bob", "carol", "0"], result.stdout
    assert all(STAMP.match(line) for line in result.stdout.splitlines()[:-3]), result.stdout
    # bob, the daemon, does not trust alice: refused on the listening side
    assert bob_stderr == ""
    assert any(e.startswith("refused") for e in events(bob_stdout)), bob_stdout
    assert all(STAMP.match(line) for line in bob_stdout.splitlines()), bob_stdout
