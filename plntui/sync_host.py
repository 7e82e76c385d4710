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

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import automerge.core as am

from . import crdt, layout
from .circles import Circle, read_circle
from .guard import GuardRefused, check

if TYPE_CHECKING:
    from .network import Network

ShareListener = Callable[[frozenset[str]], None]


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
        self._unsubscribe = self.repo.subscribe(self._changed)

    def close(self) -> None:
        self._unsubscribe()

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
        found = self.repo.stored(doc_id)
        return None if found is None else (found.data, found.digest)

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
            touched = crdt.touched_items(staged, before, after)
            try:
                check(doc_id, staged, touched)
            except GuardRefused as exc:
                raise Refused(exc.message, pause=exc.pause, doc_id=doc_id) from None
            n_changes = len(staged.get_changes(before))
            old = {doc_id: self.digest(doc_id)}
            new_contacts = self._new_contacts(base, staged, touched)
            with self.repo.writing("remote") as work:
                work.doc(doc_id, create=True).merge(staged)
            self._index(old, touched, doc_id)
            self.new_contacts += new_contacts
            return Received(n_changes, self.digest(doc_id), reshare=kind == "circle")

    def receive_docs(self, peer: bytes, docs: list[tuple[str, bytes]]) -> dict[str, Any]:
        """Check each document the peer sent whole and store those that pass, in one
        transaction; then refuse (``Refused``, carrying what was stored) if any failed."""
        from sync.session import Received, Refused

        loaded: list[tuple[str, bytes, am.Document]] = []
        refused: Refused | None = None
        joined: list[Circle] = []
        with self.lock:
            me = self.net.fingerprint_hex
            known = self.net.circles()
            for doc_id, data in docs:
                try:
                    doc = self._check_whole(peer, doc_id, data, me, known)
                except Refused as exc:
                    refused = refused or exc
                    continue
                if layout.kind_of(doc_id) == "circle" and _circle(doc_id) not in known:
                    joined.append(read_circle(doc, _circle(doc_id), me))
                loaded.append((doc_id, data, doc))
            out: dict[str, Received] = {}
            if loaded:
                old = {doc_id: self.digest(doc_id) for doc_id, _data, _doc in loaded}
                counts = {doc_id: len(doc.get_changes([])) for doc_id, _data, doc in loaded}
                for doc_id, _data, doc in loaded:
                    if layout.kind_of(doc_id) == "shard" and old[doc_id] is None:
                        self.new_contacts += len(doc.keys(crdt.top(doc, "contacts")))
                with self.repo.writing("remote") as work:
                    for doc_id, data, doc in loaded:
                        work.adopt(doc_id, data, doc)
                from .index import SearchIndex

                SearchIndex.for_profile(self.net.profile).reindex(
                    self.net, [doc_id for doc_id, _d, _doc in loaded]
                )
                for doc_id, _data, _doc in loaded:
                    out[doc_id] = Received(
                        counts[doc_id] if old[doc_id] is None else 1,
                        self.digest(doc_id),
                        reshare=layout.kind_of(doc_id) == "circle",
                    )
        for circle in joined:
            for listener in list(self.on_joined):
                listener(circle, peer)
        if refused is not None:
            refused.stored = out
            raise refused
        return out

    def _check_whole(
        self, peer: bytes, doc_id: str, data: bytes, me: str, known: dict[str, Circle]
    ) -> am.Document:
        """A whole document from a peer, loaded and checked, or ``Refused``."""
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
        checked = doc
        if live is not None:  # held here already: what is checked is the merged result
            checked = live.fork()
            checked.merge(doc)
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
        return doc

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
        self, old: dict[str, str | None], touched: set[tuple[str, str]] | None, doc_id: str
    ) -> None:
        from .index import SearchIndex

        index = SearchIndex.for_profile(self.net.profile)
        if touched is None:
            index.reindex(self.net, [doc_id])
            return
        index.apply_write(self.net, old, touched, touched)


def _circle(doc_id: str) -> str:
    parsed = layout.parse_doc_id(doc_id)
    return parsed[1] if parsed is not None else ""
