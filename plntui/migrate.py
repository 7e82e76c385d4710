"""Provides the migration of a plntui 0.1 profile (one network document) to the repository.

A 0.1 profile keeps everything shared in ``network.snapshot``/``network.log`` and everything
private in ``private.snapshot``/``private.log``. Opening it with this plntui migrates it once:

* the network document becomes the circle ``layout.LEGACY_CIRCLE``, named "Shared network",
  whose members are this device and every peer it trusts (``peers.json``): sharing goes on
  exactly as before, with the same colleagues;
* each shared contact, interaction and redirect goes to its contact shard, each shared note to
  a note document of that circle, and the device registry to the circle document;
* the private document's items and fields go to the private side, likewise.

Colleagues who synced before must end up with one circle, not two copies of every item: so the
circle's id is the same on every device, and each shared item is written by a change that is
the same on every device that holds the same item. Its actor is derived from the document, the
item and its content (``_deterministic_actor``), it depends only on the document's genesis, and
Automerge stamps it with time 0; two devices that migrate the same item make byte-identical
changes, which Automerge stores once. An item the two held in different versions (edited on one
side after their last sync) is created twice, and the version with the later ``updated`` stamp
stays in view on every device (the actor id starts with that time).

Nothing is deleted: the 0.1 files move to ``legacy/`` in the profile folder. The new repository
is written to a temporary file and renamed into place only when complete, so a crash midway
leaves the 0.1 profile as it was, and the next opening migrates again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import automerge.core as am

from . import crdt, layout
from .errors import ProfileError, StoreCorruptError
from .profile import FORMAT_VERSION, _FileLock, actor_from_fingerprint, read_meta
from .storage import FILE_NAME, Storage
from .store import DocumentStore, atomic_write, fsync_dir

LEGACY_NAME = "Shared network"
LEGACY_FOLDER = "legacy"
_ITEM_COLLECTIONS = ("contacts", "notes", "interactions")


def _deterministic_actor(doc_id: str, collection: str, key: str, content: Any) -> bytes:
    """5 bytes of the item's ``updated`` time (seconds), then 11 of a hash of everything.

    Automerge shows, of two maps put at one key by concurrent changes of equal counter, the
    one whose actor id sorts last: with the time first, the version changed last wins, the
    same on every device."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    seed = f"plntui-migrate-v1\x00{doc_id}\x00{collection}\x00{key}\x00{text}".encode()
    stamp = 0
    if isinstance(content, dict):
        when = str(content.get("updated") or content.get("created") or "")
        try:
            import datetime as _dt

            stamp = int(_dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
        except ValueError:
            stamp = 0
    return max(0, min(stamp, 2**40 - 1)).to_bytes(5, "big") + hashlib.sha256(seed).digest()[:11]


def _item_change(doc_id: str, collection: str, item_id: str, raw: dict[str, Any]) -> bytes:
    """The one change that writes an item (as ``crdt.read_item`` gave it) into a fresh document
    of its kind: the same bytes on every device for the same item."""
    kind = layout.kind_of(doc_id)
    doc = layout.new_document(kind, _deterministic_actor(doc_id, collection, item_id, raw))
    with doc.transaction() as tx:
        if collection == "devices":
            obj = tx.put_object(crdt.top(tx, "devices"), item_id, am.ObjType.Map)
            for key, value in raw.items():
                if not isinstance(value, dict | list):
                    crdt.put_scalar(tx, obj, key, value)
        elif collection == "redirects":
            crdt.put_scalar(tx, crdt.top(tx, "redirects"), item_id, str(raw["to"]))
        else:
            _write_raw(tx, collection, item_id, raw)
    return doc.get_changes(layout.GENESIS_HEADS[kind])[0].bytes  # type: ignore[no-any-return]


def _write_raw(tx: Any, collection: str, item_id: str, raw: dict[str, Any]) -> None:
    from .model import FIELDS

    obj = crdt.ensure_item(tx, collection, item_id)
    fields = {k: v for k, v in raw.items() if k in FIELDS[collection]}  # type: ignore[index]
    crdt.write_fields(tx, collection, obj, fields)  # type: ignore[arg-type]
    for key, value in raw.items():
        if key in fields:
            continue
        if key == crdt.SOURCES_KEY and isinstance(value, list):
            for source in value:
                if isinstance(source, dict):
                    crdt.append_source(tx, obj, source)
        elif key == crdt.PRIVATE_ITEM_KEY:
            crdt.put_scalar(tx, obj, key, bool(value))
        elif not isinstance(value, dict | list):
            crdt.put_scalar(tx, obj, key, value)


def _read_legacy(home: Path, name: str, actor: bytes) -> am.Document | None:
    store = DocumentStore(home, name, actor)
    if not store.exists():
        return None
    store.load()
    return store.doc


def migrate(home: Path) -> None:
    """Migrate the 0.1 profile in ``home`` (see the module docstring). Idempotent."""
    lock = _FileLock(home / "migrate.lock")
    lock.acquire(blocking=True)
    try:
        if (home / FILE_NAME).exists():
            return  # another process migrated it meanwhile
        _migrate(home)
    finally:
        lock.release()


def _migrate(home: Path) -> None:
    from .peersync import load_identity, open_trust

    meta = read_meta(home)
    if meta.format > FORMAT_VERSION:
        raise ProfileError(
            f"the profile in {home} was written by a newer plntui (format {meta.format}); "
            "upgrade plntui to open it"
        )
    try:
        identity = load_identity(home)
    except Exception as err:
        raise ProfileError(f"cannot read this device's identity in {home}: {err}") from None
    fingerprint: bytes = identity.fingerprint
    actor = actor_from_fingerprint(fingerprint, meta.device_id)
    try:
        shared = _read_legacy(home, "network", actor)
        private = _read_legacy(home, "private", actor)
    except StoreCorruptError as err:
        raise StoreCorruptError(
            f"cannot migrate this profile: {err.message} (plntui 0.1's plntui repair can fix it)"
        ) from None

    docs: dict[str, list[bytes]] = {}  # shared documents: deterministic changes

    def add(doc_id: str, change: bytes) -> None:
        docs.setdefault(doc_id, []).append(change)

    circle = layout.LEGACY_CIRCLE
    if shared is not None:
        for collection in _ITEM_COLLECTIONS:
            for item_id, raw in crdt.read_collection(shared, collection).items():
                doc_id = layout.item_doc(circle, collection, item_id)
                add(doc_id, _item_change(doc_id, collection, item_id, raw))
        for old, new in crdt.read_map(shared, "redirects").items():
            if isinstance(new, str):
                doc_id = layout.shard_doc(circle, old)
                add(doc_id, _item_change(doc_id, "redirects", old, {"to": new}))
        circle_id = layout.circle_doc(circle)
        for device, info in crdt.read_map(shared, "devices").items():
            if isinstance(info, dict):
                add(circle_id, _item_change(circle_id, "devices", device, info))

    trust = open_trust(home)
    members = {fingerprint.hex(): meta.name}
    for peer in trust.peers():
        if peer.trusted and peer.fingerprint != fingerprint:
            members[peer.fingerprint.hex()] = peer.display_name

    tmp = home / (FILE_NAME + ".migrating")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    storage = Storage.create(tmp)
    try:
        with storage.transaction() as writer:
            for doc_id, changes in docs.items():
                kind = layout.kind_of(doc_id)
                doc = am.Document.load(layout.GENESIS[kind] + b"".join(changes))
                if kind == "circle":
                    _circle_fields(doc, actor, members)
                writer.put(doc_id, circle, kind, doc.save(), doc.get_heads())
            circle_id = layout.circle_doc(circle)
            if circle_id not in docs:
                doc = layout.new_document("circle", actor)
                _circle_fields(doc, actor, members)
                writer.put(circle_id, circle, "circle", doc.save(), doc.get_heads())
            if private is not None:
                for doc_id, doc in _private_docs(private, actor).items():
                    writer.put(
                        doc_id, layout.PRIVATE, layout.kind_of(doc_id), doc.save(), doc.get_heads()
                    )
    finally:
        storage.close()
    os.replace(tmp, home / FILE_NAME)
    fsync_dir(home)
    _set_aside(home)
    data = json.loads((home / "profile.json").read_text())
    data.update({"format": FORMAT_VERSION, "default_circle": circle})
    atomic_write(home / "profile.json", json.dumps(data, indent=2).encode())


def _circle_fields(doc: am.Document, actor: bytes, members: dict[str, str]) -> None:
    from .circles import put_member, write_name

    doc.set_actor(actor)
    with doc.transaction() as tx:
        write_name(tx, LEGACY_NAME)
        for fp, name in members.items():
            put_member(tx, fp, name)


def _private_docs(private: am.Document, actor: bytes) -> dict[str, am.Document]:
    out: dict[str, am.Document] = {}

    def doc_for(doc_id: str) -> am.Document:
        doc = out.get(doc_id)
        if doc is None:
            doc = out[doc_id] = layout.new_document(layout.kind_of(doc_id), actor)
        return doc

    for collection in _ITEM_COLLECTIONS:
        for item_id, raw in crdt.read_collection(private, collection).items():
            doc = doc_for(layout.item_doc(layout.PRIVATE, collection, item_id))
            with doc.transaction() as tx:
                _write_raw(tx, collection, item_id, raw)
    for old, new in crdt.read_map(private, "redirects").items():
        if isinstance(new, str):
            doc = doc_for(layout.shard_doc(layout.PRIVATE, old))
            with doc.transaction() as tx:
                crdt.put_scalar(tx, crdt.top(tx, "redirects"), old, new)
    return out


def _set_aside(home: Path) -> None:
    folder = home / LEGACY_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    for name in ("network.snapshot", "network.log", "private.snapshot", "private.log"):
        path = home / name
        if path.exists():
            os.replace(path, folder / name)
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm", "write.lock"):
        (home / name).unlink(missing_ok=True)
    fsync_dir(folder)
    fsync_dir(home)


__all__ = ["LEGACY_NAME", "migrate"]
