"""Provides the mapping between PLN records and Automerge objects.

Layout of a document (the shared network document and the private one alike)::

    ROOT
      schema        int: the schema version (see ``model.SCHEMA_VERSION``)
      contacts      map id -> map of fields
      notes         map id -> map of fields; ``body`` is an Automerge Text
      interactions  map id -> map of fields
      devices       map device id -> {"name": display name}
      redirects     map old id -> id it was merged into

Every replica starts from the same genesis change (``GENESIS``, made once and shipped as bytes),
so the top-level maps are one object on every device: two replicas that each created their own
``contacts`` map would hide one another's contacts after a merge.

Edits write only what changed: a scalar is put only when its value differs, a list is diffed item
by item, and a text is spliced character by character, so concurrent edits of different fields,
list items or words all survive a merge.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import automerge.core as am

from .model import FIELDS, Collection, Field, Record
from .textdiff import text_edits

GENESIS = bytes.fromhex(
    "856f4a837215472000ab010110706c6e7475692d67656e65736973000101fb0db26e08fb87015170ed702c52d859"
    "3bba06ce07ac6eded0d0b6ea293d4c6b060102030213022302400256020815362102230834014204560457018001"
    "027f007f017f067f007f007f077a08636f6e746163747307646576696365730c696e746572616374696f6e73056e"
    "6f7465730972656469726563747306736368656d6106007e0203027f7e037b0605007f0105007f1401060000"
)
TOP_MAPS = ("contacts", "notes", "interactions", "devices", "redirects")

# Keys of an item map that are not fields: provenance kept by duplicate merges, and the marker of
# an item that exists only in the private document.
SOURCES_KEY = "_sources"
PRIVATE_ITEM_KEY = "_private_item"

Doc = am.Document
Tx = am.Transaction


def new_document(actor: bytes) -> am.Document:
    doc = am.Document.load(GENESIS)
    doc.set_actor(actor)
    return doc


def top(doc: am.Document | am.Transaction, name: str) -> bytes:
    found = doc.get(am.ROOT, name)
    if found is None or found[0] != am.ObjType.Map:
        raise KeyError(name)
    return found[1]


def schema_version(doc: am.Document) -> int:
    found = doc.get(am.ROOT, "schema")
    if found is None or isinstance(found[0], am.ObjType):
        return 0
    return int(found[0][1])  # type: ignore[arg-type]


def _plain(doc: am.Document | am.Transaction, value: Any, obj: bytes) -> Any:
    if isinstance(value, am.ObjType):
        if value == am.ObjType.Text:
            return doc.text(obj)
        if value == am.ObjType.List:
            return [_plain(doc, v, o) for v, o in doc.values(obj)]
        return {
            k: _plain(doc, v, o) for k, (v, o) in zip(doc.keys(obj), doc.values(obj), strict=True)
        }
    return value[1]


def read_item(doc: am.Document | am.Transaction, obj: bytes) -> dict[str, Any]:
    """All keys of one item map as plain Python values (Text as str)."""
    # keys and values of a map come in the same order: two calls instead of one per key
    return {
        key: _plain(doc, v, o) for key, (v, o) in zip(doc.keys(obj), doc.values(obj), strict=True)
    }


def assemble(
    collection: Collection,
    item_id: str,
    shared: dict[str, Any] | None,
    private: dict[str, Any] | None,
    circle: str,
) -> Record:
    """The record of one item from the plain values read of its shared and private documents
    (either may be ``None``); ``circle_name`` is left for the caller, who knows the names."""
    values: dict[str, Any] = {}
    private_fields: set[str] = set()
    sources: list[dict[str, Any]] = []
    specs = FIELDS[collection]
    if shared:
        for key, value in shared.items():
            if key in specs:
                values[key] = value
        sources += shared.get(SOURCES_KEY, [])
    private_item = False
    if private:
        private_item = bool(private.get(PRIVATE_ITEM_KEY)) or not shared
        for key, value in private.items():
            if key in specs:
                values[key] = value
                private_fields.add(key)
        sources += private.get(SOURCES_KEY, [])
    circle = "" if private_item else circle
    return Record(
        collection, item_id, values, frozenset(private_fields), private_item, sources, circle
    )


def item_obj(doc: am.Document | am.Transaction, collection: str, item_id: str) -> bytes | None:
    found = doc.get(top(doc, collection), item_id)
    if found is None or found[0] != am.ObjType.Map:
        return None
    return found[1]


def read_collection(doc: am.Document, collection: str) -> dict[str, dict[str, Any]]:
    coll = top(doc, collection)
    out: dict[str, dict[str, Any]] = {}
    for item_id in doc.keys(coll):
        found = doc.get(coll, item_id)
        if found is not None and found[0] == am.ObjType.Map:
            out[item_id] = read_item(doc, found[1])
    return out


def read_map(doc: am.Document, name: str) -> dict[str, Any]:
    return {k: _plain(doc, *doc.get(top(doc, name), k)) for k in doc.keys(top(doc, name))}  # type: ignore[misc]


def ensure_item(tx: am.Transaction, collection: str, item_id: str) -> bytes:
    obj = item_obj(tx, collection, item_id)
    if obj is None:
        obj = tx.put_object(top(tx, collection), item_id, am.ObjType.Map)
    return obj


def delete_item(tx: am.Transaction, collection: str, item_id: str) -> bool:
    coll = top(tx, collection)
    if tx.get(coll, item_id) is None:
        return False
    tx.delete(coll, item_id)
    return True


ALWAYS_PUT = frozenset({"updated", "changed_by"})
"""Keys rewritten even when the stored value is equal: an edit's ``updated`` stamp and its
``changed_by`` author must win or lose together against a concurrent edit. Automerge skips a put
of an equal value, and a map conflict goes to the op with the highest (counter, actor); so both
keys are always deleted and put again, in this order, in every edit: the two edits' ops then
compare the same way for both keys."""


def put_scalar(tx: am.Transaction, obj: bytes, key: str, value: Any) -> None:
    """Put a scalar unless the stored value is already equal (no needless ops, no conflicts)."""
    found = tx.get(obj, key)
    if found is not None and not isinstance(found[0], am.ObjType) and found[0][1] == value:
        if key not in ALWAYS_PUT:
            return
        tx.delete(obj, key)
    elif key in ALWAYS_PUT and found is not None and value is not None:
        tx.delete(obj, key)
    if value is None:
        if found is not None:
            tx.delete(obj, key)
        return
    if isinstance(value, bool):
        tx.put(obj, key, am.ScalarType.Boolean, value)
    elif isinstance(value, int):
        tx.put(obj, key, am.ScalarType.Int, value)
    elif isinstance(value, float):
        tx.put(obj, key, am.ScalarType.F64, value)
    else:
        tx.put(obj, key, am.ScalarType.Str, str(value))


def put_list(tx: am.Transaction, obj: bytes, key: str, items: list[str]) -> None:
    """Make the list at ``key`` equal ``items`` by deleting and inserting single items."""
    found = tx.get(obj, key)
    if found is None or found[0] != am.ObjType.List:
        lst = tx.put_object(obj, key, am.ObjType.List)
        current: list[Any] = []
    else:
        lst = found[1]
        current = [v[1] if not isinstance(v, am.ObjType) else None for v, _ in tx.values(lst)]
    if current == items:
        return
    matcher = difflib.SequenceMatcher(None, current, items, autojunk=False)
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag == "equal":
            continue
        for index in range(i2 - 1, i1 - 1, -1):
            tx.delete(lst, index)
        for offset, item in enumerate(items[j1:j2]):
            tx.insert(lst, i1 + offset, am.ScalarType.Str, item)


def text_obj(tx: am.Transaction | am.Document, obj: bytes, key: str) -> bytes | None:
    found = tx.get(obj, key)
    if found is None or found[0] != am.ObjType.Text:
        return None
    return found[1]


def splice_text(tx: am.Transaction, text: bytes, pos: int, delete: int, insert: str) -> None:
    """Delete ``delete`` characters at ``pos`` then insert ``insert`` one character at a time,
    so concurrent edits interleave per character (positions count code points)."""
    for _ in range(delete):
        tx.delete(text, pos)
    for offset, char in enumerate(insert):
        tx.insert(text, pos + offset, am.ScalarType.Str, char)


def put_text(tx: am.Transaction, obj: bytes, key: str, value: str) -> None:
    """Make the Text at ``key`` equal ``value`` with the smallest character splices."""
    text = text_obj(tx, obj, key)
    if text is None:
        text = tx.put_object(obj, key, am.ObjType.Text)
        splice_text(tx, text, 0, 0, value)
        return
    old = tx.text(text)
    if old == value:
        return
    for pos, delete, insert in reversed(text_edits(old, value)):
        splice_text(tx, text, pos, delete, insert)


_PATH_RE = re.compile(r"path: \[(.*?)\], action:", re.S)
_MAP_RE = re.compile(r'Map\("([^"\\]*)"\)')
_KEY_RE = re.compile(r'(?:PutMap|DeleteMap)\s*\{\s*key:\s*"([^"\\]*)"')
MAX_PATCHES = 20_000


def touched_items(
    doc: am.Document, before: list[bytes], after: list[bytes]
) -> set[tuple[str, str]] | None:
    """The ``(collection, id)`` of every item changed between two sets of heads, or None when
    the change is too large to list (then a full re-read is cheaper)."""
    found = diff_items(doc, before, after)
    return None if found is None else found[0]


ALL_FIELDS = "*"
"""In ``diff_items``' conflicts: every field of the item (it was deleted or replaced)."""
_CONFLICT_RE = re.compile(r'Conflict\s*\{\s*prop:\s*Map\("([^"\\]*)"\)')


