"""Provides the ``plntui`` command line: argument parsing and output, over the domain API.

Bad input exits with status 2 and one line on stderr (``plntui: error: …``); nothing stored is
changed by a command that fails. Commands that list things take ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import PlntuiError, ValidationError
from .model import (
    FIELDS,
    INTERACTION_KINDS,
    NOTE_KINDS,
    PROVENANCE_FIELDS,
    RELATIONSHIPS,
    Record,
    display_value,
    safe_text,
    shared_view,
)

# option name -> (field, kind) for contact add/edit; list fields also get --add-X/--remove-X on edit
CONTACT_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("name", "name", "str"),
    ("email", "emails", "list"),
    ("phone", "phones", "list"),
    ("org", "org", "str"),
    ("role", "role", "str"),
    ("relationship", "relationship", "str"),
    ("topic", "topics", "list"),
    ("met", "met", "str"),
    ("met-where", "met_where", "str"),
    ("channel", "channel", "str"),
    ("introduced-by", "introduced_by", "str"),
    ("link", "links", "list"),
    ("last-contacted", "last_contacted", "str"),
    ("cadence", "cadence_days", "str"),
    ("remark", "remark", "str"),
    ("rating", "rating", "str"),
    ("reminder", "reminder", "str"),
)
NOTE_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("title", "title", "str"),
    ("body", "body", "str"),
    ("tag", "tags", "list"),
    ("kind", "kind", "str"),
    ("contact", "contacts", "list"),
    ("remark", "remark", "str"),
    ("rating", "rating", "str"),
    ("reminder", "reminder", "str"),
)
_HELP = {
    "name": "full name",
    "email": "e-mail address (repeatable)",
    "phone": "phone (repeatable)",
    "org": "organisation",
    "role": "role or job title",
    "relationship": "one of " + ", ".join(RELATIONSHIPS),
    "topic": "a topic they know (repeatable)",
    "met": "how you met",
    "met-where": "where you met",
    "channel": "in person, or the community/platform",
    "introduced-by": "id of the contact who introduced you",
    "link": "a URL (repeatable)",
    "last-contacted": "date you last talked: YYYY-MM-DD, today, yesterday, or =-Nd (N days ago)",
    "cadence": "follow up every N days",
    "remark": "your private remark (never shared)",
    "rating": "your private rating 1-5 (never shared)",
    "reminder": "private reminder text",
    "title": "title",
    "body": "body text (Markdown)",
    "tag": "tag (repeatable)",
    "kind": "one of " + ", ".join(NOTE_KINDS),
    "contact": "id of a linked contact (repeatable)",
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``plntui: error: …`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"plntui: error: {message} (see: {self.prog} --help)\n")


def _listen_options(p: argparse.ArgumentParser, no_discovery_help: str) -> None:
    """``--port``, ``--listen`` and ``--no-discovery``, as ``sync`` and ``pair`` take them."""
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to listen on (default 47600; 0 picks a free one)",
    )
    p.add_argument(
        "--listen",
        default="0.0.0.0",
        metavar="ADDRESS",
        help="address to listen on and announce (default: every interface)",
    )
    p.add_argument("--no-discovery", action="store_true", help=no_discovery_help)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="plntui",
        description="Your professional learning network in the terminal. With no command, "
        "opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"plntui {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="profile folder (default: $PLNTUI_HOME, else the user data folder)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="use a throwaway profile filled with a sample network"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="open the app without syncing (no listening, no LAN announcement)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    p = sub.add_parser("init", help="create your profile")
    p.add_argument("--name", required=True, help="your display name (attributes your edits)")

    _contact_parsers(sub)
    _note_parsers(sub)

    p = sub.add_parser("log", help="log an interaction with a contact")
    p.add_argument("contact", metavar="ID")
    p.add_argument("--kind", default="other", help="one of " + ", ".join(INTERACTION_KINDS))
    p.add_argument("--summary", required=True)
    p.add_argument(
        "--date", default="today", help="YYYY-MM-DD, today, yesterday, or =-Nd (N days ago)"
    )
    p.add_argument(
        "--shared",
        action="store_true",
        help="share this interaction with trusted colleagues (default: private)",
    )

    p = sub.add_parser("due", help="follow-ups due or overdue")
    p.add_argument(
        "--within",
        type=int,
        default=0,
        metavar="DAYS",
        help="also list those due in the next DAYS days",
    )
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="search contacts and notes")
    p.add_argument("query", nargs="+", help="words to find (each as a prefix)")
    p.add_argument("--limit", type=int, default=50, help="at most this many of each (50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _circle_option(p, "only in this circle")

    p = sub.add_parser("who", help="who knows a topic, best first")
    p.add_argument("topic", nargs="+", help="the topic, e.g. rust or machine learning")
    p.add_argument("--limit", type=int, default=50, help="at most this many people (50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _circle_option(p, "only people in this circle")

    p = sub.add_parser(
        "import",
        help="import contacts (vCard, CSV, LinkedIn, JSON) or notes (a folder of Markdown, "
        "plntui's notes JSON)",
    )
    p.add_argument("file", type=Path, help="the file, or a folder of Markdown notes")
    _circle_option(p, "the circle they go to (default: your default circle)")

    p = sub.add_parser("export", help="export notes or contacts")
    esub = p.add_subparsers(dest="what", metavar="WHAT", required=True, parser_class=ArgumentParser)
    for what, formats in (("notes", ("md", "html", "json")), ("contacts", ("vcf", "csv", "json"))):
        e = esub.add_parser(what, help=f"export {what} as {', '.join(formats)}")
        e.add_argument("--format", required=True, choices=formats)
        e.add_argument(
            "--out",
            required=True,
            metavar="PATH",
            help="output file (a folder for md; - for standard output)",
        )
        e.add_argument(
            "--include-private",
            action="store_true",
            help="include private items and fields (default: shared data only)",
        )
        _circle_option(e, f"only the {what} of this circle")

    _circle_parsers(sub)

    p = sub.add_parser("id", help="show this device's fingerprint, to give to a colleague")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("peer", help="trust, list and revoke the colleagues you sync with")
    psub = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=ArgumentParser
    )
    t = psub.add_parser("trust", help="trust a colleague's fingerprint (from their plntui id)")
    t.add_argument("fingerprint", metavar="FINGERPRINT", help="their fingerprint (plntui id)")
    t.add_argument("--name", help="a name for them (default: the first fingerprint group)")
    t.add_argument("--circle", metavar="NAME", help="also add them to this circle of yours")
    lst = psub.add_parser("list", help="the peers you trust or revoked")
    lst.add_argument("--json", action="store_true")
    r = psub.add_parser("revoke", help="stop syncing with a peer; its live link is cut")
    r.add_argument("fingerprint", metavar="FINGERPRINT")
    a = psub.add_parser("add", help="reach a trusted peer at HOST:PORT (another subnet, a VPN)")
    a.add_argument("address", metavar="HOST:PORT")
    i = psub.add_parser(
        "introducer", help="let a trusted peer offer you the peers it trusts (see README)"
    )
    i.add_argument("fingerprint", metavar="FINGERPRINT")
    mode = i.add_mutually_exclusive_group()
    mode.add_argument(
        "--auto", action="store_true", help="trust what it offers without asking (risky)"
    )
    mode.add_argument("--off", action="store_true", help="it is no longer an introducer")
    pend = psub.add_parser("pending", help="peers your introducers offered, awaiting approval")
    pend.add_argument("--json", action="store_true")
    ap = psub.add_parser("approve", help="trust a peer an introducer offered")
    ap.add_argument("fingerprint", metavar="FINGERPRINT", help="the offered peer's fingerprint")
    ap.add_argument("--circle", metavar="NAME", help="also add it to this circle of yours")
    rj = psub.add_parser("reject", help="refuse a peer an introducer offered (never offered again)")
    rj.add_argument("fingerprint", metavar="FINGERPRINT")

    p = sub.add_parser(
        "pair",
        help="pair with a colleague by a short code (no code: show one; with a code: join)",
    )
    p.add_argument(
        "code", nargs="?", metavar="CODE", help="the code your colleague's plntui pair shows"
    )
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="with CODE: the inviting device's address, when LAN discovery cannot find it",
    )
    _listen_options(p, "do not announce or look for devices on the LAN (joining needs --address)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to look for the inviting device (default 10), or to keep an invite open "
        "(default 600)",
    )
    p.add_argument(
        "--circle",
        metavar="NAME",
        help="the circle the colleague joins (default: your default circle); joining with a "
        "code, also add the inviter to this circle of yours",
    )

    p = sub.add_parser("sync", help="sync with trusted colleagues until interrupted")
    p.add_argument(
        "--once",
        action="store_true",
        help="sync with every reachable trusted peer, print a summary and exit",
    )
    _listen_options(p, "do not announce or look for peers on the LAN (use peer add)")
    p.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="with --once: how long to wait for each peer",
    )

    _doctor_parser(sub)
    sub.add_parser("repair", help="move damaged profile files aside and keep what can be read")
    sub.add_parser("compact", help="fold the change logs into fresh snapshots")
    _provenance_parsers(sub)
    return parser


def _circle_parsers(sub: Any) -> None:
    p = sub.add_parser("circle", help="the circles you share contacts and notes with")
    csub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=ArgumentParser)
    csub.required = True
    lst = csub.add_parser("list", help="your circles, their members and how many items each holds")
    lst.add_argument("--json", action="store_true", help="print JSON")
    c = csub.add_parser("create", help="create a circle (you are its first member)")
    c.add_argument("name", metavar="NAME", help="the circle's name")
    s = csub.add_parser("show", help="one circle: its members and devices")
    s.add_argument("name", metavar="NAME", help="a circle's name or id")
    s.add_argument("--json", action="store_true", help="print JSON")
    r = csub.add_parser("rename", help="rename a circle (its members see the new name)")
    r.add_argument("name", metavar="NAME", help="a circle's name or id")
    r.add_argument("new", metavar="NEW", help="the new name")
    a = csub.add_parser("add", help="add a peer you trust to a circle: it syncs the circle")
    a.add_argument("name", metavar="NAME", help="a circle's name or id")
    a.add_argument("fingerprint", metavar="FINGERPRINT", help="the peer's fingerprint")
    rm = csub.add_parser("remove", help="remove a member: the circle stops syncing with it")
    rm.add_argument("name", metavar="NAME", help="a circle's name or id")
    rm.add_argument("fingerprint", metavar="FINGERPRINT", help="the member's fingerprint")
    lv = csub.add_parser("leave", help="leave a circle: its items stay here, read-only")
    lv.add_argument("name", metavar="NAME", help="a circle's name or id")
    d = csub.add_parser("default", help="the circle new contacts and notes go to")
    d.add_argument("name", metavar="NAME", nargs="?", help="set it (none: show it)")


def _provenance_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "whatsnew", help="contacts and notes colleagues added or changed since you last looked"
    )
    p.add_argument("--mark-seen", action="store_true", help="then remember that you looked")
    p.add_argument("--all", action="store_true", help="everything colleagues did, ever")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("rename", help="change your display name (colleagues see it)")
    p.add_argument("name", metavar="NAME")


def _add_field_options(
    p: argparse.ArgumentParser, options: Sequence[tuple[str, str, str]], edit: bool
) -> None:
    for opt, _name, kind in options:
        if kind == "list":
            p.add_argument(
                f"--{opt}",
                action="append",
                metavar=opt.upper(),
                help=_HELP[opt] + ("; replaces the list" if edit else ""),
            )
            if edit:
                p.add_argument(
                    f"--add-{opt}", action="append", metavar=opt.upper(), help=f"add a {opt}"
                )
                p.add_argument(
                    f"--remove-{opt}", action="append", metavar=opt.upper(), help=f"remove a {opt}"
                )
        else:
            p.add_argument(f"--{opt}", metavar=opt.upper(), help=_HELP[opt])


def _privacy_options(p: argparse.ArgumentParser, edit: bool) -> None:
    p.add_argument(
        "--private-field",
        action="append",
        default=[],
        metavar="FIELD",
        help="keep this field on this device only (repeatable)",
    )
    if edit:
        p.add_argument(
            "--share-field",
            action="append",
            default=[],
            metavar="FIELD",
            help="share this field with trusted colleagues (repeatable)",
        )
        group = p.add_mutually_exclusive_group()
        group.add_argument(
            "--private",
            dest="item_private",
            action="store_const",
            const=True,
            help="make the whole item private (copies already synced remain with colleagues)",
        )
        group.add_argument(
            "--share",
            dest="item_private",
            action="store_const",
            const=False,
            help="share the whole item",
        )
    else:
        p.add_argument(
            "--private", action="store_true", help="keep the whole item on this device only"
        )


def _circle_option(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--circle", metavar="NAME", help=text)


def _contact_parsers(sub: Any) -> None:
    p = sub.add_parser("contact", help="add, edit, show, list, remove and merge contacts")
    csub = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=ArgumentParser
    )
    a = csub.add_parser("add", help="add a contact")
    _add_field_options(a, CONTACT_OPTIONS, edit=False)
    _privacy_options(a, edit=False)
    _circle_option(a, "the circle it goes to (default: your default circle)")
    e = csub.add_parser("edit", help="change a contact's fields")
    e.add_argument("id", metavar="ID")
    _add_field_options(e, CONTACT_OPTIONS, edit=True)
    _privacy_options(e, edit=True)
    _circle_option(e, "move it to this circle (a private contact is shared there)")
    mv = csub.add_parser("move", help="move a contact to another circle")
    mv.add_argument("id", metavar="ID")
    mv.add_argument("--circle", metavar="NAME", required=True, help="the circle it moves to")
    s = csub.add_parser("show", help="show one contact")
    s.add_argument("id", metavar="ID")
    s.add_argument("--json", action="store_true")
    lst = csub.add_parser("list", help="list contacts")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument("--topic", help="only contacts with this topic")
    lst.add_argument("--added-by", metavar="NAME", help="only contacts this device added")
    _circle_option(lst, "only the contacts of this circle")
    r = csub.add_parser("rm", help="remove a contact")
    r.add_argument("id", metavar="ID")
    d = csub.add_parser("dupes", help="list contacts that look like the same person")
    d.add_argument("--json", action="store_true")
    m = csub.add_parser("merge", help="merge the second contact into the first")
    m.add_argument("keep", metavar="KEEP_ID")
    m.add_argument("other", metavar="OTHER_ID")


def _note_parsers(sub: Any) -> None:
    p = sub.add_parser("note", help="add, edit, show, list and remove notes")
    nsub = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=ArgumentParser
    )
    a = nsub.add_parser("add", help="add a note")
    _add_field_options(a, NOTE_OPTIONS, edit=False)
    a.add_argument(
        "--body-file",
        type=Path,
        metavar="FILE",
        help="read the body from FILE (- for standard input)",
    )
    _privacy_options(a, edit=False)
    _circle_option(a, "the circle it goes to (default: your default circle)")
    e = nsub.add_parser("edit", help="change a note; with no option, opens $EDITOR on the body")
    e.add_argument("id", metavar="ID")
    _add_field_options(e, NOTE_OPTIONS, edit=True)
    e.add_argument("--body-file", type=Path, metavar="FILE", help="read the body from FILE")
    _privacy_options(e, edit=True)
    _circle_option(e, "move it to this circle (a private note is shared there)")
    mv = nsub.add_parser("move", help="move a note to another circle")
    mv.add_argument("id", metavar="ID")
    mv.add_argument("--circle", metavar="NAME", required=True, help="the circle it moves to")
    s = nsub.add_parser("show", help="show one note")
    s.add_argument("id", metavar="ID")
    s.add_argument("--json", action="store_true")
    lst = nsub.add_parser("list", help="list notes")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument("--tag", help="only notes with this tag")
    lst.add_argument("--added-by", metavar="NAME", help="only notes this device wrote")
    _circle_option(lst, "only the notes of this circle")
    r = nsub.add_parser("rm", help="remove a note")
    r.add_argument("id", metavar="ID")


# ------------------------------------------------------------------------------------------------
# helpers


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(f"plntui: {text}\n")


def print_json(value: Any) -> None:
    out(json.dumps(value, indent=2, ensure_ascii=False))


def _field_values(
    args: argparse.Namespace, options: Sequence[tuple[str, str, str]], current: Record | None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for opt, name, kind in options:
        attr = opt.replace("-", "_")
        given = getattr(args, attr, None)
        if kind == "list":
            items = list(current.values.get(name, [])) if current else []
            touched = False
            if given is not None:
                items, touched = list(given), True
            for extra in getattr(args, f"add_{attr}", None) or []:
                items.append(extra)
                touched = True
            removals = getattr(args, f"remove_{attr}", None) or []
            if removals:
                from .model import check_field

                drop = set(
                    check_field(current.collection if current else "contacts", name, removals)
                    if name != "contacts"
                    else removals
                )
                items = [i for i in items if i not in drop and i not in removals]
                touched = True
            if touched:
                values[name] = items
        elif given is not None:
            values[name] = given
    return values


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


def _progress(total_hint: str) -> Any:
    """A Rich progress bar on a terminal; None when output is piped."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn(total_hint),
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,
        console=Console(stderr=True),
    )


