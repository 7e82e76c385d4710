"""Provides history: every version of an item, read from Automerge's history of its documents.

An Automerge document keeps every change, and ``get``/``keys``/``text`` read any version
(``heads=``). A *version* of a contact or note is a change of its document that changed it: its
state at the heads ``[change]``, the device that made it (the change's actor, named by the
circles' device registries), when (the item's ``updated`` stamp at that version: Automerge's own
change times are not set by this binding) and what changed (fields, or how many characters a
body gained and lost). Its id is the first 10 hex digits of the change's hash.

Pure functions over documents: ``Network`` finds the documents and writes restorations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import automerge.core as am

from . import crdt
from .model import FIELDS, PROVENANCE_FIELDS, Collection, display_value
from .textdiff import changed_span

VERSION_CHARS = 10
QUIET_FIELDS = frozenset({"updated", "created"}) | PROVENANCE_FIELDS
"""Fields every edit rewrites: not worth listing in a summary of what changed."""


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an item in one document (newest first in lists)."""

    version: str
    """The short id ``restore`` takes (the change hash's first hex digits)."""
    change: bytes
    actor: str
    """The actor id (hex) of the device that made it."""
    at: str
    """The item's ``updated`` stamp at that version ("" when it has none)."""
    values: dict[str, Any] | None
    """The item's shared (or, for a private item, private) values then; ``None``: deleted."""
    summary: str
    changed: tuple[str, ...] = ()
    """The fields it changed."""

    @property
    def deleted(self) -> bool:
        return self.values is None


def _plain_at(doc: Any, value: Any, obj: bytes, heads: list[bytes]) -> Any:
    if isinstance(value, am.ObjType):
        if value == am.ObjType.Text:
            return doc.text(obj, heads)
        if value == am.ObjType.List:
            return [_plain_at(doc, v, o, heads) for v, o in doc.values(obj, heads)]
        return _map_at(doc, obj, heads)
    return value[1]


def _map_at(doc: Any, obj: bytes, heads: list[bytes]) -> dict[str, Any]:
    # keys and values of a map come in the same order: two calls instead of one per key
    return {
        key: _plain_at(doc, v, o, heads)
        for key, (v, o) in zip(doc.keys(obj, heads), doc.values(obj, heads), strict=True)
    }


def item_at(doc: Any, collection: str, item_id: str, heads: list[bytes]) -> dict[str, Any] | None:
    """An item's values at ``heads`` (plain Python, Text as str), or ``None`` if it did not
    exist then."""
    coll = doc.get(am.ROOT, collection, heads)
    if coll is None or coll[0] != am.ObjType.Map:
        return None
    found = doc.get(coll[1], item_id, heads)
    if found is None or found[0] != am.ObjType.Map:
        return None
    return _map_at(doc, found[1], heads)


