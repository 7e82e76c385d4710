"""The guard between sync and storage: what a peer sends is checked before it is stored.

Unit tests build broken documents by hand; process tests have a real peer process (a profile
broken behind the domain API's back by ``helpers_bad_peer.py``, then a real ``plntui sync``)
send them to a real ``plntui sync`` over TLS on loopback, and check the receiving profile: the
batch is refused with its reason (log, ``plntui peer list``), nothing of it is stored, the other
documents still arrive, and the profile still opens.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import automerge.core as am
import pytest

from plntui import crdt, layout
from plntui.guard import GuardRefused, check
from tests.processes import PLNTUI, cli

HELPER = Path(__file__).with_name("helpers_bad_peer.py")


def shard(kind_maps: bool = True) -> am.Document:
    doc = layout.new_document("shard", bytes(16))
    with doc.transaction() as tx:
        obj = crdt.ensure_item(tx, "contacts", "abcdef012345")
        crdt.put_scalar(tx, obj, "name", "Ada")
    return doc


DOC = "s:0123456789abcdef:00"


def test_a_valid_document_passes() -> None:
    check(DOC, shard(), None)


def test_a_newer_schema_pauses() -> None:
    doc = shard()
    with doc.transaction() as tx:
        tx.put(am.ROOT, "schema", am.ScalarType.Int, 99)
    with pytest.raises(GuardRefused, match=r"newer plntui \(schema 99\)") as info:
        check(DOC, doc, None)
    assert info.value.pause


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda tx, obj: tx.delete(am.ROOT, "contacts"), "lacks its contacts map"),
        (
            lambda tx, obj: tx.put(am.ROOT, "redirects", am.ScalarType.Str, "x"),
            "lacks its redirects map",
        ),
        (lambda tx, obj: tx.put(obj, "name", am.ScalarType.Int, 5), "Name is not text"),
        (lambda tx, obj: tx.delete(obj, "name"), "has no name"),
        (lambda tx, obj: tx.put(obj, "org", am.ScalarType.Str, "x" * 201), "too long"),
        (lambda tx, obj: tx.put(obj, "remark", am.ScalarType.Str, "mine"), "private field"),
        (lambda tx, obj: tx.put(obj, "topics", am.ScalarType.Str, "rust"), "not a list"),
        (lambda tx, obj: tx.put(obj, "cadence_days", am.ScalarType.Str, "7"), "whole number"),
        (lambda tx, obj: tx.put(am.ROOT, "kind", am.ScalarType.Str, "note"), "not a shard"),
    ],
)
def test_a_malformed_document_is_refused(
    breakage: Callable[[am.Transaction, bytes], None], message: str
) -> None:
    doc = shard()
    with doc.transaction() as tx:
        breakage(tx, crdt.item_obj(tx, "contacts", "abcdef012345"))
    with pytest.raises(GuardRefused, match=message):
        check(DOC, doc, None)


def test_only_touched_records_are_checked_when_the_batch_says_which() -> None:
    doc = shard()
    with doc.transaction() as tx:
        obj = crdt.ensure_item(tx, "contacts", "0000aaaa0000")
        tx.put(obj, "name", am.ScalarType.Int, 5)
    check(DOC, doc, {("contacts", "abcdef012345")})  # the broken one was not in the batch
    with pytest.raises(GuardRefused):
        check(DOC, doc, {("contacts", "0000aaaa0000")})


def test_a_note_document_holds_its_own_note_only() -> None:
    doc = layout.new_document("note", bytes(16))
    with doc.transaction() as tx:
        obj = crdt.ensure_item(tx, "notes", "aaaa00000000")
        crdt.put_scalar(tx, obj, "title", "T")
    check("n:0123456789abcdef:aaaa00000000", doc, None)
    with pytest.raises(GuardRefused, match="another note"):
        check("n:0123456789abcdef:bbbb00000000", doc, None)


# -- from a real peer process ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def daemon(home: Path, port: int) -> Iterator[Path]:
    log = home.parent / f"{home.name}.log"
    with open(log, "w") as out:
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
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            yield log
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until(condition: Callable[[], bool], seconds: float, what: str, *logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    text = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{text}")


def listening(log: Path) -> None:
    wait_until(lambda: "listening on" in log.read_text(), 20, "the daemon to listen", log)


def stored(home: Path, doc_id: str) -> bytes | None:
    db = sqlite3.connect(f"file:{home / 'repo.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT digest FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else row[0].encode()
    finally:
        db.close()


def notes(home: Path) -> set[str]:
    return {n["title"] for n in json.loads(cli(home, "note", "list", "--json").stdout)}


def make(root: Path, name: str) -> tuple[Path, str]:
    home = root / name
    cli(home, "init", "--name", name)
    return home, cli(home, "id").stdout.splitlines()[0]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[tuple[Path, str], tuple[Path, str]]:
    good, bad = make(tmp_path, "good"), make(tmp_path, "bad")
    circle = cli(good[0], "circle", "default").stdout.strip()
    cli(good[0], "peer", "trust", bad[1], "--name", "bad", "--circle", circle)
    cli(bad[0], "peer", "trust", good[1], "--name", "good")
    return good, bad


def first_sync(good: Path, bad: Path, port: int) -> None:
    """The bad peer joins the good one's circle (the good side added it)."""
    with daemon(good, port) as log:
        wait_until(
            lambda: cli(bad, "peer", "add", f"127.0.0.1:{port}", check=False).returncode == 0,
            20,
            "the good peer to listen",
            log,
        )
        once = cli(bad, "sync", "--once", "--no-discovery", "--timeout", "20", check=False)
        assert "1 of 1 peer(s) in sync" in once.stdout, once.stdout + log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["schema", "map", "record", "oversized"])