def _with_progress(label: str, work: Callable[[Callable[[int, int], None] | None], Any]) -> Any:
    bar = _progress(label)
    if bar is None:
        return work(None)
    with bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return work(tick)


# ------------------------------------------------------------------------------------------------
# rendering


def _names(net: Any) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def name(contact_id: str) -> str:
        if contact_id not in cache:
            try:
                cache[contact_id] = net.get("contacts", contact_id).label
            except PlntuiError:
                cache[contact_id] = "(removed)"
        return cache[contact_id]

    return name


def render_record(net: Any, record: Record) -> list[str]:
    name_of = _names(net)
    lines = [
        safe_text(record.label) + ("   [private]" if record.private_item else ""),
        f"  id: {record.id}",
    ]
    if not record.private_item and record.collection != "interactions":
        lines.append(f"  Circle: {safe_text(record.circle_name)}")
    for spec in FIELDS[record.collection].values():
        value = record.values.get(spec.name)
        if (
            value in (None, "", [])
            or spec.name in ("name", "title")
            or spec.name in PROVENANCE_FIELDS
        ):
            continue
        if spec.name == "introduced_by":
            value = f"{name_of(value)} ({value})"
        elif spec.name in ("contacts", "contact"):
            ids = value if isinstance(value, list) else [value]
            value = ", ".join(f"{name_of(i)} ({i})" for i in ids)
        elif spec.name == "body":
            continue
        mark = "  (private)" if record.is_private(spec.name) and not record.private_item else ""
        lines.append(f"  {spec.label}: {safe_text(display_value(value))}{mark}")
    if record.collection in ("contacts", "notes"):
        from .provenance import provenance

        who = provenance(net, record).line()
        if who:
            lines.append(f"  {who}")
    for source in record.sources:
        via = source.get("via", "")
        differing = source.get("differing") or []
        values = source.get("values") or {}
        extra = "; ".join(f"{k}={display_value(values.get(k))}" for k in differing)
        lines.append(
            f"  merged from {safe_text(via)}"
            + (f" {source.get('merged_id')}" if source.get("merged_id") else "")
            + (f" {safe_text(source.get('source', ''))}" if source.get("source") else "")
            + (f" — other values: {safe_text(extra)}" if extra else "")
        )
    if record.collection == "notes" and record.values.get("body"):
        lines.append("")
        lines.append(safe_text(record.values["body"]))
    return lines


