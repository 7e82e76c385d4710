"""Provides what the app says about history and recovery: versions, their differences with the
item as it is now, conflicts, held mass deletions, and the report of undoing a device.

Plain functions over the domain's results (``Network.history``, ``trash``, ``held``,
``conflicts_of``, ``undo_device``) that return strings or Rich ``Text``, built from plain text,
never markup: every name and value may come from a colleague. The wording follows the command
line's (``plntui history``, ``held``, ``conflicts``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ..model import FIELDS, PROVENANCE_FIELDS, Record, display_value, safe_text

if TYPE_CHECKING:
    from ..network import Network

VALUE_CHARS = 60
"""A value in a one-line summary is cut to this many characters."""
DIFF_LINES = 200
"""At most this many lines of a body's difference are shown."""
QUIET = frozenset({"created", "updated"}) | PROVENANCE_FIELDS
"""Fields every edit rewrites: never shown as a difference."""


def when(stamp: Any) -> str:
    """``2026-12-05T10:12:40Z`` -> ``2026-12-05 10:12`` ("—" when unknown)."""
    text = str(stamp or "")
    return text[:16].replace("T", " ") if text else "—"


def one_line(value: Any) -> str:
    return " ".join(safe_text(display_value(value)).split())


def quoted(value: Any) -> str:
    """A value in quotes on one line, cut to ``VALUE_CHARS``."""
    text = one_line(value)
    if len(text) > VALUE_CHARS:
        text = text[: VALUE_CHARS - 1] + "…"
    return f"'{text}'"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def field_label(collection: str, name: str) -> str:
    spec = FIELDS[collection].get(name)  # type: ignore[index]
    return spec.label if spec is not None else name


# -- conflicts ------------------------------------------------------------------------------------


def conflict_text(collection: str, conflict: Mapping[str, Any]) -> str:
    """``2 values for Role: 'Staff engineer' (Alice, shown) · 'Principal' (Bob)``."""
    values = list(conflict["values"])
    shown = " · ".join(
        f"{quoted(v['value'])} ({safe_text(v['by']) or 'a device'}"
        + (", shown)" if n == 0 else ")")
        for n, v in enumerate(values)
    )
    return f"{len(values)} values for {field_label(collection, conflict['field'])}: {shown}"


def conflict_choice(collection: str, field: str, value: Mapping[str, Any], shown: bool) -> str:
    """One value in the chooser: ``Role: 'Principal' (Bob)``."""
    by = safe_text(value["by"]) or "a device"
    return (
        f"{field_label(collection, field)}: {quoted(value['value'])} "
        f"({by}{', shown now' if shown else ''})"
    )


# -- versions -------------------------------------------------------------------------------------


def shown_fields(collection: str, values: Mapping[str, Any]) -> list[str]:
    """The fields of ``values`` worth showing, in the order of the field table."""
    return [
        name
        for name in FIELDS[collection]  # type: ignore[index]
        if name not in QUIET and values.get(name) not in (None, "", [])
    ]


def version_text(
    collection: str, values: Mapping[str, Any] | None, names: Mapping[str, str] | None = None
) -> Text:
    """An item's values as a version holds them, one field a line (a body in full).
    ``names``: contact id -> name, for the fields that name contacts."""
    text = Text()
    if values is None:
        text.append("Deleted in this version.\n", style="italic")
        return text
    for name in shown_fields(collection, values):
        value = values[name]
        text.append(f"{field_label(collection, name)}: ", style="bold")
        if name == "body":
            text.append("\n" + safe_text(value).rstrip("\n") + "\n")
            continue
        text.append(_named(name, value, names) + "\n")
    return text


def _named(name: str, value: Any, names: Mapping[str, str] | None) -> str:
    if names and name in ("introduced_by", "contacts"):
        ids = value if isinstance(value, list) else [value]
        return one_line([names.get(str(i), str(i)) for i in ids])
    return one_line(value)


def restore_changes(
    collection: str,
    then: Mapping[str, Any] | None,
    now: Record | None,
    names: Mapping[str, str] | None = None,
) -> Text:
    """What restoring the version ``then`` would change in the item as it is ``now``: each
    field whose value differs (``'now' → 'then'``), a body as lines taken out (-) and put back
    (+). The fields private on this device are left out (history is what was shared)."""
    text = Text()
    if then is None:
        text.append("This version is the deletion: pick an earlier one to restore.", "italic")
        return text
    current: Mapping[str, Any] = now.values if now is not None else {}
    private = set() if now is None or now.private_item else set(now.private)
    fields = [
        name
        for name in FIELDS[collection]  # type: ignore[index]
        if name not in QUIET and name not in private
    ]
    changed = [
        name for name in fields if _comparable(then.get(name)) != _comparable(current.get(name))
    ]
    if now is None:
        text.append("The item is deleted now: restoring it brings it back as it was here.\n")
    elif not changed:
        text.append("Same as now: restoring it changes nothing.", style="italic")
        return text
    for name in changed:
        label = field_label(collection, name)
        old, new = current.get(name), then.get(name)
        if name == "body":
            text.append(f"{label}:\n", style="bold")
            text.append_text(body_diff(str(old or ""), str(new or "")))
            continue
        text.append(f"{label}: ", style="bold")
        text.append(quoted(_named(name, old, names)) if old not in (None, "", []) else "(empty)")
        text.append(" → ")
        text.append(quoted(_named(name, new, names)) if new not in (None, "", []) else "(empty)")
        text.append("\n")
    return text