def test_a_broken_document_from_a_peer_process_is_refused_and_nothing_of_it_is_stored(
    pair: tuple[tuple[Path, str], tuple[Path, str]], case: str
) -> None:
    (good, _gfp), (bad, _bfp) = pair
    port = free_port()
    first_sync(good, bad, port)
    shared = json.loads(cli(good, "circle", "list", "--json").stdout)[0]["id"]
    doc_id = subprocess.run(
        [sys.executable, str(HELPER), str(bad), case, shared],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert stored(bad, doc_id) is not None and stored(good, doc_id) is None
    bad_log = bad.parent / "bad-once.log"
    with daemon(good, port) as log:
        listening(log)
        once = cli(bad, "sync", "--once", "--no-discovery", "--timeout", "8", check=False)
        bad_log.write_text(once.stdout + once.stderr)
        wait_until(lambda: "refused changes from bad" in log.read_text(), 20, "a refusal", log)
        if case != "schema":  # the good note of the same batch was stored
            wait_until(lambda: f"Good note ({case})" in notes(good), 20, "the good note", log)
    assert stored(good, doc_id) is None  # nothing of the refused document
    assert "refused" in bad_log.read_text()  # the sender was told why
    listed = json.loads(cli(good, "peer", "list", "--json").stdout)
    assert "refused its changes" in (listed[0]["last_error"] or "")
    if case == "schema":
        assert "newer plntui (schema 99)" in log.read_text()
        assert "update plntui" in log.read_text()
    # the good profile opens and works as before
    assert cli(good, "contact", "list", "--json").returncode == 0
    assert cli(good, "contact", "add", "--name", "Still fine").returncode == 0


@pytest.mark.slow
def test_changes_to_a_circle_the_peer_is_not_in_are_never_stored(
    pair: tuple[tuple[Path, str], tuple[Path, str]],
) -> None:
    (good, _gfp), (bad, bad_fp) = pair
    port = free_port()
    cli(good, "circle", "create", "Inner")
    cli(good, "circle", "add", "Inner", bad_fp)
    cli(good, "note", "add", "--title", "Inner note", "--circle", "Inner")
    first_sync(good, bad, port)
    assert "Inner note" in notes(bad)
    inner = json.loads(cli(good, "circle", "show", "Inner", "--json").stdout)["id"]
    shared = json.loads(cli(good, "circle", "show", "good's circle", "--json").stdout)["id"]
    cli(good, "circle", "remove", "Inner", bad_fp)  # bad no longer gets or gives Inner
    doc_id = subprocess.run(
        [sys.executable, str(HELPER), str(bad), "foreign", shared, inner],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    with daemon(good, port) as log:
        listening(log)
        cli(bad, "sync", "--once", "--no-discovery", "--timeout", "8", check=False)
        wait_until(lambda: "Good note (foreign)" in notes(good), 20, "the good note", log)
    assert stored(good, doc_id) is None
    names = {c["name"] for c in json.loads(cli(good, "contact", "list", "--json").stdout)}
    assert "Planted in a foreign circle" not in names
