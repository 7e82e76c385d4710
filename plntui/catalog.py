"""Provides the rows the app shows: records flattened to cells, filtered as you type, sorted.

Pure Python, no Textual: the app and the benchmarks share it. A filter is the search syntax of
``plntui search`` (``query``: words, ``"phrases"``, ``org:``, ``topic:``/``tag:``, ``by:NAME``,
``circle:NAME``, ``-`` to exclude), matched on each row's precomputed haystack (case- and
accent-insensitive), which keeps a keystroke over 10,000 contacts to a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Record, display_value, safe_text
from .query import (
    BY_MARK,
    CIRCLE_MARK,
    PRIVATE_CIRCLE,
    Filter,
    by_mark,
    circle_mark,
    fold,
    haystack,
    parse,
)

__all__ = [
    "BY_MARK",
    "CIRCLE_MARK",
    "PRIVATE_CIRCLE",
    "Catalog",
    "Column",
    "Row",
    "by_mark",
    "circle_label",
    "circle_mark",
    "circle_word",
    "circles_matching",
    "contact_columns",
    "fold",
    "haystack",
    "note_columns",
]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # 0: take the remaining width
    value: Callable[[Record], str]
    drop: int = 0
    """When the list is too narrow for every column: 0 is always shown, and the columns with
    the highest ``drop`` are hidden first (their values stay in the detail pane)."""
    min_width: int = 0
    """The flexible column (``width`` 0) gets at least this much before others are hidden."""


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


def circle_label(record: Record) -> str:
    """The circle cell of a record: its circle's name, or "private"."""
    if record.private_item or not record.circle:
        return PRIVATE_CIRCLE
    return _one_line(record.circle_name or record.circle[:8])


def contact_columns(name_of: Callable[[str], str] | None = None) -> tuple[Column, ...]:
    return (
        Column("name", "Name", 22, lambda r: _one_line(r.values.get("name"))),
        Column("org", "Organisation", 18, lambda r: _one_line(r.values.get("org")), drop=2),
        Column("topics", "Topics", 0, lambda r: _one_line(r.values.get("topics", []))),
        Column("circle", "Circle", 12, circle_label, drop=1),
        Column(
            "relationship",
            "Relationship",
            12,
            lambda r: _one_line(r.values.get("relationship")),
            drop=4,
        ),
        Column(
            "last_contacted",
            "Last talked",
            11,
            lambda r: _one_line(r.values.get("last_contacted")),
            drop=3,
        ),
    )


def note_columns() -> tuple[Column, ...]:
    return (
        Column("title", "Title", 0, lambda r: _one_line(r.values.get("title")), min_width=22),
        Column("tags", "Tags", 14, lambda r: _one_line(r.values.get("tags", [])), drop=1),
        Column("circle", "Circle", 12, circle_label),
        Column(
            "updated",
            "Updated",
            10,
            lambda r: _one_line(str(r.values.get("updated", ""))[:10]),
            drop=2,
        ),
    )


CIRCLE_PREFIX = "circle:"


def circle_word(name: str) -> str:
    """A circle's name as one filter word: folded, spaces as dashes (``Data team`` ->
    ``data-team``)."""
    return "-".join(fold(name).split())


def circles_matching(names: Mapping[str, str], text: str) -> set[str]:
    """The circle ids (``PRIVATE_CIRCLE`` for private items) that ``circle:TEXT`` means: the
    circles whose name, as ``circle_word``, starts with ``text`` (case- and accent-insensitive;
    a name that is exactly ``text`` wins over longer ones), or whose id starts with it (4+ hex
    digits). ``names``: circle id -> name."""
    wanted = circle_word(text)
    if not wanted:
        return set()
    words = {circle_id: circle_word(name) for circle_id, name in names.items()}
    words.setdefault(PRIVATE_CIRCLE, PRIVATE_CIRCLE)
    exact = {circle_id for circle_id, word in words.items() if word == wanted}
    if exact:
        return exact
    found = {circle_id for circle_id, word in words.items() if word.startswith(wanted)}
    if len(wanted) >= 4 and all(ch in "0123456789abcdef" for ch in wanted):
        found |= {circle_id for circle_id in names if circle_id.startswith(wanted)}
    return found


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
    # ``circle:NAME`` keeps the rows of the circles this returns (ids; ``PRIVATE_CIRCLE``)
    resolve_circle: Callable[[str], Iterable[str]] | None = None

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
        """Keep the rows that match ``query`` (the search syntax, see ``query``). A query that
        only narrows the previous one (a word typed further, a word added) filters the rows the
        previous one kept."""
        parsed = parse(query)
        narrowing = bool(self.query) and query != self.query and parsed.implies(parse(self.query))
        rows = self.visible if narrowing else self.rows
        self.query = query
        if not parsed:
            self.visible = list(self.rows)
        else:
            matcher = Filter(parsed, self.resolve_by, self.resolve_circle)
            self.visible = matcher.keep(rows, record=_record_of)
        self._positions = None
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


def _record_of(row: Row) -> Record:
    return row.record
