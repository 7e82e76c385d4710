"""Circles: names, membership, moving items between them, and sync that follows membership.

The process test runs real ``plntui sync`` daemons inside the private network namespace
(tests/lan.py) and checks what each profile stores, not only what it lists.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from plntui import layout
from plntui.errors import NotFoundError, ValidationError
from plntui.network import Network
from tests.lan import reruns_in_lan
from tests.processes import PLNTUI, cli
from tests.repo_helpers import copy_docs, join

# -- the domain API --------------------------------------------------------------------------------


def test_a_new_profile_starts_with_one_default_circle(net: Network) -> None:
    circles = net.my_circles()
    assert [c.name for c in circles] == ["Alice's circle"]
    assert net.default_circle().id == circles[0].id
    assert circles[0].has(net.profile.fingerprint)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 61, "too long"),
        ("alice's CIRCLE", "already have a circle named"),
        ("private", "reserved"),
    ],
)
def test_bad_circle_names_are_refused(net: Network, name: str, message: str) -> None:
    before = net.repo.storage.manifest()
    with pytest.raises(ValidationError, match=message):
        net.create_circle(name)
    assert net.repo.storage.manifest() == before


def test_unknown_circles_and_fingerprints_are_refused(net: Network) -> None:
    with pytest.raises(NotFoundError, match="no circle named 'Nowhere'"):
        net.add("contacts", {"name": "Ada"}, circle="Nowhere")
    with pytest.raises(ValidationError, match="not a peer you trust"):
        net.add_member(net.default_circle().id, b"\x01" * 32)
    assert net.contacts() == []


def test_items_move_between_circles_and_keep_their_id_and_talks(net: Network) -> None:
    team = net.create_circle("Team")
    ada = net.add("contacts", {"name": "Ada", "topics": ["rust"]})
    talk = net.log_interaction(ada.id, "call", "shared call", shared=True)
    note = net.add("notes", {"title": "Plan", "body": "hello", "contacts": [ada.id]})
    moved = net.move("contacts", ada.id, "team")
    assert moved.id == ada.id and moved.circle == team.id
    assert net.get("interactions", talk.id).circle == team.id  # its shared talks follow
    old_shard = layout.shard_doc(net.default_circle().id, ada.id)
    with net.lock:
        from plntui import crdt

        assert crdt.item_obj(net.repo.get(old_shard), "contacts", ada.id) is None
    assert net.move("notes", note.id, team.id).values["body"] == "hello"
    assert [r.id for r in net.contacts(circle="Team")] == [ada.id]
    assert net.contacts(circle=net.default_circle().name) == []


def test_nothing_moves_into_a_circle_this_device_is_not_in(tmp_path: Path) -> None:
    a = Network.create(tmp_path / "a", "A")
    b = Network.create(tmp_path / "b", "B")
    join(a, b)
    copy_docs(a, b)
    bobs_view = b.circles()[a.default_circle().id]
    assert bobs_view.member
    b.leave_circle(bobs_view.id)
    ada = b.add("contacts", {"name": "Ada"})
    with pytest.raises(ValidationError, match="not a member"):
        b.move("contacts", ada.id, bobs_view.id)
    shared = a.add("contacts", {"name": "Shared"})
    copy_docs(a, b, [layout.shard_doc(bobs_view.id, shared.id)])
    with pytest.raises(ValidationError, match="no longer a member"):
        b.edit("contacts", shared.id, {"org": "X"})
    assert b.get("contacts", shared.id).label == "Shared"  # read-only, still there


def test_a_peer_gets_only_the_circles_both_are_members_of(tmp_path: Path) -> None:
    from plntui.sync_host import RepoHost

    a = Network.create(tmp_path / "a", "A")
    b = Network.create(tmp_path / "b", "B")
    join(a, b)
    secret = a.create_circle("Only A")
    a.add("contacts", {"name": "In A's circle"})
    a.add("contacts", {"name": "Secret"}, circle=secret.id)
    a.add("contacts", {"name": "Private"}, private=True)
    host = RepoHost(a)
    assert b.profile.fingerprint is not None
    circles = {layout.circle_of(d) for d in host.manifest_for(b.profile.fingerprint)}
    assert circles == {a.default_circle().id}
    assert not host.accepts(b.profile.fingerprint, layout.shard_doc(secret.id, "abcd"))
    assert not host.accepts(b.profile.fingerprint, layout.shard_doc(layout.PRIVATE, "abcd"))
    host.close()


# -- real processes --------------------------------------------------------------------------------

in_lan = reruns_in_lan(240)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def daemons(*homes: Path) -> Iterator[None]:
    procs = []
    for home in homes:
        log = open(home.parent / f"{home.name}.log", "a")  # noqa: SIM115 - closed below
        args = ["sync", "--listen", "127.0.0.1", "--port", str(free_port())]
        procs.append(
            (
                subprocess.Popen(
                    [*PLNTUI, "--home", str(home), *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                ),
                log,
            )
        )
    try:
        yield
    finally:
        for proc, _log in procs:
            proc.terminate()
        for proc, log in procs:
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
    text = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{text}")


def stored_circles(home: Path) -> set[str]:
    """The circles whose documents a profile stores (read from the database itself)."""
    db = sqlite3.connect(f"file:{home / 'repo.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return {row[0] for row in db.execute("SELECT DISTINCT circle FROM docs")}
    finally:
        db.close()


def names(home: Path) -> set[str]:
    return {c["name"] for c in json.loads(cli(home, "contact", "list", "--json").stdout)}


def circle_id(home: Path, name: str) -> str:
    return str(json.loads(cli(home, "circle", "show", name, "--json").stdout)["id"])


@in_lan
def test_circles_sync_only_to_their_members(tmp_path: Path) -> None:
    homes = {}
    fps = {}
    for name in ("a", "b", "c"):
        homes[name] = tmp_path / name
        cli(homes[name], "init", "--name", name)
        fps[name] = cli(homes[name], "id").stdout.splitlines()[0]
    for x, y in (("a", "b"), ("b", "a"), ("a", "c"), ("c", "a"), ("b", "c"), ("c", "b")):
        cli(homes[x], "peer", "trust", fps[y], "--name", y)
    a, b, c = homes["a"], homes["b"], homes["c"]
    cli(a, "circle", "create", "X")
    cli(a, "circle", "add", "X", fps["b"])
    cli(a, "circle", "create", "Y")
    cli(a, "circle", "add", "Y", fps["c"])
    cli(b, "circle", "create", "Z")
    cli(b, "circle", "add", "Z", fps["c"])
    cli(a, "contact", "add", "--name", "In X", "--circle", "X")
    cli(a, "contact", "add", "--name", "In Y", "--circle", "Y")
    cli(b, "contact", "add", "--name", "In Z", "--circle", "Z")
    x, y, z = circle_id(a, "X"), circle_id(a, "Y"), circle_id(b, "Z")
    with daemons(a, b, c):
        wait_until(
            lambda: names(b) >= {"In X", "In Z"} and names(c) >= {"In Y", "In Z"},
            60,
            "X to reach b, Y and Z to reach c",
            tmp_path,
        )
        cli(a, "contact", "add", "--name", "Later in X", "--circle", "X")
        wait_until(lambda: "Later in X" in names(b), 30, "a live change in X", tmp_path)
        assert "In Y" not in names(b) and "In X" not in names(c)
        assert y not in stored_circles(b) and x not in stored_circles(c)  # stored, not listed
        assert z not in stored_circles(a)  # a is in no circle with Z
        cli(a, "circle", "remove", "X", fps["b"])
        wait_until(
            lambda: fps["b"] not in cli(a, "circle", "show", "X").stdout,
            10,
            "the removal",
            tmp_path,
        )
        cli(a, "contact", "add", "--name", "After removal", "--circle", "X")
        cli(a, "contact", "add", "--name", "Still in Y", "--circle", "Y")
        wait_until(lambda: "Still in Y" in names(c), 30, "Y to go on syncing", tmp_path)
    assert "After removal" not in names(b)  # X no longer syncs with b
    assert "In X" in names(b)  # what b had, it keeps
    assert y not in stored_circles(b) and x not in stored_circles(c)
