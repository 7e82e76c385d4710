"""Provides the storage adapter of the repository: every document of a profile in one SQLite file.

``repo.sqlite3`` in the profile folder (WAL, ``synchronous=FULL``) holds, per document, a snapshot
(``Document.save()``) and the change chunks appended since; ``snapshot + b"".join(chunks)`` is
valid ``Document.load`` input. Each blob carries a CRC-32, so a damaged byte is reported
(``StoreCorruptError``, naming the document) instead of being loaded. Tables::

    meta    key -> value: format, generation (bumped by every write transaction)
    docs    id, circle, kind, snapshot, snap_crc, heads (sorted, concatenated), digest,
            version (bumped by every write of the document), generation (of its last write),
            n_chunks, chunk_bytes
    chunks  seq, doc, data, crc            (the changes since the document's snapshot)

A write is one SQLite transaction (``BEGIN IMMEDIATE``): a batch across documents (an import, a
move between circles) commits whole or not at all, and it is on disk (fsync) when ``commit``
returns, so kill -9 or a power cut loses no acknowledged edit. ``BEGIN IMMEDIATE`` also
serialises writers across processes; readers never wait (WAL).

Why SQLite and not a snapshot and log file per document: ``bench/storage.py`` measures both on
this machine; a commit costs the same, and SQLite needs no thousands of files, gives the
cross-document transaction for free, and answers "which documents changed since generation N"
with one query (``changed_since``), which is how other processes notice a write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreCorruptError

FILE_NAME = "repo.sqlite3"
FORMAT = 1
REPAIR_HINT = "Run: plntui repair (it keeps every change that can still be read)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY, circle TEXT NOT NULL, kind TEXT NOT NULL,
    snapshot BLOB NOT NULL, snap_crc INTEGER NOT NULL, heads BLOB NOT NULL, digest TEXT NOT NULL,
    version INTEGER NOT NULL, generation INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL DEFAULT 0, chunk_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS docs_generation ON docs (generation);
CREATE INDEX IF NOT EXISTS docs_circle ON docs (circle);
CREATE TABLE IF NOT EXISTS chunks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL, data BLOB NOT NULL,
    crc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc, seq);
CREATE TABLE IF NOT EXISTS damaged (
    at TEXT NOT NULL, doc TEXT NOT NULL, what TEXT NOT NULL, data BLOB
);
CREATE TABLE IF NOT EXISTS held_batches (
    id TEXT PRIMARY KEY, author TEXT NOT NULL, circle TEXT NOT NULL, via TEXT NOT NULL,
    at TEXT NOT NULL, deletes TEXT NOT NULL, state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS held (
    batch TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL,
    change BLOB NOT NULL, data BLOB NOT NULL, UNIQUE (batch, change)
);
CREATE TABLE IF NOT EXISTS trash (
    collection TEXT NOT NULL, id TEXT NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (collection, id)
);
"""

HEAD_SIZE = 32


def heads_blob(heads: Iterable[bytes]) -> bytes:
    return b"".join(sorted(heads))


def split_heads(blob: bytes) -> list[bytes]:
    return [blob[i : i + HEAD_SIZE] for i in range(0, len(blob), HEAD_SIZE)]


