"""History and recovery across real processes: ``plntui sync`` daemons on loopback (no
discovery: each link is set up with ``plntui peer add``), edits and decisions through the CLI.

Each test checks what every profile ends with, read back through the CLI: held mass deletions
accepted and refused, one relayed by a third device, undoing a device, conflicts resolved on
both sides, a restore of a note merging with the other side's typing, and the trash after a
deletion reached every peer.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.processes import PLNTUI, cli

pytestmark = pytest.mark.slow
CIRCLE = "alice's circle"  # the circle every team shares (its first member's default)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Team:
    """Profiles made with ``plntui init``, all trusting each other, all members of the first
    one's default circle; ``links`` says which pairs may dial each other."""

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root = root
        self.homes = {n: root / n for n in names}
        self.fps: dict[str, str] = {}
        self.ports = {n: free_port() for n in names}
        for name, home in self.homes.items():
            cli(home, "init", "--name", name)
            self.fps[name] = cli(home, "id").stdout.splitlines()[0]
        first = names[0]
        circle = cli(self.homes[first], "circle", "default").stdout.strip()
        for x in names:
            for y in names:
                if x == y:
                    continue
                extra = ["--circle", circle] if x == first else []
                cli(self.homes[x], "peer", "trust", self.fps[y], "--name", y, *extra)

    def __getitem__(self, name: str) -> Path:
        return self.homes[name]

    @contextmanager
    def running(self, *links: tuple[str, str]) -> Iterator[None]:
        """Every profile's ``plntui sync`` daemon; each link ``(x, y)``: x knows y's address."""
        with ExitStack() as stack:
            for name in self.homes:
                stack.enter_context(self._daemon(name))
            for x, y in links:
                wait_until(
                    lambda x=x, y=y: (
                        cli(  # type: ignore[misc]
                            self.homes[x], "peer", "add", f"127.0.0.1:{self.ports[y]}", check=False
                        ).returncode
                        == 0
                    ),
                    30,
                    f"{x} to reach {y}",
                    self.root,
                )
            yield

    @contextmanager
    def _daemon(self, name: str) -> Iterator[None]:
        log = open(self.root / f"{name}.log", "a")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [
                *PLNTUI,
                "--home",
                str(self.homes[name]),
                "sync",
                "--no-discovery",
                "--listen",
                "127.0.0.1",
                "--port",
                str(self.ports[name]),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def wait_until(condition: Callable[[], bool], seconds: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    text = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{text}")


def as_json(home: Path, *args: str) -> Any:
    return json.loads(cli(home, *args, "--json").stdout)


def contacts(home: Path) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in as_json(home, "contact", "list")}


def add_contacts(home: Path, names: list[str]) -> None:
    """Contacts added in one batch, as an import does."""
    path = home.parent / f"{home.name}-import.json"
    path.write_text(json.dumps([{"name": n} for n in names]))
    cli(home, "import", str(path))


def body(home: Path, note: str) -> str | None:
    """The note's body, or None while this profile does not have the note."""
    shown = cli(home, "note", "show", note, "--json", check=False)
    return str(json.loads(shown.stdout)["body"]) if shown.returncode == 0 else None


def held(home: Path) -> list[dict[str, Any]]:
    return list(as_json(home, "held"))


def test_a_mass_deletion_is_held_then_refused_or_accepted_and_every_replica_converges(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path, ["alice", "bob"])
    alice, bob = team["alice"], team["bob"]
    people = [f"Person {n:02d}" for n in range(20)]
    add_contacts(alice, people)
    cli(alice, "held", "threshold", "--count", "3", "--percent", "10")
    with team.running(("bob", "alice")):
        wait_until(lambda: set(people) <= set(contacts(bob)), 60, "bob's copy", tmp_path)
        ids = {name: c["id"] for name, c in contacts(bob).items()}
        for name in people[:6]:  # more than 3 items and 10 % of the circle: held at alice
            cli(bob, "contact", "rm", ids[name])
        wait_until(lambda: bool(held(alice)), 60, "a held batch at alice", tmp_path)
        batch = held(alice)[0]
        assert batch["author"] == "bob" and batch["via"] == "bob"
        assert {d["name"] for d in batch["deletes"]} <= set(people[:6])
        waiting = batch["waiting_changes"]
        cli(bob, "contact", "add", "--name", "Added after the deletions", "--circle", CIRCLE)
        wait_until(
            lambda: held(alice)[0]["waiting_changes"] > waiting,
            30,
            "bob's later change to wait with the batch",
            tmp_path,
        )
        assert "Added after the deletions" not in contacts(alice)
        refused = cli(alice, "held", "refuse", batch["id"])
        assert "are back" in refused.stdout
        # the items come back everywhere, and the device's later change arrives
        wait_until(
            lambda: set(people) <= set(contacts(alice)) and set(people) <= set(contacts(bob)),
            60,
            "the deleted contacts back on both",
            tmp_path,
        )
        wait_until(
            lambda: "Added after the deletions" in contacts(alice), 30, "the later change", tmp_path
        )
        assert held(alice) == []
        # the next mass deletion, accepted this time
        ids = {name: c["id"] for name, c in contacts(bob).items()}
        for name in people[10:16]:
            cli(bob, "contact", "rm", ids[name])
        wait_until(lambda: bool(held(alice)), 60, "a second held batch", tmp_path)
        cli(alice, "held", "accept", held(alice)[0]["id"])
        wait_until(
            lambda: not set(people[10:16]) & set(contacts(alice)),
            30,
            "the accepted deletions at alice",
            tmp_path,
        )
        wait_until(
            lambda: set(contacts(alice)) == set(contacts(bob)), 30, "both to agree", tmp_path
        )
    assert set(people[:10]) <= set(contacts(alice))
    trash = {t["name"] for t in as_json(alice, "trash")}
    assert set(people[10:16]) <= trash  # accepted deletions are restorable


def test_a_mass_deletion_relayed_by_another_peer_is_held_with_its_author(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path, ["alice", "bob", "carol"])
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    people = [f"Person {n:02d}" for n in range(20)]
    add_contacts(alice, people)
    cli(alice, "held", "threshold", "--count", "3", "--percent", "10")
    cli(bob, "held", "threshold", "--count", "1000000", "--percent", "100")  # bob relays it
    with team.running(("bob", "alice"), ("carol", "bob")):  # alice and carol never link
        wait_until(lambda: set(people) <= set(contacts(carol)), 90, "carol's copy", tmp_path)
        ids = {name: c["id"] for name, c in contacts(carol).items()}
        for name in people[:6]:
            cli(carol, "contact", "rm", ids[name])
        wait_until(
            lambda: not set(people[:6]) & set(contacts(bob)), 60, "bob to apply it", tmp_path
        )
        wait_until(lambda: bool(held(alice)), 60, "a held batch at alice", tmp_path)
        batch = held(alice)[0]
        assert batch["author"] == "carol"  # who wrote it, not who brought it
        assert batch["via"] == "bob"
        cli(alice, "held", "refuse", batch["id"])
        wait_until(
            lambda: set(people) <= set(contacts(carol)),
            90,
            "the refusal to reach carol through bob",
            tmp_path,
        )
    never = {p["name"]: p["last_sync"] for p in as_json(carol, "peer", "list")}
    assert never["alice"] is None  # what carol got of alice's circle came through bob


def test_undoing_a_device_restores_its_changes_but_keeps_a_later_edit_by_someone_else(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path, ["alice", "bob"])
    alice, bob = team["alice"], team["bob"]
    for name, role in (("Ada", "Engineer"), ("Grace", "Admiral"), ("Linus", "Maintainer")):
        cli(alice, "contact", "add", "--name", name, "--role", role)
    with team.running(("bob", "alice")):
        wait_until(lambda: len(contacts(bob)) == 3, 60, "bob's copy", tmp_path)
        ids = {name: c["id"] for name, c in contacts(bob).items()}
        cli(bob, "contact", "edit", ids["Ada"], "--role", "Vandal")
        cli(bob, "contact", "edit", ids["Grace"], "--role", "Vandal")
        cli(bob, "contact", "rm", ids["Linus"])
        wait_until(
            lambda: (
                "Linus" not in contacts(alice)
                and contacts(alice)["Ada"].get("role") == "Vandal"
                and contacts(alice)["Grace"].get("role") == "Vandal"
            ),
            60,
            "bob's changes at alice",
            tmp_path,
        )
        cli(alice, "contact", "edit", ids["Grace"], "--role", "Rear admiral")  # later, by alice
    cli(alice, "peer", "revoke", team.fps["bob"])
    today = time.strftime("%Y-%m-%d", time.gmtime())
    undone = cli(alice, "peer", "undo", team.fps["bob"], "--since", today)
    now = contacts(alice)
    assert now["Ada"]["role"] == "Engineer"  # bob's edit undone
    assert now["Linus"]["role"] == "Maintainer"  # bob's deletion undone
    assert now["Grace"]["role"] == "Rear admiral"  # alice's later edit kept
    assert "Grace" in undone.stdout and "left as" in undone.stdout


def test_concurrent_edits_from_two_processes_are_conflicts_until_one_side_resolves(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path, ["alice", "bob"])
    alice, bob = team["alice"], team["bob"]
    cli(alice, "contact", "add", "--name", "Ada", "--role", "Engineer")
    with team.running(("bob", "alice")):
        wait_until(lambda: "Ada" in contacts(bob), 60, "bob's copy", tmp_path)
    ada = contacts(alice)["Ada"]["id"]
    cli(alice, "contact", "edit", ada, "--role", "Staff engineer")  # both offline
    cli(bob, "contact", "edit", ada, "--role", "Principal")

    def conflicted(home: Path) -> list[dict[str, Any]]:
        return [c for c in as_json(home, "conflicts") if c["id"] == ada]

    with team.running(("bob", "alice")):
        wait_until(
            lambda: bool(conflicted(alice)) and bool(conflicted(bob)),
            60,
            "the conflict on both sides",
            tmp_path,
        )
        found = conflicted(alice)[0]
        assert found["field"] == "role"
        assert {(v["value"], v["by"]) for v in found["values"]} == {
            ("Staff engineer", "alice"),
            ("Principal", "bob"),
        }
        shown = contacts(alice)["Ada"]["role"]
        assert found["values"][0]["value"] == shown  # the shown value comes first
        pick = 2 if found["values"][1]["value"] == "Principal" else 1
        cli(alice, "conflicts", "resolve", ada, "role", "--pick", str(pick))
        wait_until(
            lambda: (
                not conflicted(alice)
                and not conflicted(bob)
                and contacts(bob)["Ada"]["role"] == "Principal"
            ),
            60,
            "the resolution on both sides",
            tmp_path,
        )
    assert contacts(alice)["Ada"]["role"] == "Principal"
    bad = cli(alice, "conflicts", "resolve", ada, "role", "--pick", "1", check=False)
    assert bad.returncode == 2 and "has a conflict" in bad.stderr


def test_restoring_an_old_note_version_merges_with_the_other_sides_typing(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path, ["alice", "bob"])
    alice, bob = team["alice"], team["bob"]
    cli(alice, "note", "add", "--title", "Plan", "--body", "alpha beta")
    note = as_json(alice, "note", "list")[0]["id"]
    first = as_json(alice, "history", "note", note)[-1]["version"]
    cli(alice, "note", "edit", note, "--body", "alpha beta gamma")
    with team.running(("bob", "alice")):
        wait_until(lambda: "gamma" in (body(bob, note) or ""), 60, "bob's copy", tmp_path)
    # at the same time: alice restores the first version, bob types at the start
    cli(alice, "restore", "note", note, first)
    cli(bob, "note", "edit", note, "--body", "BOB alpha beta gamma")
    with team.running(("bob", "alice")):
        wait_until(
            lambda: body(alice, note) == body(bob, note), 60, "both sides to agree", tmp_path
        )
    assert body(alice, note) == "BOB alpha beta"  # bob's word kept, the restore's removal too


def test_a_deletion_that_reached_every_peer_is_restored_from_the_trash_everywhere(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path, ["alice", "bob", "carol"])
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    cli(alice, "contact", "add", "--name", "Elif Demir", "--org", "Acme")
    with team.running(("bob", "alice"), ("carol", "bob")):
        wait_until(lambda: "Elif Demir" in contacts(carol), 90, "carol's copy", tmp_path)
        elif_id = contacts(carol)["Elif Demir"]["id"]
        cli(carol, "contact", "rm", elif_id)
        wait_until(
            lambda: all("Elif Demir" not in contacts(h) for h in (alice, bob)),
            60,
            "the deletion everywhere",
            tmp_path,
        )
        trash = as_json(alice, "trash")
        assert [(t["id"], t["kind"], t["name"], t["deleted_by"]) for t in trash] == [
            (elif_id, "contact", "Elif Demir", "carol")
        ]
        news = cli(alice, "whatsnew").stdout
        assert "carol deleted contact Elif Demir" in news and "trash restore" in news
        cli(alice, "trash", "restore", elif_id)
        wait_until(
            lambda: all(
                contacts(h).get("Elif Demir", {}).get("org") == "Acme" for h in (bob, carol)
            ),
            60,
            "the restored contact everywhere",
            tmp_path,
        )
    assert as_json(alice, "trash") == []
    assert contacts(alice)["Elif Demir"]["id"] == elif_id  # the same contact, not a copy
