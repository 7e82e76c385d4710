"""Provides FilterTypeAhead: keys typed right after ``/`` go into the filter, not to shortcuts.

Textual moves focus one turn after the key that asks for it, so on a busy screen the letters
typed just after ``/`` could still reach the list and fire its one-letter shortcuts (``a`` add,
``d`` delete…). While the filter is about to take focus, those shortcuts stand aside and the
letters are put into the filter.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FilterTypeAhead:
    """Mix into a screen with an ``Input#filter`` and call :meth:`start_filter` on ``/``."""

    _filter_pending = False

    def start_filter(self) -> None:
        self._filter_pending = True
        self._filter_input().focus()

    def _filter_input(self) -> Input:
        return self.query_one("#filter", Input)  # type: ignore[attr-defined,no-any-return]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self._filter_pending and action != "leave_filter")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if event.widget is self._filter_input():
            self._filter_pending = False

    def on_key(self, event: events.Key) -> None:
        box = self._filter_input()
        if self._filter_pending and not box.has_focus and event.character and event.is_printable:
            box.insert_text_at_cursor(event.character)
            event.stop()
            event.prevent_default()
