"""Tests of the repository's storage and its owner: SQLite transactions, checksums, units of
work that leave live documents untouched on failure, other processes' writes, compaction,
repair, the session lock, and the CLI on a damaged profile."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import automerge.core as am
import pytest

from plntui import crdt, layout
from plntui.errors import ProfileLockedError, StoreCorruptError
from plntui.network import Network
from plntui.profile import Profile
from plntui.repo import COMPACT_CHUNKS
from plntui.storage import Storage, digest_of

REPO = Path(__file__).resolve().parents[1]


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "plntui", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def shard_of(net: Network, item_id: str) -> str:
    return layout.shard_doc(net.default_circle().id, item_id)


# -- the storage adapter ---------------------------------------------------------------------------


def test_a_document_round_trips_through_put_and_append(tmp_path: Path) -> None:
    storage = Storage.create(tmp_path / "repo.sqlite3")
    doc = layout.new_document("shard", bytes(16))
    with storage.transaction() as writer:
        writer.put("s:private:00", "private", "shard", doc.save(), doc.get_heads())
    before = doc.get_heads()
    with doc.transaction() as tx:
        tx.put(crdt.top(tx, "contacts"), "k", am.ScalarType.Str, "v")
    chunk = b"".join(c.bytes for c in doc.get_changes(before))
    with storage.transaction() as writer:
        writer.append("s:private:00", chunk, doc.get_heads())
    stored = storage.load("s:private:00")
    assert stored is not None and stored.n_chunks == 1 and stored.version == 2
    loaded = am.Document.load(stored.data)
    assert loaded.get_heads() == doc.get_heads()
    assert stored.digest == digest_of(doc.get_heads())
    assert storage.manifest() == {"s:private:00": stored.digest}


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    storage = Storage.create(tmp_path / "repo.sqlite3")
    doc = layout.new_document("note", bytes(16))
    generation = storage.generation()
    with pytest.raises(RuntimeError), storage.transaction() as writer:  # noqa: PT012 - it fails inside the write
        writer.put("n:private:abcd", "private", "note", doc.save(), doc.get_heads())
        raise RuntimeError("boom")
    assert storage.manifest() == {}
    assert storage.generation() == generation


def test_a_flipped_byte_in_a_stored_blob_is_reported_not_loaded(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    net.edit("contacts", ada.id, {"org": "Engines"})  # one chunk after the snapshot
    doc_id = shard_of(net, ada.id)
    net.profile.close()
    db = sqlite3.connect(net.profile.home / "repo.sqlite3")
    data = db.execute("SELECT data FROM chunks WHERE doc = ?", (doc_id,)).fetchone()[0]
    db.execute(
        "UPDATE chunks SET data = ? WHERE doc = ?", (bytes([data[0] ^ 1]) + data[1:], doc_id)
    )
    db.commit()
    db.close()
    with pytest.raises(StoreCorruptError, match=f"document {doc_id}.*plntui repair"):
        Network.open(net.profile.home).get("contacts", ada.id)


def test_changed_since_names_the_documents_a_write_touched(net: Network) -> None:
    storage = net.repo.storage
    generation = storage.generation()
    ada = net.add("contacts", {"name": "Ada"})
    changed, now = storage.changed_since(generation)
    assert shard_of(net, ada.id) in changed and now > generation
    assert storage.changed_since(now) == ([], now)


# -- units of work ---------------------------------------------------------------------------------


def test_nested_writes_commit_once_at_the_outer_exit(net: Network) -> None:
    generation = net.profile.generation()
    with net._writing():
        net.add("contacts", {"name": "Ada"})
        net.add("contacts", {"name": "Grace"})
        assert net.profile.generation() == generation
    assert net.profile.generation() == generation + 1
    assert {c.label for c in Network.open(net.profile.home).contacts()} == {"Ada", "Grace"}


def test_a_failed_write_keeps_every_live_document_and_the_next_write_works(
    net: Network,
) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    doc_id = shard_of(net, ada.id)
    with net.lock:
        live = net.repo.get(doc_id)
        heads = live.get_heads()
    events: list[str] = []
    net.profile.subscribe(events.append)
    with pytest.raises(RuntimeError, match="boom"), net.repo.writing() as work:  # noqa: PT012 - it fails inside the write
        with work.doc(doc_id).transaction() as tx:
            tx.put(am.ROOT, "half-done", am.ScalarType.Str, "x")
        raise RuntimeError("boom")
    with net.lock:
        assert net.repo.get(doc_id) is live
        assert live.get_heads() == heads and live.get(am.ROOT, "half-done") is None
    assert events == []
    net.add("contacts", {"name": "Grace"})
    assert {c.label for c in Network.open(net.profile.home).contacts()} == {"Ada", "Grace"}


def test_a_disk_full_during_the_commit_leaves_nothing_behind(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    doc_id = shard_of(net, ada.id)
    with net.lock:
        live = net.repo.get(doc_id)
    from plntui import storage as storage_mod

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_mod.Writer, "append", full)
    with pytest.raises(OSError, match="No space"):
        net.edit("contacts", ada.id, {"org": "Engines"})
    monkeypatch.undo()
    with net.lock:
        assert net.repo.get(doc_id) is live
    assert net.get("contacts", ada.id).values.get("org") is None
    net.edit("contacts", ada.id, {"org": "Engines"})
    assert Network.open(net.profile.home).get("contacts", ada.id).values["org"] == "Engines"


def test_many_writes_fold_into_a_fresh_snapshot(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    doc_id = shard_of(net, ada.id)
    for n in range(COMPACT_CHUNKS + 5):
        net.edit("contacts", ada.id, {"role": f"role {n}"})
    stored = net.repo.storage.load(doc_id)
    assert stored is not None and stored.n_chunks < COMPACT_CHUNKS
    fresh = Network.open(net.profile.home)
    assert fresh.get("contacts", ada.id).values["role"] == f"role {COMPACT_CHUNKS + 4}"
    assert net.profile.compact() >= 1
    assert net.repo.storage.load(doc_id).n_chunks == 0  # type: ignore[union-attr]


def test_the_cache_of_loaded_documents_stays_bounded(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plntui import repo as repo_mod

    monkeypatch.setattr(repo_mod, "CACHE_BYTES", 1)
    notes = [net.add("notes", {"title": f"Note {n}", "body": "x" * 50}) for n in range(20)]
    assert len(net.repo.loaded()) <= 2
    assert [net.get("notes", n.id).label for n in notes] == [f"Note {n}" for n in range(20)]


# -- other processes -------------------------------------------------------------------------------


def test_two_processes_see_each_others_writes(net: Network, home: Path) -> None:
    other = Network.open(home)
    events: list[str] = []
    other.profile.subscribe(events.append)
    mine: list[str] = []
    net.profile.subscribe(mine.append)
    ada = net.add("contacts", {"name": "Ada"})
    assert mine == ["local"]
    assert other.profile.refresh() is True
    assert events == ["external"]
    assert other.get("contacts", ada.id).values["name"] == "Ada"
    assert other.profile.refresh() is False
    # a write from the other side catches up with the document first: nothing is lost
    with net.lock:
        net.repo.get(shard_of(net, ada.id))  # loaded here, then changed there
    other.edit("contacts", ada.id, {"org": "Engines"})
    net.edit("contacts", ada.id, {"role": "Analyst"})
    values = Network.open(home).get("contacts", ada.id).values
    assert values["org"] == "Engines" and values["role"] == "Analyst"


def test_catching_up_keeps_the_live_document_object(tmp_path: Path) -> None:
    a = Network.create(tmp_path / "p", "A")
    first = a.add("contacts", {"name": "First"})
    doc_id = shard_of(a, first.id)
    with a.lock:
        live = a.repo.get(doc_id)
    b = Network.open(tmp_path / "p")
    b.edit("contacts", first.id, {"org": "From another process"})
    assert doc_id in a.repo.poll()
    with a.lock:
        assert a.repo.get(doc_id) is live
    assert a.get("contacts", first.id).values["org"] == "From another process"


def test_concurrent_writers_serialise_on_the_database(home: Path) -> None:
    Network.create(home, "A")
    script = textwrap.dedent("""
        import sys
        from plntui.network import Network
        net = Network.open(sys.argv[1])
        for n in range(15):
            net.add("contacts", {"name": f"{sys.argv[2]} {n}"})
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(home), who], env=env)
        for who in ("left", "right")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert len(Network.open(home).contacts()) == 30


