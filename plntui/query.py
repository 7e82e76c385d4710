"""Provides the search syntax shared by ``plntui search``, the list commands and the app's filters.

Pure Python, no Textual. A query is words, each a condition that every match must meet:

- ``word``: appears anywhere in the item (name, organisation, topics, tags, role, e-mails, how you
  met, the body of a note, your private remark…), as a substring, ignoring case and accents;
- ``"two words"``: the phrase, within one field;
- ``org:WORD``, ``topic:WORD`` (contacts' topics and notes' tags; ``tag:`` is the same): within
  that field only (``org:"acme corp"`` for a phrase);
- ``by:NAME``: added by a colleague's device whose name contains NAME (``by:me``: this device);
- ``circle:NAME``: in a circle whose name starts with NAME (``circle:private``: private items);
- ``-`` before any of these excludes what it matches: ``rust -kubernetes``, ``-by:me``.

A qualifier this module does not know (``http://x``) is an ordinary word. What is still being
typed matches everything: a lone ``-``, ``org:`` with no value, an unclosed quote (taken as the
phrase so far).

Items are matched on their *haystack*: the folded text of the fields a filter searches, built
here (``haystack``) and stored ready-made by the search index. The fields that qualifiers name
sit between marks, and the creator's and circle's ids are written in private-use characters:
typed text, cleaned of control and private-use characters (``parse``), can match neither a mark
nor an id.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

from .model import CREATOR_FIELD, Record, display_value

T = TypeVar("T")

# -- folding and the haystack --------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents: ``"Zoë"`` -> ``"zoe"``."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed.isascii():
        return decomposed.lower()
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


PRIVATE_CIRCLE = "private"
"""What ``circle:private`` finds: the items that belong to no circle (kept on this device)."""

BY_MARK = "\x00"  # before the creator's actor id (in private-use characters)
CIRCLE_MARK = "\x01"  # before the item's circle id (in private-use characters)
FIELD_END = "\x04"  # after a marked field
LIST_SEPARATOR = "\x1f"  # between the items of a marked list field
FIELD_MARKS = {"org": "\x02", "topic": "\x03"}
"""The mark before each field a qualifier names (``topic``: contacts' topics, notes' tags)."""
_MARK_OF_KEY = {"org": "org", "topics": "topic", "tags": "topic"}
_PRIVATE_USE = 0xE000
_UNTYPABLE = re.compile("[\x00-\x1f\x7f-\x9f\ue000-\uf8ff]")

HAYSTACK_KEYS: dict[str, tuple[str, ...]] = {
    "contacts": (
        "name",
        "nickname",
        "org",
        "topics",
        "role",
        "emails",
        "phones",
        "relationship",
        "met",
        "met_where",
        "channel",
        "links",
        "address",
        "remark",
        "reminder",
    ),
    "notes": ("title", "tags", "kind", "body", "remark", "reminder"),
    "interactions": ("summary", "kind"),
}
"""The fields a filter searches in, per collection."""


@functools.lru_cache(maxsize=4096)
def _hidden(text: str) -> str:
    """``text`` moved to private-use characters (circle ids and device ids: few, so cached)."""
    return "".join(chr(_PRIVATE_USE + ord(ch)) for ch in text if ord(ch) < 128)


def circle_mark(circle_id: str) -> str:
    """The mark of a circle (``PRIVATE_CIRCLE`` for private items) in a haystack."""
    return CIRCLE_MARK + _hidden(circle_id)


def by_mark(actor: str) -> str:
    """The mark of the device that added an item (its actor id) in a haystack."""
    return BY_MARK + _hidden(actor)


def _flat(value: Any) -> str:
    if type(value) is str and value.isascii():  # most values: no call through fold
        return " ".join(value.lower().split())
    return " ".join(fold(display_value(value)).split())


def haystack(record: Record) -> str:
    """The folded text a filter searches in: the fields of ``HAYSTACK_KEYS`` (whitespace made
    single spaces; organisation, topics and tags between marks), then the creator's mark (for
    ``by:``) and the circle's (for ``circle:``)."""
    parts = []
    for key in HAYSTACK_KEYS[record.collection]:
        value = record.values.get(key)
        if value in (None, "", []):
            continue
        mark = _MARK_OF_KEY.get(key)
        if mark is None:
            parts.append(_flat(value))
            continue
        items = value if isinstance(value, list) else [value]
        inner = LIST_SEPARATOR.join(_flat(v) for v in items)
        parts.append(FIELD_MARKS[mark] + inner + FIELD_END)
    creator = record.values.get(CREATOR_FIELD[record.collection])
    if creator:
        parts.append(by_mark(str(creator)))
    circle = PRIVATE_CIRCLE if record.private_item or not record.circle else record.circle
    parts.append(circle_mark(circle))
    return " ".join(parts)


# -- parsing -------------------------------------------------------------------------------------

QUALIFIERS = {"org": "org", "topic": "topic", "tag": "topic", "by": "by", "circle": "circle"}
"""Qualifier -> the kind of its terms (``tag:`` and ``topic:`` are one)."""
_TOKEN = re.compile(r'(-?)(?:([A-Za-z]+):)?("[^"]*"?|\S+)')
_TYPING = re.compile(r"-*(?:(?:" + "|".join(QUALIFIERS) + r"):)?", re.I)


