"""Unit tests of the 0.1 document store (snapshot plus log files): the migration reads it."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import automerge.core as am
import pytest

from plntui import store as store_mod
from plntui.errors import StoreCorruptError
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


def test_a_short_write_is_finished_before_the_commit_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel may write fewer bytes than asked (a full disk, a signal): the rest follows."""
    store = committed_store(tmp_path, 1)
    real_write = os.write
    calls = []

    def three_bytes_at_a_time(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(store_mod.os, "write", three_bytes_at_a_time)
    put(store, "short", "x" * 100)
    written = store.commit()
    monkeypatch.undo()
    assert len(calls) > 1  # the record took several writes
    assert scan_log(store.log_path.read_bytes(), "log").records[-1]
    assert written > 100
    assert user_keys(reopen(store)) == {"k0", "short"}


def test_a_new_log_file_is_made_durable_in_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = committed_store(tmp_path, 1)
    store.log_path.unlink()
    synced: list[Path] = []
    monkeypatch.setattr(store_mod, "fsync_dir", synced.append)
    put(store, "again", "1")
    store.commit()
    monkeypatch.undo()
    assert synced == [store.log_path.parent]


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


def test_the_profile_lock_holds_one_descriptor(tmp_path: Path) -> None:
    """Acquiring a held lock again does not open (and leak) another descriptor."""
    from plntui.profile import _FileLock

    lock = _FileLock(tmp_path / "session.lock")
    fds = len(os.listdir("/proc/self/fd"))
    assert lock.acquire(blocking=False)
    assert lock.acquire(blocking=False)
    assert len(os.listdir("/proc/self/fd")) == fds + 1
    lock.release()
    assert len(os.listdir("/proc/self/fd")) == fds
    lock.release()  # twice: nothing to close
