"""Provides the rows the app shows: records flattened to cells, filtered as you type, sorted.

Pure Python, no Textual: the app and the benchmarks share it. Filtering matches every word of the
filter as a substring of a row's precomputed haystack (case- and accent-insensitive), which keeps
a keystroke over 10,000 contacts to a few milliseconds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import CREATOR_FIELD, Record, display_value, safe_text


def fold(text: str) -> str:
    """Lower case without accents: ``"Zoë"`` -> ``"zoe"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # 0: take the remaining width
    value: Callable[[Record], str]


class Row:
    """One line of a list. Its record and cells are made when first needed, so a list of 10,000
    rows from the search index opens without parsing what is never on screen."""

    __slots__ = ("id", "haystack", "_columns", "_record", "_make", "_cells")

    def __init__(
        self,
        columns: tuple[Column, ...],
        item_id: str,
        haystack: str,
        *,
        record: Record | None = None,
        make: Callable[[], Record] | None = None,
    ) -> None:
        self.id = item_id
        self.haystack = haystack
        self._columns = columns
        self._record = record
        self._make = make
        self._cells: tuple[str, ...] | None = None

    @property
    def record(self) -> Record:
        if self._record is None:
            assert self._make is not None
            self._record = self._make()
        return self._record

    @property
    def cells(self) -> tuple[str, ...]:
        if self._cells is None:
            self._cells = tuple(c.value(self.record) for c in self._columns)
        return self._cells


def _one_line(value: Any) -> str:
    return " ".join(safe_text(display_value(value)).split())


def contact_columns(name_of: Callable[[str], str] | None = None) -> tuple[Column, ...]:
    return (
        Column("name", "Name", 22, lambda r: _one_line(r.values.get("name"))),
        Column("org", "Organisation", 18, lambda r: _one_line(r.values.get("org"))),
        Column("topics", "Topics", 0, lambda r: _one_line(r.values.get("topics", []))),
        Column(
            "relationship", "Relationship", 12, lambda r: _one_line(r.values.get("relationship"))
        ),
        Column(
            "last_contacted", "Last talked", 11, lambda r: _one_line(r.values.get("last_contacted"))
        ),
    )


def note_columns() -> tuple[Column, ...]:
    return (
        Column("title", "Title", 0, lambda r: _one_line(r.values.get("title"))),
        Column("tags", "Tags", 14, lambda r: _one_line(r.values.get("tags", []))),
        Column(
            "updated", "Updated", 10, lambda r: _one_line(str(r.values.get("updated", ""))[:10])
        ),
    )


_HAYSTACK_KEYS = {
    "contacts": ("name", "org", "topics", "role", "emails", "relationship", "met", "channel"),
    "notes": ("title", "tags", "kind", "body"),
    "interactions": ("summary", "kind"),
}


BY_MARK = "\x00"  # before the creator's actor id in a haystack: typed text never contains it
BY_PREFIX = "by:"


def haystack(record: Record) -> str:
    """The folded text a filter searches in (the search index stores it ready-made), ending
    with a mark and the actor id of the device that added the record (for ``by:`` filters)."""
    keys = _HAYSTACK_KEYS[record.collection]
    text = fold(" ".join(display_value(record.values.get(k)) for k in keys))
    creator = record.values.get(CREATOR_FIELD[record.collection])
    return f"{text} {BY_MARK}{creator}" if creator else text


@dataclass(slots=True)
class Catalog:
    """The rows of one list in the app, with the current filter and sort."""

    columns: tuple[Column, ...]
    rows: list[Row] = field(default_factory=list)
    visible: list[Row] = field(default_factory=list)
    query: str = ""
    sort_key: str = ""
    sort_reverse: bool = False
    _positions: dict[str, int] | None = None
    # ``by:NAME`` in a filter keeps the rows added by the devices this returns (actor ids)
    resolve_by: Callable[[str], Iterable[str]] | None = None

    def load(self, records: Sequence[Record]) -> None:
        self.rows = [Row(self.columns, r.id, haystack(r), record=r) for r in records]
        self._sort_rows()
        self.apply_filter(self.query)

    def load_lazy(
        self, entries: Sequence[tuple[str, str, Callable[[], Record]]], sorted_by: str
    ) -> None:
        """Rows given as ``(id, haystack, make_record)``, already sorted by column
        ``sorted_by``: nothing is parsed until it is shown or sorted another way."""
        self.rows = [Row(self.columns, item_id, hay, make=make) for item_id, hay, make in entries]
        if self.sort_key != sorted_by or self.sort_reverse:
            self._sort_rows()
        self.apply_filter(self.query)

    def apply_filter(self, query: str) -> list[Row]:
        """Keep the rows containing every word of ``query``. Narrowing a filter reuses the rows
        the previous filter kept."""
        words = fold(query).split()
        previous = fold(self.query).split()
        narrowing = bool(previous) and query.startswith(self.query) and len(words) >= len(previous)
        if self.resolve_by is not None and any(w.startswith(BY_PREFIX) for w in words):
            narrowing = False  # "by" then "by:bob": the token is no longer a word
        rows = self.visible if narrowing else self.rows
        self.query = query
        if not words:
            rows = list(self.rows)
        for word in words:
            if word.startswith(BY_PREFIX) and self.resolve_by is not None:
                if len(word) == len(BY_PREFIX):
                    continue  # still typing the name
                marks = [BY_MARK + actor for actor in self.resolve_by(word[len(BY_PREFIX) :])]
                rows = [row for row in rows if any(m in row.haystack for m in marks)]
                continue
            rows = [row for row in rows if word in row.haystack]
        self.visible = rows
        self._positions: dict[str, int] | None = None
        return self.visible

    def sort_by(self, key: str) -> None:
        """Sort by a column; sorting by the same column again reverses the order."""
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._sort_rows()
        self.apply_filter(self.query)

    def cycle_sort(self) -> Column:
        """Sort by the next column (ascending); returns it."""
        keys = [c.key for c in self.columns]
        current = keys.index(self.sort_key) if self.sort_key in keys else -1
        column = self.columns[(current + 1) % len(keys)]
        self.sort_key, self.sort_reverse = "", False
        self.sort_by(column.key)
        return column

    def _sort_rows(self) -> None:
        if not self.sort_key:
            return
        index = next(i for i, c in enumerate(self.columns) if c.key == self.sort_key)

        def key(row: Row) -> tuple[bool, str]:
            cell = row.cells[index]
            return (cell == "", fold(cell))

        self.rows.sort(key=key, reverse=self.sort_reverse)
        if self.sort_reverse:  # keep empty cells last either way
            self.rows.sort(key=lambda r: r.cells[index] == "")

    def index_of(self, item_id: str) -> int | None:
        if self._positions is None:
            self._positions = {row.id: i for i, row in enumerate(self.visible)}
        return self._positions.get(item_id)