def _table(rows: list[list[str]], headers: list[str]) -> None:
    if not rows:
        return
    widths = [len(h) for h in headers]
    cap = [12, 28, 24, 40, 40]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), cap[i] if i < len(cap) else 40)

    def fit(cell: str, width: int) -> str:
        return cell if len(cell) <= width else cell[: width - 1] + "…"

    out("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        out("  ".join(fit(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _contact_rows(records: Sequence[Record]) -> list[list[str]]:
    return [
        [
            r.id,
            safe_text(r.label),
            safe_text(r.values.get("org", "")),
            safe_text(", ".join(r.values.get("topics", []))),
            _circle_cell(r),
        ]
        for r in records
    ]


def _circle_cell(record: Record) -> str:
    return "(private)" if record.private_item else safe_text(record.circle_name)


def _note_rows(records: Sequence[Record]) -> list[list[str]]:
    return [
        [
            r.id,
            safe_text(r.label),
            safe_text(r.values.get("kind", "") or "note"),
            safe_text(", ".join(r.values.get("tags", []))),
            _circle_cell(r),
        ]
        for r in records
    ]


# ------------------------------------------------------------------------------------------------
# commands


def cmd_init(args: argparse.Namespace) -> int:
    from .network import Network

    net = Network.create(args.home, args.name)
    out(f"Created the profile of {net.profile.meta.name} in {net.profile.home}")
    return 0


def _open(args: argparse.Namespace) -> Any:
    from .network import Network

    return Network.open(args.home)


def cmd_contact(args: argparse.Namespace) -> int:
    net = _open(args)
    action = args.action
    if action == "add":
        values = _field_values(args, CONTACT_OPTIONS, None)
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
        values = _field_values(args, CONTACT_OPTIONS, current)
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
        _warn_history(current, args.private_field, args.item_private)
        out(f"Updated {safe_text(record.label)} ({record.id})")
        return 0
    if action == "show":
        record = net.get("contacts", args.id)
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
        records = _in_circle(net, _added_by(net, "contacts", args.added_by), args.circle)
        if args.topic:
            from .model import normalise_topic

            topic = normalise_topic(args.topic)
            records = [r for r in records if topic in r.values.get("topics", [])]
        if args.json:
            print_json([r.to_json() for r in records])
        else:
            _table(_contact_rows(records), ["ID", "NAME", "ORGANISATION", "TOPICS", "CIRCLE"])
            if not records:
                out('No contacts yet. Add one with: plntui contact add --name "Ada Lovelace"')
        return 0
    if action == "rm":
        record = net.remove("contacts", args.id)
        out(f"Removed {safe_text(record.label)} ({record.id})")
        return 0
    if action == "dupes":
        pairs = net.duplicates()
        if args.json:
            print_json(
                [
                    {"first": p.first.to_json(), "second": p.second.to_json(), "reason": p.reason}
                    for p in pairs
                ]
            )
            return 0
        if not pairs:
            out("No likely duplicates.")
        for pair in pairs:
            out(
                f"{safe_text(pair.first.label)} ({pair.first.id})  ~  "
                f"{safe_text(pair.second.label)} ({pair.second.id}): {pair.reason}"
            )
            out(f"  merge with: plntui contact merge {pair.first.id} {pair.second.id}")
        return 0
    if action == "merge":
        record = net.merge_contacts(args.keep, args.other)
        out(f"Merged into {safe_text(record.label)} ({record.id})")
        return 0
    raise AssertionError(action)


def _added_by(net: Any, collection: str, name: str | None) -> list[Record]:
    """Every record of ``collection`` (from the index), or those added by devices named so."""
    if name is None:
        return net.index().list(collection)  # type: ignore[no-any-return]
    from .provenance import actors_named, device_names

    names = device_names(net)
    actors = actors_named(net, name, names)
    if not actors:
        known = ", ".join(sorted(set(names.values()), key=str.casefold)) or "none yet"
        raise ValidationError(f"no device is named {name!r} (devices: {known})", "added-by")
    return net.index().created_by(collection, actors)  # type: ignore[no-any-return]


def _in_circle(net: Any, records: list[Record], circle: str | None) -> list[Record]:
    """Only the records of one circle (``--circle NAME``), or all of them."""
    if not circle:
        return records
    wanted = net.circle(circle).id
    return [r for r in records if r.circle == wanted and not r.private_item]


def _warn_history(before: Record, made_private: Sequence[str], item_private: bool | None) -> None:
    """Shared values that are made private stay in the shared document's history."""
    if before.private_item:
        return
    moved = [
        f
        for f in made_private
        if before.values.get(f) not in (None, "", []) and not before.is_private(f)
    ]
    if item_private or moved:
        what = "this item" if item_private else ", ".join(moved)
        warn(
            f"the earlier shared value of {what} stays in the shared document's history, "
            "which trusted peers receive when they sync"
        )


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


def cmd_note(args: argparse.Namespace) -> int:
    net = _open(args)
    action = args.action
    if action in ("add", "edit") and args.body is not None and args.body_file is not None:
        raise ValidationError("give --body or --body-file, not both")
    if action == "add":
        values = _field_values(args, NOTE_OPTIONS, None)
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
        values = _field_values(args, NOTE_OPTIONS, current)
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
        _warn_history(current, args.private_field, args.item_private)
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
        records = _in_circle(net, _added_by(net, "notes", args.added_by), args.circle)
        if args.tag:
            from .model import normalise_topic

            tag = normalise_topic(args.tag)
            records = [r for r in records if tag in r.values.get("tags", [])]
        if args.json:
            print_json([r.to_json() for r in records])
        else:
            _table(_note_rows(records), ["ID", "TITLE", "KIND", "TAGS", "CIRCLE"])
            if not records:
                out('No notes yet. Add one with: plntui note add --title "Reading list"')
        return 0
    if action == "rm":
        record = net.remove("notes", args.id)
        out(f"Removed note {safe_text(record.label)} ({record.id})")
        return 0
    raise AssertionError(action)


def cmd_log(args: argparse.Namespace) -> int:
    net = _open(args)
    item = net.log_interaction(args.contact, args.kind, args.summary, args.date, args.shared)
    contact = net.get("contacts", item.values["contact"])
    out(
        f"Logged {item.values.get('kind')} with {safe_text(contact.label)} on "
        f"{item.values.get('date')} ({item.id})"
    )
    return 0


def cmd_due(args: argparse.Namespace) -> int:
    net = _open(args)
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


def cmd_search(args: argparse.Namespace) -> int:
    net = _open(args)
    if args.circle:
        found = net.search(" ".join(args.query), max(args.limit * 20, 1000))
        found = {k: _in_circle(net, v, args.circle)[: args.limit] for k, v in found.items()}
    else:
        found = net.search(" ".join(args.query), args.limit)
    return _print_found(found, args.json, "Nothing matches.")


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
            out(f"  {r.id}  {safe_text(r.label):28}  {info}")
    if found["notes"]:
        out("Notes")
        for r in found["notes"]:
            out(
                f"  {r.id}  {safe_text(r.label):28}  "
                f"{safe_text(', '.join(r.values.get('tags', [])))}"
            )
    return 0


def cmd_who(args: argparse.Namespace) -> int:
    net = _open(args)
    topic = " ".join(args.topic)
    index = net.index()
    from .model import normalise_topic

    if not normalise_topic(topic):
        raise ValidationError("give a topic, e.g. plntui who rust")
    if args.circle:
        wanted = net.circle(args.circle).id
        ranked = [
            r
            for r in index.who_ranked(topic, 5000)
            if r.record.circle == wanted and not r.record.private_item
        ][: args.limit]
        notes = _in_circle(net, index.who(topic, 5000)["notes"], args.circle)[: args.limit]
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


def cmd_import(args: argparse.Namespace) -> int:
    from .interop import read_contacts_file
    from .interop.notes_import import is_notes_source, read_notes

    net = _open(args)
    if args.circle:
        net._member_circle(args.circle)  # refuse an unknown circle before reading the file
    if is_notes_source(args.file):
        return _import_notes(net, args, read_notes(args.file))
    drafts, rejected = read_contacts_file(args.file)
    summary = _with_progress(
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
    summary = _with_progress(
        "Importing", lambda tick: net.import_notes(found.drafts, args.circle, tick)
    )
    rejected = list(found.rejected) + list(summary.rejected)
    out(
        f"Imported {args.file.name}: {len(summary.added)} note(s) added, "
        f"{len(summary.merged)} updated, {len(rejected)} rejected"
    )
    for source, reason in rejected[:200]:
        out(f"  rejected {safe_text(source)}: {safe_text(reason)}")
    if not summary.added and not summary.merged and rejected:
        return 2
    return 0


def _write_output(path: str, text: str) -> str:
    if path == "-":
        sys.stdout.write(text)
        return "standard output"
    target = Path(path)
    if target.is_dir():
        raise ValidationError(f"{target} is a folder; give a file name")
    if not target.parent.exists():
        raise ValidationError(f"the folder {target.parent} does not exist")
    from .store import atomic_write

    atomic_write(target, text.encode("utf-8"))
    return str(target)


def cmd_export(args: argparse.Namespace) -> int:
    from . import interop

    net = _open(args)
    contacts, hidden_c = shared_view(
        _in_circle(net, net.contacts(), args.circle), args.include_private
    )
    if args.what == "notes":
        notes, hidden = shared_view(_in_circle(net, net.notes(), args.circle), args.include_private)
        by_id = {c.id: c for c in contacts}
        if args.format == "md":
            if args.out == "-":
                raise ValidationError("Markdown export writes a folder: give --out DIR")
            paths = _with_progress(
                "Exporting",
                lambda tick: interop.export_notes_markdown(notes, by_id, Path(args.out), tick),
            )
            where = f"{args.out} ({len(paths)} files)"
        elif args.format == "html":
            where = _write_output(args.out, interop.notes_to_html(notes, by_id))
        else:
            where = _write_output(args.out, interop.notes_to_json(notes))
        count = len(notes)
    else:
        hidden = hidden_c
        if args.format == "vcf":
            text = interop.contacts_to_vcards(contacts)
        elif args.format == "csv":
            text = interop.contacts_to_csv(contacts)
        else:
            text = interop.contacts_to_json(contacts)
        where = _write_output(args.out, text)
        count = len(contacts)
    message = f"Exported {count} {args.what} to {where}"
    if hidden:
        message += f"; left out private data of {hidden} items (add --include-private)"
    (warn if args.out == "-" else out)(message)
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    from .profile import Profile, resolve_home

    profile = Profile.open(resolve_home(args.home))
    profile.claim_session("plntui repair")
    try:
        found = profile.repair()
    finally:
        profile.release_session()
    if not found:
        out("Nothing damaged; the profile is fine.")
    for line in found:
        out(f"Set aside: {line}")
    if found:
        out(
            "The profile now holds everything that could be read (what was set aside stays in "
            "repo.sqlite3's damaged table); colleagues' copies come back with the next sync."
        )
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    net = _open(args)
    count = net.profile.compact()
    out(f"Compacted {count} document(s).")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """Open the Textual app; on a profile that does not exist yet it asks your name first."""
    from .profile import resolve_home
    from .tui.app import PlntuiApp
    from .tui.sync_service import SyncOptions

    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise ValidationError("the app needs a terminal; for scripts use a command (see --help)")
    # The app syncs with trusted colleagues unless --offline; a throwaway demo never does.
    sync = None if args.offline or args.demo else SyncOptions()
    app = PlntuiApp(resolve_home(args.home), sync=sync)
    app.run()
    return app.return_code or 0


def cmd_circle(args: argparse.Namespace) -> int:
    from sync.fingerprint import format_fingerprint

    net = _open(args)
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
        circle = net.add_member(args.name, _fingerprint(args.fingerprint))
        out(
            f"Added {format_fingerprint(_fingerprint(args.fingerprint))} to circle "
            f"{safe_text(circle.name)}: it syncs the circle's contacts and notes from now on"
        )
        return 0
    if args.action == "remove":
        circle = net.remove_member(args.name, _fingerprint(args.fingerprint))
        out(
            f"Removed {format_fingerprint(_fingerprint(args.fingerprint))} from circle "
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
    _table(rows, ["CIRCLE", "ID", "MEMBERS", "CONTACTS", "NOTES", "YOU"])
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


def _fingerprint(text: str) -> bytes:
    from sync.fingerprint import parse_fingerprint

    try:
        return parse_fingerprint(text)
    except ValueError as err:
        raise ValidationError(str(err)) from None


def cmd_id(args: argparse.Namespace) -> int:
    from .peersync import load_identity
    from .profile import Profile, resolve_home

    profile = Profile.open(resolve_home(args.home))
    identity = _identity(load_identity, profile.home)
    if args.json:
        print_json(
            {
                "fingerprint": identity.fingerprint_text,
                "name": profile.meta.name,
                "device": profile.meta.device_id,
            }
        )
        return 0
    out(identity.fingerprint_text)
    out(f"This is {safe_text(profile.meta.name)}'s device. A colleague trusts it with:")
    out(
        f"  plntui peer trust {identity.fingerprint_text} --name "
        f"{json.dumps(profile.meta.name, ensure_ascii=False)}"
    )
    return 0


def cmd_whatsnew(args: argparse.Namespace) -> int:
    from .model import now_stamp
    from .provenance import last_seen, mark_seen, whats_new

    net = _open(args)
    started = now_stamp()
    since = "" if args.all else last_seen(net.profile)
    items = whats_new(net, since)
    if args.json:
        print_json(
            [{"what": i.what, "by": i.who, "when": i.when, **i.record.to_json()} for i in items]
        )
    elif not items:
        out(
            "Nothing new from colleagues"
            + (f" since {since[:16].replace('T', ' ')}." if since else ".")
        )
    else:
        if since:
            out(f"Since {since[:16].replace('T', ' ')} UTC:")
        for item in items:
            noun = "contact" if item.record.collection == "contacts" else "note"
            out(
                f"  {item.when[:10]}  {item.who} {item.what} {noun} "
                f"{safe_text(item.record.label)} ({item.record.id})"
            )
    if args.mark_seen:
        mark_seen(net.profile, started)
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    net = _open(args)
    old = net.profile.meta.name
    net.rename_device(args.name)
    out(f"Renamed {safe_text(old)} to {safe_text(net.profile.meta.name)}")
    return 0


def _identity(load: Callable[[Path], Any], home: Path) -> Any:
    from sync.errors import SyncError

    try:
        return load(home)
    except SyncError as err:
        raise PlntuiError(str(err)) from None


def cmd_peer(args: argparse.Namespace) -> int:
    from sync.errors import SyncError

    from .peersync import load_identity, open_trust
    from .profile import Profile, resolve_home

    profile = Profile.open(resolve_home(args.home))
    try:
        trust = open_trust(profile.home)
    except SyncError as err:
        raise PlntuiError(str(err)) from None
    if args.action == "list":
        peers = trust.peers()
        shared = _circles_of_peers(args, peers)
        if args.json:
            print_json(
                [
                    {
                        "fingerprint": p.fingerprint_text,
                        "name": p.name,
                        "state": p.state,
                        "last_sync": p.last_sync.isoformat() if p.last_sync else None,
                        "addresses": list(p.addresses),
                        "introducer": p.introducer,
                        "auto_accept": p.auto_accept,
                        "introduced_by": _fp_text(p.introduced_by),
                        "circles": shared.get(p.fingerprint, []),
                        "last_error": p.last_error or None,
                    }
                    for p in peers
                ]
            )
            return 0
        if not peers:
            out(
                "No peers yet. Trust a colleague with: plntui peer trust FINGERPRINT --name NAME"
                " (they see their fingerprint with: plntui id)"
            )
        for p in peers:
            last = p.last_sync.strftime("%Y-%m-%d %H:%M") if p.last_sync else "never synced"
            out(
                f"{safe_text(p.display_name):20}  {p.state:8}  {last:16}  {p.fingerprint_text}"
                + _introducer_columns(trust, p)
            )
            circles = shared.get(p.fingerprint, [])
            if p.trusted:
                out(
                    "    circles: "
                    + (", ".join(safe_text(c) for c in circles) if circles else "none shared")
                )
            if p.last_error:
                out(f"    last problem: {safe_text(p.last_error)}")
        return 0
    if args.action == "pending":
        return _peer_pending(trust, args.json)
    if args.action == "add":
        import asyncio

        from sync.probe import probe_fingerprint
        from sync.trust import parse_hostport

        try:
            host, port = parse_hostport(args.address)
            fingerprint = asyncio.run(probe_fingerprint(host, port))
        except (ValueError, SyncError) as err:
            raise ValidationError(str(err)) from None
        peer = trust.get(fingerprint)
        if peer is None or not peer.trusted:
            from sync.fingerprint import format_fingerprint

            raise ValidationError(
                f"the device at {args.address} has the fingerprint "
                f"{format_fingerprint(fingerprint)}"
                ", which you do not trust. Compare it with what plntui id shows on your "
                "colleague's machine, then run: plntui peer trust FINGERPRINT"
            )
        trust.add_address(fingerprint, args.address)
        out(f"Will reach {safe_text(peer.display_name)} at {args.address}")
        return 0
    fingerprint = _fingerprint(args.fingerprint)
    if args.action in ("introducer", "approve", "reject"):
        return _peer_introductions(args, trust, fingerprint, profile.home)
    if args.action == "trust":
        own = _identity(load_identity, profile.home)
        if fingerprint == own.fingerprint:
            raise ValidationError("that is this device's own fingerprint")
        if args.circle:
            _open(args)._member_circle(args.circle)  # refuse an unknown circle first
        peer = trust.trust(fingerprint, args.name)
        out(f"Trusted {safe_text(peer.display_name)} ({peer.fingerprint_text})")
        _share_circle(args, peer)
        return 0
    try:
        peer = trust.revoke(fingerprint)
    except (LookupError, SyncError) as err:
        raise ValidationError(str(err)) from None
    out(
        f"Revoked {safe_text(peer.display_name)}: it can no longer read or change your network. "
        "What it already received stays with it."
    )
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    """``plntui pair``: open an invite and wait; ``plntui pair CODE``: join one."""
    from .pair_command import run_pair

    return run_pair(args)


def _fp_text(fingerprint: bytes | None) -> str | None:
    from sync.fingerprint import format_fingerprint

    return None if fingerprint is None else format_fingerprint(fingerprint)


def _peer_label(trust: Any, fingerprint: bytes) -> str:
    from sync.fingerprint import short_fingerprint

    peer = trust.get(fingerprint)
    name = peer.display_name if peer is not None else short_fingerprint(fingerprint)
    return safe_text(name)


def _introducer_columns(trust: Any, peer: Any) -> str:
    extra = ""
    if peer.introducer:
        extra += "  introducer (auto-accept)" if peer.auto_accept else "  introducer"
    if peer.introduced_by is not None:
        extra += f"  introduced by {_peer_label(trust, peer.introduced_by)}"
    return extra


def _peer_pending(trust: Any, as_json: bool) -> int:
    offers = trust.pending()
    if as_json:
        print_json(
            [
                {
                    "fingerprint": o.fingerprint_text,
                    "name": o.name,
                    "introducer": _fp_text(o.introducer),
                    "addresses": list(o.addresses),
                    "offered": o.offered.isoformat() if o.offered else None,
                }
                for o in offers
            ]
        )
        return 0
    if not offers:
        out(
            "No introductions wait for approval. Mark a trusted colleague an introducer with: "
            "plntui peer introducer FINGERPRINT"
        )
    for o in offers:
        out(
            f"{safe_text(o.display_name):20}  {o.fingerprint_text}  "
            f"offered by {_peer_label(trust, o.introducer)}"
        )
    if offers:
        out("Approve one with: plntui peer approve FINGERPRINT (or refuse it: plntui peer reject)")
    return 0


def _circles_of_peers(args: argparse.Namespace, peers: list[Any]) -> dict[bytes, list[str]]:
    """The names of the circles this device shares with each peer (both members, as seen
    here)."""
    net = _open(args)
    circles = net.circles()
    out_: dict[bytes, list[str]] = {}
    for peer in peers:
        ids = net.circles_shared_with(peer.fingerprint)
        out_[peer.fingerprint] = sorted((circles[c].name for c in ids), key=str.casefold)
    return out_


def _share_circle(args: argparse.Namespace, peer: Any) -> None:
    """``--circle NAME`` of ``peer trust`` and ``peer approve``: add the peer to that circle."""
    if getattr(args, "circle", None):
        circle = _open(args).add_member(args.circle, peer.fingerprint, peer.display_name)
        out(f"Added {safe_text(peer.display_name)} to circle {safe_text(circle.name)}")
    else:
        out(
            f"To share a circle with {safe_text(peer.display_name)}: plntui circle add "
            f"CIRCLE {peer.fingerprint_text}"
        )


def _peer_introductions(
    args: argparse.Namespace, trust: Any, fingerprint: bytes, home: Path
) -> int:
    """``peer introducer``, ``peer approve`` and ``peer reject``."""
    from sync.errors import SyncError

    from .peersync import load_identity

    try:
        if args.action == "introducer":
            on = not args.off
            peer = trust.set_introducer(fingerprint, introducer=on, auto_accept=args.auto)
        elif args.action == "approve":
            peer = trust.approve(fingerprint)
        else:
            peer = trust.reject(fingerprint)
    except (LookupError, ValueError, SyncError) as err:
        raise ValidationError(str(err)) from None
    name = safe_text(peer.display_name)
    if args.action == "introducer" and not peer.introducer:
        out(f"{name} is no longer an introducer; what it offered and you did not approve is gone")
    elif args.action == "introducer":
        out(
            f"{name} is now an introducer: the peers it trusts are offered to you when you next "
            "sync with it (see plntui peer pending)"
        )
        if peer.auto_accept:
            out(
                "Auto-accept: they are trusted without asking you. If this peer is ever "
                "compromised, revoke it and the peers it introduced."
            )
    elif args.action == "approve":
        _share_circle(args, peer)
        own = _identity(load_identity, home)
        out(
            f"Trusted {name} ({peer.fingerprint_text}), introduced by "
            f"{_peer_label(trust, peer.introduced_by)}."
        )
        out(
            f"To sync, {name} must trust this device too: they run plntui peer trust "
            f"{own.fingerprint_text}, or mark {_peer_label(trust, peer.introduced_by)} an "
            "introducer and approve this device when it is offered."
        )
    else:
        out(
            f"Rejected {name}: it will not be offered again (plntui peer trust "
            f"{peer.fingerprint_text} if you change your mind)"
        )
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import time

    from sync.errors import SyncError

    from .network import Network
    from .peersync import DEFAULT_PORT, SyncRunner

    net = Network.open(args.home)
    net.profile.claim_session("plntui sync")

    def log(line: str) -> None:
        out(f"{time.strftime('%H:%M:%S')} {safe_text(line)}")
        sys.stdout.flush()

    async def run() -> int:
        try:
            port = DEFAULT_PORT if args.port is None else args.port
            runner = SyncRunner(
                net,
                listen_host=args.listen,
                port=0 if args.once and args.port is None else port,
                discovery=not args.no_discovery,
                log=log,
                fallback_port=args.port is None,
            )
            await runner.start()
        except (SyncError, OSError) as err:
            raise PlntuiError(f"cannot start syncing: {err}") from None
        try:
            if args.once:
                if not args.no_discovery:
                    await asyncio.sleep(2.0)  # let the LAN announce itself
                summary = await runner.engine.sync_once(args.timeout)
                for r in summary.results:
                    state = "in sync" if r.ok else f"{r.outcome}: {r.error or ''}"
                    out(
                        f"{safe_text(r.name):20} {state}  ({r.changes_in} change(s) in, "
                        f"{r.changes_out} out)"
                    )
                out(f"{len(summary.synced)} of {len(summary.results)} peer(s) in sync")
                return 0 if summary.ok else 1
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            log("stopping")
            return 0
        finally:
            await runner.stop()

    try:
        return asyncio.run(run())
    finally:
        net.profile.release_session()


def _doctor_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="explain why a colleague is not seen (network, port, trust)")
    p.add_argument("--port", type=int, default=None, help="the sync port to check (default 47600)")
    p.add_argument(
        "--listen", default="0.0.0.0", metavar="ADDRESS", help="the address sync listens on"
    )
    p.add_argument(
        "--timeout", type=float, default=3.0, metavar="SECONDS", help="how long to browse the LAN"
    )
    p.add_argument("--json", action="store_true")


def cmd_doctor(args: argparse.Namespace) -> int:
    """``plntui doctor``: the checks of ``plntui.doctor``, one line each, then advice."""
    import asyncio

    from sync.errors import SyncError

    from .doctor import run_doctor
    from .peersync import DEFAULT_PORT
    from .profile import resolve_home

    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 < port < 65536 or not 0 < args.timeout <= 600:
        raise ValidationError("--port must be 1-65535 and --timeout 0-600 seconds")
    try:
        report = asyncio.run(
            run_doctor(resolve_home(args.home), listen=args.listen, port=port, timeout=args.timeout)
        )
    except SyncError as err:
        raise PlntuiError(str(err)) from None
    if args.json:
        print_json(
            {
                "name": report.name,
                "fingerprint": report.fingerprint_text,
                "ok": not report.failed,
                "checks": [f.as_dict() for f in report.findings],
            }
        )
    else:
        out(f"plntui doctor: {safe_text(report.name)} ({report.fingerprint_text})")
        for finding in report.findings:
            out(f"{finding.status:<5} {finding.topic:<10} {safe_text(finding.message)}")
            for line in finding.advice:
                out(f"{'':16} -> {safe_text(line)}")
    return 1 if report.failed else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "init": cmd_init,
    "contact": cmd_contact,
    "note": cmd_note,
    "log": cmd_log,
    "due": cmd_due,
    "search": cmd_search,
    "who": cmd_who,
    "import": cmd_import,
    "export": cmd_export,
    "repair": cmd_repair,
    "id": cmd_id,
    "peer": cmd_peer,
    "sync": cmd_sync,
    "pair": cmd_pair,
    "circle": cmd_circle,
    "doctor": cmd_doctor,
    "compact": cmd_compact,
    "whatsnew": cmd_whatsnew,
    "rename": cmd_rename,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error (already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    demo_folder: Path | None = None
    try:
        if args.offline and args.command:
            raise ValidationError("--offline is for the app (plntui with no command)")
        if args.demo:
            if args.home:
                raise ValidationError("--demo makes its own throwaway profile: drop --home")
            if args.command == "init":
                raise ValidationError("--demo needs no init")
            import tempfile

            from .demo import make_demo_profile

            demo_folder = Path(tempfile.mkdtemp(prefix="plntui-demo-"))
            args.home = str(make_demo_profile(demo_folder / "profile"))
        handler = COMMANDS.get(args.command or "", cmd_app)
        return handler(args)
    except PlntuiError as err:
        sys.stderr.write(f"plntui: error: {err.message}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("plntui: interrupted\n")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if demo_folder is not None:  # the demo profile is thrown away when the command ends
            import shutil

            shutil.rmtree(demo_folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
