"""Unit tests of the crash-safe document store and the profile's locks, refresh and repair."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from pathlib import Path

import automerge.core as am
import pytest

from plntui import store as store_mod
from plntui.errors import ProfileLockedError, StoreCorruptError
from plntui.network import Network
from plntui.profile import Profile
from plntui.store import (
    LOG_MAGIC,
    SNAP_MAGIC,
    DocumentStore,
    atomic_write,
    encode_snapshot,
    frame,
    scan_log,
)

REPO = Path(__file__).resolve().parents[1]
ACTOR = bytes(range(16))
OTHER_ACTOR = bytes(range(16, 32))
TOP_KEYS = {"contacts", "notes", "interactions", "devices", "redirects", "schema"}


# -- helpers ------------------------------------------------------------------------------------


def put(store: DocumentStore, key: str, value: str) -> None:
    with store.doc.transaction() as tx:
        tx.put(am.ROOT, key, am.ScalarType.Str, value)


def user_keys(store: DocumentStore) -> set[str]:
    return set(store.doc.keys(am.ROOT)) - TOP_KEYS


def reopen(store: DocumentStore, actor: bytes = OTHER_ACTOR) -> DocumentStore:
    """A second store on the same files, as another process would open them."""
    fresh = DocumentStore(store.folder, store.name, actor)
    fresh.load()
    return fresh


def record_spans(log: bytes) -> list[tuple[int, int]]:
    """(start, end) of every framed record in a well-formed log."""
    assert log.startswith(LOG_MAGIC)
    spans = []
    pos = len(LOG_MAGIC)
    while pos < len(log):
        (length,) = struct.unpack_from(">I", log, pos)
        spans.append((pos, pos + 8 + length))
        pos += 8 + length
    assert pos == len(log)
    return spans


def committed_store(folder: Path, n: int) -> DocumentStore:
    """A store with ``n`` committed records; record ``i`` sets key ``k{i}``."""
    store = DocumentStore(folder, "network", ACTOR)
    store.create()
    for i in range(n):
        put(store, f"k{i}", f"value {i} " * 5)
        assert store.commit() > 0
    return store


def flip(path: Path, offset: int, mask: int = 0xFF) -> bytes:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))
    return bytes(data)


def set_length(path: Path, record_start: int, length: int) -> bytes:
    data = bytearray(path.read_bytes())
    struct.pack_into(">I", data, record_start, length)
    path.write_bytes(bytes(data))
    return bytes(data)


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "plntui", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


# -- create / load / commit ---------------------------------------------------------------------


def test_create_then_load_round_trip(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 3)
    assert store.snapshot_path.read_bytes().startswith(SNAP_MAGIC)
    again = reopen(store)
    assert user_keys(again) == {"k0", "k1", "k2"}
    assert again.doc.get(am.ROOT, "k1")[0][1] == "value 1 " * 5
    assert again.doc.get_heads() == store.doc.get_heads()
    assert again.doc.get_actor() == OTHER_ACTOR
    assert not again.dirty()


def test_new_store_is_the_shared_genesis(tmp_path: Path) -> None:
    a = DocumentStore(tmp_path / "a", "network", ACTOR)
    b = DocumentStore(tmp_path / "b", "network", OTHER_ACTOR)
    a.create()
    b.create()
    assert a.doc.get_heads() == b.doc.get_heads()
    assert a.log_path.read_bytes() == LOG_MAGIC


def test_commit_appends_exactly_one_framed_record_and_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = committed_store(tmp_path, 1)
    before = store.log_path.read_bytes()
    events: list[tuple[str, int]] = []
    real_write, real_fsync = os.write, os.fsync

    def spy_write(fd: int, data: bytes) -> int:
        events.append(("write", fd))
        return real_write(fd, data)

    def spy_fsync(fd: int) -> None:
        events.append(("fsync", fd))
        real_fsync(fd)

    monkeypatch.setattr(store_mod.os, "write", spy_write)
    monkeypatch.setattr(store_mod.os, "fsync", spy_fsync)
    put(store, "a", "1")
    put(store, "b", "2")  # two transactions, one commit
    written = store.commit()
    monkeypatch.undo()

    after = store.log_path.read_bytes()
    assert after[: len(before)] == before
    record = after[len(before) :]
    assert len(record) == written
    length, crc = struct.unpack_from(">II", record)
    assert length == len(record) - 8
    assert zlib.crc32(record[8:]) == crc
    # the record holds the two new changes and loads on top of the old state
    records = scan_log(after, "log").records
    assert records[-1] == record[8:]
    base = store.snapshot_path.read_bytes()[20:] + b"".join(records[:-1])
    assert am.Document.load(base).get(am.ROOT, "b") is None
    assert am.Document.load(base + record[8:]).get(am.ROOT, "b")[0][1] == "2"
    # the data reached the file before an fsync of that same descriptor, before returning
    assert events, "commit wrote nothing"
    last_write = max(i for i, (kind, _) in enumerate(events) if kind == "write")
    fd = events[last_write][1]
    assert ("fsync", fd) in events[last_write + 1 :]
    assert user_keys(reopen(store)) == {"k0", "a", "b"}


def test_commit_without_changes_writes_nothing(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 2)
    before = (store.log_path.read_bytes(), store.snapshot_path.read_bytes(), store.token())
    assert not store.dirty()
    assert store.commit() == 0
    assert store.commit() == 0
    assert (store.log_path.read_bytes(), store.snapshot_path.read_bytes(), store.token()) == before


def test_commit_on_an_unloaded_store_is_a_no_op(tmp_path: Path) -> None:
    committed_store(tmp_path, 1)
    idle = DocumentStore(tmp_path, "network", OTHER_ACTOR)
    assert not idle.loaded
    assert idle.commit() == 0
    assert not idle.loaded


def test_log_with_a_partial_header_is_an_empty_log_and_is_rewritten(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 0)
    store.log_path.write_bytes(LOG_MAGIC[:3])  # created, header never fully reached the disk
    again = reopen(store)
    assert user_keys(again) == set()
    put(again, "x", "1")
    again.commit()
    assert again.log_path.read_bytes().startswith(LOG_MAGIC)
    assert user_keys(reopen(again, ACTOR)) == {"x"}


def test_missing_log_loads_the_snapshot(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 2)
    store.compact()
    store.log_path.unlink()
    again = reopen(store)
    assert user_keys(again) == {"k0", "k1"}
    put(again, "x", "1")
    again.commit()
    assert user_keys(reopen(again, ACTOR)) == {"k0", "k1", "x"}


# -- torn tail ----------------------------------------------------------------------------------

CUTS = {
    "one byte": lambda s, e: s + 1,
    "half header": lambda s, e: s + 4,
    "header minus one": lambda s, e: s + 7,
    "header only": lambda s, e: s + 8,
    "one body byte": lambda s, e: s + 9,
    "half body": lambda s, e: (s + 8 + e) // 2,
    "all but one byte": lambda s, e: e - 1,
}


@pytest.mark.parametrize("cut", list(CUTS), ids=list(CUTS))
def test_torn_last_record_is_dropped_and_cut_by_the_next_commit(tmp_path: Path, cut: str) -> None:
    store = committed_store(tmp_path, 4)
    log = store.log_path.read_bytes()
    start, end = record_spans(log)[-1]
    torn = log[: CUTS[cut](start, end)]
    store.log_path.write_bytes(torn)

    again = reopen(store)
    assert user_keys(again) == {"k0", "k1", "k2"}
    assert store.log_path.read_bytes() == torn, "loading must not touch the file"

    put(again, "after", "x")
    again.commit()
    fixed = store.log_path.read_bytes()
    assert fixed[:start] == log[:start]
    scan = scan_log(fixed, "log")
    assert not scan.torn
    assert len(scan.records) == 4
    assert user_keys(reopen(again, ACTOR)) == {"k0", "k1", "k2", "after"}


@pytest.mark.parametrize(
    ("where", "offset", "mask"),
    [
        ("body", lambda s, e: (s + 8 + e) // 2, 0x01),
        ("last body byte", lambda s, e: e - 1, 0xFF),
        ("checksum", lambda s, e: s + 5, 0x10),
        ("length made smaller", lambda s, e: s + 3, 0x01),
        ("length made huge", lambda s, e: s, 0xFF),
    ],
    ids=["body", "last body byte", "checksum", "length made smaller", "length made huge"],
)
def test_damaged_complete_last_record_counts_as_torn(
    tmp_path: Path, where: str, offset: Callable[[int, int], int], mask: int
) -> None:
    store = committed_store(tmp_path, 3)
    start, end = record_spans(store.log_path.read_bytes())[-1]
    damaged = flip(store.log_path, offset(start, end), mask)
    again = reopen(store)
    assert user_keys(again) == {"k0", "k1"}
    assert store.log_path.read_bytes() == damaged
    put(again, "after", "x")
    again.commit()
    assert store.log_path.read_bytes()[:start] == damaged[:start]
    assert user_keys(reopen(again, ACTOR)) == {"k0", "k1", "after"}


def test_writer_through_the_profile_cuts_a_torn_tail(net: Network, home: Path) -> None:
    first = net.add("contacts", {"name": "Ada"})
    log = home / "network.log"
    intact = log.read_bytes()
    log.write_bytes(intact + frame(b"half a change")[:11])  # a writer died mid-append
    other = Network.open(home)
    second = other.add("contacts", {"name": "Grace"})
    data = log.read_bytes()
    assert data.startswith(intact)
    assert not scan_log(data, "log").torn
    names = {c.values["name"] for c in Network.open(home).contacts()}
    assert names == {"Ada", "Grace"}
    assert {first.id, second.id} <= {c.id for c in Network.open(home).contacts()}


# -- damage in the middle -----------------------------------------------------------------------


def _middle_damage(kind: str, path: Path, spans: list[tuple[int, int]]) -> bytes:
    start, end = spans[1]
    if kind == "flipped body byte":
        return flip(path, (start + 8 + end) // 2, 0x04)
    if kind == "flipped checksum byte":
        return flip(path, start + 6)
    if kind == "length one less":
        return set_length(path, start, end - start - 8 - 1)
    if kind == "length one more":
        return set_length(path, start, end - start - 8 + 1)
    if kind == "length huge":
        return flip(path, start, 0x80)
    if kind == "length past the end":
        return set_length(path, start, spans[-1][1] - start)
    if kind == "length ends inside the last record":
        last_start, last_end = spans[-1]
        return set_length(path, start, (last_start + 8 + last_end) // 2 - start - 8)
    raise AssertionError(kind)


MIDDLE = [
    "flipped body byte",
    "flipped checksum byte",
    "length one less",
    "length one more",
    "length huge",
    "length past the end",
    "length ends inside the last record",
]


@pytest.mark.parametrize("kind", MIDDLE)
def test_damage_in_the_middle_of_the_log_is_reported_and_left_alone(
    tmp_path: Path, kind: str
) -> None:
    store = committed_store(tmp_path, 4)
    damaged = _middle_damage(kind, store.log_path, record_spans(store.log_path.read_bytes()))
    snapshot = store.snapshot_path.read_bytes()
    again = DocumentStore(tmp_path, "network", OTHER_ACTOR)
    with pytest.raises(StoreCorruptError) as info:
        again.load()
    message = str(info.value)
    assert str(store.log_path) in message
    assert "plntui repair" in message
    assert "\n" not in message
    assert store.log_path.read_bytes() == damaged
    assert store.snapshot_path.read_bytes() == snapshot
    assert not again.loaded


def test_writer_refuses_a_damaged_log_and_changes_nothing(net: Network, home: Path) -> None:
    for name in ("Ada", "Grace", "Linus"):
        net.add("contacts", {"name": name})
    log = home / "network.log"
    start, end = record_spans(log.read_bytes())[1]
    damaged = flip(log, (start + 8 + end) // 2)
    other = Network.open(home)
    with pytest.raises(StoreCorruptError, match="network.log"):
        other.add("contacts", {"name": "Barbara"})
    # the process that already had it loaded notices on its next write, too
    with pytest.raises(StoreCorruptError, match="network.log"):
        net.add("contacts", {"name": "Barbara"})
    assert log.read_bytes() == damaged


# -- snapshot damage ----------------------------------------------------------------------------

SNAPSHOT_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "flipped payload byte": lambda d: d[:40] + bytes([d[40] ^ 1]) + d[41:],
    "flipped checksum": lambda d: d[:8] + bytes([d[8] ^ 1]) + d[9:],
    "length field": lambda d: d[:19] + bytes([d[19] ^ 1]) + d[20:],
    "truncated": lambda d: d[:-1],
    "truncated to the header": lambda d: d[:20],
    "padded": lambda d: d + b"\0",
    "bad magic": lambda d: b"PLNTSNP2" + d[8:],
    "too short": lambda d: d[:5],
    "empty": lambda d: b"",
    "not automerge": lambda d: encode_snapshot(b"this is not an automerge document"),
}


@pytest.mark.parametrize("kind", list(SNAPSHOT_DAMAGE))
def test_damaged_snapshot_is_reported_and_left_alone(tmp_path: Path, kind: str) -> None:
    store = committed_store(tmp_path, 2)
    store.compact()
    damaged = SNAPSHOT_DAMAGE[kind](store.snapshot_path.read_bytes())
    store.snapshot_path.write_bytes(damaged)
    log = store.log_path.read_bytes()
    with pytest.raises(StoreCorruptError) as info:
        DocumentStore(tmp_path, "network", OTHER_ACTOR).load()
    assert str(store.snapshot_path) in str(info.value)
    assert "plntui repair" in str(info.value)
    assert store.snapshot_path.read_bytes() == damaged
    assert store.log_path.read_bytes() == log


def test_missing_snapshot_is_reported(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 1)
    store.snapshot_path.unlink()
    with pytest.raises(StoreCorruptError, match="network.snapshot is missing"):
        DocumentStore(tmp_path, "network", OTHER_ACTOR).load()
    assert not store.snapshot_path.exists()


@pytest.mark.parametrize("header", [b"PLNTLOG2", b"XXXXXXXX", b"PLNTLOG", b"\0" * 8, b"PLX"])
def test_log_with_a_bad_header_is_damage(tmp_path: Path, header: bytes) -> None:
    store = committed_store(tmp_path, 2)
    data = header + store.log_path.read_bytes()[len(LOG_MAGIC) :]
    if header == b"PLNTLOG":  # a prefix of the magic but followed by more data
        data = header + b"Z" + data[len(header) :]
    store.log_path.write_bytes(data)
    with pytest.raises(StoreCorruptError, match="not a plntui log"):
        DocumentStore(tmp_path, "network", OTHER_ACTOR).load()
    assert store.log_path.read_bytes() == data


def test_record_with_a_good_checksum_but_no_automerge_change_is_damage(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 1)
    data = store.log_path.read_bytes() + frame(b"not a change at all")
    store.log_path.write_bytes(data)
    with pytest.raises(StoreCorruptError, match="network.log holds changes that cannot be read"):
        DocumentStore(tmp_path, "network", OTHER_ACTOR).load()
    assert store.log_path.read_bytes() == data


# -- repair -------------------------------------------------------------------------------------


def _damaged_files(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}.damaged-*"))


def test_repair_moves_a_damaged_log_aside_and_keeps_what_came_before(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 5)
    spans = record_spans(store.log_path.read_bytes())
    damaged = flip(store.log_path, (spans[2][0] + 8 + spans[2][1]) // 2)
    fixer = DocumentStore(tmp_path, "network", OTHER_ACTOR)
    moved = fixer.repair()
    assert moved == _damaged_files(tmp_path, "network.log")
    assert len(moved) == 1
    assert moved[0].read_bytes() == damaged, "the damaged file must keep its original bytes"
    assert store.log_path.read_bytes() == LOG_MAGIC
    assert {"k0", "k1"} <= user_keys(reopen(store))
    assert user_keys(fixer) == user_keys(reopen(store))
    assert _damaged_files(tmp_path, "network.snapshot") == []


def test_repair_moves_a_damaged_snapshot_aside(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 3)
    damaged = SNAPSHOT_DAMAGE["flipped payload byte"](store.snapshot_path.read_bytes())
    store.snapshot_path.write_bytes(damaged)
    moved = DocumentStore(tmp_path, "network", OTHER_ACTOR).repair()
    snaps = _damaged_files(tmp_path, "network.snapshot")
    assert len(snaps) == 1
    assert snaps[0] in moved
    assert snaps[0].read_bytes() == damaged
    # the log's changes build on the genesis only, so they all survive
    assert user_keys(reopen(store)) == {"k0", "k1", "k2"}


def test_repair_of_a_lost_snapshot_keeps_the_log_file_it_cannot_apply(
    net: Network, home: Path
) -> None:
    early = [net.add("contacts", {"name": f"early {i}"}).id for i in range(3)]
    net.profile.compact()
    late = [net.add("contacts", {"name": f"late {i}"}).id for i in range(3)]
    log_bytes = (home / "network.log").read_bytes()
    snap = home / "network.snapshot"
    snap.write_bytes(SNAPSHOT_DAMAGE["flipped payload byte"](snap.read_bytes()))
    moved = Profile.open(home).repair()
    assert _damaged_files(home, "network.snapshot")
    # the late changes build on the lost snapshot: their file must still exist somewhere
    kept = [p for p in home.iterdir() if p.is_file() and p.read_bytes() == log_bytes]
    assert kept, "the log's intact changes were thrown away"
    assert all(p in moved for p in kept)
    # the profile opens again; what it lacks is in the files moved aside
    assert {c.id for c in Network.open(home).contacts()} <= set(early + late)


def test_repair_of_a_healthy_profile_moves_nothing(net: Network, home: Path) -> None:
    ids = {net.add("contacts", {"name": n}).id for n in ("Ada", "Grace")}
    assert Profile.open(home).repair() == []
    assert not list(home.glob("*.damaged-*"))
    assert {c.id for c in Network.open(home).contacts()} == ids


def test_two_repairs_in_one_second_keep_both_damaged_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod.time, "strftime", lambda fmt: "20260101-000000")
    store = committed_store(tmp_path, 3)
    first = flip(store.log_path, (sum(record_spans(store.log_path.read_bytes())[0]) + 8) // 2)
    DocumentStore(tmp_path, "network", OTHER_ACTOR).repair()
    again = reopen(store)
    for i in range(3):
        put(again, f"m{i}", "x")
        again.commit()
    second = flip(store.log_path, (sum(record_spans(store.log_path.read_bytes())[0]) + 8) // 2)
    DocumentStore(tmp_path, "network", OTHER_ACTOR).repair()
    contents = {p.read_bytes() for p in _damaged_files(tmp_path, "network.log")}
    assert {first, second} <= contents


def test_repair_through_the_cli_then_the_profile_opens(net: Network, home: Path) -> None:
    ids = [net.add("contacts", {"name": f"c{i}"}).id for i in range(4)]
    log = home / "network.log"
    spans = record_spans(log.read_bytes())
    flip(log, (spans[-2][0] + 8 + spans[-2][1]) // 2)  # damage the next-to-last record
    broken = run_cli(home, "contact", "list", "--json")
    assert broken.returncode == 3
    repaired = run_cli(home, "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "network.log.damaged-" in repaired.stdout
    listed = run_cli(home, "contact", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    found = {c["id"] for c in json.loads(listed.stdout)}
    assert set(ids[:2]) <= found  # every contact committed before the damaged record


# -- compaction ---------------------------------------------------------------------------------


def test_compact_keeps_everything_and_empties_the_log(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 5)
    put(store, "uncommitted", "yes")  # compact commits pending changes first
    heads = store.doc.get_heads()
    store.compact()
    assert store.log_path.read_bytes() == LOG_MAGIC
    again = reopen(store)
    assert user_keys(again) == {"k0", "k1", "k2", "k3", "k4", "uncommitted"}
    assert again.doc.get_heads() == heads
    assert not list(tmp_path.glob("*.tmp"))
    put(store, "later", "1")
    store.commit()
    assert "later" in user_keys(reopen(store))


def test_many_commits_cross_the_compaction_threshold(
    net: Network, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod, "COMPACT_RECORDS", 5)
    compactions = []
    real = DocumentStore.compact

    def counting(self: DocumentStore) -> None:
        compactions.append(self.name)
        real(self)

    monkeypatch.setattr(DocumentStore, "compact", counting)
    ids = [net.add("contacts", {"name": f"person {i}"}).id for i in range(23)]
    assert compactions.count("network") >= 4
    records = scan_log((home / "network.log").read_bytes(), "log").records
    assert len(records) < 5
    assert {c.id for c in Network.open(home).contacts()} == set(ids)
    # the snapshot alone (log emptied) still holds what was compacted
    net.profile.compact()
    assert (home / "network.log").read_bytes() == LOG_MAGIC
    assert {c.id for c in Network.open(home).contacts()} == set(ids)


def test_compacting_a_stale_profile_keeps_what_other_processes_committed(
    net: Network, home: Path
) -> None:
    app = Network.open(home)
    app.contacts()  # loaded, like the running app or `plntui compact` after opening
    events: list[str] = []
    app.profile.subscribe(events.append)
    ada = net.add("contacts", {"name": "Ada"})  # committed by another process meanwhile
    app.profile.compact()
    assert (home / "network.log").read_bytes() == LOG_MAGIC
    assert [c.id for c in Network.open(home).contacts()] == [ada.id]
    assert [c.id for c in app.contacts()] == [ada.id]
    assert events == ["external"]


def test_crash_between_new_snapshot_and_log_reset_loads(tmp_path: Path) -> None:
    store = committed_store(tmp_path, 4)
    old_log = store.log_path.read_bytes()
    # compact() step one only: the new snapshot is in place, the old log was never reset
    atomic_write(store.snapshot_path, encode_snapshot(store.doc.save()))
    assert store.log_path.read_bytes() == old_log
    again = reopen(store)
    assert user_keys(again) == {"k0", "k1", "k2", "k3"}
    assert again.doc.get_heads() == store.doc.get_heads()
    assert not again.dirty()
    put(again, "after", "1")
    again.commit()
    last = reopen(again, ACTOR)
    assert user_keys(last) == {"k0", "k1", "k2", "k3", "after"}
    last.compact()
    assert user_keys(reopen(last)) == {"k0", "k1", "k2", "k3", "after"}


def test_log_read_before_snapshot_survives_a_compaction_in_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader racing a compaction by another process must still see every change."""
    store = committed_store(tmp_path, 3)
    reader = DocumentStore(tmp_path, "network", OTHER_ACTOR)
    real_read = Path.read_bytes
    done = []

    def racing_read(path: Path) -> bytes:
        data = real_read(path)
        if not done and path.parent == tmp_path:
            done.append(path.name)
            store.compact()  # another process compacts between the reader's two reads
        return data

    monkeypatch.setattr(Path, "read_bytes", racing_read)
    reader.load()
    monkeypatch.undo()
    assert user_keys(reader) == {"k0", "k1", "k2"}
    assert reader.changed_on_disk()  # the next refresh reloads the compacted files