@dataclass(frozen=True, slots=True)
class Term:
    """One condition: ``kind`` is "text", "org", "topic", "by" or "circle"; ``value`` is folded
    (``by`` and ``circle``: as typed, whitespace made single); ``negated``: it excludes."""

    kind: str
    value: str
    negated: bool = False
    raw: str = ""
    """The word as typed (a ``by:`` or ``circle:`` word is this plain word where nothing
    resolves those)."""

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[Term, ...]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def of_kind(self, kind: str) -> list[Term]:
        return [t for t in self.terms if t.kind == kind]

    def implies(self, other: Query) -> bool:
        """Whatever this query keeps, ``other`` keeps too (so a list filtered by ``other``
        can be narrowed instead of filtered again). Sure only for words that grew (``ad`` ->
        ``ada``) and terms kept as they were."""
        for old in other.terms:
            if old in self.terms:
                continue
            if old.negated or old.kind not in ("text", "org", "topic"):
                return False
            if not any(
                new.kind == old.kind and not new.negated and old.value in new.value
                for new in self.terms
            ):
                return False
        return True


def _clean(text: str) -> str:
    return " ".join(_UNTYPABLE.sub(" ", text).split())


def parse(text: str) -> Query:
    """The terms of a query as typed (see the module docstring)."""
    terms: list[Term] = []
    for match in _TOKEN.finditer(text or ""):
        minus, qualifier, value = match.groups()
        if not qualifier and _TYPING.fullmatch(value):
            continue  # "-", or "org:" with its value still to come
        kind = QUALIFIERS.get((qualifier or "").lower())
        if qualifier and kind is None:  # not ours: the whole token is a word
            value = f"{qualifier}:{value}"
        if value.startswith('"'):
            value = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        value = _clean(value)
        if not value:
            continue  # still typing
        kind = kind or "text"
        folded = value if kind in ("by", "circle") else fold(value)
        terms.append(Term(kind, folded, bool(minus), match.group(0)))
    return Query(tuple(terms))


def field_has(hay: str, kind: str, value: str) -> bool:
    """``value`` appears in the marked field ``kind`` ("org", "topic") of a haystack."""
    mark = FIELD_MARKS[kind]
    start = hay.find(mark)
    while start >= 0:
        end = hay.find(FIELD_END, start)
        if hay.find(value, start + 1, end) >= 0:
            return True
        start = hay.find(mark, end)
    return False


# -- matching ------------------------------------------------------------------------------------

Resolver = Callable[[str], Iterable[str]]


class Filter:
    """A parsed query ready to keep the matching items of a list. ``resolve_by``: a ``by:``
    value -> the actor ids it means; ``resolve_circle``: a ``circle:`` value -> circle ids
    (``PRIVATE_CIRCLE`` for private items). Without a resolver those words are plain words."""

    def __init__(
        self,
        query: Query | str,
        resolve_by: Resolver | None = None,
        resolve_circle: Resolver | None = None,
    ) -> None:
        self.query = parse(query) if isinstance(query, str) else query
        steps: list[tuple[Term, frozenset[str]]] = []
        for term in self.query.terms:
            resolver = {"by": resolve_by, "circle": resolve_circle}.get(term.kind)
            if term.kind in ("by", "circle") and resolver is None:
                word = fold(f"{term.kind}:{term.value}")  # as typed, without its quotes
                term = Term("text", word, term.negated, term.raw)
                resolved: frozenset[str] = frozenset()
            elif resolver is not None:
                resolved = frozenset(resolver(term.value))
            else:
                resolved = frozenset()
            steps.append((term, resolved))
        self.steps = steps

    def needles(self) -> tuple[list[str], list[str]]:
        """Substrings every kept haystack contains, and those none contains (for a prefilter
        in SQL; ``keep`` decides)."""
        wanted = [
            t.value for t, _ in self.steps if t.kind in ("text", "org", "topic") and not t.negated
        ]
        absent = [t.value for t, _ in self.steps if t.kind == "text" and t.negated]
        return wanted, absent

    def excludes_all(self, collection: str) -> bool:
        """Nothing of ``collection`` can match (``org:`` on notes)."""
        return collection != "contacts" and any(
            t.kind == "org" and not t.negated for t, _ in self.steps
        )

    def keep(
        self,
        items: Sequence[T],
        hay: Callable[[T], str] | None = None,
        record: Callable[[T], Record] | None = None,
    ) -> list[T]:
        """The items whose haystack meets every term, in their order. ``hay``: an item's
        haystack (default: its ``haystack`` attribute, as a ``catalog.Row`` has); ``record``:
        an item's record, asked only for a haystack without a circle mark (from before
        circles had one)."""
        kept = list(items)
        of = hay or attrgetter("haystack")
        for term, resolved in self.steps:
            value, keep = term.value, not term.negated
            if term.kind == "text" or (term.kind == "by" and len(resolved) == 1):
                # the common case, a keystroke over every row: as few calls per row as can be
                if term.kind == "by":
                    value = by_mark(next(iter(resolved)))
                if hay is None and keep:
                    kept = [x for x in kept if value in x.haystack]  # type: ignore[attr-defined]
                elif hay is None:
                    kept = [x for x in kept if value not in x.haystack]  # type: ignore[attr-defined]
                else:
                    kept = [x for x in kept if (value in hay(x)) is keep]
            elif term.kind in FIELD_MARKS:
                kind = term.kind
                kept = [
                    x for x in kept if (value in of(x) and field_has(of(x), kind, value)) is keep
                ]
            elif term.kind == "by":
                marks = [by_mark(actor) for actor in resolved]
                kept = [x for x in kept if any(m in of(x) for m in marks) is keep]
            else:
                kept = [x for x in kept if _in_circles(x, of, record, resolved) is keep]
        return kept


def _in_circles(
    item: T, hay: Callable[[T], str], record: Callable[[T], Record] | None, circles: frozenset[str]
) -> bool:
    text = hay(item)
    if CIRCLE_MARK in text or record is None:
        return any(circle_mark(c) in text for c in circles)
    found = record(item)  # a haystack from before circles had marks: the record says
    circle = PRIVATE_CIRCLE if found.private_item or not found.circle else found.circle
    return circle in circles
