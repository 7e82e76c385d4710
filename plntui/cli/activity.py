"""Provides the commands about keeping in touch: ``log`` a talk, what is ``due`` (and ``due
snooze``), dated reminders (``remind``, see ``reminders``), and what colleagues did
(``whatsnew``)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ValidationError
from ..model import safe_text
from ..reminders import WHEN_HELP, due_text, when_text
from .common import open_network
from .output import out, print_json


def cmd_log(args: argparse.Namespace) -> int:
    from ..reminders import read_reminder

    net = open_network(args)
    contact_id = net.find_contact(args.contact)
    before = read_reminder(net.get("contacts", contact_id).values.get("reminder"))
    item = net.log_interaction(contact_id, args.kind, args.summary, args.date, args.shared)
    contact = net.get("contacts", item.values["contact"])
    out(
        f"Logged {item.values.get('kind')} with {safe_text(contact.label)} on "
        f"{item.values.get('date')} ({item.id})"
    )
    if before is not None and before.on is not None and not contact.values.get("reminder"):
        out(f"  reminder done: {_reminder_line(before)}")
    return 0


def due_json(item: Any) -> dict[str, Any]:
    """A follow-up as ``due --json`` prints it: the contact, when and why it is due."""
    reminder = item.reminder
    return {
        **item.contact.to_json(),
        "due": item.due.isoformat(),
        "days_overdue": item.days_overdue,
        "reason": item.reason,
        "reminder_date": reminder.on.isoformat() if reminder and reminder.on else None,
        "reminder_text": reminder.text if reminder else None,
    }


def cmd_due(args: argparse.Namespace) -> int:
    from .search import name_cell

    if getattr(args, "action", None) == "snooze":
        return _snooze(args)
    net = open_network(args)
    if args.within < 0:
        raise ValidationError("--within must be 0 or more days")
    items = net.due(within_days=args.within)
    if args.json:
        print_json([due_json(i) for i in items])
        return 0
    if not items:
        out(
            "Nothing due. Set a follow-up cadence with: plntui contact edit ID --cadence 30, "
            "or a reminder with: plntui remind ID DATE TEXT"
        )
    for item in items:
        last = f"last talked {item.last}" if item.last else "never logged"
        line = (
            f"{item.contact.id}  {name_cell(item.contact.label)}  {due_text(item.days_overdue):18}"
        )
        if item.reason == "reminder":
            text = item.reminder.text if item.reminder else ""
            line += "  reminder" + (f": {safe_text(text)}" if text else "")
            line += f" · {last}"
        else:
            line += f"  {last}"
        out(line.rstrip())
    return 0


def _snooze(args: argparse.Namespace) -> int:
    from ..model import today

    net = open_network(args)
    contact_id = net.find_contact(args.id)
    record, changed = net.snooze(contact_id, args.until)
    item = net.follow_up(record)
    when = when_text(item.due, today()) if item is not None else ""
    if args.json:
        print_json({**(due_json(item) if item else record.to_json()), "changed": changed})
    elif changed:
        out(f"Snoozed {safe_text(record.label)} ({record.id}): next follow-up {when}")
    else:
        out(
            f"{safe_text(record.label)} ({record.id}) is not due before then: next follow-up "
            f"{when}; nothing changed"
        )
    return 0


def cmd_remind(args: argparse.Namespace) -> int:
    from ..model import today
    from ..reminders import read_reminder

    net = open_network(args)
    if args.id is None:
        if args.done:
            raise ValidationError("--done needs the contact: plntui remind ID --done")
        return _list_reminders(net, args.json)
    contact_id = net.find_contact(args.id)
    if args.done:
        if args.when is not None:
            raise ValidationError("give --done, or a date and a text, not both")
        record, reminder = net.reminder_done(contact_id)
        if args.json:
            print_json({"id": record.id, "name": record.label, "done": reminder.to_json()})
        else:
            out(
                f"Reminder done for {safe_text(record.label)} ({record.id}): "
                f"{_reminder_line(reminder)}"
            )
        return 0
    if args.when is None:
        raise ValidationError(f"give a date ({WHEN_HELP}) and what to remember")
    when, words = args.when, list(args.text)
    if when.strip().lower() == "next" and words:  # "next monday call her": two words, one day
        when, words = f"{when} {words[0]}", words[1:]
    record, before = net.remind(contact_id, when, " ".join(words))
    reminder = read_reminder(record.values.get("reminder"))
    assert reminder is not None and reminder.on is not None
    if args.json:
        print_json(
            {
                "id": record.id,
                "name": record.label,
                "reminder": reminder.to_json(),
                "replaced": before.to_json() if before else None,
            }
        )
        return 0
    text = f": {safe_text(reminder.text)}" if reminder.text else ""
    out(
        f"Reminder for {safe_text(record.label)} ({record.id}) on "
        f"{when_text(reminder.on, today())}{text}"
    )
    if before is not None and before != reminder:
        out(f"  (it replaces: {_reminder_line(before)})")
    return 0


def _reminder_line(reminder: Any) -> str:
    when = reminder.on.isoformat() if reminder.on else "no date"
    return f"{when}" + (f" {safe_text(reminder.text)}" if reminder.text else "")


def _list_reminders(net: Any, as_json: bool) -> int:
    """Every contact's reminder: dated ones by date, then the others by name."""
    from ..reminders import read_reminder
    from .search import name_cell

    found = []
    for contact in net.contacts():
        reminder = read_reminder(contact.values.get("reminder"))
        if reminder is not None:
            found.append((contact, reminder))
    found.sort(
        key=lambda f: (
            f[1].on is None,
            f[1].on.isoformat() if f[1].on else "",
            f[0].label.casefold(),
        )
    )
    if as_json:
        print_json([{"id": c.id, "name": c.label, **r.to_json()} for c, r in found])
        return 0
    if not found:
        out("No reminders. Set one with: plntui remind ID DATE TEXT")
    for contact, reminder in found:
        when = reminder.on.isoformat() if reminder.on else "(no date)"
        out(
            f"{contact.id}  {name_cell(contact.label)}  {when:10}  "
            f"{safe_text(reminder.text)}".rstrip()
        )
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
