"""Provides ``plntui search`` (contacts and notes, in the search syntax of ``query``: words,
``"phrases"``, ``org:``, ``topic:``/``tag:``, ``by:``, ``circle:``, ``-`` to exclude, as the
app's filters) and ``plntui who`` (who knows a topic, best first)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..errors import ValidationError
from ..model import Record, safe_text
from .common import in_circle, open_network
from .output import out, print_json, warn


def cmd_search(args: argparse.Namespace) -> int:
    net = open_network(args)
    text = " ".join(args.query)
    if args.limit < 1:
        raise ValidationError("--limit must be 1 or more")
    if args.circle:
        found = net.search(text, None)
        found = {k: in_circle(net, v, args.circle)[: args.limit] for k, v in found.items()}
    else:
        found = net.search(text, args.limit)
    explain_unresolved(net, text)
    return _print_found(found, args.json, "Nothing matches.")


def query_filter(net: Any, words: list[str] | None, collection: str) -> set[str] | None:
    """The ids of ``collection`` that the words of a list command match (the search syntax),
    or ``None`` when no words were given."""
    from ..query import parse

    text = " ".join(words or [])
    if not parse(text):  # nothing to filter by (a lone "-", an empty quote): the whole list
        return None
    explain_unresolved(net, text)
    found = net.search(text, None, collections=(collection,), ranked=False)[collection]
    return {r.id for r in found}


def listed(
    net: Any, args: Any, collection: str, list_field: str, wanted: str | None
) -> tuple[list[Record], bool]:
    """What ``contact list`` / ``note list`` show: the items of the circle (``--circle``) added
    by whom ``--added-by`` says, that the query words match and whose ``list_field`` (topics,
    tags) holds ``wanted``; and whether anything narrowed the list."""
    from ..model import normalise_topic
    from .common import added_by

    records = in_circle(net, added_by(net, collection, args.added_by), args.circle)
    matching = query_filter(net, args.query, collection)
    if matching is not None:
        records = [r for r in records if r.id in matching]
    if wanted:
        value = normalise_topic(wanted)
        records = [r for r in records if value in r.values.get(list_field, [])]
    narrowed = bool(matching is not None or wanted or args.circle or args.added_by)
    return records, narrowed


def explain_unresolved(net: Any, text: str) -> None:
    """Say on stderr when a ``by:`` or ``circle:`` word names no device or circle (so that an
    empty answer is not a mystery); the answer itself is unchanged."""
    from ..catalog import circles_matching
    from ..provenance import actors_named, device_names
    from ..query import parse

    query = parse(text)
    names: dict[str, str] | None = None
    for term in query.of_kind("by"):
        names = device_names(net) if names is None else names
        if not actors_named(net, term.value, names):
            known = ", ".join(sorted(set(names.values()), key=str.casefold)) or "none yet"
            warn(f"no device is named {term.value!r} (devices: {safe_text(known)})")
    for term in query.of_kind("circle"):
        circles = net.index().circle_names()
        if not circles_matching(circles, term.value):
            known = ", ".join(sorted(circles.values(), key=str.casefold)) or "none yet"
            warn(f"no circle is named {term.value!r} (circles: {safe_text(known)}, private)")


def name_cell(label: str) -> str:
    """A name padded to 28 terminal cells (wider names are not cut: they are the point)."""
    from ..cells import cell_len, fit

    text = safe_text(label)
    return text if cell_len(text) >= 28 else fit(text, 28)


def _print_found(
    found: dict[str, list[Record]],
    as_json: bool,
    empty: str,
    extra: Callable[[Record], str] | None = None,
) -> int:
    if as_json:
        print_json({k: [r.to_json() for r in v] for k, v in found.items()})
        return 0
    if not found["contacts"] and not found["notes"]:
        out(empty)
    if found["contacts"]:
        out("Contacts")
        for r in found["contacts"]:
            info = extra(r) if extra else safe_text(r.values.get("org", ""))
            out(f"  {r.id}  {name_cell(r.label)}  {info}")
    if found["notes"]:
        out("Notes")
        for r in found["notes"]:
            out(f"  {r.id}  {name_cell(r.label)}  {safe_text(', '.join(r.values.get('tags', [])))}")
    return 0


def cmd_who(args: argparse.Namespace) -> int:
    net = open_network(args)
    topic = " ".join(args.topic)
    index = net.index()
    from ..model import normalise_topic

    if not normalise_topic(topic):
        raise ValidationError("give a topic, e.g. plntui who rust")
    if args.circle:
        wanted = net.circle(args.circle).id
        ranked = [
            r
            for r in index.who_ranked(topic, 5000)
            if r.record.circle == wanted and not r.record.private_item
        ][: args.limit]
        notes = in_circle(net, index.who(topic, 5000)["notes"], args.circle)[: args.limit]
    else:
        ranked = index.who_ranked(topic, args.limit)
        notes = index.who(topic, args.limit)["notes"]
    if args.json:
        contacts = [{**r.record.to_json(), "score": r.score, "reason": r.reason} for r in ranked]
        print_json({"contacts": contacts, "notes": [n.to_json() for n in notes]})
        return 0
    by_id = {r.record.id: r for r in ranked}

    def describe(record: Record) -> str:
        ranked_item = by_id[record.id]
        parts = [safe_text(ranked_item.reason)]
        intro = record.values.get("introduced_by")
        if intro:
            other = index.get("contacts", intro)
            parts.append(f"introduced by {safe_text(other.label) if other else intro}")
        last = record.values.get("last_contacted")
        parts.append(f"last talked {last}" if last else "never logged")
        return " · ".join(parts)

    return _print_found(
        {"contacts": [r.record for r in ranked], "notes": notes},
        False,
        f"Nobody in your network knows {topic!r} yet.",
        describe,
    )