# -- repair ----------------------------------------------------------------------------------------


def test_repair_sets_a_damaged_record_aside_and_keeps_the_rest(net: Network, home: Path) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    net.edit("contacts", ada.id, {"org": "Engines"})
    net.edit("contacts", ada.id, {"role": "Analyst"})
    doc_id = shard_of(net, ada.id)
    net.profile.close()
    db = sqlite3.connect(home / "repo.sqlite3")
    seq, data = db.execute(
        "SELECT seq, data FROM chunks WHERE doc = ? ORDER BY seq DESC", (doc_id,)
    ).fetchone()
    db.execute("UPDATE chunks SET data = ? WHERE seq = ?", (bytes([data[0] ^ 1]) + data[1:], seq))
    db.commit()
    db.close()
    old_actor = Profile.open(home).actor.hex()
    result = run_cli(home, "repair")
    assert result.returncode == 0, result.stderr
    assert f"document {doc_id}" in result.stdout
    fixed = Network.open(home)
    values = fixed.get("contacts", ada.id).values
    assert values["org"] == "Engines" and "role" not in values  # the last change was set aside
    assert fixed.repo.storage.damaged_records()[0][1] == doc_id
    assert fixed.profile.actor.hex() != old_actor and old_actor in fixed.own_ids
    again = run_cli(home, "repair")
    assert "Nothing damaged" in again.stdout


