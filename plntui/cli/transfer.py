"""Provides ``plntui import`` (contacts and notes from files) and ``plntui export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..model import safe_text, shared_view
from .common import in_circle, open_network
from .output import out, warn, with_progress


def cmd_import(args: argparse.Namespace) -> int:
    from ..interop import read_contacts_file
    from ..interop.notes_import import is_notes_source, read_notes

    net = open_network(args)
    if args.circle:
        net._member_circle(args.circle)  # refuse an unknown circle before reading the file
    if is_notes_source(args.file):
        return _import_notes(net, args, read_notes(args.file))
    drafts, rejected = read_contacts_file(args.file)
    summary = with_progress(
        "Importing",
        lambda tick: net.import_contacts(drafts, args.file.name, tick, circle=args.circle),
    )
    summary.rejected[:0] = [(r.source, r.reason) for r in rejected]
    out(
        f"Imported {args.file.name}: {len(summary.added)} added, {len(summary.merged)} merged "
        f"into existing contacts, {len(summary.rejected)} rejected"
    )
    for record, source in summary.merged[:50]:
        out(f"  merged {source} into {safe_text(record.label)} ({record.id})")
    for source, reason in summary.rejected[:200]:
        out(f"  rejected {safe_text(source)}: {safe_text(reason)}")
    for a, b in summary.possible_duplicates[:50]:
        out(
            f"  possible duplicate: {safe_text(a.label)} ({a.id}) ~ {safe_text(b.label)} ({b.id});"
            f" merge with: plntui contact merge {b.id} {a.id}"
        )
    if not summary.added and not summary.merged and summary.rejected:
        return 2
    return 0


def _import_notes(net: Any, args: argparse.Namespace, found: Any) -> int:
    summary = with_progress(
        "Importing", lambda tick: net.import_notes(found.drafts, args.circle, tick)
    )
    rejected = list(found.rejected) + list(summary.rejected)
    out(
        f"Imported {args.file.name}: {_plural(len(summary.added), 'note')} added, "
        f"{len(summary.merged)} updated, {len(rejected)} rejected"
    )
    for source, reason in rejected[:200]:
        out(f"  rejected {safe_text(source)}: {safe_text(reason)}")
    if not summary.added and not summary.merged and rejected:
        return 2
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _write_output(path: str, text: str) -> str:
    if path == "-":
        sys.stdout.write(text)
        return "standard output"
    target = Path(path)
    if target.is_dir():
        raise ValidationError(f"{target} is a folder; give a file name")
    if not target.parent.exists():
        raise ValidationError(f"the folder {target.parent} does not exist")
    from ..store import atomic_write

    atomic_write(target, text.encode("utf-8"))
    return str(target)


def cmd_export(args: argparse.Namespace) -> int:
    from .. import interop
    from ..provenance import device_names

    net = open_network(args)
    names = device_names(net)  # exports name the devices that added and changed items
    if args.what == "notes":
        notes, hidden = shared_view(in_circle(net, net.notes(), args.circle), args.include_private)
        # only the contacts the notes link to, to name them
        linked = net.index().records("contacts", {c for n in notes for c in n["contacts"]})
        contacts, _hidden = shared_view(in_circle(net, linked, args.circle), args.include_private)
        by_id = {c.id: c for c in contacts}
        if args.format == "md":
            if args.out == "-":
                raise ValidationError("Markdown export writes a folder: give --out DIR")
            paths = with_progress(
                "Exporting",
                lambda tick: interop.export_notes_markdown(
                    notes, by_id, Path(args.out), tick, names
                ),
            )
            where = f"{args.out} ({len(paths)} files)"
        elif args.format == "html":
            where = _write_output(args.out, interop.notes_to_html(notes, by_id, names=names))
        else:
            where = _write_output(args.out, interop.notes_to_json(notes))
        count = len(notes)
    else:
        contacts, hidden = shared_view(
            in_circle(net, net.contacts(), args.circle), args.include_private
        )
        if args.format == "vcf":
            text = interop.contacts_to_vcards(contacts, names)
        elif args.format == "csv":
            text = interop.contacts_to_csv(contacts, names)
        else:
            text = interop.contacts_to_json(contacts)
        where = _write_output(args.out, text)
        count = len(contacts)
    message = f"Exported {_plural(count, args.what[:-1])} to {where}"
    if hidden:
        message += f"; left out private data of {_plural(hidden, 'item')} (add --include-private)"
    (warn if args.out == "-" else out)(message)
    return 0