# -- profile: two processes, rollback, listeners --------------------------------------------------


def test_two_profiles_on_one_home_see_each_other_after_refresh(net: Network, home: Path) -> None:
    other = Network.open(home)
    assert other.contacts() == []
    events: list[str] = []
    other.profile.subscribe(events.append)
    mine: list[str] = []
    net.profile.subscribe(mine.append)

    ada = net.add("contacts", {"name": "Ada"})
    assert mine == ["local"]
    assert other.profile.shared.changed_on_disk()
    assert other.profile.refresh() is True
    assert events == ["external"]
    assert other.get("contacts", ada.id).values["name"] == "Ada"
    assert other.profile.refresh() is False
    assert events == ["external"]

    # a write from the other side catches up first, under the lock: nothing is lost
    net.add("contacts", {"name": "Grace"})
    events.clear()
    other.add("contacts", {"name": "Linus"})
    assert events == ["external", "local"]
    assert {c.values["name"] for c in other.contacts()} == {"Ada", "Grace", "Linus"}
    mine.clear()
    assert net.profile.refresh() is True
    assert mine == ["external"]
    assert {c.values["name"] for c in net.contacts()} == {"Ada", "Grace", "Linus"}


def test_unsubscribe_stops_notifications(net: Network, home: Path) -> None:
    events: list[str] = []
    stop = net.profile.subscribe(events.append)
    net.add("contacts", {"name": "Ada"})
    stop()
    net.add("contacts", {"name": "Grace"})
    assert events == ["local"]


