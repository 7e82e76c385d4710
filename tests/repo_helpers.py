"""Provides what tests of the repository share: reading an item's stored maps, and copying
documents between two profiles in memory (what a sync does, without the network)."""

from __future__ import annotations

from typing import Any

from plntui import crdt, layout
from plntui.network import Network


def shared_item(net: Network, collection: str, item_id: str) -> dict[str, Any] | None:
    """The item's map in its circle's document, or ``None`` when it has none."""
    with net.lock:
        where = net._where(collection, item_id)  # type: ignore[arg-type]
        if where.shared is None:
            return None
        doc = net.repo.get(where.shared)
        return crdt.read_item(doc, crdt.item_obj(doc, collection, item_id))


def private_item(net: Network, collection: str, item_id: str) -> dict[str, Any] | None:
    """The item's map in the private document, or ``None``."""
    with net.lock:
        doc = net.repo.get(layout.item_doc(layout.PRIVATE, collection, item_id))
        obj = crdt.item_obj(doc, collection, item_id) if doc is not None else None
        return crdt.read_item(doc, obj) if obj is not None else None


def copy_docs(src: Network, dst: Network, doc_ids: list[str] | None = None) -> list[str]:
    """Merge the documents ``src`` shares with ``dst`` (or ``doc_ids``) into ``dst`` as a
    peer's would be stored (through the sync host's guard, index included). Returns the ids."""
    from plntui.sync_host import RepoHost

    ids = doc_ids
    if ids is None:  # what src shares with dst (its share policy)
        assert dst.profile.fingerprint is not None
        ids = list(RepoHost(src).manifest_for(dst.profile.fingerprint))
    host = RepoHost(dst)
    peer = src.profile.fingerprint or b"\x00" * 32
    try:
        batch = []
        for doc_id in ids:
            stored = src.repo.stored(doc_id)
            if stored is not None:
                batch.append((doc_id, stored.data))
        if batch:
            host.receive_docs(peer, batch)
    finally:
        host.close()
    return ids


def join(a: Network, b: Network) -> None:
    """Make ``b`` a member of ``a``'s default circle and ``a`` of ``b``'s (both must hold the
    other's fingerprint as trusted), as pairing would."""
    from plntui.peersync import open_trust

    for x, y in ((a, b), (b, a)):
        assert y.profile.fingerprint is not None
        open_trust(x.profile.home).trust(y.profile.fingerprint, y.profile.meta.name)
        x.add_member(x.default_circle().id, y.profile.fingerprint)
