"""Provides the search index: a SQLite FTS5 copy of the network, derived and disposable.

The documents are the truth; ``index.sqlite3`` in the profile is a cache of the assembled
records with a full-text index, so lists and ``plntui search`` answer without loading Automerge.
Freshness is kept per document and keyed on content: the index remembers, for every document,
the digest of the heads it indexed (``docs``), and a reader compares that with the repository's
(``ensure_fresh``): only documents whose digest differs are read again. A copied or restored
profile keeps a fresh index; another process's write costs a re-read of what it wrote. Every
write through the domain API updates the index in the same locked step (``apply_write``), and
the sync host does the same for what peers send. Deleting the file is always safe.

Each item row also keeps its circle and its provenance (``created_by``, ``changed_by`` actor
ids and the ``changed`` stamp, indexed) for "what's new" and the "added by" filter; the circles
table keeps each circle's name, members and device registry, so names are shown without loading
a document. Each item's haystack (``query.haystack``: what the search syntax matches, in
``matching`` as in the app's filters) lives in the narrow ``hay`` table with its sort key, under
the item's rowid: a search scans about 300 bytes an item there instead of the whole row (its
values as JSON are most of it). The items' own ``haystack`` column is left empty; an index made
before the ``hay`` table fills that table from it once.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import logging
import os
import re
import sqlite3
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from . import collector
from .errors import ProfileError
from .listed import listed
from .model import CREATOR_FIELD, FIELDS, Collection, Record, normalise_topic
from .query import Filter, Query, Resolver, fold, haystack, parse

if TYPE_CHECKING:
    from .network import Network
    from .profile import Profile

log = logging.getLogger(__name__)

INDEX_VERSION = 8
BULK_CACHE_KIB = 64 * 1024
"""SQLite's page cache while a new peer's documents are indexed (``SearchIndex.adding``)."""
DEFAULT_CACHE = -2000
"""SQLite's own default (2,000 KiB), restored after: a process reading the index stays small."""
LIST_MMAP = 1 << 30
"""How much of the index file ``SearchIndex.list`` maps while it reads every row of a
collection (then unmapped): SQLite reads mapped pages without a copy each."""


@dataclass(slots=True)
class NewDocument:
    """A shared document new to this device, as ``SearchIndex.adding`` indexes it: its heads
    (stored), the index rows of its items (``index_row``) and its redirects (merged contacts)."""

    doc_id: str
    heads: builtins.list[bytes]
    rows: builtins.list[IndexRow]
    redirects: dict[str, str]

    @property
    def digest(self) -> str:
        from .storage import digest_of

        return digest_of(self.heads)


class IndexRow(NamedTuple):
    """What the index stores of one item: its ``items`` row (without the rowid and the
    haystack), its haystack (the ``hay`` table's), its full-text row, its topics and its links.
    Plain data: a worker process builds it, and as a tuple it unpickles without a call per
    field (a new peer's 100,000 rows cross from the workers)."""

    collection: str
    id: str
    item: tuple[Any, ...]
    haystack: str
    fts: tuple[str, str, str, str]
    topics: builtins.list[tuple[str, str]]
    links: builtins.list[tuple[str, str]]


def index_row(r: Record, sdoc: str | None, pdoc: str | None) -> IndexRow:
    """The index's rows of one record (``sdoc``/``pdoc``: its shared and private documents)."""
    data = {
        "values": r.values,
        "private": sorted(r.private),
        "private_item": r.private_item,
        "sources": r.sources,
        "circle": r.circle,
    }
    creator = str(r.values.get(CREATOR_FIELD[r.collection]) or "")
    item = (
        r.collection,
        r.id,
        r.label,
        _encode(data),
        fold(r.label),
        creator,
        str(r.values.get("changed_by") or creator),
        str(r.values.get("updated") or r.values.get("created") or ""),
        r.circle,
        sdoc,
        pdoc,
    )
    body = " ".join(_flatten(r.values.get(k)) for k in _TEXT_KEYS[r.collection])
    topics: builtins.list[tuple[str, str]] = []
    links: builtins.list[tuple[str, str]] = []
    if r.collection == "contacts":
        topics = [(r.id, t) for t in r.values.get("topics", [])]
    elif r.collection == "notes":
        links = [(r.id, c) for c in r.values.get("contacts", [])]
    elif r.values.get("contact"):
        links = [(r.id, r.values["contact"])]
    fts = (r.collection, r.id, r.label, body)
    return IndexRow(r.collection, r.id, item, haystack(r), fts, topics, links)


_encode = json.JSONEncoder(ensure_ascii=False).encode
"""``json.dumps(data, ensure_ascii=False)`` without making an encoder for each item."""

