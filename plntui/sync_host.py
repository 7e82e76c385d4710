"""Provides the sync host: the repository as the sync session sees it, behind the guard.

``sync`` moves documents and knows nothing of contacts or circles; this module answers its
questions (``sync.session.DocumentHost``) for one profile:

* **share policy**: a peer gets the documents of the circles both devices are members of (as
  this device sees the circles), and nothing of the private side, ever. A circle this device
  does not know yet may come from a peer only whole, and only if it lists both as members (the
  peer added this device to it);
* **guard**: a peer's sync message is applied to a fork of the document, a whole document is
  loaded from its bytes, and the result must pass ``guard.check`` before anything is stored;
* **storage**: what passes is stored through the repository as one unit of work (a batch of
  whole documents in one transaction), and the search index follows at once, so the first
  search after a sync needs no rebuild.

Everything runs under the repository's lock (``lock``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import automerge.core as am

from . import amchunks, crdt, layout
from .checkpool import Checked, CheckPool, Failed
from .circles import Circle, read_circle
from .guard import GuardRefused, check
from .held import Batch, Deleted, Thresholds, Window, load_batches, new_batch_id, save_batch
from .index import NewDocument, SearchIndex

if TYPE_CHECKING:
    from .network import Network

log = logging.getLogger(__name__)

ShareListener = Callable[[frozenset[str]], None]


SIZE_SECONDS = 5.0
"""How long a circle's size (what a mass deletion is measured against) is counted once for."""


