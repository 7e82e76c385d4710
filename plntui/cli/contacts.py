"""Provides ``plntui contact``: add, edit, move, show (by id or name), list (filtered in the search
syntax), remove and merge contacts."""

from __future__ import annotations

import argparse

from ..errors import ValidationError
from ..model import safe_text
from .common import open_network
from .fields import CONTACT_OPTIONS, field_values, warn_history
from .output import contact_rows, out, print_json, print_records, render_record, warn


def cmd_contact(args: argparse.Namespace) -> int:
    net = open_network(args)
    action = args.action
    if action == "add":
        values = field_values(args, CONTACT_OPTIONS, None)
        if "name" not in values:
            raise ValidationError("--name is required", "name")
        record = net.add(
            "contacts",
            values,
            private=args.private or None,
            private_fields=args.private_field,
            circle=args.circle,
        )
        out(f"Added {safe_text(record.label)} ({record.id})")
        for email in record.values.get("emails", []):
            other = [c for c in net.with_email(email) if c.id != record.id]
            for dup in other:
                warn(
                    f"{safe_text(dup.label)} ({dup.id}) has the same e-mail; merge with: "
                    f"plntui contact merge {dup.id} {record.id}"
                )
        return 0
    if action == "edit":
        current = net.get("contacts", args.id)
        values = field_values(args, CONTACT_OPTIONS, current)
        if not (
            values
            or args.private_field
            or args.share_field
            or args.item_private is not None
            or args.circle
        ):
            raise ValidationError("nothing to change: give at least one option (see --help)")
        record = net.edit(
            "contacts",
            current.id,
            values,
            make_private=args.private_field,
            make_shared=args.share_field,
            item_private=args.item_private,
            circle=args.circle,
        )
        warn_history(current, args.private_field, args.item_private)
        out(f"Updated {safe_text(record.label)} ({record.id})")
        return 0
    if action == "show":
        record = net.get("contacts", net.find_contact(" ".join(args.id)))
        if args.json:
            print_json(record.to_json())
            return 0
        for line in render_record(net, record):
            out(line)
        index = net.index()
        interactions = sorted(
            index.linked_to("interactions", record.id), key=lambda i: str(i.values.get("date", ""))
        )
        if interactions:
            out("  interactions:")
            for item in reversed(interactions[-10:]):
                out(
                    f"    {item.values.get('date')}  {item.values.get('kind', '')}: "
                    f"{safe_text(item.values.get('summary', ''))}"
                )
        notes = index.linked_to("notes", record.id)
        if notes:
            out("  notes: " + ", ".join(f"{safe_text(n.label)} ({n.id})" for n in notes))
        return 0
    if action == "move":
        record = net.move("contacts", args.id, args.circle)
        where = safe_text(record.circle_name)
        out(f"Moved {safe_text(record.label)} ({record.id}) to circle {where}")
        return 0
    if action == "list":
        from .search import listed

        records, narrowed = listed(net, args, "contacts", "topics", args.topic)
        print_records(
            records,
            as_json=args.json,
            rows=contact_rows,
            headers=["ID", "NAME", "ORGANISATION", "TOPICS", "CIRCLE"],
            empty="No contacts match."
            if narrowed
            else 'No contacts yet. Add one with: plntui contact add --name "Ada Lovelace"',
        )
        return 0
    if action == "rm":
        record = net.remove("contacts", args.id)
        out(f"Removed {safe_text(record.label)} ({record.id})")
        return 0
    if action == "dupes":
        from ..dedupe import not_duplicates, pair_key

        pairs = net.duplicates()
        hidden = set() if args.all else not_duplicates(net.profile.home)
        shown = [p for p in pairs if pair_key(p.first.id, p.second.id) not in hidden]
        left_out, pairs = len(pairs) - len(shown), shown
        if args.json:
            print_json(
                [
                    {
                        "first": p.first.to_json(),
                        "second": p.second.to_json(),
                        "reason": p.reason,
                        "reasons": list(p.reasons),
                        "score": p.score,
                    }
                    for p in pairs
                ]
            )
            return 0
        if not pairs:
            out("No likely duplicates.")
        for pair in pairs:
            out(
                f"{safe_text(pair.first.label)} ({pair.first.id})  ~  "
                f"{safe_text(pair.second.label)} ({pair.second.id}): "
                f"{safe_text(pair.reason)} (score {pair.score})"
            )
            out(f"  merge with: plntui contact merge {pair.first.id} {pair.second.id}")
        if left_out:
            out(f"({left_out} marked as not duplicates in the app not shown; --all shows them)")
        return 0
    if action == "merge":
        record = net.merge_contacts(args.keep, args.other)
        out(f"Merged into {safe_text(record.label)} ({record.id})")
        return 0
    raise AssertionError(action)
