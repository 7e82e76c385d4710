"""Provides RecordTable: a virtual table over a Catalog that renders only the rows on screen.

Filtering 10,000 rows replaces a Python list and repaints the visible lines, so a keystroke stays
within a frame. Cells are plain ``rich.text.Text``: data is never parsed as markup. On a narrow
screen the least needed columns are hidden (``Column.drop``) rather than all squeezed. A date
column squeezed below a date's ten cells shows how long ago it was ("3 d ago", "5 mo ago",
"in 2 wk"; ``short_date``) instead of a cut "2026-0…".
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ... import model
from ...catalog import Catalog, Column, Row
from ...cells import cell_len, fit
from ...model import Record

SHRINK_LIMIT = 0.2
"""How much of their width the fixed columns may lose before one is hidden (see ``drop``)."""
DATE_COLUMNS = frozenset({"last_contacted", "updated", "created", "date"})
"""The columns whose ``YYYY-MM-DD`` cells become "3 d ago" when the column is too narrow."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def short_date(text: str, width: int, today: _dt.date) -> str:
    """``text`` in at most ``width`` cells: a ``YYYY-MM-DD`` date that does not fit becomes
    the time since (or until) it, "3 d ago", "2 wk ago", "5 mo ago", "1 yr ago" ("in 3 d"
    ahead), without spaces or "ago" when narrower still ("3d", "+3d"); anything else is
    returned as it is."""
    if cell_len(text) <= width or not _ISO_DATE.fullmatch(text):
        return text
    try:
        day = _dt.date.fromisoformat(text)
    except ValueError:
        return text
    days = (today - day).days
    if days == 0:
        forms = ["today", "now"]
    else:
        n = abs(days)
        if n < 14:
            amount, unit = n, "d"
        elif n < 60:
            amount, unit = n // 7, "wk"
        elif n < 365:
            amount, unit = n // 30, "mo"
        else:
            amount, unit = n // 365, "yr"
        if days > 0:
            forms = [f"{amount} {unit} ago", f"{amount}{unit} ago", f"{amount}{unit}"]
        else:
            forms = [f"in {amount} {unit}", f"in {amount}{unit}", f"+{amount}{unit}"]
    return next((form for form in forms if len(form) <= width), forms[-1])