class RepoHost:
    """``sync.session.DocumentHost`` over a profile's repository (see the module docstring)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.repo = net.repo
        self.lock: threading.RLock = net.lock
        self._digests: dict[str, str] | None = None
        self.new_contacts = 0
        """Contacts peers brought that this device did not have (the app's notification)."""
        self.listeners: list[Callable[[str, frozenset[str]], None]] = []
        """Called with ``(origin, doc_ids)`` after every change (the engine pushes them)."""
        self.on_joined: list[Callable[[Circle, bytes], None]] = []
        """Called with ``(circle, peer)`` when a peer brought a circle that lists this device:
        "Alice added you to circle Data team"."""
        self.on_held: list[Callable[[Batch], None]] = []
        """Called with a batch when a peer's mass deletion is held for the user's decision."""
        self.window = Window()
        self.checks = CheckPool()
        """Checks the documents a peer sends whole (worker processes for a large batch)."""
        self._sizes: dict[str, tuple[float, int]] = {}
        self._unsubscribe = self.repo.subscribe(self._changed)

    def close(self) -> None:
        self._unsubscribe()
        self.checks.close()

    # -- digests ------------------------------------------------------------------------------

    def _all(self) -> dict[str, str]:
        if self._digests is None:
            self._digests = self.repo.storage.manifest()
        return self._digests

    def _changed(self, origin: str, doc_ids: frozenset[str]) -> None:
        digests = self._all()
        info = self.repo.storage.info(doc_ids)
        for doc_id in doc_ids:
            found = info.get(doc_id)
            if found is None:
                digests.pop(doc_id, None)
            else:
                digests[doc_id] = found[0]
        for listener in list(self.listeners):
            listener(origin, doc_ids)

    def refresh(self) -> None:
        """Forget cached digests (after a change this process did not see)."""
        with self.lock:
            self._digests = None

    def digest(self, doc_id: str) -> str | None:
        with self.lock:
            return self._all().get(doc_id)

    # -- share policy ---------------------------------------------------------------------------

    def shared_circles(self, peer: bytes) -> set[str]:
        with self.lock:
            return self.net.circles_shared_with(peer)

    def manifest_for(self, peer: bytes) -> dict[str, str]:
        with self.lock:
            circles = self.net.circles_shared_with(peer)
            if not circles:
                return {}
            return {
                doc_id: digest
                for doc_id, digest in self._all().items()
                if _circle(doc_id) in circles
            }

    def accepts(self, peer: bytes, doc_id: str) -> bool:
        parsed = layout.parse_doc_id(doc_id)
        if parsed is None or parsed[1] == layout.PRIVATE:
            return False
        kind, circle, _ = parsed
        with self.lock:
            if circle in self.net.circles_shared_with(peer):
                return True
            # a circle new here: only its circle document, whole (the guard checks membership)
            return kind == "circle" and circle not in self.net.circles()

    # -- documents ------------------------------------------------------------------------------

    def stored(self, doc_id: str) -> tuple[bytes, str] | None:
        """A document's stored bytes in their wire form (``amchunks.inflated``: a frame of
        them compresses across documents), or as stored when they do not parse or would
        inflate past what a peer accepts."""
        from sync.session import MAX_DOC_BYTES

        found = self.repo.stored(doc_id)
        if found is None:
            return None
        try:
            return amchunks.inflated(found.data, MAX_DOC_BYTES), found.digest
        except ValueError as exc:
            log.warning("sending %s as stored: %s", doc_id, exc)
            return found.data, found.digest

    def generate(self, doc_id: str, state: Any) -> bytes | None:
        with self.lock:
            doc = self.repo.get(doc_id)
            if doc is None:
                return None
            message = doc.generate_sync_message(state)
            return None if message is None else message.encode()  # type: ignore[no-any-return]

    def receive_sync(self, peer: bytes, doc_id: str, state: Any, message: bytes) -> Any:
        from sync.errors import RemoteProtocolError
        from sync.session import Received, Refused, changes_of

        with self.lock:
            try:
                decoded = am.Message.decode(message)
            except Exception as exc:
                raise RemoteProtocolError(
                    f"the peer sent a sync message Automerge cannot decode ({exc})"
                ) from None
            kind = layout.kind_of(doc_id)
            live = self.repo.get(doc_id)
            base = live if live is not None else layout.new_document(kind, self.repo.actor)
            before = base.get_heads()
            if not changes_of(message):
                try:
                    base.receive_sync_message(state, decoded)
                except Exception as exc:
                    raise RemoteProtocolError(f"the peer's sync state is broken ({exc})") from None
                return Received(0, self.digest(doc_id))
            staged = base.fork()
            try:
                staged.receive_sync_message(state, decoded)
            except Exception as exc:
                raise Refused(
                    f"Automerge refused the peer's changes to {doc_id} ({exc}); nothing was stored",
                    doc_id=doc_id,
                ) from None
            after = staged.get_heads()
            if set(after) == set(before):
                return Received(0, self.digest(doc_id))
            kept = self._hold(peer, doc_id, base, staged)
            if kept is None:  # everything it brought waits for the user's decision
                return Received(0, self.digest(doc_id), held=True)
            held = kept is not staged
            staged = kept
            after = staged.get_heads()
            found = crdt.diff_items(staged, before, after)
            touched, conflicts = (None, None) if found is None else found
            try:
                check(doc_id, staged, touched)
            except GuardRefused as exc:
                raise Refused(exc.message, pause=exc.pause, doc_id=doc_id) from None
            n_changes = len(staged.get_changes(before))
            old = {doc_id: self.digest(doc_id)}
            new_contacts = self._new_contacts(base, staged, touched)
            with self.repo.writing("remote") as work:
                work.doc(doc_id, create=True).merge(staged)
            self._index(old, touched, doc_id, work.writer.written, conflicts)
            self.new_contacts += new_contacts
            return Received(n_changes, self.digest(doc_id), reshare=kind == "circle", held=held)

    def expect(self, doc_ids: list[str]) -> None:
        """Start the checking workers while the peer reads and sends a large batch."""
        if sum(1 for d in doc_ids if layout.kind_of(d) != "circle") >= self.checks.pool_min:
            self.checks.warm()

    def receive_docs(self, peer: bytes, docs: list[tuple[str, bytes]]) -> dict[str, Any]:
        """Check each document the peer sent whole and store those that pass, in one
        transaction; then refuse (``Refused``, carrying what was stored) if any failed.

        A document new here is loaded once: checked, its records read for the index, and
        dropped; its bytes are stored as they came. Only documents this device held already
        (merged) and new circles stay loaded."""
        from sync.session import Received, Refused

        fresh: list[_Fresh] = []
        merged: list[tuple[str, bytes, am.Document]] = []
        held_docs: set[str] = set()
        refused: Refused | None = None
        joined: list[Circle] = []
        out: dict[str, Received] = {}
        conflicts: set[tuple[str, str, str]] = set()
        index = SearchIndex.for_profile(self.net.profile)
        with self.lock:
            me = self.net.fingerprint_hex
            known = self.net.circles()
            holding = {b.circle for b in load_batches(self.repo.storage.db, "held")}
            plain: list[tuple[str, bytes]] = []
            rest: list[tuple[str, bytes]] = []
            for doc_id, data in docs:
                simple = (
                    layout.kind_of(doc_id) != "circle"
                    and _circle(doc_id) not in holding
                    and not self.repo.exists(doc_id)
                )
                (plain if simple else rest).append((doc_id, data))
            # The index takes the new documents' rows part by part while the workers check the
            # rest, and commits after the documents are stored.
            with index.adding(self.net) as index_new:
                pending: list[NewDocument] = []
                for result, (doc_id, _data) in zip(self.checks.check(plain), plain, strict=True):
                    if isinstance(result, Failed):
                        refused = refused or Refused(
                            f"{result.message}; nothing of it was stored",
                            pause=result.pause,
                            doc_id=doc_id,
                        )
                        continue
                    fresh.append(_fresh(result))
                    pending.append(fresh[-1].doc)
                    conflicts |= result.conflicts
                    self.new_contacts += result.contacts
                    if len(pending) >= _INDEX_PART or sum(len(d.rows) for d in pending) >= 400:
                        index_new(pending)
                        pending = []
                index_new(pending)
                for doc_id, data in rest:
                    kind = layout.kind_of(doc_id)
                    new_here = not self.repo.exists(doc_id)
                    try:
                        doc, held = self._check_whole(
                            peer, doc_id, data, me, known, _circle(doc_id) in holding
                        )
                    except Refused as exc:
                        refused = refused or exc
                        continue
                    if doc is None:  # all of it waits in a held batch
                        out[doc_id] = Received(0, self.digest(doc_id), held=True)
                        continue
                    if held and new_here:  # stored without what waits
                        data = doc.save()
                    elif new_here:
                        data = _compact(data, doc)
                    if kind == "circle" and _circle(doc_id) not in known:
                        joined.append(read_circle(doc, _circle(doc_id), me))
                    merged.append((doc_id, data, doc))
                    if held:
                        held_docs.add(doc_id)
                old = {doc_id: self.digest(doc_id) for doc_id, _data, _doc in merged}
                if fresh or merged:
                    with self.repo.writing("remote") as work:
                        for entry in fresh:
                            work.adopt(entry.doc.doc_id, entry.data, None, entry.doc.heads)
                        for doc_id, data, doc in merged:
                            work.adopt(doc_id, data, doc)
            if fresh or merged:
                index.record_conflicts(conflicts)
                index.reindex(self.net, [doc_id for doc_id, _d, _doc in merged])
                for entry in fresh:
                    doc_id = entry.doc.doc_id
                    out[doc_id] = Received(entry.changes, self.digest(doc_id))
                for doc_id, _data, doc in merged:
                    now = self.digest(doc_id)
                    if old[doc_id] is None:
                        count = len(doc.get_changes([]))
                    else:
                        count = 0 if now == old[doc_id] else 1
                    out[doc_id] = Received(
                        count,
                        now,
                        reshare=layout.kind_of(doc_id) == "circle",
                        held=doc_id in held_docs,
                    )
        for circle in joined:
            for listener in list(self.on_joined):
                listener(circle, peer)
        if refused is not None:
            refused.stored = out
            raise refused
        return out

    def _check_whole(
        self,
        peer: bytes,
        doc_id: str,
        data: bytes,
        me: str,
        known: dict[str, Circle],
        holding: bool = False,
    ) -> tuple[am.Document | None, bool]:
        """A whole document from a peer, loaded and checked (and whether some of its changes
        wait in a held batch; ``None``: all of them do), or ``Refused``. ``holding``: a batch
        of the document's circle is held."""
        from sync.session import Refused

        kind = layout.kind_of(doc_id)
        try:
            doc = am.Document.load(data)
            doc.fork(layout.GENESIS_HEADS[kind])
        except Exception:
            raise Refused(
                f"the peer's {doc_id} is not a plntui {kind} document; nothing of it was stored",
                doc_id=doc_id,
            ) from None
        live = self.repo.get(doc_id)
        checked: am.Document | None = doc
        held = False
        if live is not None:  # held here already: what is checked is the merged result
            merged = live.fork()
            merged.merge(doc)
            kept = self._hold(peer, doc_id, live, merged)
            held = kept is not merged
            checked = kept if kept is not None else live.fork()
        elif holding:  # new here: a held author's changes in it wait with its batch
            checked = self._hold(peer, doc_id, layout.new_document(kind, self.repo.actor), doc)
            held = checked is not doc
            if checked is None:
                return None, True
        try:
            check(doc_id, checked, None)
        except GuardRefused as exc:
            raise Refused(
                f"{exc.message}; nothing of it was stored", pause=exc.pause, doc_id=doc_id
            ) from None
        if kind == "circle" and _circle(doc_id) not in known:
            circle = read_circle(doc, _circle(doc_id), me)
            if not (circle.member and circle.has(peer)):
                raise Refused(
                    f"the peer sent circle {circle.name!r}, which does not list both devices as "
                    "members; nothing of it was stored",
                    doc_id=doc_id,
                )
        return checked, held

    # -- held mass deletions ----------------------------------------------------------------------

    def thresholds(self) -> Thresholds:
        return self.net.hold_thresholds()

    def _held_authors(self, circle: str) -> dict[str, str]:
        """Author actor (hex) -> the id of its held batch in ``circle``."""
        return {
            b.author: b.id for b in load_batches(self.repo.storage.db, "held") if b.circle == circle
        }

    def _hold(
        self, peer: bytes, doc_id: str, base: am.Document, staged: am.Document
    ) -> am.Document | None:
        """``staged`` without the changes that must wait (a held author's, and what depends on
        them); ``None`` when nothing is left to store. Counts deletions and holds a batch that
        passes the thresholds."""
        circle = _circle(doc_id)
        if circle == layout.PRIVATE or layout.kind_of(doc_id) == "circle":
            return staged
        new = staged.get_changes(base.get_heads())
        if not new:
            return staged
        held = self._held_authors(circle)
        deleted = self._deletions(doc_id, base, staged, new)
        db = self.repo.storage.db
        for author, items in deleted.items():
            if author in held:
                batch = next(b for b in load_batches(db, "held") if b.id == held[author])
                seen = {(d.collection, d.id) for d in batch.deletes}
                batch.deletes += [i for i in items if (i.collection, i.id) not in seen]
                with self.repo.storage.transaction():
                    save_batch(db, batch)
                continue
            recent = self.window.add(author, circle, items)
            if self.thresholds().exceeded(len(recent), lambda: self._circle_size(circle)):
                from .model import now_stamp

                batch = Batch(new_batch_id(), author, circle, peer.hex(), now_stamp(), recent)
                with self.repo.storage.transaction():
                    save_batch(db, batch)
                held[author] = batch.id
                self.window.forget(author, circle)
                for listener in list(self.on_held):
                    listener(batch)
        if not any(c.actor_id.hex() in held for c in new):
            return staged
        waiting: dict[bytes, str] = {}
        allowed: list[Any] = []
        for change in new:  # topological order: a change after the ones it depends on
            batch_id = held.get(change.actor_id.hex()) or next(
                (waiting[d] for d in change.deps if d in waiting), None
            )
            if batch_id is not None:
                waiting[change.hash] = batch_id
            else:
                allowed.append(change)
        with self.repo.storage.transaction() as writer:
            for change in new:
                if change.hash in waiting:
                    writer.hold(waiting[change.hash], doc_id, change.hash, change.bytes)
        if not allowed:
            return None
        return am.Document.load(base.save() + b"".join(c.bytes for c in allowed))

    def _deletions(
        self, doc_id: str, base: am.Document, staged: am.Document, new: list[Any]
    ) -> dict[str, list[Deleted]]:
        """Author actor (hex) -> the contacts and notes its new changes delete."""
        from .history import item_at

        out: dict[str, list[Deleted]] = {}
        authors = {c.actor_id.hex() for c in new}
        for collection in ("contacts", "notes"):
            try:
                before = set(base.keys(crdt.top(base, collection)))
                after = set(staged.keys(crdt.top(staged, collection)))
            except KeyError:
                continue
            for item_id in sorted(before - after):
                obj = crdt.item_obj(base, collection, item_id)
                name = ""
                if obj is not None:
                    found = base.get(obj, "name" if collection == "contacts" else "title")
                    name = (
                        str(found[0][1]) if found and not isinstance(found[0], am.ObjType) else ""
                    )
                item = Deleted(collection, item_id, name, doc_id)
                if len(authors) == 1:
                    out.setdefault(next(iter(authors)), []).append(item)
                    continue
                for change in new:
                    if (
                        item_at(staged, collection, item_id, [change.hash]) is None
                        and item_at(staged, collection, item_id, list(change.deps)) is not None
                    ):
                        out.setdefault(change.actor_id.hex(), []).append(item)
                        break
        return out

    def _circle_size(self, circle: str) -> int:
        """How many contacts (or notes, if more) ``circle`` holds: what a mass deletion is
        measured against. Counted at most every ``SIZE_SECONDS`` per circle (counting walks
        the index: 14 ms at 10,000 contacts, and a sync that deletes asks once per document)."""
        now = time.monotonic()
        cached = self._sizes.get(circle)
        if cached is not None and now - cached[0] < SIZE_SECONDS:
            return cached[1]
        counts = SearchIndex.for_profile(self.net.profile).circle_counts().get(circle, {})
        size = max(int(counts.get("contacts", 0)), int(counts.get("notes", 0)), 1)
        self._sizes[circle] = (now, size)
        return size

    # -- helpers ----------------------------------------------------------------------------------

    def _new_contacts(
        self, base: am.Document, staged: am.Document, touched: set[tuple[str, str]] | None
    ) -> int:
        if touched is None:
            return 0
        return sum(
            1
            for collection, item_id in touched
            if collection == "contacts"
            and crdt.item_obj(base, "contacts", item_id) is None
            and crdt.item_obj(staged, "contacts", item_id) is not None
        )

    def _index(
        self,
        old: dict[str, str | None],
        touched: set[tuple[str, str]] | None,
        doc_id: str,
        written: dict[str, tuple[str, bytes]],
        conflicts: dict[tuple[str, str, str], bool] | None,
    ) -> None:
        index = SearchIndex.for_profile(self.net.profile)
        if touched is None:
            index.reindex(self.net, [doc_id])
            return
        index.apply_write(
            self.net,
            old,
            touched,
            touched,
            written=written,
            conflicts=conflicts or {},
            origin="remote",
        )


@dataclass(slots=True)
class _Fresh:
    """A document new to this device, checked and read, kept as its bytes only."""

    doc: NewDocument
    data: bytes
    changes: int


_INDEX_PART = 32
"""New documents indexed at a time while the rest of a batch is checked (or 400 items)."""


def _fresh(checked: Checked) -> _Fresh:
    new = NewDocument(checked.doc_id, checked.heads, checked.rows, checked.redirects)
    return _Fresh(new, checked.data, checked.changes)


def _compact(data: bytes, doc: am.Document) -> bytes:
    """A document received in its wire form, compact again for storage (as it was loaded)."""
    try:
        compact = amchunks.deflated(data)
        if compact is not data and am.Document.load(compact).get_heads() != doc.get_heads():
            raise ValueError("the heads differ")
    except Exception as exc:
        log.warning("storing a document as it came: %s", exc)
        return data
    return compact


def _circle(doc_id: str) -> str:
    parsed = layout.parse_doc_id(doc_id)
    return parsed[1] if parsed is not None else ""