def diff_items(
    doc: am.Document, before: list[bytes], after: list[bytes]
) -> tuple[set[tuple[str, str]], dict[tuple[str, str, str], bool]] | None:
    """What changed between two sets of heads: the ``(collection, id)`` of every item, and
    for each field set or deleted, whether it now holds concurrent values (``True``: a conflict;
    ``False``: one value; field ``ALL_FIELDS``: the whole item was deleted or replaced). None
    when the change is too large to list (then a full re-read is cheaper).

    The Python binding exposes patches only through their text form, which names the path of
    map keys (``Map("contacts")``, ``Map("<id>")``), the key a map operation touched and its
    ``conflict`` flag (``Conflict { prop }`` when a losing value arrived)."""
    patches = doc.diff(before, after)
    if len(patches) > MAX_PATCHES:
        return None
    touched: set[tuple[str, str]] = set()
    conflicts: dict[tuple[str, str, str], bool] = {}
    for patch in patches:
        text = repr(patch)
        path = _PATH_RE.search(text)
        if path is None:
            return None
        names = _MAP_RE.findall(path.group(1))
        if not names or names[0] not in ("contacts", "notes", "interactions"):
            continue
        action = text[path.end() :]
        if len(names) >= 2:
            collection, item_id = names[0], names[1]
            if len(names) == 2:  # a field of the item itself
                lost = _CONFLICT_RE.search(action)
                key = _KEY_RE.search(action)
                if lost is not None:
                    conflicts[collection, item_id, lost.group(1)] = True
                elif key is not None:
                    conflicts[collection, item_id, key.group(1)] = "conflict: true" in action
        else:
            key = _KEY_RE.search(action)
            if key is None:
                continue
            collection, item_id = names[0], key.group(1)
            conflicts[collection, item_id, ALL_FIELDS] = False
        touched.add((collection, item_id))
    return touched, conflicts