def digest_of(heads: Iterable[bytes]) -> str:
    """A document's content key: 16 hex digits of a SHA-256 over its sorted heads. Two replicas
    with the same digest hold the same changes."""
    return hashlib.sha256(heads_blob(heads)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """One document as stored: ``data`` loads with ``Document.load``."""

    id: str
    circle: str
    kind: str
    data: bytes
    heads: list[bytes]
    digest: str
    version: int
    n_chunks: int
    snapshot_size: int


class Storage:
    """The SQLite file of one profile. Thread-safe: one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    # -- connections ------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path) -> Storage:
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        storage = cls(path)
        db = storage.db
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(FORMAT),))
        db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
        db.execute("COMMIT")
        return storage

    @property
    def db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
            with self._guard:
                self._connections.append(db)
        return db

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise StoreCorruptError(f"{self.path} is missing; the profile is incomplete")
        try:
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as err:
            raise StoreCorruptError(f"{self.path} is damaged ({err}). {REPAIR_HINT}") from None
        if row is not None and int(row[0]) > FORMAT:
            from .errors import ProfileError

            raise ProfileError(
                f"{self.path} was written by a newer plntui (storage format {row[0]}); "
                "upgrade plntui to open it"
            )
        return db

    def close(self) -> None:
        with self._guard:
            connections, self._connections = self._connections, []
        for db in connections:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._local = threading.local()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent view for several SELECTs (nothing if a write transaction is open)."""
        db = self.db
        if db.in_transaction:
            yield db
            return
        try:
            db.execute("BEGIN")
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from None
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def _damaged(self, err: sqlite3.DatabaseError) -> StoreCorruptError:
        if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
            from .errors import ProfileError

            return ProfileError(  # type: ignore[return-value]
                f"{self.path} stayed locked by another plntui process for 30 s; try again"
            )
        return StoreCorruptError(f"{self.path} is damaged ({err}). {REPAIR_HINT}")

    # -- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Writer]:
        """One durable write transaction across documents (``BEGIN IMMEDIATE`` ... ``COMMIT``).

        Holding it serialises writers across processes. On an exception nothing is written."""
        db = self.db
        if db.in_transaction:
            raise RuntimeError("a storage transaction is already open on this thread")
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from None
        writer = Writer(self, db)
        try:
            yield writer
            if writer.touched:
                db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'generation'", (str(writer.generation),)
                )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    # -- reading ----------------------------------------------------------------------------

    def load(self, doc_id: str) -> StoredDoc | None:
        """The stored bytes of a document, checked, or ``None`` if there is no such document."""
        with self._reading() as db:
            row = db.execute(
                "SELECT circle, kind, snapshot, snap_crc, heads, digest, version, n_chunks "
                "FROM docs WHERE id = ?",
                (doc_id,),
            ).fetchone()
            if row is None:
                return None
            chunks = db.execute(
                "SELECT seq, data, crc FROM chunks WHERE doc = ? ORDER BY seq", (doc_id,)
            ).fetchall()
        circle, kind, snapshot, snap_crc, heads, digest, version, n_chunks = row
        if zlib.crc32(snapshot) != snap_crc:
            raise StoreCorruptError(
                f"the snapshot of document {doc_id} in {self.path.name} fails its checksum "
                f"(damaged). {REPAIR_HINT}"
            )
        for seq, data, crc in chunks:
            if zlib.crc32(data) != crc:
                raise StoreCorruptError(
                    f"change record {seq} of document {doc_id} in {self.path.name} fails its "
                    f"checksum (damaged). {REPAIR_HINT}"
                )
        data = bytes(snapshot) + b"".join(bytes(c[1]) for c in chunks)
        return StoredDoc(
            doc_id,
            circle,
            kind,
            data,
            split_heads(heads),
            digest,
            version,
            len(chunks),
            len(snapshot),
        )

    def info(self, doc_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """``id -> (digest, version)`` of the given documents that exist."""
        wanted = list(dict.fromkeys(doc_ids))
        out: dict[str, tuple[str, int]] = {}
        with self._reading() as db:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                for doc_id, digest, version in db.execute(
                    f"SELECT id, digest, version FROM docs WHERE id IN ({marks})",  # noqa: S608
                    part,
                ):
                    out[doc_id] = (digest, version)
        return out

    def exists(self, doc_id: str) -> bool:
        return bool(self.info([doc_id]))

    def manifest(self, circles: Iterable[str] | None = None) -> dict[str, str]:
        """``id -> digest`` of every document, or of the documents of ``circles``."""
        with self._reading() as db:
            if circles is None:
                rows = db.execute("SELECT id, digest FROM docs").fetchall()
            else:
                rows = []
                for circle in circles:
                    rows += db.execute(
                        "SELECT id, digest FROM docs WHERE circle = ?", (circle,)
                    ).fetchall()
        return dict(rows)

    def ids(self, prefix: str) -> list[str]:
        """The ids of the documents whose id starts with ``prefix``."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._reading() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT id FROM docs WHERE id LIKE ? ESCAPE '\\' ORDER BY id",
                    (escaped + "%",),
                )
            ]

    def generation(self) -> int:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from None
        return int(row[0]) if row else 0

    def changed_since(self, generation: int) -> tuple[list[str], int]:
        """The documents written after ``generation``, and the generation now."""
        with self._reading() as db:
            now = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            if now == generation:
                return [], now
            rows = db.execute("SELECT id FROM docs WHERE generation > ?", (generation,)).fetchall()
        return [r[0] for r in rows], now

    def stored_bytes(self, doc_ids: Iterable[str]) -> Iterator[tuple[str, bytes, str]]:
        """``(id, data, digest)`` of each document, for sending it whole to a peer."""
        for doc_id in doc_ids:
            stored = self.load(doc_id)
            if stored is not None:
                yield doc_id, stored.data, stored.digest

    def size(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(str(self.path) + suffix)
        return total

    # -- the trash ---------------------------------------------------------------------------

    def keep_trash(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """Remember deleted items, ``(collection, id, entry as JSON)``, beside the documents:
        the search index keeps the trash, and takes it back from here when it is made again
        (deleted, damaged). Joins this thread's open transaction, else makes its own."""
        self._trash_write(
            "INSERT OR REPLACE INTO trash VALUES (?, ?, ?)", [tuple(e) for e in entries]
        )

    def drop_trash(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget the trash entries of these items (back, restored)."""
        self._trash_write(
            "DELETE FROM trash WHERE collection = ? AND id = ?", [tuple(k) for k in keys]
        )

    def trash_entries(self) -> list[tuple[str, str, str]]:
        with self._reading() as db:
            return [tuple(r) for r in db.execute("SELECT collection, id, entry FROM trash")]  # type: ignore[misc]

    def _trash_write(self, sql: str, rows: list[tuple[str, ...]]) -> None:
        if not rows:
            return
        db = self.db
        if db.in_transaction:
            db.executemany(sql, rows)
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    # -- damage -------------------------------------------------------------------------------

    def damaged_records(self) -> list[tuple[str, str, str]]:
        """What ``repair`` set aside: ``(when, document, what)``."""
        return [tuple(r) for r in self.db.execute("SELECT at, doc, what FROM damaged")]  # type: ignore[misc]

    def raw_rows(
        self, doc_id: str
    ) -> tuple[tuple[str, str, bytes, int] | None, list[tuple[int, bytes, int]]]:
        """A document's row ``(circle, kind, snapshot, snap_crc)`` and chunks ``(seq, data, crc)``
        as stored, unchecked (for ``repair``)."""
        with self._reading() as db:
            row = db.execute(
                "SELECT circle, kind, snapshot, snap_crc FROM docs WHERE id = ?", (doc_id,)
            ).fetchone()
            chunks = db.execute(
                "SELECT seq, data, crc FROM chunks WHERE doc = ? ORDER BY seq", (doc_id,)
            ).fetchall()
        return (tuple(row) if row else None), [tuple(c) for c in chunks]  # type: ignore[return-value]

    def check_file(self) -> str | None:
        """SQLite's own quick check of the file: ``None`` when sound, else what it found."""
        try:
            rows = self.db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as err:
            return str(err)
        except StoreCorruptError as err:
            return err.message.split(". Run:")[0]
        found = [r[0] for r in rows if r[0] != "ok"]
        return "; ".join(found[:3]) or None


def salvage(path: Path) -> tuple[Path, int, int]:
    """Rebuild a damaged SQLite file: every document row and chunk that can still be read goes
    to a fresh file in its place; the damaged file is kept beside it (``.damaged-DATE``).
    Returns ``(where the damaged file went, rows kept, rows lost)``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        extra = Path(str(path) + suffix)
        if extra.exists():
            os.replace(extra, Path(str(aside) + suffix))
    kept = lost = 0
    fresh = Storage.create(path)
    try:
        old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True, isolation_level=None)
        try:
            try:
                ids = [r[0] for r in old.execute("SELECT id FROM docs")]
            except sqlite3.DatabaseError:
                ids = []
            db = fresh.db
            db.execute("BEGIN IMMEDIATE")
            for doc_id in ids:
                try:
                    row = old.execute("SELECT * FROM docs WHERE id = ?", (doc_id,)).fetchone()
                    marks = ",".join("?" * len(row))
                    db.execute(f"INSERT INTO docs VALUES ({marks})", row)  # noqa: S608
                    kept += 1
                except (sqlite3.DatabaseError, TypeError):
                    lost += 1
                    continue
                try:
                    chunks = old.execute(
                        "SELECT seq, doc, data, crc FROM chunks WHERE doc = ?", (doc_id,)
                    ).fetchall()
                    db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", chunks)
                except sqlite3.DatabaseError:
                    lost += 1
            try:
                generation = old.execute(
                    "SELECT value FROM meta WHERE key = 'generation'"
                ).fetchone()
                if generation:
                    db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", generation)
            except sqlite3.DatabaseError:
                pass
            db.execute("COMMIT")
        finally:
            old.close()
    finally:
        fresh.close()
    return aside, kept, lost


class Writer:
    """The writes of one storage transaction (see ``Storage.transaction``)."""

    def __init__(self, storage: Storage, db: sqlite3.Connection) -> None:
        self.storage = storage
        self.db = db
        self.touched: set[str] = set()
        self.written: dict[str, tuple[str, bytes]] = {}
        """``id -> (digest, heads)`` of every document written, as it was written."""
        row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        self.generation = (int(row[0]) if row else 0) + 1

    def put(
        self, doc_id: str, circle: str, kind: str, snapshot: bytes, heads: Iterable[bytes]
    ) -> int:
        """Store ``snapshot`` as the whole document (new, or replacing its snapshot and
        chunks). Returns the document's new version."""
        heads = list(heads)
        row = self.db.execute("SELECT version FROM docs WHERE id = ?", (doc_id,)).fetchone()
        version = (row[0] if row else 0) + 1
        self.db.execute("DELETE FROM chunks WHERE doc = ?", (doc_id,))
        self.db.execute(
            "INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
            (
                doc_id,
                circle,
                kind,
                snapshot,
                zlib.crc32(snapshot),
                heads_blob(heads),
                digest_of(heads),
                version,
                self.generation,
            ),
        )
        self.touched.add(doc_id)
        self.written[doc_id] = (digest_of(heads), heads_blob(heads))
        return version

    def append(self, doc_id: str, chunk: bytes, heads: Iterable[bytes]) -> tuple[int, int, int]:
        """Append the encoded changes ``chunk`` to a stored document. Returns ``(version,
        chunks, chunk bytes)`` after it."""
        heads = list(heads)
        row = self.db.execute(
            "SELECT version, n_chunks, chunk_bytes FROM docs WHERE id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            raise KeyError(doc_id)
        version, n_chunks, chunk_bytes = row[0] + 1, row[1] + 1, row[2] + len(chunk)
        self.db.execute(
            "INSERT INTO chunks (doc, data, crc) VALUES (?, ?, ?)",
            (doc_id, chunk, zlib.crc32(chunk)),
        )
        self.db.execute(
            "UPDATE docs SET heads = ?, digest = ?, version = ?, generation = ?, n_chunks = ?, "
            "chunk_bytes = ? WHERE id = ?",
            (
                heads_blob(heads),
                digest_of(heads),
                version,
                self.generation,
                n_chunks,
                chunk_bytes,
                doc_id,
            ),
        )
        self.touched.add(doc_id)
        self.written[doc_id] = (digest_of(heads), heads_blob(heads))
        return version, n_chunks, chunk_bytes

    def set_aside(self, doc_id: str, what: str, data: bytes | None) -> None:
        """Keep damaged bytes in the ``damaged`` table (never deleted by plntui)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.db.execute("INSERT INTO damaged VALUES (?, ?, ?, ?)", (stamp, doc_id, what, data))

    def drop_chunks(self, doc_id: str, seqs: Iterable[int]) -> None:
        for seq in seqs:
            self.db.execute("DELETE FROM chunks WHERE doc = ? AND seq = ?", (doc_id, seq))
        self.touched.add(doc_id)

    def hold(self, batch: str, doc_id: str, change: bytes, data: bytes) -> None:
        """Keep a change held for the user's decision (``held``), once."""
        self.db.execute(
            "INSERT OR IGNORE INTO held (batch, doc, change, data) VALUES (?, ?, ?, ?)",
            (batch, doc_id, change, data),
        )

    def remove(self, doc_id: str) -> None:
        self.db.execute("DELETE FROM chunks WHERE doc = ?", (doc_id,))
        self.db.execute("DELETE FROM docs WHERE id = ?", (doc_id,))
        self.touched.add(doc_id)
