"""Provides the guard: what a peer sends is checked on a staging copy before it is stored.

``check`` runs on the document as it would be once the peer's batch is applied (a fork, or the
document loaded from the bytes the peer sent), never on the stored one. It refuses:

* a schema newer than this plntui's (``pause``: the peer is not wrong, this device is behind);
* a document whose kind or top-level maps are missing or of the wrong type;
* a record that the model would not accept: a field of the wrong type, too long, a list with too
  many items, a contact without a name, a note without a title;
* a circle document that does not list both this device and the peer as members, when it is
  new here (a peer can only bring a circle it shares with this device);
* a circle whose secret is not 64 hex digits of text, or whose settings hold anything but a
  number, true/false or text, text longer than ``circles.SETTING_LIMIT``, or a relay that is
  not text. A relay that is text but not an address is kept, and ignored where it is read
  (``relay_config``).

Which documents a peer may send at all (those of circles both are members of) is the sync host's
share policy, checked before anything is applied. A refused batch is not stored, so it is never
relayed either.
"""

from __future__ import annotations

import re
from typing import Any

import automerge.core as am

from . import crdt, layout
from .circles import RELAY_SETTING, SECRET_KEY, SETTING_LIMIT
from .model import FIELDS, Field

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ACTOR = re.compile(r"^[0-9a-f]{2,64}$")
_ITEM_ID = re.compile(r"^[0-9a-f]{4,32}$")
MAX_NAME = 200
MAX_SOURCES = 1000