def write_fields(
    tx: am.Transaction, collection: Collection, obj: bytes, values: Mapping[str, Any]
) -> None:
    specs: dict[str, Field] = FIELDS[collection]
    for name, value in values.items():
        spec = specs[name]
        if spec.kind == "list":
            put_list(tx, obj, name, list(value))
        elif spec.kind == "text":
            put_text(tx, obj, name, value or "")
        elif value in ("", None, []):
            if tx.get(obj, name) is not None:
                tx.delete(obj, name)
        else:
            put_scalar(tx, obj, name, value)


def delete_fields(tx: am.Transaction, obj: bytes, names: Iterable[str]) -> None:
    for name in names:
        if tx.get(obj, name) is not None:
            tx.delete(obj, name)


def append_source(tx: am.Transaction, obj: bytes, source: Mapping[str, Any]) -> None:
    """Record where merged values came from, as a list of maps under ``_sources``."""
    found = tx.get(obj, SOURCES_KEY)
    if found is None or found[0] != am.ObjType.List:
        lst = tx.put_object(obj, SOURCES_KEY, am.ObjType.List)
    else:
        lst = found[1]
    entry = tx.insert_object(lst, tx.length(lst), am.ObjType.Map)
    for key, value in source.items():
        if isinstance(value, Mapping):
            sub = tx.put_object(entry, key, am.ObjType.Map)
            for k2, v2 in value.items():
                if isinstance(v2, list):
                    put_list(tx, sub, k2, [str(x) for x in v2])
                else:
                    put_scalar(tx, sub, k2, v2)
        elif isinstance(value, list):
            put_list(tx, entry, key, [str(x) for x in value])
        else:
            put_scalar(tx, entry, key, value)