def summarise(
    collection: Collection, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[str, tuple[str, ...]]:
    """What a version changed, in one line, and the fields it changed."""
    if before is None and after is None:
        return "", ()
    if before is None:
        return "added", ()
    if after is None:
        return "deleted", ()
    specs = FIELDS[collection]
    changed: list[str] = []
    parts: list[str] = []
    for name in specs:
        old, new = before.get(name), after.get(name)
        if _empty(old) and _empty(new) or old == new:
            continue
        changed.append(name)
        if name in QUIET_FIELDS:
            continue
        spec = specs[name]
        if spec.kind == "text":
            # the span that differs, as one splice: what one save of the editor writes
            _start, lost, gained = changed_span(str(old or ""), str(new or ""))
            parts.append(f"{spec.label.lower()} +{gained} −{lost} characters")
        elif _empty(new):
            parts.append(f"{spec.label.lower()} cleared")
        elif _empty(old):
            parts.append(f"{spec.label.lower()}: {_short(new)}")
        else:
            parts.append(f"{spec.label.lower()}: {_short(old)} → {_short(new)}")
    if not parts:
        return ("touched" if changed else "no visible change"), tuple(changed)
    return "; ".join(parts), tuple(changed)


def _empty(value: Any) -> bool:
    return value in (None, "", [])


def _short(value: Any, limit: int = 40) -> str:
    text = " ".join(display_value(value).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def versions(doc: Any, collection: Collection, item_id: str) -> list[Version]:
    """Every version of an item in one document, newest first (a change that did not change
    the item is not a version)."""
    changes = doc.get_changes([])
    states: dict[bytes, dict[str, Any] | None] = {}
    out: list[Version] = []
    existed = False
    for change in changes:
        after = item_at(doc, collection, item_id, [change.hash])
        states[change.hash] = after
        deps = list(change.deps)
        if len(deps) == 1 and deps[0] in states:
            before = states[deps[0]]
        elif not deps:
            before = None
        else:
            before = item_at(doc, collection, item_id, deps)
        if before == after:
            continue
        summary, changed = summarise(collection, before, after)
        if before is None and existed:
            summary = "restored"
        existed = True
        at = str((after or before or {}).get("updated") or (after or {}).get("created") or "")
        if after is None:
            at = ""
        out.append(
            Version(
                change.hash.hex()[:VERSION_CHARS],
                change.hash,
                change.actor_id.hex(),
                at,
                after,
                summary,
                changed,
            )
        )
    out.reverse()
    return out


def version_of(doc: Any, collection: Collection, item_id: str, ref: str) -> Version | None:
    """The version ``ref`` (4+ hex digits of its change) of an item, read from that change
    alone: restoring one of 1,000 versions does not summarise the other 999. ``None`` when no
    single change matches or the change did not change this item."""
    text = (ref or "").strip().lower()
    if len(text) < 4:
        return None
    matches = [c for c in doc.get_changes([]) if c.hash.hex().startswith(text)]
    if len(matches) != 1:
        return None
    change = matches[0]
    after = item_at(doc, collection, item_id, [change.hash])
    before = item_at(doc, collection, item_id, list(change.deps)) if change.deps else None
    if before == after:
        return None
    summary, changed = summarise(collection, before, after)
    at = str((after or {}).get("updated") or (after or {}).get("created") or "")
    return Version(
        change.hash.hex()[:VERSION_CHARS],
        change.hash,
        change.actor_id.hex(),
        at,
        after,
        summary,
        changed,
    )


def ancestors(doc: Any) -> dict[bytes, set[bytes]]:
    """Change hash -> every change it depends on, directly or not."""
    out: dict[bytes, set[bytes]] = {}
    for change in doc.get_changes([]):
        seen: set[bytes] = set()
        for dep in change.deps:
            seen.add(dep)
            seen |= out.get(dep, set())
        out[change.hash] = seen
    return out


@dataclass(frozen=True, slots=True)
class ConflictValue:
    value: Any
    actor: str
    change: bytes


def concurrent(doc: Any) -> bool:
    """Whether two devices changed ``doc`` at once (two heads, or a change that merged two):
    only then can a field hold two values. Cheap: no patch is computed."""
    return len(doc.get_heads()) > 1 or any(len(c.deps) > 1 for c in doc.get_changes([]))


def conflicted_keys(doc: Any) -> set[tuple[str, str, str]]:
    """``(collection, item id, field)`` of every field two devices set concurrently, whose
    values both still stand (Automerge shows one and keeps the other)."""
    out: set[tuple[str, str, str]] = set()
    kind_heads = doc.get_heads()
    patches = doc.diff([], kind_heads)
    for patch in patches:
        text = repr(patch)
        if "conflict: true" not in text:
            continue
        names = crdt._MAP_RE.findall(text.split(", action:", 1)[0])
        key = crdt._KEY_RE.search(text.split(", action:", 1)[1] if ", action:" in text else "")
        if len(names) >= 2 and key is not None and names[0] in ("contacts", "notes"):
            out.add((names[0], names[1], key.group(1)))
    return out


def conflict_values(doc: Any, collection: str, item_id: str, field: str) -> list[ConflictValue]:
    """The values that stand for one field: each made by a change no other change setting the
    field descends from. The one Automerge shows comes first."""
    puts: list[Any] = []
    for change in doc.get_changes([]):
        after = item_at(doc, collection, item_id, [change.hash])
        before = item_at(doc, collection, item_id, list(change.deps)) if change.deps else None
        if after is None:
            continue
        if (
            before is None
            or before.get(field) != after.get(field)
            or field in after
            and (field not in before)
        ):
            puts.append((change, after.get(field)))
    family = ancestors(doc)
    standing = [
        (change, value)
        for change, value in puts
        if not any(change.hash in family.get(other.hash, set()) for other, _v in puts)
    ]
    current = crdt.item_obj(doc, collection, item_id)
    shown = None
    if current is not None:
        found = doc.get(current, field)
        shown = found[0][1] if found and not isinstance(found[0], am.ObjType) else None
    values = [
        ConflictValue(value, change.actor_id.hex(), change.hash) for change, value in standing
    ]
    values.sort(key=lambda v: v.value != shown)
    return values