class GuardRefused(Exception):
    """The batch is refused: ``message`` says why (it quotes nothing the peer controls raw)."""

    def __init__(self, message: str, *, pause: bool = False, schema: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.pause = pause
        self.schema = schema


def _scalar(doc: Any, obj: bytes, key: str) -> Any:
    found = doc.get(obj, key)
    if found is None:
        return None
    if isinstance(found[0], am.ObjType):
        return found[0]
    return found[0][1]


def check_structure(doc_id: str, doc: Any) -> None:
    """The schema, the kind and the top-level maps of a document."""
    kind = layout.kind_of(doc_id)
    schema = _scalar(doc, am.ROOT, "schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise GuardRefused(f"document {doc_id} has no schema version")
    if schema > layout.SCHEMA_VERSION:
        raise GuardRefused(
            f"the peer runs a newer plntui (schema {schema}); update plntui to sync with them",
            pause=True,
            schema=schema,
        )
    if schema < layout.SCHEMA_VERSION:
        raise GuardRefused(f"document {doc_id} has schema {schema}, not {layout.SCHEMA_VERSION}")
    if _scalar(doc, am.ROOT, "kind") != kind:
        raise GuardRefused(f"document {doc_id} is not a {kind} document")
    for name in layout.MAPS[kind]:
        found = doc.get(am.ROOT, name)
        if found is None or found[0] != am.ObjType.Map:
            raise GuardRefused(f"document {doc_id} lacks its {name} map (or it is not a map)")


def _check_value(spec: Field, value: Any, where: str) -> None:
    if spec.kind == "list":
        if not isinstance(value, list):
            raise GuardRefused(f"{where}: {spec.label} is not a list")
        if len(value) > spec.max_items:
            raise GuardRefused(
                f"{where}: {spec.label} has {len(value)} items (at most {spec.max_items})"
            )
        for item in value:
            if not isinstance(item, str) or len(item) > spec.limit:
                raise GuardRefused(
                    f"{where}: {spec.label} holds an item that is not text of at most "
                    f"{spec.limit} characters"
                )
        return
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**53) < value < 2**53:
            raise GuardRefused(f"{where}: {spec.label} is not a whole number")
        return
    if not isinstance(value, str):
        raise GuardRefused(f"{where}: {spec.label} is not text")
    limit = spec.limit if spec.kind in ("str", "text") else 40
    if len(value) > limit:
        raise GuardRefused(
            f"{where}: {spec.label} is too long ({len(value):,} characters, at most {limit:,})"
        )


def check_item(
    doc: Any, collection: str, item_id: str, found: tuple[Any, bytes] | None = None
) -> dict[str, Any] | None:
    """One record of a shard or note document, as the model would accept it. Returns what it
    read of the record (``None``: deleted). ``found``: its entry in its collection's map, when
    the caller read them all at once (``doc.values``)."""
    where = f"{collection[:-1]} {item_id}"
    if not _ITEM_ID.match(item_id):
        raise GuardRefused(f"{collection} has a malformed id")
    if found is None:
        found = doc.get(crdt.top(doc, collection), item_id)
    if found is None:
        return None  # deleted: fine
    if found[0] != am.ObjType.Map:
        raise GuardRefused(f"{where} is not a map")
    obj = found[1]
    specs: dict[str, Field] = FIELDS[collection]  # type: ignore[index]
    values = crdt.read_item(doc, obj)
    for key, value in values.items():
        spec = specs.get(key)
        if spec is not None:
            if spec.private_only:
                raise GuardRefused(f"{where} carries the private field {key} in a shared document")
            _check_value(spec, value, where)
        elif key == crdt.SOURCES_KEY:
            if not isinstance(value, list) or len(value) > MAX_SOURCES:
                raise GuardRefused(f"{where} has malformed merge sources")
        elif key != crdt.PRIVATE_ITEM_KEY and (
            len(key) > 64 or (isinstance(value, str) and len(value) > 10_000)
        ):
            raise GuardRefused(f"{where} has an unknown, oversized field")
    for spec in _REQUIRED[collection]:
        if not values.get(spec.name):
            raise GuardRefused(f"{where} has no {spec.label.lower()}")
    return values


_REQUIRED: dict[str, list[Field]] = {
    c: [s for s in specs.values() if s.required] for c, specs in FIELDS.items()
}


def check_circle(doc: Any, doc_id: str) -> None:
    name = _scalar(doc, am.ROOT, "name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
        raise GuardRefused(f"circle {doc_id} has a malformed name")
    secret = _scalar(doc, am.ROOT, SECRET_KEY)
    if secret is not None and (not isinstance(secret, str) or not _HEX64.match(secret)):
        raise GuardRefused(f"circle {doc_id} has a malformed secret")
    settings = crdt.top(doc, "settings")
    for key in doc.keys(settings):
        value = _scalar(doc, settings, key)
        if (
            len(key) > 64
            or not isinstance(value, str | int | float | None)  # an object, bytes, ...
            or (isinstance(value, str) and len(value) > SETTING_LIMIT)
            or (key == RELAY_SETTING and not isinstance(value, str))
        ):
            raise GuardRefused(f"circle {doc_id} has a malformed setting")
    members = crdt.top(doc, "members")
    for key in doc.keys(members):
        value = _scalar(doc, members, key)
        if not _HEX64.match(key) or not isinstance(value, str) or len(value) > MAX_NAME:
            raise GuardRefused(f"circle {doc_id} has a malformed member entry")
    devices = crdt.top(doc, "devices")
    for key in doc.keys(devices):
        found = doc.get(devices, key)
        if not _ACTOR.match(key) or found is None or found[0] != am.ObjType.Map:
            raise GuardRefused(f"circle {doc_id} has a malformed device entry")
        for field_name, value in crdt.read_item(doc, found[1]).items():
            if not isinstance(value, str) or len(value) > MAX_NAME or len(field_name) > 32:
                raise GuardRefused(f"circle {doc_id} has a malformed device entry")


def check(
    doc_id: str,
    doc: Any,
    touched: set[tuple[str, str]] | None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Refuse (``GuardRefused``) a document that is not as this plntui writes it.

    ``touched``: the ``(collection, id)`` the batch changed, or ``None`` to check every record.
    Returns the records it read, as plain values, by ``(collection, id)`` (none of a circle
    document; a deleted record is left out).
    """
    check_structure(doc_id, doc)
    kind = layout.kind_of(doc_id)
    read: dict[tuple[str, str], dict[str, Any]] = {}
    if kind == "circle":
        check_circle(doc, doc_id)
        return read
    collections = ("contacts", "interactions") if kind == "shard" else ("notes",)
    if touched is None:  # every record: each collection's entries read at once
        for collection in collections:
            coll = crdt.top(doc, collection)
            for item_id, found in zip(doc.keys(coll), doc.values(coll), strict=True):
                values = check_item(doc, collection, item_id, found)
                if values is not None:
                    read[collection, item_id] = values
    for collection, item_id in sorted(touched or ()):
        if collection in collections:
            values = check_item(doc, collection, item_id)
            if values is not None:
                read[collection, item_id] = values
    if kind == "shard":
        redirects = crdt.top(doc, "redirects")
        for key in doc.keys(redirects):
            value = _scalar(doc, redirects, key)
            if not _ITEM_ID.match(key) or not isinstance(value, str) or not _ITEM_ID.match(value):
                raise GuardRefused(f"document {doc_id} has a malformed redirect")
    if kind == "note":
        note_id = doc_id.rsplit(":", 1)[1]
        if any(key != note_id for key in doc.keys(crdt.top(doc, "notes"))):
            raise GuardRefused(f"document {doc_id} holds another note than its own")
    return read
