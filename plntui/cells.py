"""Provides ``cell_len`` and ``fit``: text measured and cut in terminal cells.

A character is not a cell: "佐藤健二" takes eight cells, an emoji two, a combining accent none.
Padding with ``len()``/``ljust()`` pushes every later column out of line by the difference, so
the command line's tables and the app's record table measure in cells. The widths follow
Unicode's East Asian Width (wide and fullwidth characters take two cells) and treat combining
marks, format characters and zero-width joiners as taking none, as terminals do; the standard
library's ``unicodedata`` is enough, so commands that print a table load nothing more.
"""

from __future__ import annotations

import unicodedata

__all__ = ["cell_len", "fit"]


_WIDTHS: dict[str, int] = {}


def _width(char: str) -> int:
    width = _WIDTHS.get(char)
    if width is None:
        if char.isascii():
            width = 1 if char.isprintable() else 0
        elif unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            width = 0
        else:
            width = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if len(_WIDTHS) < 65536:
            _WIDTHS[char] = width
    return width


def cell_len(text: str) -> int:
    """How many terminal cells ``text`` takes."""
    if text.isascii() and text.isprintable():
        return len(text)
    get = _WIDTHS.get
    total = 0
    for char in text:
        width = get(char)
        total += _width(char) if width is None else width
    return total


def fit(text: str, width: int) -> str:
    """``text`` in exactly ``width`` cells: padded with spaces, or cut with "…" (a wide
    character that would straddle the cut becomes a space)."""
    if width <= 0:
        return ""
    total = cell_len(text)
    if total <= width:
        return text + " " * (width - total)
    room = width - 1
    out: list[str] = []
    used = 0
    for char in text:
        w = _width(char)
        if used + w > room:
            break
        out.append(char)
        used += w
    return "".join(out) + " " * (room - used) + "…"