def test_failed_edit_commits_nothing_and_reloads(net: Network, home: Path) -> None:
    net.add("contacts", {"name": "Ada"})
    log_before = (home / "network.log").read_bytes()
    heads = net.profile.shared.doc.get_heads()
    events: list[str] = []
    net.profile.subscribe(events.append)

    def failing_edit() -> None:
        with net.profile.writing():
            with net.profile.shared.doc.transaction() as tx:
                tx.put(am.ROOT, "half-done", am.ScalarType.Str, "x")
            assert net.profile.shared.dirty()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_edit()
    assert (home / "network.log").read_bytes() == log_before
    assert net.profile.shared.doc.get(am.ROOT, "half-done") is None
    assert net.profile.shared.doc.get_heads() == heads
    assert not net.profile.shared.dirty()
    assert events == []
    # the lock was released and the next edit works
    net.add("contacts", {"name": "Grace"})
    assert {c.values["name"] for c in Network.open(home).contacts()} == {"Ada", "Grace"}


def test_nested_writing_commits_once_at_the_outer_exit(net: Network, home: Path) -> None:
    log = home / "network.log"
    before = len(record_spans(log.read_bytes()))
    with net.profile.writing():
        net.add("contacts", {"name": "Ada"})
        net.add("contacts", {"name": "Grace"})
        assert len(record_spans(log.read_bytes())) == before
    assert len(record_spans(log.read_bytes())) == before + 1


