"""Provides the commands about keeping in touch: ``log`` a talk, what is ``due``, and what
colleagues did (``whatsnew``)."""

from __future__ import annotations

import argparse

from ..errors import ValidationError
from ..model import safe_text
from .common import open_network
from .output import out, print_json


def cmd_log(args: argparse.Namespace) -> int:
    net = open_network(args)
    item = net.log_interaction(args.contact, args.kind, args.summary, args.date, args.shared)
    contact = net.get("contacts", item.values["contact"])
    out(
        f"Logged {item.values.get('kind')} with {safe_text(contact.label)} on "
        f"{item.values.get('date')} ({item.id})"
    )
    return 0


def cmd_due(args: argparse.Namespace) -> int:
    net = open_network(args)
    if args.within < 0:
        raise ValidationError("--within must be 0 or more days")
    items = net.due(within_days=args.within)
    if args.json:
        print_json(
            [
                {**i.contact.to_json(), "due": i.due.isoformat(), "days_overdue": i.days_overdue}
                for i in items
            ]
        )
        return 0
    if not items:
        out("Nothing due. Set a follow-up cadence with: plntui contact edit ID --cadence 30")
    for item in items:
        when = (
            f"{item.days_overdue} days overdue"
            if item.days_overdue > 0
            else "due today"
            if item.days_overdue == 0
            else f"due in {-item.days_overdue} days"
        )
        last = f"last talked {item.last}" if item.last else "never logged"
        out(f"{item.contact.id}  {safe_text(item.contact.label):28}  {when:18}  {last}")
    return 0


def cmd_whatsnew(args: argparse.Namespace) -> int:
    from ..model import now_stamp
    from ..provenance import last_seen, mark_seen, whats_new
    from .recovery import held_summary

    net = open_network(args)
    started = now_stamp()
    since = "" if args.all else last_seen(net.profile)
    items = whats_new(net, since)
    held = [held_summary(net, batch) for batch in net.held()]
    conflicts = net.conflicts()
    if args.json:
        print_json(
            [{"what": i.what, "by": i.who, "when": i.when, **i.record.to_json()} for i in items]
            + [{"what": "held", **h} for h in held]
            + [
                {
                    "what": "conflict",
                    "id": c["id"],
                    "kind": c["collection"][:-1],
                    "label": c["label"],
                    "field": c["field"],
                    "values": c["values"],
                }
                for c in conflicts
            ]
        )
    elif not items and not held and not conflicts:
        out(
            "Nothing new from colleagues"
            + (f" since {since[:16].replace('T', ' ')}." if since else ".")
        )
    else:
        for h in held:
            out(
                f"  held: {safe_text(h['author'])}'s device deleted {h['counts']}: review with "
                f"plntui held (id {h['id']})"
            )
        if conflicts:
            out(
                f"  {len(conflicts)} field(s) with two values from colleagues: see plntui conflicts"
            )
        if items and since:
            out(f"Since {since[:16].replace('T', ' ')} UTC:")
        for item in items:
            noun = "contact" if item.record.collection == "contacts" else "note"
            line = (
                f"  {item.when[:10]}  {item.who} {item.what} {noun} "
                f"{safe_text(item.record.label)} ({item.record.id})"
            )
            if item.what == "deleted":
                line += f" · restore: plntui trash restore {item.record.id}"
            out(line)
    if args.mark_seen:
        mark_seen(net.profile, started)
    return 0