def test_a_file_sqlite_cannot_read_is_reported_then_rebuilt_beside_it(
    net: Network, home: Path
) -> None:
    net.add("contacts", {"name": "Ada"})
    net.profile.close()
    (home / "repo.sqlite3").write_bytes(b"not a database at all" * 300)
    for suffix in ("-wal", "-shm"):
        (home / f"repo.sqlite3{suffix}").unlink(missing_ok=True)
    for args in (("contact", "list", "--json"), ("contact", "add", "--name", "Barbara")):
        result = run_cli(home, *args)
        assert result.returncode == 3, result.stderr
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
        assert "repo.sqlite3" in result.stderr and "plntui repair" in result.stderr
    damaged = (home / "repo.sqlite3").read_bytes()
    result = run_cli(home, "repair")
    assert result.returncode == 0, result.stderr
    kept = sorted(home.glob("repo.sqlite3.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged
    assert run_cli(home, "contact", "add", "--name", "Barbara").returncode == 0


# -- session lock ----------------------------------------------------------------------------------

_CLAIM = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from plntui.errors import ProfileLockedError
    from plntui.profile import Profile
    profile = Profile.open(Path(sys.argv[1]))
    try:
        profile.claim_session("child test")
    except ProfileLockedError as err:
        print("LOCKED", err.message, flush=True)
        sys.exit(0)
    print("CLAIMED", flush=True)
    if len(sys.argv) > 2:
        time.sleep(float(sys.argv[2]))
""")


def _claim_in_child(home: Path, hold: float | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", _CLAIM, str(home)] + ([str(hold)] if hold else [])
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    )


def test_session_lock_refuses_a_second_process(net: Network, home: Path) -> None:
    net.profile.claim_session("the test app")
    net.profile.claim_session("the test app")  # claiming again in the owner is harmless
    child = _claim_in_child(home)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    assert out.startswith("LOCKED")
    assert f"the test app (pid {os.getpid()})" in out
    net.profile.release_session()
    child = _claim_in_child(home)
    out, _ = child.communicate(timeout=60)
    assert out.strip() == "CLAIMED"


def test_session_lock_is_per_open_file_so_a_second_profile_object_conflicts(
    net: Network, home: Path
) -> None:
    net.profile.claim_session("first")
    second = Profile.open(home)
    with pytest.raises(ProfileLockedError, match=r"first \(pid"):
        second.claim_session("second")
    net.profile.release_session()
    second.claim_session("second")
    second.release_session()


def test_session_lock_dies_with_its_process(net: Network, home: Path) -> None:
    child = _claim_in_child(home, hold=60)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "CLAIMED"
    with pytest.raises(ProfileLockedError, match="child test"):
        net.profile.claim_session("parent")
    child.kill()
    child.wait(timeout=30)
    child.stdout.close()
    net.profile.claim_session("parent")
    net.profile.release_session()


def test_a_session_does_not_block_writers(net: Network, home: Path) -> None:
    net.profile.claim_session("the app")
    done = run_cli(home, "contact", "add", "--name", "Ada")
    assert done.returncode == 0, done.stderr
    assert net.profile.refresh()
    assert [c.values["name"] for c in net.contacts()] == ["Ada"]


def test_repair_needs_the_profile_to_itself(net: Network, home: Path) -> None:
    net.profile.claim_session("the app")
    result = run_cli(home, "repair")
    assert result.returncode == 2
    assert "already open in the app" in result.stderr
