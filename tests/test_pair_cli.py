"""``plntui pair``: its refusals in-process, and two real processes pairing inside a private LAN.

The process tests re-run themselves inside a private network namespace (tests/lan.py), as
tests/test_sync_processes.py does: the inviter announces its nameplate over mDNS there only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from plntui.cli import main
from sync.identity import Identity
from sync.trust import TrustStore
from tests.lan import reruns_in_lan
from tests.processes import PLNTUI, cli

HERE = Path(__file__).resolve()


def pair(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["--home", str(home), "pair", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def alice(home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["--home", str(home), "init", "--name", "Alice"]) == 0
    capsys.readouterr()
    return home


def untouched(home: Path) -> None:
    """No peer was added and no session is left claimed."""
    assert TrustStore(home / "peers.json").peers() == []
    assert main(["--home", str(home), "contact", "list"]) == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["42-7KQM-D3XU"], "is not a pairing code: it contains 'U'"),
        (["hello"], "'hello' is not a pairing code"),
        (["4-7KQM-D3XA"], "a pairing code looks like 42-7KQM-D3XA"),
        (["--address", "127.0.0.1:47600"], "--address is for joining"),
        (["42-7KQM-D3XA", "--address", "nowhere"], "nowhere"),
        (["42-7KQM-D3XA", "--no-discovery"], "give the inviter's --address HOST:PORT"),
        (["--no-discovery"], "an invite needs LAN discovery"),
        (["--timeout", "0"], "--timeout must be between 0 and 3600"),
        (["--timeout", "7200"], "--timeout must be between 0 and 3600"),
    ],
)
def test_bad_arguments_are_refused_in_one_line_and_change_nothing(
    alice: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    status, out, err = pair(alice, capsys, *args)
    assert status == 2, (out, err)
    assert says in err and err.startswith("plntui: error: ") and err.count("\n") == 1
    assert out == ""
    untouched(alice)


def test_a_bad_code_is_refused_before_any_profile_is_needed(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = pair(home, capsys, "42-7KQM")
    assert status == 2 and "is not a pairing code" in err
    assert not home.exists()


def test_joining_an_address_where_nobody_listens_fails_plainly(
    alice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status, out, err = pair(
        alice,
        capsys,
        "42-7kqm-d3xa",
        "--address",
        f"127.0.0.1:{port}",
        "--no-discovery",
        "--listen",
        "127.0.0.1",
        "--port",
        "0",
    )
    assert status == 1, (out, err)
    assert f"pairing failed: cannot connect to 127.0.0.1:{port}" in err
    assert "Paired" not in out
    assert TrustStore(alice / "peers.json").peers() == []


# -- real processes inside a private LAN ----------------------------------------------------------


def in_lan(test: Callable[[Path], None]) -> Callable[[Path], None]:
    """Run the test body inside a private namespace (re-running this test there)."""
    return pytest.mark.slow(reruns_in_lan(180)(test))


def run(home: Path, *args: str) -> str:
    """``plntui`` in this process (quicker than a new one); its standard output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--home", str(home), *args]) == 0
    return out.getvalue()


def trusted(home: Path) -> dict[str, bytes | None]:
    """Who ``home`` trusts: name -> pinned certificate."""
    return {p.display_name: p.cert for p in TrustStore(home / "peers.json").peers() if p.trusted}


def start_inviter(home: Path) -> tuple[subprocess.Popen[str], str, int]:
    """``plntui pair`` on loopback; returns the process, its code and its port."""
    proc = subprocess.Popen(
        [*PLNTUI, "--home", str(home), "pair", "--listen", "127.0.0.1", "--port", "0"]
        + ["--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # nothing lost if it must be killed
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    code = re.search(r"Pairing code: (\d\d-\w{4}-\w{4})", lines[0])
    port = re.search(r"Waiting on port (\d+)", lines[2])
    assert code and port, lines
    assert f"plntui pair {code.group(1)}" in lines[1]
    return proc, code.group(1), int(port.group(1))


def finish(
    proc: subprocess.Popen[str], joined: subprocess.CompletedProcess[str]
) -> tuple[str, str]:
    """The inviter's remaining output once it exits (what it said so far if it hangs)."""
    try:
        return proc.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"the inviter did not exit:\n{out}\n{err}\njoiner:\n{joined.stdout}\n{joined.stderr}"
        ) from None


def safety(out: str) -> str:
    found = re.search(r"Safety number: ((?:\d{5} ){5}\d{5})", out)
    assert found, out
    return found.group(1)


def names(home: Path) -> set[str]:
    return {c["name"] for c in json.loads(run(home, "contact", "list", "--json"))}


@in_lan
def test_two_processes_pair_by_code_and_sync(tmp_path: Path) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    run(alice, "init", "--name", "Alice")
    run(bob, "init", "--name", "Bob")
    run(alice, "contact", "add", "--name", "Ada Lovelace")
    inviter, code, _ = start_inviter(alice)
    try:
        joined = cli(bob, "pair", code.lower(), "--listen", "127.0.0.1", "--port", "0", check=False)
        out, err = finish(inviter, joined)
    finally:
        inviter.kill()
    assert joined.returncode == 0, (joined.stdout, joined.stderr, out, err)
    assert inviter.returncode == 0, (out, err)
    assert "Paired with Bob" in out and "Paired with Alice" in joined.stdout
    assert safety(out) == safety(joined.stdout)
    assert "In sync with Bob." in out and "In sync with Alice." in joined.stdout
    assert "Ada Lovelace" in names(bob)
    # both devices now trust each other, with certificates
    assert list(trusted(alice)) == ["Bob"] and list(trusted(bob)) == ["Alice"]
    assert trusted(alice)["Bob"] == Identity.load(bob / "identity").cert_der
    assert trusted(bob)["Alice"] == Identity.load(alice / "identity").cert_der


@in_lan
def test_a_wrong_code_fails_both_processes(tmp_path: Path) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    run(alice, "init", "--name", "Alice")
    run(bob, "init", "--name", "Bob")
    inviter, code, port = start_inviter(alice)
    typo = code[:-1] + ("1" if code[-1] != "1" else "2")
    try:
        joined = cli(
            bob,
            "pair",
            typo,
            "--address",
            f"127.0.0.1:{port}",
            "--no-discovery",
            "--listen",
            "127.0.0.1",
            "--port",
            "0",
            check=False,
        )
        out, err = finish(inviter, joined)
    finally:
        inviter.kill()
    assert joined.returncode != 0 and "pairing failed" in joined.stderr, (joined, out, err)
    assert "did not match" in joined.stderr
    assert inviter.returncode != 0 and "pairing failed" in err, (out, err)
    assert "Paired" not in out + joined.stdout
    assert trusted(alice) == {} and trusted(bob) == {}