def _comparable(value: Any) -> Any:
    return None if value in (None, "", []) else value


def body_diff(now: str, then: str) -> Text:
    """The lines restoring ``then`` takes out of ``now`` (-, red) and puts back (+, green),
    with one line of context."""
    text = Text()
    lines = list(
        difflib.unified_diff(
            safe_text(now).splitlines(), safe_text(then).splitlines(), n=1, lineterm=""
        )
    )[2:]  # the ---/+++ header
    for line in lines[:DIFF_LINES]:
        if line.startswith("@@"):
            text.append("  …\n", style="dim")
        elif line.startswith("-"):
            text.append(line + "\n", style="red")
        elif line.startswith("+"):
            text.append(line + "\n", style="green")
        else:
            text.append(line + "\n", style="dim")
    if len(lines) > DIFF_LINES:
        text.append(f"  … and {len(lines) - DIFF_LINES:,} more lines\n", style="dim")
    return text


# -- held mass deletions --------------------------------------------------------------------------


def deleted_counts(deletes: Sequence[Any]) -> str:
    """``4,012 contacts and 3 notes`` ("nothing yet" for none)."""
    contacts = sum(1 for d in deletes if d.collection == "contacts")
    notes = len(deletes) - contacts
    parts = []
    if contacts:
        parts.append(plural(contacts, "contact"))
    if notes:
        parts.append(plural(notes, "note"))
    return " and ".join(parts) or "nothing yet"


@dataclass(frozen=True, slots=True)
class HeldSummary:
    """A held batch as the app shows it: names made safe to show."""

    id: str
    author: str
    """The name of the device whose changes deleted the items."""
    via: str
    """The peer they came through."""
    circle: str
    at: str
    counts: str
    names: tuple[str, ...]
    """The names or titles of what it deleted (the first few)."""
    total: int

    def line(self) -> str:
        """``Bob's device deleted 4,012 contacts``."""
        return f"{self.author}'s device deleted {self.counts}"


def held_summary(
    net: Network, batch: Any, names: Mapping[str, str], trust: Any = None, shown: int = 8
) -> HeldSummary:
    """Summarise ``batch`` (network lock held): the author device named by the circles' device
    registries (``names``, see ``provenance.device_names``), the peer it came through by the
    trust store ``trust`` (or its fingerprint's first group)."""
    from ..provenance import device_label

    return HeldSummary(
        id=batch.id,
        author=safe_text(device_label(net, batch.author, dict(names))),
        via=safe_text(peer_name(trust, batch.via)),
        circle=safe_text(net.circle_name(batch.circle)),
        at=str(batch.at),
        counts=deleted_counts(batch.deletes),
        names=tuple(one_line(d.name or d.id) for d in batch.deletes[:shown]),
        total=len(batch.deletes),
    )


def peer_name(trust: Any, fingerprint_hex: str) -> str:
    """A peer's display name from the trust store, else the first group of its fingerprint."""
    from sync.fingerprint import short_fingerprint

    try:
        fingerprint = bytes.fromhex(fingerprint_hex)
    except ValueError:
        return fingerprint_hex[:16]
    peer = None
    if trust is not None:
        try:
            peer = trust.get(fingerprint)
        except Exception:  # an unreadable trust store: the fingerprint still says who
            peer = None
    return str(peer.display_name) if peer is not None else short_fingerprint(fingerprint)


# -- undoing a device ------------------------------------------------------------------------------


def undo_report(name: str, since: str, result: Mapping[str, Sequence[Any]]) -> Text:
    """What ``Network.undo_device`` restored, and what it left as it is and why."""
    restored, kept = list(result.get("restored", [])), list(result.get("kept", []))
    text = Text()
    text.append(
        f"Undid what {name} changed since {since}: {plural(len(restored), 'item')} restored"
        + (f", {len(kept)} left as {'it is' if len(kept) == 1 else 'they are'}." if kept else ".")
        + "\n",
        style="bold",
    )
    if restored:
        text.append("\nRestored\n", style="bold underline")
        for record in restored:
            noun = "contact" if record.collection == "contacts" else "note"
            text.append(f"• {one_line(record.label) or record.id} ({noun})\n")
    if kept:
        text.append("\nLeft as they are\n", style="bold underline")
        for label, reason in kept:
            name_of = label.label if isinstance(label, Record) else label
            text.append(f"• {one_line(name_of)}: ", style="bold")
            text.append(one_line(reason) + "\n")
    if not restored and not kept:
        text.append("\nThat device changed nothing in your circles since then.\n")
    return text
