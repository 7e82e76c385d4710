"""Provides CircleFilter: ``circle:NAME`` in a list's filter, and showing one circle from outside.

The circle names are read with the list (``remember_circles``, under the network lock), so
typing ``circle:`` never touches the network. ``show_circle`` replaces any ``circle:`` word of
the filter (the circle picker of the command palette calls it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.widgets import Input

from ...catalog import CIRCLE_PREFIX, circles_matching, fold


class CircleFilter:
    """Mix into a list screen with an ``Input#filter`` and a ``catalog``; see the docstring."""

    _circle_names: Mapping[str, str] = {}
    _circle_members: frozenset[str] = frozenset()

    def remember_circles(self, index: Any) -> None:
        """Read the circles' names from the search index (network lock held)."""
        self.set_circles(index.circles())

    def set_circles(self, circles: list[dict[str, Any]]) -> None:
        """Remember the circles as ``SearchIndex.circles`` lists them."""
        self._circle_names = {c["id"]: c["name"] for c in circles}
        self._circle_members = frozenset(c["id"] for c in circles if c["member"])

    def circles_named(self, text: str) -> set[str]:
        return circles_matching(self._circle_names, text)

    def circle_left(self, circle_id: str) -> bool:
        """This device left the circle (or never was in it): its items are read-only here."""
        return (
            bool(circle_id)
            and circle_id in self._circle_names
            and (circle_id not in self._circle_members)
        )

    def show_circle(self, word: str | None) -> None:
        """Keep the list to one circle (``word``: ``circle_word`` of its name, or
        ``private``), or to every circle (None); other words of the filter stay."""
        box: Input = self.query_one("#filter", Input)  # type: ignore[attr-defined]
        kept = [w for w in box.value.split() if not fold(w).startswith(CIRCLE_PREFIX)]
        if word:
            kept.append(CIRCLE_PREFIX + word)
        box.value = " ".join(kept)
