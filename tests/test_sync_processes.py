"""Real ``plntui`` processes syncing over TLS on loopback, found by zeroconf.

Each test re-runs itself inside a private network namespace (tests/lan.py): discovery never
touches a real interface, and the tests fail (never skip) when no namespace can be made.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.lan import reruns_in_lan
from tests.processes import PLNTUI, cli

HERE = Path(__file__).resolve()

pytestmark = pytest.mark.slow


in_lan = reruns_in_lan(240)
"""Run the test body inside a private namespace (re-running this test there)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_peer(root: Path, name: str) -> tuple[Path, str]:
    home = root / name
    cli(home, "init", "--name", name)
    return home, cli(home, "id").stdout.splitlines()[0]


def trust(a: tuple[Path, str], b: tuple[Path, str], share: bool = True) -> None:
    """``a`` trusts ``b`` and, with ``share``, adds it to ``a``'s default circle."""
    circle = default_circle(a[0])
    extra = ["--circle", circle] if share else []
    cli(a[0], "peer", "trust", b[1], "--name", b[0].name, *extra)


def default_circle(home: Path) -> str:
    return cli(home, "circle", "default").stdout.strip()


def circle_id(home: Path, name: str) -> str | None:
    for circle in json.loads(cli(home, "circle", "list", "--json").stdout):
        if circle["name"] == name:
            return str(circle["id"])
    return None