class RecordTable(ScrollView, can_focus=True):
    """Rows of records with a header; Enter selects, clicking a header sorts."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    COMPONENT_CLASSES = {"record-table--header", "record-table--cursor", "record-table--empty"}
    DEFAULT_CSS = """
    RecordTable { height: 1fr; overflow-x: hidden; }
    RecordTable > .record-table--header { text-style: bold; background: $panel; }
    RecordTable > .record-table--cursor { background: $primary 30%; }
    RecordTable:focus > .record-table--cursor { background: $primary; color: $text; }
    RecordTable > .record-table--empty { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another record."""

        table: RecordTable
        record: Record | None

        @property
        def control(self) -> RecordTable:
            return self.table

    @dataclass
    class Selected(Message):
        """Enter or a click on a record."""

        table: RecordTable
        record: Record

        @property
        def control(self) -> RecordTable:
            return self.table

    @dataclass
    class SortRequested(Message):
        """A click on a column header."""

        table: RecordTable
        key: str

        @property
        def control(self) -> RecordTable:
            return self.table

    def __init__(
        self,
        catalog: Catalog,
        empty_text: str = "Nothing here yet.",
        none_text: str = "",
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.catalog = catalog
        self.empty_text = empty_text
        self.none_text = none_text or empty_text
        self._last_highlight: str | None = None
        self._paint: tuple[list[int | None], Style] | None = None

    # -- data -----------------------------------------------------------------------------------

    @property
    def rows(self) -> list[Row]:
        return self.catalog.visible

    @property
    def current(self) -> Record | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor].record
        return None

    def refresh_rows(self, keep_id: str | None = None) -> None:
        """Call after the catalog changed: keeps the cursor on ``keep_id`` (or the same record)
        when it is still visible, else on the same position."""
        keep = keep_id or self._last_highlight
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)
        index = self.catalog.index_of(keep) if keep else None
        self.cursor = index if index is not None else min(self.cursor, max(len(self.rows) - 1, 0))
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)

    # -- cursor ---------------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor(self, value: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        record = self.current
        record_id = record.id if record else None
        if record_id != self._last_highlight:
            self._last_highlight = record_id
            self.post_message(self.Highlighted(self, record))

    def _scroll_to_cursor(self) -> None:
        body = max(self.size.height - 1, 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(self.size.height - 2, 1)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self.rows) - 1

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.Selected(self, self.current))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            key = self._column_at(event.x)
            if key:
                self.post_message(self.SortRequested(self, key))
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.rows):
            self.cursor = row
            if event.chain >= 2:
                self.action_select()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.scroll_to(y=self.scroll_y + 3, animate=False)
        event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.scroll_to(y=self.scroll_y - 3, animate=False)
        event.stop()

    # -- rendering ------------------------------------------------------------------------------

    def _widths(self, width: int) -> list[int | None]:
        """Each column's width, ``None`` for a hidden one. Fixed columns keep their width
        while there is room; the flexible one gets the rest but never less than a quarter. When
        the fixed columns would lose more than ``SHRINK_LIMIT`` of their width, the column with
        the highest ``drop`` is hidden, and so on; what is left shrinks in proportion. A
        flexible column's ``min_width`` counts as its quarter when it is more."""
        columns = self.catalog.columns
        shown = list(range(len(columns)))
        while True:
            widths = self._fit([columns[i] for i in shown], width)
            if widths is not None:
                break
            droppable = [i for i in shown if columns[i].drop]
            if not droppable:
                widths = self._fit([columns[i] for i in shown], width, force=True)
                assert widths is not None
                break
            shown.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
        out: list[int | None] = [None] * len(columns)
        for i, w in zip(shown, widths, strict=True):
            out[i] = w
        return out

    @staticmethod
    def _fit(columns: list[Column], width: int, force: bool = False) -> list[int] | None:
        """Widths of ``columns`` in ``width`` cells, or None when they would shrink too much
        (unless ``force``)."""
        gaps = len(columns) - 1
        flexible = [c for c in columns if c.width == 0]
        fixed = sum(c.width for c in columns)
        min_flex = max(width // 4, sum(c.min_width for c in flexible)) if flexible else 0
        room = max(width - gaps - min_flex, 4 * (len(columns) - len(flexible)))
        scale = min(1.0, room / fixed) if fixed else 1.0
        if scale < 1.0 - SHRINK_LIMIT and not force:
            return None
        widths = [max(int(c.width * scale), 4) if c.width else 0 for c in columns]
        spare = max(width - gaps - sum(widths), 0)
        for i, column in enumerate(columns):
            if column.width == 0:
                widths[i] = spare // len(flexible)
        return widths

    @property
    def list_width(self) -> int:
        """The cells the columns share: the width less the vertical scroll bar's, which is
        drawn over the last cells of every line (a long list cut "2026-01-02" to "202")."""
        return self.scrollable_content_region.width

    def _column_at(self, x: int) -> str | None:
        pos = 0
        for column, width in zip(self.catalog.columns, self._widths(self.list_width), strict=True):
            if width is None:
                continue
            if pos <= x < pos + width + 1:
                return column.key
            pos += width + 1
        return None

    def _line(
        self, cells: tuple[str, ...] | list[str], widths: list[int | None], style: Style
    ) -> Strip:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        first = True
        for cell, width in zip(cells, widths, strict=True):
            if width is None:
                continue
            if not first:
                text.append(" ")
            first = False
            text.append(fit(cell, width))
        segments = [
            Segment(seg.text, style + seg.style if seg.style else style)
            for seg in text.render(self.app.console)
        ]
        return Strip(segments).crop_extend(0, self.size.width, style)

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles and column widths are the same for every line of one paint: work them out once.
        self._paint = (self._widths(self.list_width), self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        widths, base = self._paint or (self._widths(self.list_width), self.rich_style)
        if y == 0:
            header = self.get_component_rich_style("record-table--header")
            labels = []
            for column in self.catalog.columns:
                arrow = ""
                if column.key == self.catalog.sort_key:
                    arrow = " ▼" if self.catalog.sort_reverse else " ▲"
                labels.append(column.label + arrow)
            return self._line(labels, widths, base + header)
        index = round(self.scroll_y) + y - 1
        if not self.rows and y == 1:
            empty = self.get_component_rich_style("record-table--empty")
            text = self.empty_text if self.catalog.rows else self.none_text
            return Strip([Segment(text[:width], base + empty)]).crop_extend(0, width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("record-table--cursor")
        return self._line(self._dates_fitted(self.rows[index].cells, widths), widths, style)

    def _dates_fitted(
        self, cells: tuple[str, ...], widths: list[int | None]
    ) -> tuple[str, ...] | list[str]:
        """``cells`` with each date of a too narrow date column shown as ``short_date``."""
        out: list[str] | None = None
        for i, (column, width) in enumerate(zip(self.catalog.columns, widths, strict=True)):
            if width is None or column.key not in DATE_COLUMNS or cell_len(cells[i]) <= width:
                continue
            if out is None:
                out = list(cells)
            out[i] = short_date(cells[i], width, model.today())
        return cells if out is None else out
