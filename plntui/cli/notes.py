"""Provides ``plntui note``: add, edit (in ``$EDITOR`` too), move, show, list and remove notes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ValidationError
from ..model import safe_text
from .common import open_network
from .fields import NOTE_OPTIONS, field_values, warn_history
from .output import note_rows, out, print_json, print_records, render_record


def cmd_note(args: argparse.Namespace) -> int:
    net = open_network(args)
    action = args.action
    if action in ("add", "edit") and args.body is not None and args.body_file is not None:
        raise ValidationError("give --body or --body-file, not both")
    if action == "add":
        values = field_values(args, NOTE_OPTIONS, None)
        if args.body_file is not None:
            values["body"] = _read_body_file(args.body_file)
        if "title" not in values:
            raise ValidationError("--title is required", "title")
        record = net.add(
            "notes",
            values,
            private=args.private or None,
            private_fields=args.private_field,
            circle=args.circle,
        )
        out(f"Added note {safe_text(record.label)} ({record.id})")
        return 0
    if action == "edit":
        current = net.get("notes", args.id)
        values = field_values(args, NOTE_OPTIONS, current)
        if args.body_file is not None:
            values["body"] = _read_body_file(args.body_file)
        nothing = not (
            values
            or args.private_field
            or args.share_field
            or args.item_private is not None
            or args.circle
        )
        if nothing:
            values["body"] = _edit_in_editor(current.values.get("body", ""))
            if values["body"] == current.values.get("body", ""):
                out("No change.")
                return 0
        record = net.edit(
            "notes",
            current.id,
            values,
            make_private=args.private_field,
            make_shared=args.share_field,
            item_private=args.item_private,
            circle=args.circle,
        )
        warn_history(current, args.private_field, args.item_private)
        out(f"Updated note {safe_text(record.label)} ({record.id})")
        return 0
    if action == "show":
        record = net.get("notes", args.id)
        if args.json:
            print_json(record.to_json())
        else:
            for line in render_record(net, record):
                out(line)
        return 0
    if action == "move":
        record = net.move("notes", args.id, args.circle)
        out(
            f"Moved note {safe_text(record.label)} ({record.id}) to circle "
            f"{safe_text(record.circle_name)}"
        )
        return 0
    if action == "list":
        from .search import listed

        records, narrowed = listed(net, args, "notes", "tags", args.tag)
        print_records(
            records,
            as_json=args.json,
            rows=note_rows,
            headers=["ID", "TITLE", "KIND", "TAGS", "CIRCLE"],
            empty="No notes match."
            if narrowed
            else 'No notes yet. Add one with: plntui note add --title "Reading list"',
        )
        return 0
    if action == "rm":
        record = net.remove("notes", args.id)
        out(f"Removed note {safe_text(record.label)} ({record.id})")
        return 0
    raise AssertionError(action)


def _read_body_file(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValidationError(f"cannot read {path}: {err.strerror}") from None
    if len(data) > 1_000_000 * 4:
        raise ValidationError(f"{path} is too large for a note body")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not UTF-8 text") from None


def _edit_in_editor(text: str) -> str:
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
        path = tmp.name
    try:
        try:
            result = subprocess.run([*shlex.split(editor), path], check=False)
        except OSError as err:
            raise ValidationError(
                f"cannot start the editor {editor!r} ({err.strerror or err}); set $EDITOR, or "
                "use --body / --body-file"
            ) from None
        if result.returncode != 0:
            raise ValidationError(
                f"the editor ({editor}) exited with status {result.returncode}; nothing was changed"
            )
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    finally:
        os.unlink(path)
