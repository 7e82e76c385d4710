"""The check of documents a peer sends whole, in worker processes for a large batch.

``check_new`` is the same function here and in a worker; these tests compare the two, make a
worker die under a batch, and receive a real network large enough for the workers through the
sync host (guard, storage and index).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import automerge.core as am
import pytest

from plntui import checkpool, crdt, layout
from plntui.checkpool import Checked, CheckPool, Failed, check_new
from plntui.network import Network
from tests.repo_helpers import copy_docs, join

CIRCLE = "0123456789abcdef"


def shard(number: int, *, names: int = 3) -> tuple[str, bytes]:
    doc = layout.new_document("shard", os.urandom(16))
    with doc.transaction() as tx:
        for n in range(names):
            obj = crdt.ensure_item(tx, "contacts", f"{number:06x}{n:06x}")
            crdt.put_scalar(tx, obj, "name", f"Ada {number}.{n}")
            crdt.put_scalar(tx, obj, "org", "Analytical Engines")
    return f"s:{CIRCLE}:{number:02x}", doc.save()


def newer_schema(number: int) -> tuple[str, bytes]:
    doc_id, data = shard(number)
    doc = am.Document.load(data)
    with doc.transaction() as tx:
        tx.put(am.ROOT, "schema", am.ScalarType.Int, 99)
    return doc_id, doc.save()


def batch() -> list[tuple[str, bytes]]:
    docs = [shard(n) for n in range(10)]
    docs[3] = newer_schema(3)
    docs[6] = (docs[6][0], b"not automerge at all")
    return docs


def test_a_valid_shard_gives_its_index_rows_and_heads() -> None:
    doc_id, data = shard(1, names=2)
    result = check_new(doc_id, data)
    assert isinstance(result, Checked)
    assert sorted(row.id for row in result.rows) == ["000001000000", "000001000001"]
    assert all(row.item[-2] == doc_id and row.item[-3] == CIRCLE for row in result.rows)
    assert "analytical engines" in result.rows[0].haystack  # folded
    assert result.heads == am.Document.load(data).get_heads()
    assert result.contacts == 2 and result.conflicts == frozenset()


def test_refusals_carry_the_guards_reason() -> None:
    doc_id, data = newer_schema(2)
    result = check_new(doc_id, data)
    assert isinstance(result, Failed)
    assert "newer plntui (schema 99)" in result.message and result.pause
    garbage = check_new(f"s:{CIRCLE}:07", b"not automerge at all")
    assert isinstance(garbage, Failed) and "is not a plntui shard document" in garbage.message
    assert not garbage.pause


def test_workers_give_what_this_process_gives_in_order() -> None:
    docs = batch()
    pool = CheckPool(workers=2, pool_min=2)
    try:
        pooled = list(pool.check(docs))
    finally:
        pool.close()
    assert pool.used_workers
    here = [check_new(doc_id, data) for doc_id, data in docs]
    assert [r.doc_id for r in pooled] == [doc_id for doc_id, _ in docs]
    assert pooled == here  # dataclasses: rows, heads, messages alike
    assert [type(r).__name__ for r in pooled].count("Failed") == 2


def test_a_few_large_documents_are_shared_among_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = [shard(n, names=40) for n in range(13)]  # a frame of big contact shards
    parts = checkpool._chunks(docs, 2)
    assert [d for part in parts for d in part] == docs
    assert len(parts) >= 6 and max(len(p) for p in parts) <= 3
    monkeypatch.setattr(checkpool, "POOL_MIN_BYTES", sum(len(d) for _i, d in docs))
    pool = CheckPool(workers=2)  # 13 documents: fewer than POOL_MIN, but their size counts
    try:
        assert list(pool.check(docs)) == [check_new(d, b) for d, b in docs]
        assert pool.used_workers
    finally:
        pool.close()


def test_a_small_batch_or_one_worker_stays_in_this_process() -> None:
    docs = batch()
    for pool in (CheckPool(workers=2, pool_min=len(docs) + 1), CheckPool(workers=1, pool_min=1)):
        assert list(pool.check(docs)) == [check_new(d, b) for d, b in docs]
        assert not pool.used_workers and pool._executor is None


def test_a_worker_that_dies_leaves_the_batch_to_this_process() -> None:
    pool = CheckPool(workers=2, pool_min=2)
    try:
        pool.warm()
        executor = pool._executor
        assert executor is not None
        deadline = time.monotonic() + 60
        while len(executor._processes) < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        for pid in list(executor._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        docs = batch()
        assert list(pool.check(docs)) == [check_new(d, b) for d, b in docs]
        assert pool._executor is None  # the broken pool was dropped
    finally:
        pool.close()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_workers_end_when_their_parent_is_killed() -> None:
    code = (
        "import time\n"
        "from plntui.checkpool import CheckPool\n"
        "pool = CheckPool(workers=2, pool_min=1)\n"
        "pool.warm()\n"
        "while len(pool._executor._processes) < 2:\n"
        "    time.sleep(0.05)\n"
        "print(*pool._executor._processes, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert parent.stdout is not None
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(_running(pid) for pid in workers)
    parent.kill()  # as kill -9 would: the pool is never shut down
    parent.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)


def test_workers_start_when_standard_error_has_no_file() -> None:
    """The app (Textual) replaces ``sys.stderr`` with an object whose ``fileno()`` is -1;
    multiprocessing hands that to the workers' resource tracker and failed to spawn them."""
    code = (
        "import sys\n"
        "class Captured:\n"
        "    def write(self, text): return len(text)\n"
        "    def flush(self): pass\n"
        "    def fileno(self): return -1\n"
        "sys.stderr = Captured()\n"
        "from plntui.checkpool import CheckPool\n"
        "from tests.test_checkpool import batch\n"
        "pool = CheckPool(workers=2, pool_min=2)\n"
        "results = list(pool.check(batch()))\n"
        "print(pool.used_workers, pool._executor is not None, len(results), flush=True)\n"
        "pool.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[1],  # this checkout's plntui and tests
    )
    assert done.stdout.split() == ["True", "True", "10"], done.stdout + done.stderr


def test_idle_workers_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpool, "IDLE_SECONDS", 0.2)
    pool = CheckPool(workers=2, pool_min=2)
    try:
        list(pool.check(batch()))
        assert pool.used_workers
        deadline = time.monotonic() + 30
        while pool._executor is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool._executor is None
    finally:
        pool.close()


def test_a_new_peer_receives_a_large_network_through_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plntui.sync_host import RepoHost

    a = Network.create(tmp_path / "a", "A")
    b = Network.create(tmp_path / "b", "B")
    join(a, b)
    ada = a.add("contacts", {"name": "Ada Lovelace", "topics": ["engines"]})
    notes = [
        a.add("notes", {"title": f"Note {n}", "body": f"body {n} zebra", "contacts": [ada.id]})
        for n in range(checkpool.POOL_MIN + 2)
    ]
    used: list[bool] = []
    close = RepoHost.close

    def closing(host: RepoHost) -> None:
        used.append(host.checks.used_workers)
        close(host)

    monkeypatch.setattr(RepoHost, "close", closing)
    copy_docs(a, b)
    assert used == [True]
    assert {n.id for n in b.notes()} == {n.id for n in notes}
    assert b.get("contacts", ada.id).values["topics"] == ["engines"]
    assert len(b.search("zebra", limit=None)["notes"]) == len(notes)
    assert [r.id for r in b.search("topic:engines")["contacts"]] == [ada.id]