# -- session lock -------------------------------------------------------------------------------

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


# -- the CLI on damage ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["log", "snapshot"])
def test_cli_on_a_damaged_profile_exits_3_with_one_line(
    net: Network, home: Path, which: str
) -> None:
    for name in ("Ada", "Grace", "Linus"):
        net.add("contacts", {"name": name})
    if which == "log":
        path = home / "network.log"
        spans = record_spans(path.read_bytes())
        damaged = flip(path, (spans[0][0] + 8 + spans[0][1]) // 2)
    else:
        net.profile.compact()
        path = home / "network.snapshot"
        damaged = flip(path, 40)
    for args in (("contact", "list", "--json"), ("contact", "add", "--name", "Barbara")):
        result = run_cli(home, *args)
        assert result.returncode == 3, result.stderr
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert str(path) in lines[0]
        assert "plntui repair" in lines[0]
        assert path.read_bytes() == damaged


def test_catching_up_keeps_the_live_document_object(tmp_path: Path) -> None:
    """Sync sessions hold the document: a catch-up merges into it instead of replacing it."""
    from plntui.network import Network

    a = Network.create(tmp_path / "p", "A")
    live = a.shared_doc
    b = Network.open(tmp_path / "p")
    b.add("contacts", {"name": "From another process"})
    assert a.profile.refresh()
    assert a.shared_doc is live
    assert [c.label for c in a.contacts()] == ["From another process"]
    a.add("contacts", {"name": "Local"})
    assert sorted(c.label for c in Network.open(tmp_path / "p").contacts()) == [
        "From another process",
        "Local",
    ]
