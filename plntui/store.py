"""Provides crash-safe storage of one Automerge document: a snapshot plus an append-only log.

Files, for a document named ``network``::

    network.snapshot   b"PLNTSNP1" | crc32 (4 bytes, big-endian) | length (8) | Automerge save()
    network.log        b"PLNTLOG1" | record*     record = length (4) | crc32 (4) | change bytes

Each commit appends one record holding the Automerge changes made since the last commit, then
fsyncs; a commit returns only after that, so an acknowledged edit survives kill -9 and power loss.
Loading concatenates the snapshot with every record (``Document.load`` accepts that).

A torn last record (the process died while appending) is dropped on load and cut off by the next
writer. Anything else that does not check out is damage: it is reported with
:class:`StoreCorruptError` and never overwritten; ``repair()`` moves the damaged file aside and
keeps what can still be read.

Compaction writes a fresh snapshot atomically (temporary file, fsync, rename, fsync of the folder)
and then starts an empty log the same way. A crash between the two leaves changes in both, which
Automerge loads idempotently.

Only one process writes at a time: callers hold the profile's write lock around ``commit``,
``compact`` and ``repair`` (see ``profile.py``). Readers need no lock.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import automerge.core as am

from . import crdt
from .errors import StoreCorruptError

SNAP_MAGIC = b"PLNTSNP1"
LOG_MAGIC = b"PLNTLOG1"
_SNAP_HEADER = struct.Struct(">IQ")
_RECORD_HEADER = struct.Struct(">II")
MAX_RECORD = 256 * 1024 * 1024
COMPACT_RECORDS = 2000  # compact when the log holds this many records...
COMPACT_MIN_BYTES = 1 << 20  # ...or is this big and larger than the snapshot
REPAIR_HINT = "Run: plntui repair (moves the damaged file aside and keeps what can be read)"


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written: a short write (a full disk, a signal) never
    leaves a fragment that counts as done."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(f"could not write {len(view)} more bytes")
        view = view[written:]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class LogScan:
    """What reading a log found: the payloads, where the good part ends, and a torn tail."""

    records: list[bytes]
    good_end: int
    torn: bool


def scan_log(data: bytes, name: str) -> LogScan:
    """Parse a whole log file. A damaged record followed by more data is corruption."""
    if len(data) < len(LOG_MAGIC):
        # The file was created but its header never reached the disk: an empty log.
        if LOG_MAGIC.startswith(data):
            return LogScan([], 0, bool(data))
        raise StoreCorruptError(f"{name} is not a plntui log (bad header)")
    if data[: len(LOG_MAGIC)] != LOG_MAGIC:
        raise StoreCorruptError(f"{name} is not a plntui log (bad header)")
    pos = len(LOG_MAGIC)
    records: list[bytes] = []
    end = len(data)
    while pos < end:
        if end - pos < _RECORD_HEADER.size:
            return LogScan(records, pos, True)
        length, crc = _RECORD_HEADER.unpack_from(data, pos)
        body_start = pos + _RECORD_HEADER.size
        body_end = body_start + length
        if length > MAX_RECORD or body_end > end:
            # The last write was cut short, unless whole records follow: then the length is damaged.
            if _valid_record_after(data, pos + 1):
                raise StoreCorruptError(f"{name}: record at byte {pos} has a damaged length")
            return LogScan(records, pos, True)
        body = data[body_start:body_end]
        if zlib.crc32(body) != crc:
            # Look from just after this header, not from ``body_end``: a damaged length can
            # point past the start of whole records that follow.
            if body_end == end or not _valid_record_after(data, pos + 1):
                return LogScan(records, pos, True)
            raise StoreCorruptError(
                f"{name}: record at byte {pos} fails its checksum (the file is damaged)"
            )
        records.append(body)
        pos = body_end
    return LogScan(records, pos, False)


def _valid_record_after(data: bytes, start: int, budget: int = 64 << 20) -> bool:
    """Whether a whole, checksummed record starts anywhere at or after ``start``."""
    for pos in range(start, len(data) - _RECORD_HEADER.size):
        length, crc = _RECORD_HEADER.unpack_from(data, pos)
        body_start = pos + _RECORD_HEADER.size
        if 0 < length <= len(data) - body_start:
            budget -= length
            if budget < 0:
                return True  # too much to prove it torn: report damage rather than drop data
            if zlib.crc32(data[body_start : body_start + length]) == crc:
                return True
    return False


def frame(payload: bytes) -> bytes:
    return _RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_snapshot(data: bytes, name: str) -> bytes:
    header = len(SNAP_MAGIC) + _SNAP_HEADER.size
    if len(data) < header or data[: len(SNAP_MAGIC)] != SNAP_MAGIC:
        raise StoreCorruptError(f"{name} is not a plntui snapshot (bad header)")
    crc, length = _SNAP_HEADER.unpack_from(data, len(SNAP_MAGIC))
    payload = data[header:]
    if len(payload) != length:
        raise StoreCorruptError(
            f"{name} is truncated or padded ({len(payload)} bytes of data, {length} expected)"
        )
    if zlib.crc32(payload) != crc:
        raise StoreCorruptError(f"{name} fails its checksum (the file is damaged)")
    return payload


def encode_snapshot(payload: bytes) -> bytes:
    return SNAP_MAGIC + _SNAP_HEADER.pack(zlib.crc32(payload), len(payload)) + payload


def _stat_key(path: Path) -> tuple[int, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class DocumentStore:
    """One Automerge document kept in ``folder`` as ``NAME.snapshot`` and ``NAME.log``."""

    def __init__(self, folder: Path, name: str, actor: bytes) -> None:
        self.folder = folder
        self.name = name
        self.actor = actor
        self.snapshot_path = folder / f"{name}.snapshot"
        self.log_path = folder / f"{name}.log"
        self._doc: am.Document | None = None
        self._saved_heads: list[bytes] = []
        self._token: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None
        self._log_records = 0
        self._log_bytes = 0
        self._torn_at: int | None = None

    # -- state ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.snapshot_path.exists()

    def token(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Cheap identity of what is on disk: changes whenever any process commits."""
        return (_stat_key(self.snapshot_path), _stat_key(self.log_path))

    @property
    def doc(self) -> am.Document:
        if self._doc is None:
            self.load()
        assert self._doc is not None
        return self._doc

    @property
    def loaded(self) -> bool:
        return self._doc is not None

    def changed_on_disk(self) -> bool:
        """True when another process committed since this one last loaded or committed."""
        return self._doc is not None and self.token() != self._token

    # -- create / load ----------------------------------------------------------------------

    def create(self) -> None:
        """Write a new document (the shared genesis) with an empty log."""
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = crdt.new_document(self.actor)
        atomic_write(self.snapshot_path, encode_snapshot(doc.save()))
        atomic_write(self.log_path, LOG_MAGIC)
        self._adopt(doc, 0, len(LOG_MAGIC))

    def _read_files(self) -> tuple[bytes, LogScan]:
        # Read the log before the snapshot: a compaction in between then only duplicates changes
        # (the new snapshot holds the old log). The other order would miss the old log's changes.
        try:
            log_data = self.log_path.read_bytes()
        except FileNotFoundError:
            log_data = b""
        try:
            snap_data = self.snapshot_path.read_bytes()
        except FileNotFoundError:
            raise StoreCorruptError(
                f"{self.snapshot_path} is missing; the profile is incomplete"
            ) from None
        snapshot = read_snapshot(snap_data, str(self.snapshot_path))
        return snapshot, scan_log(log_data, str(self.log_path))

    def load(self) -> None:
        """Load (or reload) the document from disk, dropping uncommitted in-memory changes."""
        try:
            self._load()
        except StoreCorruptError as err:
            raise StoreCorruptError(f"{err.message}. {REPAIR_HINT}") from None

    def catch_up(self) -> None:
        """Merge what other processes committed into the live document. Unlike ``load`` it keeps
        the same ``Document`` object (sync sessions hold it) and its changes not yet committed."""
        if self._doc is None:
            self.load()
            return
        live = self._doc
        try:
            self._load()
        except StoreCorruptError as err:
            self._doc = live
            raise StoreCorruptError(f"{err.message}. {REPAIR_HINT}") from None
        disk = self._doc
        assert disk is not None
        live.merge(disk)
        self._doc = live
        self._saved_heads = disk.get_heads()  # what is on disk; commit() appends the rest

    def _load(self) -> None:
        token = self.token()
        snapshot, scan = self._read_files()
        try:
            doc = am.Document.load(snapshot + b"".join(scan.records))
        except Exception as err:
            try:
                am.Document.load(snapshot)
            except Exception:
                raise StoreCorruptError(
                    f"{self.snapshot_path} cannot be read as an Automerge document ({err})"
                ) from None
            raise StoreCorruptError(
                f"{self.log_path} holds changes that cannot be read ({err})"
            ) from None
        doc.set_actor(self.actor)
        self._adopt(doc, len(scan.records), scan.good_end, token)
        self._torn_at = scan.good_end if scan.torn else None

    def _adopt(
        self,
        doc: am.Document,
        records: int,
        log_bytes: int,
        token: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None,
    ) -> None:
        self._doc = doc
        self._saved_heads = doc.get_heads()
        self._log_records = records
        self._log_bytes = log_bytes
        self._token = token if token is not None else self.token()

    # -- write (callers hold the profile's write lock) -----------------------------------------

    @property
    def saved_heads(self) -> list[bytes]:
        """The heads of what is on disk (everything after them is not committed yet)."""
        return list(self._saved_heads)

    def dirty(self) -> bool:
        return self._doc is not None and self._doc.get_heads() != self._saved_heads

    def commit(self) -> int:
        """Append every change made since the last commit as one record, fsync, and return the
        bytes written (0 if nothing changed). The edit is durable when this returns."""
        if self._doc is None:
            return 0
        heads = self._doc.get_heads()
        if heads == self._saved_heads:
            return 0
        payload = b"".join(change.bytes for change in self._doc.get_changes(self._saved_heads))
        record = frame(payload)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        created = not self.log_path.exists()
        fd = os.open(self.log_path, flags, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size < len(LOG_MAGIC):
                os.ftruncate(fd, 0)
                write_all(fd, LOG_MAGIC)
                size = len(LOG_MAGIC)
            elif self._torn_at is not None and self._torn_at < size:
                os.ftruncate(fd, self._torn_at)
                size = self._torn_at
            self._torn_at = None
            write_all(fd, record)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.log_path.parent)  # a new log file: its directory entry is durable too
        self._saved_heads = heads
        self._log_records += 1
        self._log_bytes = size + len(record)
        self._token = self.token()
        return len(record)

    def should_compact(self) -> bool:
        if self._log_records >= COMPACT_RECORDS:
            return True
        snap = self.snapshot_path.stat().st_size if self.snapshot_path.exists() else 0
        return self._log_bytes >= COMPACT_MIN_BYTES and self._log_bytes > snap

    def compact(self) -> None:
        """Fold the log into a new snapshot, which also makes every uncommitted change durable
        (it holds the whole document). Every committed change stays on disk throughout."""
        doc = self.doc
        heads = doc.get_heads()
        atomic_write(self.snapshot_path, encode_snapshot(doc.save()))
        self._saved_heads = heads
        atomic_write(self.log_path, LOG_MAGIC)
        self._torn_at = None
        self._log_records = 0
        self._log_bytes = len(LOG_MAGIC)
        self._token = self.token()

    def repair(self) -> list[Path]:
        """Move damaged files aside (``NAME.damaged-TIMESTAMP``) and rebuild the document from
        what can still be read. Returns the paths of the files moved aside."""
        moved: list[Path] = []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        snapshot: bytes | None = None
        try:
            snapshot = read_snapshot(self.snapshot_path.read_bytes(), str(self.snapshot_path))
            am.Document.load(snapshot)
        except (StoreCorruptError, FileNotFoundError, Exception):
            snapshot = None
        records: list[bytes] = []
        log_ok = True
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            data = LOG_MAGIC
        try:
            records = scan_log(data, str(self.log_path)).records
        except StoreCorruptError:
            log_ok = False
            records = _salvage_records(data)
        if snapshot is None and records:
            # Its changes may depend on what the snapshot held (Automerge then skips them
            # silently): keep the file as it was.
            log_ok = False
        doc = crdt.new_document(self.actor)
        if snapshot is not None:
            doc.merge(am.Document.load(snapshot))
        base = doc.save()
        kept: list[bytes] = []
        for record in records:
            try:
                am.Document.load(base + b"".join(kept) + record)
            except Exception:
                log_ok = False
                continue
            kept.append(record)
        doc = am.Document.load(base + b"".join(kept))
        doc.set_actor(self.actor)
        for path, ok in ((self.snapshot_path, snapshot is not None), (self.log_path, log_ok)):
            if not ok and path.exists():
                aside = path.with_name(f"{path.name}.damaged-{stamp}")
                n = 1
                while aside.exists():  # a second repair in the same second
                    aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
                    n += 1
                os.replace(path, aside)
                moved.append(aside)
        fsync_dir(self.folder)
        atomic_write(self.snapshot_path, encode_snapshot(doc.save()))
        atomic_write(self.log_path, LOG_MAGIC)
        self._adopt(doc, 0, len(LOG_MAGIC))
        return moved


def _salvage_records(data: bytes) -> list[bytes]:
    """The records before the first damaged one."""
    records: list[bytes] = []
    pos = len(LOG_MAGIC) if data.startswith(LOG_MAGIC) else len(data)
    while pos + _RECORD_HEADER.size <= len(data):
        length, crc = _RECORD_HEADER.unpack_from(data, pos)
        body = data[pos + _RECORD_HEADER.size : pos + _RECORD_HEADER.size + length]
        if len(body) != length or zlib.crc32(body) != crc:
            break
        records.append(body)
        pos += _RECORD_HEADER.size + length
    return records
