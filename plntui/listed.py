"""Provides the records of the index's whole lists, decoded when first read.

``SearchIndex.list`` hands out every item of a collection; at 100,000 contacts, decoding each
record's JSON (its values dict, lists and sources) is most of the time and of the collector's
work, while many readers want only ids and names (the command palette, the pickers, a name
lookup). A ``Listed`` record has its id, circle and label at once and keeps its stored JSON;
the first read of ``values``, ``private``, ``private_item`` or ``sources`` decodes it, and the
record becomes a plain ``Record`` (the same object: its class is switched, so later reads are
plain slot reads and it compares equal to a ``Record`` of the same item).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .model import Collection, Record


def decoded(data: str) -> tuple[dict[str, Any], frozenset[str], bool, list[dict[str, Any]]]:
    """An index row's JSON as a record's values, private fields, private flag and sources."""
    raw = json.loads(data)
    return raw["values"], frozenset(raw["private"]), raw["private_item"], raw.get("sources", [])


_COMPARED = tuple(f.name for f in dataclasses.fields(Record) if f.compare)


def _compared(record: Record) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in _COMPARED)


def _decode(record: Record) -> None:
    stored = record.stored
    if stored is None:
        return
    values, private, private_item, sources = decoded(stored[1])
    record.__class__ = Record  # the same slots: from here on a plain record
    record.values = values
    record.private = private
    record.private_item = private_item
    record.sources = sources
    record.stored = None


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

    values = _Decoded(Record.__dict__["values"])  # type: ignore[assignment]
    private = _Decoded(Record.__dict__["private"])  # type: ignore[assignment]
    private_item = _Decoded(Record.__dict__["private_item"])  # type: ignore[assignment]
    sources = _Decoded(Record.__dict__["sources"])  # type: ignore[assignment]

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