_TEXT_KEYS: dict[str, tuple[str, ...]] = {
    "contacts": (
        "emails",
        "org",
        "role",
        "topics",
        "relationship",
        "met",
        "met_where",
        "channel",
        "links",
        "remark",
        "reminder",
        "phones",
    ),
    "notes": ("tags", "kind", "body", "remark", "reminder"),
    "interactions": ("summary", "kind"),
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    collection TEXT NOT NULL, id TEXT NOT NULL, label TEXT NOT NULL, data TEXT NOT NULL,
    sort_key TEXT NOT NULL, haystack TEXT NOT NULL, created_by TEXT NOT NULL,
    changed_by TEXT NOT NULL, changed TEXT NOT NULL, circle TEXT NOT NULL,
    sdoc TEXT, pdoc TEXT, PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS items_sdoc ON items (sdoc);
CREATE INDEX IF NOT EXISTS items_pdoc ON items (pdoc);
CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, digest TEXT NOT NULL, heads BLOB);
CREATE TABLE IF NOT EXISTS trash (
    collection TEXT NOT NULL, id TEXT NOT NULL, label TEXT NOT NULL, data TEXT NOT NULL,
    circle TEXT NOT NULL, doc TEXT, deleted_by TEXT NOT NULL, deleted_at TEXT NOT NULL,
    change TEXT NOT NULL, PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS trash_deleted_at ON trash (deleted_at);
CREATE TABLE IF NOT EXISTS redirects (old TEXT PRIMARY KEY, new TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS redirects_doc ON redirects (doc);
CREATE TABLE IF NOT EXISTS circles (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, member INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_changed ON items (changed);
CREATE TABLE IF NOT EXISTS hay (
    rowid INTEGER PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL,
    sort_key TEXT NOT NULL, haystack TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS topics (id TEXT NOT NULL, topic TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS topics_topic ON topics (topic);
CREATE INDEX IF NOT EXISTS topics_id ON topics (id);
CREATE TABLE IF NOT EXISTS links (item TEXT NOT NULL, contact TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS links_contact ON links (contact);
CREATE INDEX IF NOT EXISTS links_item ON links (item);
CREATE TABLE IF NOT EXISTS conflicts (
    collection TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL,
    PRIMARY KEY (collection, id, field)
);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    collection UNINDEXED, id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2'
);
"""

_SORTED = "CREATE INDEX IF NOT EXISTS items_sorted ON items (collection, sort_key, id)"
"""The items in list order (``SearchIndex.list``). Apart from ``_SCHEMA``: an index made before
it gains it on an open, which needs the write lock; when another process holds that lock too
long, the index is not dropped as damaged, the lists sort as before until a later open."""


@dataclass(frozen=True, slots=True)
class ContactKeys:
    """Every contact's id and the keys an import matches by (``SearchIndex.match_keys``)."""

    ids: set[str]
    emails: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    by_org: dict[str, builtins.list[tuple[str, str]]] = field(default_factory=dict)
    """Casefolded organisation → ``(id, label)`` of its contacts."""


@dataclass(frozen=True, slots=True)
class Ranked:
    record: Record
    score: int
    reason: str


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def fts_query(text: str) -> str:
    """Every word of the query must match, each as a prefix: ``ada love`` -> ``"ada"* "love"*``."""
    words = re.findall(r"\w+", text)
    return " ".join(f'"{w}"*' for w in words)


LOCK_TIMEOUT = 10.0
"""Seconds a write waits for another process's write to the index before it gives up."""


class IndexBusyError(ProfileError, sqlite3.OperationalError):
    """The index must be written to open (made by another version) and another process held
    its write lock too long. A ``ProfileError`` for the reader (try again) and a SQLite error
    where one is handled: after a durable write, the index simply stays behind until its next
    reader brings it up to date."""


def _busy(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says another connection holds a lock (not that the file is damaged)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


KEPT_TABLES = ("trash", "conflicts")
"""Tables an index made by another version hands on, when their columns are the same."""


def _same_tables(db: sqlite3.Connection, names: Iterable[str]) -> set[str]:
    """Which of ``names`` exist in ``db`` with the columns this version's schema gives them."""
    fresh = sqlite3.connect(":memory:")
    try:
        fresh.executescript(_SCHEMA)
        out = set()
        for name in names:
            want = fresh.execute(f'PRAGMA table_info("{name}")').fetchall()
            have = db.execute(f'PRAGMA table_info("{name}")').fetchall()
            if want and have == want:
                out.add(name)
        return out
    finally:
        fresh.close()


class SearchIndex:
    """The derived index of one profile."""

    _by_profile: weakref.WeakKeyDictionary[Profile, SearchIndex] = weakref.WeakKeyDictionary()

    def __init__(self, profile: Profile) -> None:
        # A weak reference: the cache of indexes must not keep profiles (and their documents)
        # alive after their last user dropped them.
        self._profile = weakref.ref(profile)
        self.path = profile.home / "index.sqlite3"
        self._db: sqlite3.Connection | None = None
        self._names: dict[str, str] | None = None
        self._trash_joined = False

    @property
    def profile(self) -> Profile:
        profile = self._profile()
        assert profile is not None, "the profile of this index is gone"
        return profile

    @classmethod
    def for_profile(cls, profile: Profile) -> SearchIndex:
        index = cls._by_profile.get(profile)
        if index is None:
            index = cls._by_profile[profile] = cls(profile)
        return index

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as exc:
                if _busy(exc):  # another process writes it (a rebuild): not damage
                    raise IndexBusyError(
                        f"the search index {self.path} stayed locked by another plntui process"
                        f" for {LOCK_TIMEOUT:g} s while it is brought up to date; try again"
                    ) from None
                # A damaged cache is simply rebuilt: it holds nothing that is not in the documents
                # (the trash is kept beside them too, and taken back).
                self.path.unlink(missing_ok=True)
                self._db = self._connect()
                self._trash_joined = False
        return self._db

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():  # it holds private data too: owner only
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        db = sqlite3.connect(
            self.path, timeout=LOCK_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            self._prepare(db)
        except BaseException:
            db.close()
            raise
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA journal_size_limit = 4194304")  # keep the WAL from staying index-sized
        if db.execute("PRAGMA user_version").fetchone()[0] != INDEX_VERSION:
            # Made by another plntui version: start again (a cache of the documents), but keep
            # what the documents alone do not say at once, when its table has not changed: the
            # trash (who deleted what, when) and the conflicts found in merges
            kept = _same_tables(db, KEPT_TABLES)
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'fts_%'"
            ).fetchall():
                if name not in kept:
                    db.execute(f'DROP TABLE IF EXISTS "{name}"')
            db.execute(f"PRAGMA user_version = {INDEX_VERSION}")
        had_hay = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'hay'").fetchone()
        db.executescript(_SCHEMA)
        try:
            db.execute(_SORTED)
        except sqlite3.OperationalError as exc:  # locked by a long write elsewhere: next time
            log.info("the index's sort order is not indexed yet: %s", exc)
        if not had_hay:  # an index of an earlier 0.x: its items give their haystacks once
            db.execute(  # (OR IGNORE: another process opening it at once may fill it too)
                "INSERT OR IGNORE INTO hay SELECT rowid, collection, id, sort_key, haystack"
                " FROM items"
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- freshness --------------------------------------------------------------------------------

    def stale_docs(self, net: Network) -> set[str]:
        """The documents whose indexed digest is not the stored one (or gone, or new)."""
        stored = net.repo.storage.manifest()
        indexed = dict(self.db.execute("SELECT id, digest FROM docs").fetchall())
        stale = {d for d, digest in stored.items() if indexed.get(d) != digest}
        return stale | (indexed.keys() - stored.keys())

    def is_fresh(self, net: Network) -> bool:
        return not self.stale_docs(net)

    def ensure_fresh(self, net: Network) -> SearchIndex:
        stale = self.stale_docs(net)
        if stale:
            self.reindex(net, stale)
        if not self._trash_joined:
            self._trash_joined = True
            self._join_trash(net)
        return self

    # -- the trash, kept here and beside the documents --------------------------------------------

    def _join_trash(self, net: Network) -> None:
        """Once a process: take back the trash entries the documents' database keeps and this
        index lacks (it was deleted, damaged or made again), for items that are not back, and
        hand it those it lacks (an index made before it kept them)."""
        try:
            kept = {(c, i): entry for c, i, entry in net.repo.storage.trash_entries()}
        except (sqlite3.Error, OSError, ValueError) as exc:  # the trash stays as it is here
            log.warning("cannot read the trash kept beside the documents: %s", exc)
            return
        db = self.db
        here = {
            (c, i): [label, data, circle, doc, by, at, change]
            for c, i, label, data, circle, doc, by, at, change in db.execute(
                "SELECT collection, id, label, data, circle, doc, deleted_by, deleted_at, change"
                " FROM trash"
            )
        }
        missing = [(key, entry) for key, entry in kept.items() if key not in here]
        if missing:
            db.execute("BEGIN IMMEDIATE")
            try:
                for (collection, item_id), entry in missing:
                    fields = _trash_fields(entry)
                    if fields is None:  # not as this plntui writes it: left where it is
                        continue
                    db.execute(
                        "INSERT OR IGNORE INTO trash SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?"
                        " WHERE NOT EXISTS (SELECT 1 FROM items WHERE collection = ? AND id = ?)",
                        (collection, item_id, *fields, collection, item_id),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._keep_trash(net, [(k, v) for k, v in here.items() if k not in kept])

    @staticmethod
    def _keep_trash(
        net: Network | None, entries: Iterable[tuple[tuple[str, str], builtins.list[Any]]]
    ) -> None:
        """Keep trash entries beside the documents too (``Storage.keep_trash``)."""
        rows = [(c, i, json.dumps(fields, ensure_ascii=False)) for (c, i), fields in entries]
        if net is None or not rows:
            return
        try:
            net.repo.storage.keep_trash(rows)
        except (sqlite3.Error, OSError) as exc:  # this index still has them
            log.warning("cannot keep the trash beside the documents: %s", exc)

    def rebuild(self, net: Network) -> None:
        """Index everything again (``reindex`` of every document)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("items", "hay", "topics", "links", "fts", "docs", "redirects", "circles"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.reindex(net, set(net.repo.storage.manifest()))

    def reindex(self, net: Network, doc_ids: Iterable[str], batch: int = 200) -> None:
        """Read these documents again and update what they feed: their items, redirects and
        circles; then remember their digests. In batches, so memory stays bounded."""
        ordered = sorted(doc_ids, key=lambda d: (not d.startswith("c:"), d))
        for start in range(0, len(ordered), batch):
            part = ordered[start : start + batch]
            with net.lock:
                loaded_before = set(net.repo.loaded())
                try:
                    self._reindex_docs(net, part)
                finally:
                    net.repo.drop(set(net.repo.loaded()) - loaded_before)
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextlib.contextmanager
    def adding(self, net: Network) -> Iterator[Callable[[Sequence[NewDocument]], None]]:
        """Index shared documents new to this device from the rows built when they arrived
        (``RepoHost.receive_docs``: ``checkpool.check_new``), without loading them again, part
        by part in one transaction committed when the block ends: a new peer indexes each part
        of a batch as the checking workers return it, and stores the documents before the block
        ends (the index never names a document not yet stored). An item the index knows already
        (a private remark on it, or a copy in another circle) is read again once they are."""
        known: set[tuple[str, str]] = set()
        with net.lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            # Rows for thousands of items go into several b-trees at random places (ids are
            # random): SQLite's default 2 MiB cache would spill and read the same pages again.
            db.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
            try:
                yield lambda docs: known.update(self._add_new(net, docs))
                # items the index knew: read again now that their new documents are stored
                located = {key: net.locate(key[0], key[1]) for key in _by_document(known)}  # type: ignore[arg-type]
                self._upsert(located, net, lambda c, i, d: ("", ""))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                db.execute(f"PRAGMA cache_size = {DEFAULT_CACHE}")  # gives the pages back

    def _add_new(self, net: Network, docs: Sequence[NewDocument]) -> set[tuple[str, str]]:
        """Insert the rows of items new to the index; returns the items it knew already."""
        if not docs:
            return set()
        db = self.db
        doc_ids = [d.doc_id for d in docs]
        rows = {(row.collection, row.id): row for d in docs for row in d.rows}
        known = {
            (collection, item_id)
            for collection, item_id in db.execute(
                "SELECT i.collection, i.id FROM json_each(?) AS j JOIN items AS i"
                " ON i.collection = j.value ->> 0 AND i.id = j.value ->> 1"
                " UNION SELECT collection, id FROM items"
                " WHERE sdoc IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(rows)), json.dumps(doc_ids)),
            )
        }
        self._insert_rows([row for key, row in rows.items() if key not in known])
        db.executemany(
            "INSERT OR REPLACE INTO redirects VALUES (?, ?, ?)",
            [(o, n, d.doc_id) for d in docs for o, n in d.redirects.items()],
        )
        db.executemany(
            "INSERT OR REPLACE INTO docs VALUES (?, ?, ?)",
            [(d.doc_id, d.digest, b"".join(sorted(d.heads))) for d in docs],
        )
        return known

    def _reindex_docs(self, net: Network, doc_ids: builtins.list[str]) -> None:
        from .crdt import diff_items
        from .history import concurrent, conflicted_keys
        from .storage import split_heads

        located: dict[tuple[str, str], Any] = {}
        conflicts: dict[tuple[str, str, str], bool] = {}
        redirects: dict[str, dict[str, str]] = {}
        circles_changed = False
        digests: dict[str, str | None] = {}
        heads: dict[str, bytes] = {}
        old_heads = {
            doc_id: bytes(h or b"")
            for doc_id, h in self.db.execute(
                "SELECT id, heads FROM docs WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(doc_ids),),
            )
        }
        for doc_id in doc_ids:
            live = net.repo.live(doc_id)
            digests[doc_id] = live.digest if live is not None else net.repo.digest(doc_id)
            if live is not None:
                heads[doc_id] = b"".join(sorted(live.saved_heads))
            if doc_id.startswith("c:"):
                circles_changed = True
                continue
            changed = None
            if live is not None and old_heads.get(doc_id):
                # only the items changed since the heads indexed (a full read when unknown)
                try:
                    diffed = diff_items(live.doc, split_heads(old_heads[doc_id]), live.saved_heads)
                except Exception:
                    diffed = None
                if diffed is not None:
                    changed = diffed[0]
                    conflicts.update(diffed[1])
            if changed is None:
                changed = set(net.items_of(doc_id))
                changed.update(
                    self.db.execute(
                        "SELECT collection, id FROM items WHERE sdoc = ? OR pdoc = ?",
                        (doc_id, doc_id),
                    ).fetchall()
                )
                if not old_heads.get(doc_id):  # never read here: its history may hold conflicts
                    doc = net.repo.get(doc_id)
                    if doc is not None and concurrent(doc):
                        conflicts.update(dict.fromkeys(conflicted_keys(doc), True))
            # one document at a time, while it is loaded
            for key in _by_document(changed - located.keys()):
                located[key] = net.locate(key[0], key[1])  # type: ignore[arg-type]
            if doc_id.startswith("s:"):
                redirects[doc_id] = net.redirects_of(doc_id)

        def deleter(collection: str, item_id: str, doc_id: str | None) -> tuple[str, str]:
            return _deleter(net, collection, item_id, doc_id, old_heads)

        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if circles_changed:
                self._store_circles(net)
            self._upsert(located, net, deleter)
            self._store_conflicts(conflicts)
            for doc_id, found in redirects.items():
                db.execute("DELETE FROM redirects WHERE doc = ?", (doc_id,))
                db.executemany(
                    "INSERT OR REPLACE INTO redirects VALUES (?, ?, ?)",
                    [(old, new, doc_id) for old, new in found.items()],
                )
            for doc_id, digest in digests.items():
                if digest is None:
                    db.execute("DELETE FROM docs WHERE id = ?", (doc_id,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO docs VALUES (?, ?, ?)",
                        (doc_id, digest, heads.get(doc_id)),
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _upsert(
        self,
        located: Mapping[tuple[str, str], Any],
        net: Network | None = None,
        deleter: Callable[[str, str, str | None], tuple[str, str]] | None = None,
    ) -> None:
        """Replace the rows of these items; an item that is gone goes to the trash (a contact
        merged into another is not deleted: it has a redirect)."""
        gone = [key for key, found in located.items() if found is None]
        back = [key for key, found in located.items() if found is not None]
        if gone and deleter is not None:
            self._to_trash(gone, net, deleter)
        if back:
            restored = self.db.execute(
                "DELETE FROM trash WHERE (collection, id) IN"
                " (SELECT value ->> 0, value ->> 1 FROM json_each(?))",
                (json.dumps(back),),
            ).rowcount
            if restored and net is not None:
                try:
                    net.repo.storage.drop_trash(back)
                except (sqlite3.Error, OSError) as exc:
                    log.warning("cannot update the trash beside the documents: %s", exc)
        self._delete(located.keys())
        self._insert([found for found in located.values() if found is not None])

    def _to_trash(
        self,
        keys: Iterable[tuple[str, str]],
        net: Network | None,
        deleter: Callable[[str, str, str | None], tuple[str, str]],
    ) -> None:
        from .model import now_stamp

        stamp = now_stamp()
        kept: builtins.list[tuple[tuple[str, str], builtins.list[Any]]] = []
        for collection, item_id in keys:
            if collection not in ("contacts", "notes"):
                continue
            row = self.db.execute(
                "SELECT label, data, circle, sdoc, pdoc FROM items WHERE collection = ? AND id = ?",
                (collection, item_id),
            ).fetchone()
            if row is None:
                continue
            label, data, circle, sdoc, pdoc = row
            if (
                collection == "contacts"
                and net is not None
                and sdoc
                and item_id in net.redirects_of(sdoc)
            ):
                continue  # merged into another contact, not deleted
            if (
                collection == "contacts"
                and self.db.execute("SELECT 1 FROM redirects WHERE old = ?", (item_id,)).fetchone()
            ):
                continue
            actor, change = deleter(collection, item_id, sdoc or pdoc)
            fields = [label, data, circle, sdoc or pdoc, actor, stamp, change]
            self.db.execute(
                "INSERT OR REPLACE INTO trash VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection, item_id, *fields),
            )
            kept.append(((collection, item_id), fields))
        self._keep_trash(net, kept)

    def apply_write(
        self,
        net: Network,
        before: Mapping[str, str | None],
        touched: Iterable[tuple[str, str]],
        removed: Iterable[tuple[str, str]],
        added: Mapping[tuple[str, str], tuple[Record, str | None, str | None]] | None = None,
        written: Mapping[str, tuple[str, bytes]] | None = None,
        conflicts: Mapping[tuple[str, str, str], bool] | None = None,
        origin: str = "local",
    ) -> None:
        """Called under the repository lock after a write: update the items it touched, and
        the digests of the documents it wrote that the index held fresh before. ``added``:
        items the write added, as it read them back (not read again); ``written``: the digest
        and heads of each document the write stored (``Writer.written``); ``conflicts``: what
        a merge's diff found of fields (``crdt.diff_items``; a local write has none: the
        conflicts of the items it touched are read again); ``origin``: "remote" for a peer's
        changes (who deleted an item is then read from the document's history)."""
        try:
            indexed = {
                doc_id: digest
                for doc_id, digest in self.db.execute(
                    "SELECT id, digest FROM docs WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted(before)),),
                )
            }
            fresh = [d for d, digest in before.items() if indexed.get(d) == digest]
            written = written or {}
            keys = set(touched) | set(removed)
            added = added or {}
            located = {
                key: added[key] if key in added else net.locate(key[0], key[1])  # type: ignore[arg-type]
                for key in _by_document(keys)
            }
            me = net.device_id
            old_heads: dict[str, bytes] = {}
            if origin != "local":
                old_heads = {
                    doc_id: bytes(h or b"")
                    for doc_id, h in self.db.execute(
                        "SELECT id, heads FROM docs WHERE id IN (SELECT value FROM json_each(?))",
                        (json.dumps(sorted(before)),),
                    )
                }

            def deleter(collection: str, item_id: str, doc_id: str | None) -> tuple[str, str]:
                if origin == "local":
                    return me, ""
                return _deleter(net, collection, item_id, doc_id, old_heads)

            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                if any(d.startswith("c:") for d in before):
                    self._store_circles(net)
                self._upsert(located, net, deleter)
                if conflicts is None:
                    self._recheck_conflicts(net, keys)
                else:
                    self._store_conflicts(conflicts)
                for doc_id in fresh:
                    if doc_id.startswith("s:"):
                        db.execute("DELETE FROM redirects WHERE doc = ?", (doc_id,))
                        db.executemany(
                            "INSERT OR REPLACE INTO redirects VALUES (?, ?, ?)",
                            [(o, n, doc_id) for o, n in net.redirects_of(doc_id).items()],
                        )
                db.executemany(
                    "INSERT OR REPLACE INTO docs VALUES (?, ?, ?)",
                    [(d, *written[d]) for d in fresh if d in written],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error:
            # The edit is durable already; a stale index is brought up to date by its next reader.
            self.close()

    def _store_circles(self, net: Network) -> None:
        self.db.execute("DELETE FROM circles")
        registry: dict[str, Any] = {}
        for circle in net.circles().values():
            data = {"members": dict(circle.members), "devices": dict(circle.devices)}
            self.db.execute(
                "INSERT INTO circles VALUES (?, ?, ?, ?)",
                (circle.id, circle.name, int(circle.member), json.dumps(data, ensure_ascii=False)),
            )
            for actor, info in circle.devices.items():
                registry.setdefault(actor, info)
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('devices', ?)",
            (json.dumps(registry, ensure_ascii=False),),
        )
        self._names = None

    def _delete(self, keys: Iterable[tuple[str, str]]) -> None:
        wanted = builtins.list(keys)
        for start in range(0, len(wanted), 500):
            part = json.dumps(wanted[start : start + 500])
            found = self.db.execute(
                "SELECT i.rowid, i.collection, i.id FROM json_each(?) AS j JOIN items AS i"
                " ON i.collection = j.value ->> 0 AND i.id = j.value ->> 1",
                (part,),
            ).fetchall()
            if not found:
                continue
            # The full-text row shares the item's rowid: deleting by rowid avoids a scan.
            rowids = json.dumps([rowid for rowid, _c, _i in found])
            contacts = json.dumps([i for _r, c, i in found if c == "contacts"])
            others = json.dumps([i for _r, c, i in found if c != "contacts"])
            self.db.execute(
                "DELETE FROM items WHERE rowid IN (SELECT value FROM json_each(?))", (rowids,)
            )
            self.db.execute(
                "DELETE FROM fts WHERE rowid IN (SELECT value FROM json_each(?))", (rowids,)
            )
            self.db.execute(
                "DELETE FROM hay WHERE rowid IN (SELECT value FROM json_each(?))", (rowids,)
            )
            self.db.execute(
                "DELETE FROM topics WHERE id IN (SELECT value FROM json_each(?))", (contacts,)
            )
            self.db.execute(
                "DELETE FROM links WHERE item IN (SELECT value FROM json_each(?))", (others,)
            )

    def _insert(self, found: Iterable[tuple[Record, str | None, str | None]]) -> None:
        self._insert_rows([index_row(r, sdoc, pdoc) for r, sdoc, pdoc in found])

    def _insert_rows(self, rows: builtins.list[IndexRow]) -> None:
        items = [row.item for row in rows]
        fts = [row.fts for row in rows]
        topics = [pair for row in rows for pair in row.topics]
        links = [pair for row in rows for pair in row.links]
        # The full-text row shares the item's rowid: numbered here, so both go in one batch
        # (every writer holds the write lock, ``BEGIN IMMEDIATE``).
        first = int(self.db.execute("SELECT coalesce(max(rowid), 0) + 1 FROM items").fetchone()[0])
        self.db.executemany(
            "INSERT INTO items (rowid, collection, id, label, data, sort_key, haystack, created_by,"
            " changed_by, changed, circle, sdoc, pdoc) VALUES"
            " (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?)",
            [(first + n, *item) for n, item in enumerate(items)],
        )
        self.db.executemany(
            "INSERT INTO fts (rowid, collection, id, title, body) VALUES (?, ?, ?, ?, ?)",
            [(first + n, *row) for n, row in enumerate(fts)],
        )
        self.db.executemany(
            "INSERT INTO hay VALUES (?, ?, ?, ?, ?)",
            [(first + n, r.collection, r.id, r.item[4], r.haystack) for n, r in enumerate(rows)],
        )
        self.db.executemany("INSERT INTO topics VALUES (?, ?)", topics)
        self.db.executemany("INSERT INTO links VALUES (?, ?)", links)

    # -- queries ----------------------------------------------------------------------------

    def _record(self, collection: str, item_id: str, data: str) -> Record:
        raw = json.loads(data)
        circle = str(raw.get("circle") or "")
        return Record(
            collection,  # type: ignore[arg-type]
            item_id,
            raw["values"],
            frozenset(raw["private"]),
            raw["private_item"],
            raw.get("sources", []),
            circle,
            self.circle_name(circle),
        )

    def circle_name(self, circle: str) -> str:
        return self.circle_names().get(circle, circle[:8]) if circle else ""

    def circle_names(self) -> dict[str, str]:
        if self._names is None:
            self._names = dict(self.db.execute("SELECT id, name FROM circles").fetchall())
        return self._names

    def circles(self) -> builtins.list[dict[str, Any]]:
        """Every circle as of the last index update: id, name, member, members, devices."""
        out = []
        for circle_id, name, member, data in self.db.execute(
            "SELECT id, name, member, data FROM circles ORDER BY name"
        ):
            raw = json.loads(data)
            out.append({"id": circle_id, "name": name, "member": bool(member), **raw})
        return out

    def trash(self, since: str = "") -> builtins.list[dict[str, Any]]:
        """Deleted contacts and notes, latest first: their last values, who deleted them (actor
        id, "" when unknown) and when this device learned of it."""
        rows = self.db.execute(
            "SELECT collection, id, label, data, circle, doc, deleted_by, deleted_at, change "
            "FROM trash WHERE deleted_at > ? ORDER BY deleted_at DESC, collection, id",
            (since,),
        ).fetchall()
        out = []
        for collection, item_id, label, data, circle, doc, by, at, change in rows:
            out.append(
                {
                    "record": self._record(collection, item_id, data),
                    "label": label,
                    "circle": circle,
                    "doc": doc,
                    "deleted_by": by,
                    "deleted_at": at,
                    "change": change,
                }
            )
        return out

    def conflict_keys(self) -> builtins.list[tuple[str, str, str]]:
        """``(collection, id, field)`` of every field with concurrent values, as the merges that
        brought them found (``crdt.diff_items``)."""
        return [
            (c, i, f)
            for c, i, f in self.db.execute(
                "SELECT collection, id, field FROM conflicts ORDER BY collection, id, field"
            )
        ]

    def record_conflicts(self, keys: Iterable[tuple[str, str, str]]) -> None:
        """Fields found holding concurrent values in documents indexed whole (``adding``),
        whose history the diffs of later merges will not show again."""
        found = dict.fromkeys(keys, True)
        if not found:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._store_conflicts(found)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _store_conflicts(self, found: Mapping[tuple[str, str, str], bool]) -> None:
        """Record what a diff said of fields: ``True`` holds concurrent values, ``False`` one
        (``ALL_FIELDS``: the item was deleted or replaced). Stamps are left out: every
        concurrent edit sets them."""
        from .crdt import ALL_FIELDS

        for (collection, item_id, name), conflicted in found.items():
            if name == ALL_FIELDS:
                self.db.execute(
                    "DELETE FROM conflicts WHERE collection = ? AND id = ?", (collection, item_id)
                )
                continue
            spec = FIELDS.get(collection, {}).get(name)  # type: ignore[call-overload]
            if spec is None or spec.system:
                continue
            if conflicted:
                self.db.execute(
                    "INSERT OR IGNORE INTO conflicts VALUES (?, ?, ?)", (collection, item_id, name)
                )
            else:
                self.db.execute(
                    "DELETE FROM conflicts WHERE collection = ? AND id = ? AND field = ?",
                    (collection, item_id, name),
                )

    def _recheck_conflicts(self, net: Network, keys: Iterable[tuple[str, str]]) -> None:
        """After a local write: the conflicts of the items it touched that had some, read from
        their documents again (a write that set such a field resolved it)."""
        from .history import conflicted_keys

        wanted = json.dumps(sorted(set(keys)))
        rows = self.db.execute(
            "SELECT DISTINCT c.collection, c.id FROM conflicts AS c JOIN json_each(?) AS j"
            " ON c.collection = j.value ->> 0 AND c.id = j.value ->> 1",
            (wanted,),
        ).fetchall()
        for collection, item_id in rows:
            found = net.locate(collection, item_id)
            still: set[str] = set()
            if found is not None and found[1] is not None:
                with net.lock:
                    doc = net.repo.get(found[1])
                    if doc is not None:
                        still = {
                            f for c, i, f in conflicted_keys(doc) if (c, i) == (collection, item_id)
                        }
            self.db.execute(
                "DELETE FROM conflicts WHERE collection = ? AND id = ?", (collection, item_id)
            )
            self._store_conflicts({(collection, item_id, f): True for f in still})

    def circle_counts(self) -> dict[str, dict[str, int]]:
        """Circle id -> {"contacts": n, "notes": n}: the shared items each circle holds."""
        out: dict[str, dict[str, int]] = {}
        for circle, collection, count in self.db.execute(
            "SELECT circle, collection, count(*) FROM items WHERE circle != '' "
            "AND collection IN ('contacts', 'notes') GROUP BY circle, collection"
        ):
            out.setdefault(circle, {"contacts": 0, "notes": 0})[collection] = count
        return out

    def circle_of(self, collection: str, item_id: str) -> str | None:
        """The circle the index last saw an item in ("" when private), or ``None``."""
        row = self.db.execute(
            "SELECT circle FROM items WHERE collection = ? AND id = ?", (collection, item_id)
        ).fetchone()
        return row[0] if row else None

    def ids_with_prefix(self, collection: str, prefix: str) -> builtins.list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [
            r[0]
            for r in self.db.execute(
                "SELECT id FROM items WHERE collection = ? AND id LIKE ? ESCAPE '\\' "
                "ORDER BY id LIMIT 50",
                (collection, escaped + "%"),
            )
        ]

    def redirect(self, ref: str) -> str | None:
        """Where a contact id merged away (a whole id, or a unique prefix of one) went now."""
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.execute(
            "SELECT old, new FROM redirects WHERE old LIKE ? ESCAPE '\\' LIMIT 2",
            (escaped + "%",),
        ).fetchall()
        if len(rows) != 1:
            exact = [r for r in rows if r[0] == ref]
            if not exact:
                return None
            rows = exact
        seen: set[str] = set()
        target = rows[0][1]
        while target not in seen:
            seen.add(target)
            if self.db.execute(
                "SELECT 1 FROM items WHERE collection = 'contacts' AND id = ?", (target,)
            ).fetchone():
                return str(target)
            row = self.db.execute("SELECT new FROM redirects WHERE old = ?", (target,)).fetchone()
            if row is None:
                return None
            target = row[0]
        return None

    def referrers(self, contact_id: str) -> builtins.list[tuple[str, str]]:
        """``(collection, id)`` of the notes, interactions and contacts that point at a contact."""
        rows = self.db.execute(
            "SELECT items.collection, items.id FROM links JOIN items ON items.id = links.item "
            "WHERE links.contact = ?",
            (contact_id,),
        ).fetchall()
        rows += self.db.execute(
            "SELECT collection, id FROM items WHERE collection = 'contacts' "
            "AND json_extract(data, '$.values.introduced_by') = ?",
            (contact_id,),
        ).fetchall()
        return [(str(c), str(i)) for c, i in rows]

    def get(self, collection: Collection, item_id: str) -> Record | None:
        row = self.db.execute(
            "SELECT data FROM items WHERE collection = ? AND id = ?", (collection, item_id)
        ).fetchone()
        return self._record(collection, item_id, row[0]) if row else None

    def records(self, collection: Collection, ids: Iterable[str]) -> builtins.list[Record]:
        """The items of these ids that exist, in no particular order."""
        rows = self.db.execute(
            "SELECT id, data FROM items WHERE collection = ? AND id IN"
            " (SELECT value FROM json_each(?))",
            (collection, json.dumps(sorted(set(ids)))),
        )
        return [self._record(collection, i, d) for i, d in rows]

    def lazy_rows(
        self, collection: Collection
    ) -> builtins.list[tuple[str, str, Callable[[], Record]]]:
        """``(id, haystack, make_record)`` for every item, sorted by label (accent- and
        case-insensitive), for ``Catalog.load_lazy``: records are parsed only when shown."""
        with collector.paused():  # 100,000 small objects
            rows = self.db.execute(
                "SELECT id, haystack FROM hay WHERE collection = ? ORDER BY sort_key, id",
                (collection,),
            ).fetchall()
            pages = _Pages(self, collection, [i for i, _h in rows])
            return [(i, h, functools.partial(pages.record, i)) for i, h in rows]

    def devices(self) -> dict[str, dict[str, Any]]:
        """The shared document's device registry as of the last index update."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'devices'").fetchone()
        try:
            raw = json.loads(row[0]) if row else {}
        except ValueError:
            return {}
        return {str(k): v for k, v in raw.items() if isinstance(v, dict)}

    def created_by(self, collection: Collection, actors: Iterable[str]) -> builtins.list[Record]:
        """The items of ``collection`` created by any of these devices, sorted by label."""
        wanted = sorted(set(actors))
        if not wanted:
            return []
        rows = self.db.execute(
            "SELECT id, data FROM items WHERE collection = ? "
            "AND created_by IN (SELECT value FROM json_each(?)) ORDER BY sort_key, id",
            (collection, json.dumps(wanted)),
        )
        return [self._record(collection, i, d) for i, d in rows]

    def changed_since(
        self, since: str, exclude: Iterable[str], limit: int = 1000
    ) -> builtins.list[Record]:
        """Contacts and notes last changed after ``since`` (an ISO stamp, "" for ever) by a
        device not in ``exclude``, latest first."""
        skip = sorted(set(exclude))
        rows = self.db.execute(
            "SELECT collection, id, data FROM items WHERE changed > ? "
            "AND collection IN ('contacts', 'notes') "
            "AND changed_by NOT IN (SELECT value FROM json_each(?)) "
            "ORDER BY changed DESC, collection, id LIMIT ?",
            (since, json.dumps(skip), limit),
        )
        return [self._record(c, i, d) for c, i, d in rows]

    def linked_to(self, collection: Collection, contact_id: str) -> builtins.list[Record]:
        """The notes or interactions that name a contact."""
        rows = self.db.execute(
            "SELECT items.id, items.data FROM links JOIN items ON items.id = links.item "
            "WHERE links.contact = ? AND items.collection = ? ORDER BY items.sort_key",
            (contact_id, collection),
        )
        return [self._record(collection, i, d) for i, d in rows]

    def list(self, collection: Collection) -> builtins.list[Record]:
        """Every item of ``collection``, sorted by label; each record's values are decoded from
        the row read here when first read (``listed``), so a list of names stays cheap."""
        name = self.circle_name
        with self._mapped(), collector.paused():  # 100,000 records
            return [
                listed(collection, i, label, circle, name(circle), data)
                for i, label, circle, data in self.db.execute(
                    "SELECT id, label, circle, data FROM items WHERE collection = ?"
                    " ORDER BY sort_key, id",
                    (collection,),
                )
            ]

    def match_keys(self) -> ContactKeys:
        """What an import matches new contacts against, read without decoding any record: each
        contact's e-mails and profile links (lower case, a link without its trailing ``/``) and
        its organisation, in list order (the first contact to have a key keeps it)."""
        db = self.db
        keys = ContactKeys(
            {i for (i,) in db.execute("SELECT id FROM items WHERE collection = 'contacts'")}
        )
        for name, into in (("emails", keys.emails), ("links", keys.links)):
            for item_id, value in db.execute(
                "SELECT i.id, j.value FROM items AS i, json_each(i.data, ?) AS j"
                " WHERE i.collection = 'contacts' AND j.type = 'text' ORDER BY i.sort_key, i.id",
                (f"$.values.{name}",),
            ):
                key = value.rstrip("/").lower() if name == "links" else value.lower()
                into.setdefault(key, item_id)
        for item_id, label, org in db.execute(
            "SELECT i.id, i.label, i.data ->> '$.values.org' AS org FROM items AS i"
            " WHERE i.collection = 'contacts' AND org IS NOT NULL AND org != ''"
            " ORDER BY i.sort_key, i.id"
        ):
            keys.by_org.setdefault(str(org).casefold(), []).append((item_id, label))
        return keys

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        """The index file mapped into memory while a whole collection is read (``LIST_MMAP``),
        unmapped after: a process holds no more of it than it did."""
        db = self.db
        before = int(db.execute("PRAGMA mmap_size").fetchone()[0])
        db.execute(f"PRAGMA mmap_size = {LIST_MMAP}")
        try:
            yield
        finally:
            db.execute(f"PRAGMA mmap_size = {before}")

    def search(self, query: str, limit: int = 50) -> dict[str, builtins.list[Record]]:
        """Contacts and notes whose full text has every word of ``query`` as a word prefix,
        best first (the e-mail lookup, notes on a topic). ``plntui search``, the lists and the
        app's filters use the search syntax instead: ``matching``."""
        match = fts_query(query)
        out: dict[str, builtins.list[Record]] = {"contacts": [], "notes": []}
        if not match:
            return out
        for collection in out:
            rows = self.db.execute(
                "SELECT items.id, items.data FROM fts JOIN items "
                "ON items.collection = fts.collection AND items.id = fts.id "
                "WHERE fts MATCH ? AND fts.collection = ? ORDER BY bm25(fts, 0, 0, 10.0, 1.0) "
                "LIMIT ?",
                (match, collection, limit),
            )
            out[collection] = [self._record(collection, i, d) for i, d in rows]
        return out

    def matching(
        self,
        query: Query | str,
        limit: int | None = 50,
        *,
        resolve_by: Resolver | None = None,
        resolve_circle: Resolver | None = None,
        collections: Sequence[Collection] = ("contacts", "notes"),
        ranked: bool = True,
    ) -> dict[str, builtins.list[Record]]:
        """The items of ``collections`` that match ``query`` in the search syntax (``query``),
        as the app's filters match them (on the same haystacks); an empty query matches
        nothing. ``ranked``: the best full-text matches of its words first (then by name),
        else by name; at most ``limit`` of each collection (``None``: all)."""
        parsed = parse(query) if isinstance(query, str) else query
        found: dict[str, builtins.list[Record]] = {c: [] for c in collections}
        if not parsed:
            return found
        matcher = Filter(parsed, resolve_by, resolve_circle)
        wanted, absent = matcher.needles()
        words = [t.value for t in parsed.of_kind("text") if not t.negated]
        for collection in collections:
            if matcher.excludes_all(collection):
                continue
            sql = "SELECT id, haystack FROM hay WHERE collection = ?"
            sql += " AND instr(haystack, ?) > 0" * len(wanted)
            sql += " AND instr(haystack, ?) = 0" * len(absent)
            rows = self.db.execute(
                sql + " ORDER BY sort_key, id", (collection, *wanted, *absent)
            ).fetchall()

            def record_of(row: tuple[str, str], collection: Collection = collection) -> Record:
                found_record = self.get(collection, row[0])
                return found_record or Record(collection, row[0], {})

            ids = [row[0] for row in matcher.keep(rows, hay=_second, record=record_of)]
            if ranked and words and len(ids) > 1:
                ids = self._by_rank(collection, ids, " ".join(words))
            if limit is not None:
                ids = ids[:limit]
            by_id = {r.id: r for r in self.records(collection, ids)}
            found[collection] = [by_id[i] for i in ids if i in by_id]
        return found

    def _by_rank(
        self, collection: Collection, ids: builtins.list[str], words: str
    ) -> builtins.list[str]:
        """``ids`` with the best full-text matches of ``words`` (as prefixes) first."""
        match = fts_query(words)
        if not match:
            return ids
        rank = {
            item_id: n
            for n, (item_id,) in enumerate(
                self.db.execute(
                    "SELECT id FROM fts WHERE fts MATCH ? AND collection = ? "
                    "ORDER BY bm25(fts, 0, 0, 10.0, 1.0) LIMIT 10000",
                    (match, collection),
                )
            )
        }
        last = len(rank)
        return sorted(ids, key=lambda i: rank.get(i, last))

    def who(self, topic: str, limit: int = 50) -> dict[str, builtins.list[Record]]:
        ranked = self.who_ranked(topic, limit)
        notes = self._notes_about(normalise_topic(topic), limit)
        return {"contacts": [r.record for r in ranked], "notes": notes}

    def _notes_about(self, topic: str, limit: int) -> builtins.list[Record]:
        match = fts_query(topic)
        if not match:
            return []
        rows = self.db.execute(
            "SELECT items.id, items.data FROM fts JOIN items ON items.collection = fts.collection "
            "AND items.id = fts.id WHERE fts MATCH ? AND fts.collection = 'notes' "
            "ORDER BY bm25(fts, 0, 0, 10.0, 1.0) LIMIT ?",
            (match, limit),
        )
        return [self._record("notes", i, d) for i, d in rows]

    def who_ranked(self, topic: str, limit: int = 50) -> builtins.list[Ranked]:
        """People who know ``topic``: an exact topic first, then a topic that contains it, then
        a mention in their role or how you met; linked notes on the topic add weight; ties go to
        whom you talked to last."""
        wanted = normalise_topic(topic)
        if not wanted:
            return []
        scores: dict[str, tuple[int, str]] = {}

        def bump(item_id: str, points: int, reason: str) -> None:
            old = scores.get(item_id, (0, ""))
            scores[item_id] = (old[0] + points, old[1] or reason)

        like = "%" + wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for item_id, found in self.db.execute(
            "SELECT id, topic FROM topics WHERE topic LIKE ? ESCAPE '\\'", (like,)
        ):
            if found == wanted:
                bump(item_id, 100, f"topic: {found}")
            elif re.search(r"(^|\W)" + re.escape(wanted), found):
                bump(item_id, 60, f"topic: {found}")
            else:
                bump(item_id, 40, f"topic: {found}")
        match = fts_query(wanted)
        if match:
            for (item_id,) in self.db.execute(
                "SELECT id FROM fts WHERE fts MATCH ? AND collection = 'contacts'",
                ("body : (" + match + ")",),
            ):
                bump(item_id, 15, "mentioned in their details")
            for note in self._notes_about(wanted, 500):
                for contact_id in note.values.get("contacts", []):
                    if contact_id in scores or len(scores) < 5000:
                        bump(contact_id, 10, f"note: {note.label}")
        ranked: builtins.list[Ranked] = []
        for item_id, (score, reason) in scores.items():
            record = self.get("contacts", item_id)
            if record is not None:
                ranked.append(Ranked(record, score, reason))
        ranked.sort(
            key=lambda r: (
                -r.score,
                _neg_date(r.record.values.get("last_contacted")),
                r.record.label.casefold(),
            )
        )
        return ranked[:limit]


def _deleter(
    net: Network,
    collection: str,
    item_id: str,
    doc_id: str | None,
    old_heads: Mapping[str, bytes],
) -> tuple[str, str]:
    """``(actor hex, change hex)`` of the change that deleted an item, found among the changes
    the document gained since it was last indexed (``("", "")`` when unknown)."""
    from .history import item_at
    from .storage import split_heads

    if doc_id is None:
        return "", ""
    doc = net.repo.get(doc_id)
    if doc is None:
        return "", ""
    since = split_heads(old_heads.get(doc_id) or b"")
    try:
        changes = doc.get_changes(since)
    except Exception:  # heads the document does not know (a restored copy): look at all
        changes = doc.get_changes([])
    for change in reversed(changes):
        if (
            change.deps
            and item_at(doc, collection, item_id, list(change.deps)) is not None
            and (item_at(doc, collection, item_id, [change.hash]) is None)
        ):
            return change.actor_id.hex(), change.hash.hex()
    return "", ""


class _Pages:
    """The records of a list made lazily (``SearchIndex.lazy_rows``): shown rows fetch their
    data a page of neighbours at a time, so a list of 100,000 opens without reading it all."""

    PAGE = 256

    def __init__(self, index: SearchIndex, collection: Collection, ids: builtins.list[str]):
        self.index = index
        self.collection = collection
        self.ids = ids
        self.position: dict[str, int] | None = None
        self.data: dict[str, str] = {}

    def record(self, item_id: str) -> Record:
        if item_id not in self.data:
            if self.position is None:
                self.position = {item_id: n for n, item_id in enumerate(self.ids)}
            start = self.position.get(item_id, 0) // self.PAGE * self.PAGE
            page = {item_id, *self.ids[start : start + self.PAGE]}
            self.data.update(
                self.index.db.execute(
                    "SELECT id, data FROM items WHERE collection = ? AND id IN"
                    " (SELECT value FROM json_each(?))",
                    (self.collection, json.dumps(sorted(page))),
                ).fetchall()
            )
        data = self.data.pop(item_id, None)
        if data is None:  # deleted since the list was read: the next reload drops the row
            return Record(self.collection, item_id, {}, frozenset(), False, [], "")
        return self.index._record(self.collection, item_id, data)


def _trash_fields(entry: str) -> builtins.list[Any] | None:
    """A trash entry kept beside the documents, as the trash table's columns after the key."""
    try:
        fields = json.loads(entry)
    except ValueError:
        return None
    if not isinstance(fields, list) or len(fields) != 7:
        return None
    return fields


def _by_document(keys: Iterable[tuple[str, str]]) -> builtins.list[tuple[str, str]]:
    """Items in the order of their documents, so that each document is loaded once."""
    from .layout import shard_of

    return sorted(keys, key=lambda k: (k[0] == "notes", shard_of(k[1]), k[0], k[1]))


def _second(row: tuple[str, str]) -> str:
    return row[1]


def _neg_date(value: Any) -> str:
    """Sort key putting later ISO dates first (and missing dates last)."""
    if not value:
        return "~"
    return "".join(chr(ord("9") - ord(c) + ord("0")) if c.isdigit() else c for c in str(value))


__all__ = ["SearchIndex", "Ranked", "fts_query", "FIELDS"]
