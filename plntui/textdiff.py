"""Provides character-level text diffs and three-way merges (pure Python, no Automerge).

The note editor and the CRDT layer share them: ``text_edits`` finds the smallest splices from one
text to another; ``merge_text`` combines two edits of one text as Automerge would.
"""

from __future__ import annotations

import difflib
from collections import Counter

Edits = list[tuple[int, int, str]]


def common_prefix(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share (slices compared in C, halving)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def common_suffix(a: str, b: str, limit: int) -> int:
    """How many trailing characters ``a`` and ``b`` share, at most ``limit``."""
    lo, hi = 0, min(len(a), len(b), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid : len(a) - lo] == b[len(b) - mid : len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def changed_span(old: str, new: str) -> tuple[int, int, int]:
    """``(start, deleted, inserted)``: the one span that differs between ``old`` and ``new``
    once their common start and end are set aside."""
    start = common_prefix(old, new)
    end = common_suffix(old, new, min(len(old), len(new)) - start)
    return start, len(old) - start - end, len(new) - start - end


def text_edits(old: str, new: str) -> list[tuple[int, int, str]]:
    """Splices ``(pos, delete, insert)`` in ascending order that turn ``old`` into ``new``.
    Applied from the last to the first, positions stay valid."""
    start, deleted, inserted = changed_span(old, new)
    a, b = old[start : start + deleted], new[start : start + inserted]
    if not a or not b or len(a) * len(b) > 4_000_000:
        return [(start, len(a), b)]
    edits: list[tuple[int, int, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append((start + i1, i2 - i1, b[j1:j2]))
    return edits


def merge_text(base: str, local: str, remote: str) -> str:
    """Three-way merge of two edits of ``base`` character by character, as the CRDT would:
    deletions from both sides apply, insertions from both sides are kept (at the same spot the
    remote text comes first)."""
    if local in (base, remote):
        return remote
    if remote == base:
        return local
    inserts: dict[int, list[str]] = {}
    cover: Counter[int] = Counter()
    for side, edits in enumerate((text_edits(base, remote), text_edits(base, local))):
        for pos, delete, insert in edits:
            if insert:
                inserts.setdefault(pos, ["", ""])[side] += insert
            if delete:
                cover[pos] += 1
                cover[pos + delete] -= 1
    points = sorted({0, len(base), *inserts, *cover})
    out: list[str] = []
    depth = 0
    for i, point in enumerate(points):
        out.extend(inserts.get(point, ()))
        depth += cover.get(point, 0)
        if depth == 0 and i + 1 < len(points):
            out.append(base[point : points[i + 1]])
    return "".join(out)
