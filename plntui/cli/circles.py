"""Provides ``plntui circle``: create, rename, list and show circles, and change their members."""

from __future__ import annotations

import argparse
from typing import Any

from ..model import safe_text
from .common import fingerprint_arg, open_network
from .output import out, print_json, table


def cmd_circle(args: argparse.Namespace) -> int:
    from sync.fingerprint import format_fingerprint

    net = open_network(args)
    if args.action == "create":
        circle = net.create_circle(args.name)
        out(
            f"Created circle {safe_text(circle.name)} ({circle.id}); add members with: "
            f"plntui circle add {_quote(circle.name)} FINGERPRINT"
        )
        return 0
    if args.action == "rename":
        circle = net.rename_circle(args.name, args.new)
        out(f"Renamed the circle to {safe_text(circle.name)}")
        return 0
    if args.action == "add":
        circle = net.add_member(args.name, fingerprint_arg(args.fingerprint))
        out(
            f"Added {format_fingerprint(fingerprint_arg(args.fingerprint))} to circle "
            f"{safe_text(circle.name)}: it syncs the circle's contacts and notes from now on"
        )
        return 0
    if args.action == "remove":
        circle = net.remove_member(args.name, fingerprint_arg(args.fingerprint))
        out(
            f"Removed {format_fingerprint(fingerprint_arg(args.fingerprint))} from circle "
            f"{safe_text(circle.name)}: it keeps what it already has, and gets nothing new"
        )
        return 0
    if args.action == "leave":
        circle = net.leave_circle(args.name)
        out(
            f"You left circle {safe_text(circle.name)}: its items stay here, read-only, and "
            "it no longer syncs"
        )
        return 0
    if args.action == "default":
        if args.name:
            circle = net.set_default_circle(args.name)
            out(f"New contacts and notes go to circle {safe_text(circle.name)}")
        else:
            out(safe_text(net.default_circle().name))
        return 0
    counts = net.index().circle_counts()
    if args.action == "show":
        circle = net.circle(args.name)
        if args.json:
            print_json({**circle.to_json(), **counts.get(circle.id, {"contacts": 0, "notes": 0})})
            return 0
        for line in _circle_lines(net, circle, counts):
            out(line)
        return 0
    circles = sorted(net.circles().values(), key=lambda c: (not c.member, c.name.casefold()))
    if args.json:
        print_json(
            [{**c.to_json(), **counts.get(c.id, {"contacts": 0, "notes": 0})} for c in circles]
        )
        return 0
    default = net.default_circle().id
    rows = [
        [
            safe_text(c.name) + (" (default)" if c.id == default else ""),
            c.id,
            str(len(c.members)),
            str(counts.get(c.id, {}).get("contacts", 0)),
            str(counts.get(c.id, {}).get("notes", 0)),
            "member" if c.member else "left",
        ]
        for c in circles
    ]
    table(rows, ["CIRCLE", "ID", "MEMBERS", "CONTACTS", "NOTES", "YOU"])
    return 0


def _circle_lines(net: Any, circle: Any, counts: dict[str, Any]) -> list[str]:
    from sync.fingerprint import format_fingerprint

    held = counts.get(circle.id, {"contacts": 0, "notes": 0})
    lines = [
        safe_text(circle.name),
        f"  id: {circle.id}",
        f"  {held['contacts']} contact(s), {held['notes']} note(s)"
        + ("" if circle.member else "  (you are not a member: read-only, not synced)"),
        "  members:",
    ]
    for fp, name in sorted(circle.members.items(), key=lambda kv: kv[1].casefold()):
        you = "  (you)" if fp == circle.me else ""
        lines.append(f"    {safe_text(name):24} {format_fingerprint(bytes.fromhex(fp))}{you}")
    return lines


def _quote(text: str) -> str:
    return f'"{text}"' if " " in text else text
