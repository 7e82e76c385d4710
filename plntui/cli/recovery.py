"""Provides the commands that bring things back: ``history``, ``show --at``, ``restore``,
``trash``, ``held`` (mass deletions waiting for a decision), ``conflicts`` and ``peer undo``."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..model import Record, display_value, safe_text
from .common import fingerprint_arg, open_network
from .output import out, print_json, render_record, table

COLLECTIONS = {"contact": "contacts", "note": "notes"}


def _when(stamp: str) -> str:
    return stamp[:16].replace("T", " ") if stamp else "-"


def cmd_history(args: argparse.Namespace) -> int:
    from ..provenance import device_label, device_names

    net = open_network(args)
    collection = COLLECTIONS[args.kind]
    versions = net.history(collection, args.id)
    names = device_names(net)
    rows = [
        {
            "version": v.version,
            "at": v.at,
            "by": device_label(net, v.actor, names),
            "summary": v.summary,
            "deleted": v.deleted,
            "changed": list(v.changed),
        }
        for v in versions
    ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        out(f"No versions of {args.kind} {args.id} yet.")
        return 0
    table(
        [[r["version"], _when(r["at"]), safe_text(r["by"]), safe_text(r["summary"])] for r in rows],
        ["VERSION", "WHEN (UTC)", "BY", "WHAT CHANGED"],
    )
    out("")
    out(f"See one: plntui show {args.kind} ID --at VERSION; bring it back: plntui restore ...")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    net = open_network(args)
    collection = COLLECTIONS[args.kind]
    if args.at:
        record = net.at_version(collection, args.id, args.at)
    else:
        record = net.get(collection, args.id)
    if args.json:
        print_json({**record.to_json(), **({"version": args.at} if args.at else {})})
        return 0
    if args.at:
        out(f"As of version {safe_text(args.at)}:")
    for line in render_record(net, record):
        out(line)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    net = open_network(args)
    record = net.restore_version(COLLECTIONS[args.kind], args.id, args.version)
    out(
        f"Restored {args.kind} {safe_text(record.label)} ({record.id}) to version "
        f"{safe_text(args.version)}, as a new change your colleagues receive."
    )
    return 0


# -- trash -------------------------------------------------------------------------------------


def _trash_json(entry: dict[str, Any]) -> dict[str, Any]:
    record: Record = entry["record"]
    kind = "contact" if record.collection == "contacts" else "note"
    label_key = "name" if kind == "contact" else "title"
    return {
        "id": record.id,
        "kind": kind,
        label_key: record.label,
        "deleted_by": entry["deleted_by"] or None,
        "deleted_at": entry["deleted_at"],
        "circle": record.circle_name or None,
    }


def cmd_trash(args: argparse.Namespace) -> int:
    net = open_network(args)
    if args.action == "restore":
        record = net.restore_from_trash(args.id)
        noun = "contact" if record.collection == "contacts" else "note"
        out(f"Restored {noun} {safe_text(record.label)} ({record.id}); colleagues get it back too.")
        return 0
    entries = [e for e in net.trash() if e["record"].collection in ("contacts", "notes")]
    if args.json:
        print_json([_trash_json(e) for e in entries])
        return 0
    if not entries:
        out("The trash is empty.")
        return 0
    table(
        [
            [
                e["record"].id,
                safe_text(e["record"].label),
                "contact" if e["record"].collection == "contacts" else "note",
                safe_text(e["deleted_by"] or "someone"),
                _when(str(e["deleted_at"])),
            ]
            for e in entries
        ],
        ["ID", "NAME OR TITLE", "KIND", "DELETED BY", "WHEN (UTC)"],
    )
    out("")
    out("Bring one back with: plntui trash restore ID")
    return 0


# -- held mass deletions -------------------------------------------------------------------------


def _author(net: Any, actor: str) -> str:
    from ..provenance import device_label, device_names

    return device_label(net, actor, device_names(net))


def _via(net: Any, fingerprint_hex: str) -> str:
    from sync.fingerprint import short_fingerprint

    from ..peersync import open_trust

    try:
        fingerprint = bytes.fromhex(fingerprint_hex)
        peer = open_trust(net.profile.home).get(fingerprint)
    except Exception:  # an unreadable trust file: the fingerprint still says who
        peer = None
    if peer is not None:
        return str(peer.display_name)
    try:
        return short_fingerprint(bytes.fromhex(fingerprint_hex))
    except ValueError:
        return fingerprint_hex[:16]


def _counts(batch: Any) -> str:
    contacts = sum(1 for d in batch.deletes if d.collection == "contacts")
    notes = len(batch.deletes) - contacts
    parts = []
    if contacts:
        parts.append(f"{contacts:,} contact" + ("s" if contacts != 1 else ""))
    if notes:
        parts.append(f"{notes:,} note" + ("s" if notes != 1 else ""))
    return " and ".join(parts) or "nothing yet"


def held_summary(net: Any, batch: Any) -> dict[str, Any]:
    """A held batch as ``held --json`` and ``whatsnew`` show it."""
    return {
        "id": batch.id,
        "author": _author(net, batch.author),
        "author_actor": batch.author,
        "via": _via(net, batch.via),
        "via_fingerprint": batch.via,
        "at": batch.at,
        "circle": net.circle_name(batch.circle),
        "counts": _counts(batch),
        "waiting_changes": batch.changes,
        "deletes": [{"id": d.id, "kind": d.collection[:-1], "name": d.name} for d in batch.deletes],
    }


def cmd_held(args: argparse.Namespace) -> int:
    net = open_network(args)
    if args.action == "accept":
        batch = net.accept_held(args.id)
        out(f"Accepted: the deletion of {_counts(batch)} is applied.")
        return 0
    if args.action == "refuse":
        batch = net.refuse_held(args.id)
        out(
            f"Refused: the {_counts(batch)} it deleted are back, here and, as a new change, "
            "for every colleague."
        )
        return 0
    if args.action == "threshold":
        if args.count is None and args.percent is None:
            current = net.hold_thresholds()
        else:
            current = net.hold_thresholds()
            current = net.set_hold_thresholds(
                current.count if args.count is None else args.count,
                current.percent if args.percent is None else args.percent,
            )
        out(
            f"A peer's batch is held when it deletes more than {current.count} items and more "
            f"than {current.percent:g} % of a circle's contacts or notes."
        )
        return 0
    batches = net.held()
    if args.json:
        print_json([held_summary(net, b) for b in batches])
        return 0
    if not batches:
        out("No mass deletion is waiting for you.")
        return 0
    for b in batches:
        out(
            f"{b.id}  {_when(b.at)}  {safe_text(_author(net, b.author))}'s device deleted "
            f"{_counts(b)} in circle {safe_text(net.circle_name(b.circle))} (through "
            f"{safe_text(_via(net, b.via))})"
        )
        names = [safe_text(d.name or d.id) for d in b.deletes[:8]]
        more = len(b.deletes) - len(names)
        out("    " + ", ".join(names) + (f" and {more:,} more" if more > 0 else ""))
    out("")
    out("Apply it: plntui held accept ID; undo it everywhere: plntui held refuse ID")
    return 0


# -- conflicts ------------------------------------------------------------------------------------


def _value_text(value: Any) -> str:
    text = safe_text(display_value(value))
    return text if len(text) <= 60 else text[:59] + "…"


def cmd_conflicts(args: argparse.Namespace) -> int:
    net = open_network(args)
    if args.action == "resolve":
        found = _conflict_item(net, args.id, args.field)
        record = net.resolve_conflict(found["collection"], found["id"], args.field, args.pick)
        out(f"{safe_text(record.label)}: {args.field} is now {_value_text(record[args.field])}.")
        return 0
    conflicts = net.conflicts()
    if args.json:
        print_json(
            [
                {
                    "id": c["id"],
                    "kind": c["collection"][:-1],
                    "label": c["label"],
                    "field": c["field"],
                    "values": [{"value": v["value"], "by": v["by"]} for v in c["values"]],
                }
                for c in conflicts
            ]
        )
        return 0
    if not conflicts:
        out("No conflicts: every field has one value.")
        return 0
    for c in conflicts:
        shown = " · ".join(
            f"{n}. {_value_text(v['value'])} ({safe_text(v['by'])}"
            + (", shown)" if n == 1 else ")")
            for n, v in enumerate(c["values"], 1)
        )
        out(f"{c['id']}  {safe_text(c['label'])}  {c['field']}: {shown}")
    out("")
    out("Keep one value: plntui conflicts resolve ID FIELD --pick N")
    return 0


def _conflict_item(net: Any, ref: str, field: str) -> dict[str, Any]:
    text = (ref or "").strip().lower()
    if len(text) < 4:
        raise NotFoundError(f"id {ref!r} is too short: give at least 4 characters")
    matches = [c for c in net.conflicts() if c["id"].startswith(text)]
    if not matches:
        raise NotFoundError(f"nothing with the id {ref!r} has a conflict (see: plntui conflicts)")
    if len({c["id"] for c in matches}) > 1:
        raise NotFoundError(f"id {ref!r} matches several items; give more characters")
    on_field = [c for c in matches if c["field"] == field]
    if not on_field:
        fields = ", ".join(sorted({c["field"] for c in matches}))
        raise ValidationError(
            f"{safe_text(matches[0]['label'])} has no conflict on {field!r} (its conflicts: "
            f"{fields})",
            "field",
        )
    return on_field[0]


# -- undo a device ------------------------------------------------------------------------------


def peer_undo(args: argparse.Namespace) -> int:
    net = open_network(args)
    fingerprint = fingerprint_arg(args.fingerprint)
    result = net.undo_device(fingerprint, args.since)
    restored, kept = result["restored"], result["kept"]
    out(
        f"Undid what that device changed since {args.since}: {len(restored)} item(s) restored"
        + (f", {len(kept)} left as they are:" if kept else ".")
    )
    for label, reason in kept:
        name = label.label if isinstance(label, Record) else str(label)
        out(f"  {safe_text(name)}: {safe_text(reason)}")
    return 0
