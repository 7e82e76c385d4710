"""Provides the records of the index's whole lists, decoded when first read.

``SearchIndex.list`` hands out every item of a collection; at 100,000 contacts, decoding each
record's JSON (its values dict, lists and sources) is most of the time and of the collector's
work, while some readers want only ids and names (the note's linked-contacts picker, a name
lookup in the contact form). A ``Listed`` record has its id, circle and label at once and
keeps its stored JSON; the first read of ``values``, ``private``, ``private_item`` or
``sources`` decodes it, and the record becomes a plain ``Record`` (the same object: its class
is switched, so later reads are plain slot reads and it compares equal to a ``Record`` of the
same item). Decoding holds a lock: a list read in one thread may be shown in another.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

from .model import Collection, Record


def decoded(data: str) -> tuple[dict[str, Any], frozenset[str], bool, list[dict[str, Any]]]:
    """An index row's JSON as a record's values, private fields, private flag and sources."""
    raw = json.loads(data)
    return raw["values"], frozenset(raw["private"]), raw["private_item"], raw.get("sources", [])


_COMPARED = tuple(f.name for f in dataclasses.fields(Record) if f.compare)


def _compared(record: Record) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in _COMPARED)


_SLOTS = {name: Record.__dict__[name] for name in ("values", "private", "private_item", "sources")}
_DECODING = threading.Lock()  # a list read in one thread may be shown in another


def _decode(record: Record) -> None:
    if getattr(record, "stored", None) is None:  # (unset while dataclasses.replace makes one)
        return
    with _DECODING:
        stored = record.stored
        if stored is None:  # another thread decoded it meanwhile
            return
        values, private, private_item, sources = decoded(stored[1])
        _SLOTS["values"].__set__(record, values)
        _SLOTS["private"].__set__(record, private)
        _SLOTS["private_item"].__set__(record, private_item)
        _SLOTS["sources"].__set__(record, sources)
        record.stored = None
        record.__class__ = Record  # the same slots: from here on a plain record


class _Decoded:
    """One of ``Record``'s slots, read through a decode of the stored JSON."""

    __slots__ = ("slot",)

    def __init__(self, slot: Any) -> None:
        self.slot = slot

    def __get__(self, record: Record | None, owner: type | None = None) -> Any:
        if record is None:
            return self
        _decode(record)
        return self.slot.__get__(record, owner)

    def __set__(self, record: Record, value: Any) -> None:
        _decode(record)
        self.slot.__set__(record, value)


class Listed(Record):
    """A record of an index list whose values are not decoded yet (see the module)."""

    __slots__ = ()

    values = _Decoded(_SLOTS["values"])  # type: ignore[assignment]
    private = _Decoded(_SLOTS["private"])  # type: ignore[assignment]
    private_item = _Decoded(_SLOTS["private_item"])  # type: ignore[assignment]
    sources = _Decoded(_SLOTS["sources"])  # type: ignore[assignment]

    @property
    def label(self) -> str:
        stored = self.stored
        return super().label if stored is None else stored[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return _compared(self) == _compared(other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: Any) -> Any:  # a copy or a pickle is a plain record
        _decode(self)
        return self.__reduce_ex__(protocol)


def listed(
    collection: Collection, item_id: str, label: str, circle: str, circle_name: str, data: str
) -> Record:
    """A record of ``collection`` with its label and circle, its JSON decoded when first read."""
    record = Listed.__new__(Listed)
    record.collection = collection
    record.id = item_id
    record.circle = circle
    record.circle_name = circle_name
    record.stored = (label, data)
    return record