@contextmanager
def daemons(
    *homes: Path, discovery: bool = True, command: list[str] = PLNTUI
) -> Iterator[dict[Path, int]]:
    ports = {home: free_port() for home in homes}
    procs = []
    for home in homes:
        args = ["sync", "--listen", "127.0.0.1", "--port", str(ports[home])]
        if not discovery:
            args.append("--no-discovery")
        log = open(home.parent / f"{home.name}.log", "w")  # noqa: SIM115 - closed below
        procs.append(
            (
                subprocess.Popen(
                    [*command, "--home", str(home), *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                ),
                log,
            )
        )
    try:
        yield ports
    finally:
        for proc, _log in procs:
            proc.terminate()
        for proc, log in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def names(home: Path) -> set[str]:
    return {c["name"] for c in json.loads(cli(home, "contact", "list", "--json").stdout)}


def wait_until(condition: Callable[[], bool], seconds: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    text = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{text}")


@in_lan
def test_two_processes_discover_each_other_and_merge_concurrent_edits(tmp_path: Path) -> None:
    alice, bob = make_peer(tmp_path, "alice"), make_peer(tmp_path, "bob")
    trust(alice, bob)
    trust(bob, alice)
    cli(
        alice[0],
        "contact",
        "add",
        "--name",
        "Ada From Alice",
        "--topic",
        "rust",
        "--phone",
        "+44 20 7946 0000",
        "--private-field",
        "phones",
        "--remark",
        "secret words",
    )
    cli(alice[0], "contact", "add", "--name", "Alice's Private Contact", "--private")
    cli(bob[0], "contact", "add", "--name", "Grace From Bob")
    note = cli(alice[0], "note", "add", "--title", "Shared", "--body", "hello world").stdout
    note_id = note.strip().rsplit("(", 1)[1].rstrip(")")
    both = {"Ada From Alice", "Grace From Bob"}
    alices = both | {"Alice's Private Contact"}
    with daemons(alice[0], bob[0]):
        wait_until(
            lambda: names(alice[0]) == alices and names(bob[0]) == both,
            30,
            "the first sync",
            tmp_path,
        )
        # Private data never leaves the device: not the private contact, field or remark.
        ada = json.loads(cli(bob[0], "search", "ada", "--json").stdout)["contacts"][0]
        assert ada["phones"] == [] and ada["remark"] == ""
        for path in bob[0].glob("*.sqlite3*"):
            data = path.read_bytes()
            assert b"7946" not in data and b"secret words" not in data, path
        cli(bob[0], "contact", "add", "--name", "Live From Bob")  # pushed while running
        wait_until(lambda: "Live From Bob" in names(alice[0]), 10, "a live push", tmp_path)

    def bodies() -> set[str]:
        return {
            json.loads(cli(h, "note", "show", note_id, "--json").stdout)["body"]
            for h in (alice[0], bob[0])
        }

    assert bodies() == {"hello world"}
    # Both edit the same note at the same time (neither sees the other's edit), in two places.
    cli(alice[0], "note", "edit", note_id, "--body", "hello brave world")
    cli(bob[0], "note", "edit", note_id, "--body", "hello world!")
    with daemons(alice[0], bob[0]):
        wait_until(lambda: bodies() == {"hello brave world!"}, 30, "the note to merge", tmp_path)
    listed = json.loads(cli(bob[0], "peer", "list", "--json").stdout)
    assert listed[0]["name"] == "alice" and listed[0]["last_sync"]


@in_lan
def test_three_peers_pass_a_circle_on_only_to_its_members(tmp_path: Path) -> None:
    a, b, c = (make_peer(tmp_path, n) for n in ("a", "b", "c"))
    for x, y in ((a, b), (b, a), (b, c), (c, b)):  # a and c never meet
        trust(x, y, share=False)
    cli(a[0], "circle", "create", "Team")
    cli(a[0], "circle", "add", "Team", b[1])
    cli(a[0], "contact", "add", "--name", "From A", "--circle", "Team")
    cli(a[0], "contact", "add", "--name", "Only For A")  # a's own circle: nobody else's
    with daemons(a[0], b[0], c[0]):
        wait_until(lambda: circle_id(b[0], "Team") is not None, 40, "b to get Team", tmp_path)
        assert circle_id(c[0], "Team") is None  # not a member: b does not pass it on
        cli(b[0], "circle", "add", "Team", c[1])  # now c is a member
        wait_until(lambda: "From A" in names(c[0]), 40, "Team to travel a-b-c", tmp_path)
        cli(c[0], "contact", "add", "--name", "From C", "--circle", "Team")
        wait_until(lambda: "From C" in names(a[0]), 40, "c's change to travel back", tmp_path)
    assert "Only For A" not in names(b[0]) | names(c[0])


@in_lan
def test_ten_peers_that_edited_offline_converge(tmp_path: Path) -> None:
    peers = [make_peer(tmp_path, f"p{i}") for i in range(10)]
    hub = peers[0]
    for peer in peers[1:]:
        trust(hub, peer)
        trust(peer, hub, share=False)
    team = default_circle(hub[0])
    with daemons(*(home for home, _fp in peers)):
        wait_until(
            lambda: all(circle_id(home, team) for home, _fp in peers),
            90,
            "every peer to join the hub's circle",
            tmp_path,
        )
    for i, (home, _fp) in enumerate(peers):
        cli(home, "contact", "add", "--name", f"Offline edit {i}", "--circle", team)
    wanted = {f"Offline edit {i}" for i in range(10)}
    with daemons(*(home for home, _fp in peers)):
        wait_until(
            lambda: all(names(home) == wanted for home, _fp in peers),
            90,
            "ten peers to converge",
            tmp_path,
        )


@in_lan
def test_peer_add_and_sync_once_without_discovery_then_revoke(tmp_path: Path) -> None:
    alice, bob = make_peer(tmp_path, "alice"), make_peer(tmp_path, "bob")
    trust(alice, bob, share=False)
    trust(bob, alice)
    cli(bob[0], "contact", "add", "--name", "Reached By Address")
    with daemons(bob[0], discovery=False) as ports:
        address = f"127.0.0.1:{ports[bob[0]]}"
        wait_until(
            lambda: cli(alice[0], "peer", "add", address, check=False).returncode == 0,
            20,
            "peer add to reach bob",
            tmp_path,
        )
        once = cli(alice[0], "sync", "--once", "--no-discovery", "--port", "0")
        assert "1 of 1 peer(s) in sync" in once.stdout
        assert names(alice[0]) == {"Reached By Address"}
        cli(alice[0], "peer", "revoke", bob[1])
        cli(bob[0], "contact", "add", "--name", "After Revocation")
        again = cli(alice[0], "sync", "--once", "--no-discovery", "--port", "0", check=False)
        assert "After Revocation" not in names(alice[0])
        assert again.returncode == 0  # no trusted peer left: nothing to do
    stranger = make_peer(tmp_path, "stranger")
    with daemons(stranger[0], discovery=False) as ports:
        address = f"127.0.0.1:{ports[stranger[0]]}"
        wait_until(
            lambda: (
                "which you do not trust"
                in cli(alice[0], "peer", "add", address, check=False).stderr
            ),
            20,
            "a refusal",
            tmp_path,
        )


@in_lan
def test_a_spoofed_announcement_for_a_trusted_peer_fails_the_identity_check(
    tmp_path: Path,
) -> None:
    import asyncio

    from sync.discovery import Discovery
    from sync.fingerprint import parse_fingerprint

    alice, bob = make_peer(tmp_path, "alice"), make_peer(tmp_path, "bob")
    mallory = make_peer(tmp_path, "mallory")
    trust(bob, alice)  # bob trusts alice; alice is not on the network at all
    trust(mallory, bob)
    cli(bob[0], "contact", "add", "--name", "Bob's Own")
    cli(mallory[0], "contact", "add", "--name", "Planted By Mallory")

    async def spoof(port: int) -> None:
        # Mallory announces Alice's name and fingerprint, pointing at Mallory's own daemon.
        fake = Discovery(
            "alice",
            parse_fingerprint(alice[1]),
            port,
            on_change=lambda e: None,
            interfaces=["127.0.0.1"],
        )
        await fake.start()
        try:  # until Bob dialled the announcement and refused what answered
            deadline = time.monotonic() + 30
            while "refused" not in (tmp_path / "bob.log").read_text():
                assert time.monotonic() < deadline, "Bob never refused the spoofed Alice"
                await asyncio.sleep(0.1)
        finally:
            await fake.stop()

    with daemons(bob[0]), daemons(mallory[0], discovery=False) as ports:
        asyncio.run(spoof(ports[mallory[0]]))
        log = (tmp_path / "bob.log").read_text()
    assert "refused" in log and "alice" in log, log
    assert names(bob[0]) == {"Bob's Own"}
    assert "Planted By Mallory" not in names(bob[0])


SLOW_SYNC = """
import sys, time
from sync.session import SyncSession
from plntui.sync_host import RepoHost
real = SyncSession.__init__
def small_batches(self, *args, **kwargs):
    kwargs["batch_bytes"] = 2048  # many frames, each stored slowly: a kill lands mid-transfer
    real(self, *args, **kwargs)
SyncSession.__init__ = small_batches
real_receive = RepoHost.receive_docs
def slow_receive(self, peer, docs):
    time.sleep(0.05)
    return real_receive(self, peer, docs)
RepoHost.receive_docs = slow_receive
from plntui.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@in_lan
def test_a_kill_mid_sync_loses_nothing_and_the_next_sync_resumes(tmp_path: Path) -> None:
    import sys

    alice, bob = make_peer(tmp_path, "alice"), make_peer(tmp_path, "bob")
    trust(alice, bob)
    rows = "".join(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {i}\r\nEND:VCARD\r\n" for i in range(3000)
    )
    cards = tmp_path / "many.vcf"
    cards.write_text(rows, encoding="utf-8")
    cli(alice[0], "import", str(cards))
    with daemons(alice[0], command=[sys.executable, "-c", SLOW_SYNC]) as ports:
        port = ports[alice[0]]
        cli(bob[0], "peer", "trust", alice[1], "--name", "alice")
        wait_until(
            lambda: cli(bob[0], "peer", "add", f"127.0.0.1:{port}", check=False).returncode == 0,
            20,
            "peer add",
            tmp_path,
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SLOW_SYNC,
                "--home",
                str(bob[0]),
                "sync",
                "--no-discovery",
                "--listen",
                "127.0.0.1",
                "--port",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        repo = bob[0] / "repo.sqlite3"

        def stored_shards() -> int:
            import sqlite3

            db = sqlite3.connect(f"file:{repo}?mode=ro", uri=True, timeout=5)
            try:
                return int(
                    db.execute("SELECT count(*) FROM docs WHERE id LIKE 's:%'").fetchone()[0]
                )
            except sqlite3.Error:
                return 0
            finally:
                db.close()

        wait_until(lambda: stored_shards() >= 10, 30, "part of the network to arrive", tmp_path)
        proc.kill()  # kill -9 while whole documents are still arriving
        proc.wait(timeout=10)
        got = len(names(bob[0]))  # the profile opens; what was stored is whole
        assert 0 < got < 3000, got
        once = cli(bob[0], "sync", "--once", "--no-discovery", "--port", "0", "--timeout", "45")
        assert "1 of 1 peer(s) in sync" in once.stdout
        assert len(names(bob[0])) == 3000
