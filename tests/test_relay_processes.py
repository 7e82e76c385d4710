"""Pairing and syncing through a real transit relay on 127.0.0.1, as users do it: ``plntui``
processes with discovery off and no address of each other, only ``plntui relay set``.

Alice pairs with Bob and with Carol by code through the relay (``plntui pair --relay``); then
the three ``plntui sync`` daemons meet there, and what Carol adds reaches Bob through Alice.
Pairing through a relay that is not one, or that hangs up, fails in one line."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.processes import PLNTUI, cli
from tests.test_recovery_processes import free_port, wait_until
from tests.transit_relay import TransitRelay

pytestmark = pytest.mark.slow


def profile(root: Path, name: str, relay: str) -> Path:
    home = root / name
    cli(home, "init", "--name", name)
    cli(home, "relay", "set", relay)
    return home


def pair_by_relay(inviter: Path, joiner: Path) -> str:
    """``plntui pair --relay`` on one side, ``plntui pair CODE --relay`` on the other."""
    invite = subprocess.Popen(
        [*PLNTUI, "--home", str(inviter), "pair", "--relay", "--no-discovery", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert invite.stdout is not None
        code = ""
        for line in invite.stdout:
            if line.startswith("Pairing code: "):
                code = line.split(": ", 1)[1].strip()
                break
        assert code, "no pairing code shown"
        joined = cli(
            joiner, "pair", code, "--relay", "--no-discovery", "--port", "0", "--timeout", "30"
        )
        assert "Paired with" in joined.stdout
        rest, _ = invite.communicate(timeout=60)
        assert invite.returncode == 0, rest
        assert "Paired with" in rest
        return joined.stdout
    finally:
        if invite.poll() is None:
            invite.kill()
            invite.wait()


@contextmanager
def daemons(root: Path, *homes: Path) -> Iterator[None]:
    with ExitStack() as stack:
        for home in homes:
            log = stack.enter_context(open(root / f"{home.name}.log", "a"))  # noqa: SIM115
            proc = subprocess.Popen(
                [
                    *PLNTUI,
                    "--home",
                    str(home),
                    "sync",
                    "--no-discovery",
                    "--listen",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            stack.callback(_end, proc)
        yield


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def circles(home: Path) -> set[str]:
    return {c["name"] for c in json.loads(cli(home, "circle", "list", "--json").stdout)}


def names(home: Path) -> set[str]:
    listed = cli(home, "contact", "list", "--json")
    return {c["name"] for c in json.loads(listed.stdout)}


def test_three_colleagues_pair_and_sync_through_the_relay_alone(
    tmp_path: Path, transit: TransitRelay
) -> None:
    relay = transit.address.text
    alice, bob, carol = (profile(tmp_path, n, relay) for n in ("alice", "bob", "carol"))
    pair_by_relay(alice, bob)
    pair_by_relay(alice, carol)
    for home in (alice, bob, carol):
        peers = json.loads(cli(home, "peer", "list", "--json").stdout)
        assert all(not p.get("addresses") for p in peers), peers  # no address anywhere
    circle = cli(alice, "circle", "default").stdout.strip()
    with daemons(tmp_path, alice, bob, carol):
        for home in (bob, carol):  # Alice's circle (she added both when they paired) arrives
            wait_until(
                lambda home=home: circle in circles(home),
                60,
                f"Alice's circle at {home.name}",
                tmp_path,
            )
        cli(carol, "contact", "add", "--name", "Relayed Rosa", "--circle", circle)
        cli(bob, "contact", "add", "--name", "Bob's Bea", "--circle", circle)
        wait_until(lambda: "Relayed Rosa" in names(bob), 60, "Carol's contact at Bob", tmp_path)
        wait_until(lambda: "Bob's Bea" in names(carol), 60, "Bob's contact at Carol", tmp_path)
        rosa = next(
            c["id"]
            for c in json.loads(cli(bob, "contact", "list", "--json").stdout)
            if c["name"] == "Relayed Rosa"
        )
        cli(bob, "contact", "edit", rosa, "--role", "Relay engineer")
        wait_until(
            lambda: any(
                c["name"] == "Relayed Rosa" and c.get("role") == "Relay engineer"
                for c in json.loads(cli(carol, "contact", "list", "--json").stdout)
            ),
            60,
            "Bob's edit at Carol",
            tmp_path,
        )
    logs = "\n".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert "relay" in logs


class FakeRelay:
    """A TCP server on 127.0.0.1 that answers the relay request with ``answer`` (or hangs up)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = int(self.server.getsockname()[1])
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                with contextlib.suppress(OSError):
                    conn.recv(200)
                    conn.sendall(self.answer)

    def __enter__(self) -> FakeRelay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(10)
        self.server.close()


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "does not speak the transit relay protocol"),
        (b"", "closed the connection"),
    ],
)
def test_joining_through_a_relay_that_is_not_one_fails_in_one_line(
    tmp_path: Path, answer: bytes, said: str
) -> None:
    with FakeRelay(answer) as fake:
        bob = profile(tmp_path, "bob", f"tcp:127.0.0.1:{fake.port}")
        before = cli(bob, "peer", "list", "--json").stdout
        result = cli(
            bob, "pair", "42-7KQM-D3XA", "--relay", "--no-discovery", "--port", "0", check=False
        )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and said in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert cli(bob, "peer", "list", "--json").stdout == before
