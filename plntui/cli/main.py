"""Provides ``plntui``'s argument parser and ``main()``, which runs one command.

Each command's code lives in a module of this package (``COMMANDS``), imported only when that
command runs, so ``plntui --version`` or a single write pays for nothing else. Bad input exits
with status 2 and one line on stderr (``plntui: error: …``); nothing stored is changed by a
command that fails. Commands that list things take ``--json``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import PlntuiError, ValidationError
from ..model import INTERACTION_KINDS
from ..reminders import WHEN_HELP
from .fields import CONTACT_OPTIONS, HELP, NOTE_OPTIONS


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``plntui: error: …`` and exit status 2."""

    dash_words = False
    """Words starting with one ``-`` that are none of the options are words, not unknown
    options (the search syntax's ``-word``: ``plntui search rust -kubernetes``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"plntui: error: {message} (see: {self.prog} --help)\n")

    def _parse_optional(self, arg_string: str) -> Any:
        if (
            self.dash_words
            and arg_string[:1] == "-"
            and arg_string[1:2] not in ("-", "")
            and arg_string not in self._option_string_actions
        ):
            return None
        return super()._parse_optional(arg_string)


SEARCH_HELP = (
    'words, each found anywhere; "a phrase"; org:WORD, topic:WORD or tag:WORD within that field; '
    "by:NAME (added by a colleague's device), circle:NAME; -WORD (or -org:… etc.) to exclude"
)

ITEM_NAMES = {"email": "an e-mail address", "phone": "a phone number", "link": "a link"}
"""How ``--add-``/``--remove-`` options name one item of a list field, where "a OPTION" reads
badly."""


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


class _Unused:
    """The parser of a command this run does not use: it takes every call and does nothing."""

    def __getattr__(self, _name: str) -> Callable[..., _Unused]:
        return self._take

    def _take(self, *_args: object, **_kwargs: object) -> _Unused:
        return self


class _OnlyCommand:
    """Subparsers that build the parser of one command only: the others cost their help
    strings (argparse translates each one) for nothing."""

    def __init__(self, sub: Any, command: str) -> None:
        self.sub = sub
        self.command = command

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name == self.command:
            return self.sub.add_parser(name, **kwargs)
        return _Unused()


GLOBAL_OPTIONS = {"--home": 1, "--demo": 0, "--offline": 0}
"""The options before a command, and how many values each takes."""


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs, when it is certain (a known one, after known options only);
    ``None`` otherwise (no command, --help, --version, a typo): then the whole parser is built."""
    at = 0
    while at < len(argv):
        word = argv[at]
        if word.startswith("--home="):
            at += 1
        elif word in GLOBAL_OPTIONS:
            at += 1 + GLOBAL_OPTIONS[word]
        elif word.startswith("-"):
            return None
        else:
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> ArgumentParser:
    """The command line's parser; ``only``: build just that command's (a run of that command
    needs no other)."""
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
    sub: Any = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    if only is not None:
        sub = _OnlyCommand(sub, only)

    p = sub.add_parser("init", help="create your profile")
    p.add_argument("--name", required=True, help="your display name (attributes your edits)")

    _contact_parsers(sub)
    _note_parsers(sub)

    p = sub.add_parser("log", help="log an interaction with a contact")
    p.add_argument(
        "contact", metavar="ID", help="the contact's id (or the start of it), or its name"
    )
    p.add_argument("--kind", default="other", help="one of " + ", ".join(INTERACTION_KINDS))
    p.add_argument("--summary", required=True, help="what you talked about, in a line")
    p.add_argument(
        "--date", default="today", help="YYYY-MM-DD, today, yesterday, or =-Nd (N days ago)"
    )
    p.add_argument(
        "--shared",
        action="store_true",
        help="share this interaction with trusted colleagues (default: private)",
    )

    p = sub.add_parser("due", help="follow-ups due or overdue (cadence and dated reminders)")
    p.add_argument(
        "--within",
        type=int,
        default=0,
        metavar="DAYS",
        help="also list those due in the next DAYS days",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=ArgumentParser)
    z = dsub.add_parser("snooze", help="postpone a contact's follow-up (default: 7 days)")
    z.add_argument("id", metavar="ID", help="the contact's id or name")
    z.add_argument(
        "until", metavar="WHEN", nargs="?", default="7d", help=f"until when: {WHEN_HELP} (7d)"
    )
    z.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    p = sub.add_parser(
        "remind", help="remind yourself of a contact on a day (private to this device)"
    )
    p.add_argument(
        "id", metavar="ID", nargs="?", help="the contact's id or name (none: list the reminders)"
    )
    p.add_argument("when", metavar="DATE", nargs="?", help=WHEN_HELP)
    p.add_argument("text", metavar="TEXT", nargs="*", help="what to remember")
    p.add_argument("--done", action="store_true", help="the reminder is done: forget it")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("search", help="search contacts and notes")
    p.add_argument("query", nargs="+", help=SEARCH_HELP)
    p.dash_words = True
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
        e.add_argument("--format", required=True, choices=formats, help="the file format to write")
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
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("peer", help="trust, list and revoke the colleagues you sync with")
    psub = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=ArgumentParser
    )
    t = psub.add_parser("trust", help="trust a colleague's fingerprint (from their plntui id)")
    t.add_argument("fingerprint", metavar="FINGERPRINT", help="their fingerprint (plntui id)")
    t.add_argument("--name", help="a name for them (default: the first fingerprint group)")
    t.add_argument("--circle", metavar="NAME", help="also add them to this circle of yours")
    lst = psub.add_parser("list", help="the peers you trust or revoked")
    lst.add_argument("--json", action="store_true", help="print JSON")
    r = psub.add_parser("revoke", help="stop syncing with a peer; its live link is cut")
    r.add_argument("fingerprint", metavar="FINGERPRINT", help="the peer's fingerprint")
    a = psub.add_parser("add", help="reach a trusted peer at HOST:PORT (another subnet, a VPN)")
    a.add_argument(
        "address",
        metavar="HOST:PORT",
        help="where the peer's plntui sync listens (it is asked who it is)",
    )
    i = psub.add_parser(
        "introducer", help="let a trusted peer offer you the peers it trusts (see README)"
    )
    i.add_argument("fingerprint", metavar="FINGERPRINT", help="the trusted peer's fingerprint")
    mode = i.add_mutually_exclusive_group()
    mode.add_argument(
        "--auto", action="store_true", help="trust what it offers without asking (risky)"
    )
    mode.add_argument("--off", action="store_true", help="it is no longer an introducer")
    pend = psub.add_parser("pending", help="peers your introducers offered, awaiting approval")
    pend.add_argument("--json", action="store_true", help="print JSON")
    ap = psub.add_parser("approve", help="trust a peer an introducer offered")
    ap.add_argument("fingerprint", metavar="FINGERPRINT", help="the offered peer's fingerprint")
    ap.add_argument("--circle", metavar="NAME", help="also add it to this circle of yours")
    rj = psub.add_parser("reject", help="refuse a peer an introducer offered (never offered again)")
    rj.add_argument("fingerprint", metavar="FINGERPRINT", help="the offered peer's fingerprint")
    u = psub.add_parser(
        "undo",
        help="bring back what a device changed since a date (after revoking a broken or stolen "
        "one)",
    )
    u.add_argument("fingerprint", metavar="FINGERPRINT", help="the device's fingerprint")
    u.add_argument("--since", required=True, metavar="DATE", help="YYYY-MM-DD")

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
    p.add_argument(
        "--relay",
        action="store_true",
        help="meet at the relay (plntui relay set): an invite waits there too, and joining goes "
        "there at once instead of looking on the LAN",
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

    _relay_parser(sub)
    _doctor_parser(sub)
    sub.add_parser("repair", help="move damaged profile files aside and keep what can be read")
    sub.add_parser("compact", help="fold the change logs into fresh snapshots")
    _provenance_parsers(sub)
    _recovery_parsers(sub)
    return parser


def _kind_and_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=("contact", "note"), help="contact or note")
    p.add_argument("id", metavar="ID", help="its id (at least 4 characters; deleted ones too)")


def _recovery_parsers(sub: Any) -> None:
    p = sub.add_parser("history", help="every version of a contact or note, newest first")
    _kind_and_id(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("show", help="show a contact or note, or one of its versions (--at)")
    _kind_and_id(p)
    p.add_argument("--at", metavar="VERSION", help="the version to show (see: plntui history)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("restore", help="bring a version of a contact or note back, as a new change")
    _kind_and_id(p)
    p.add_argument("version", metavar="VERSION", help="the version (see: plntui history)")

    p = sub.add_parser("trash", help="deleted contacts and notes; restore one")
    p.add_argument("--json", action="store_true", help="print JSON")
    tsub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=ArgumentParser)
    r = tsub.add_parser("restore", help="put a deleted contact or note back")
    r.add_argument("id", metavar="ID", help="its id, as plntui trash lists it")

    p = sub.add_parser(
        "held", help="mass deletions from peers waiting for your decision; accept or refuse"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    hsub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=ArgumentParser)
    a = hsub.add_parser("accept", help="apply the deletions (and the device's later changes)")
    a.add_argument("id", metavar="ID", help="the batch's id, as plntui held lists it")
    r = hsub.add_parser("refuse", help="apply, then bring everything it deleted back, for everyone")
    r.add_argument("id", metavar="ID", help="the batch's id, as plntui held lists it")
    t = hsub.add_parser("threshold", help="when a batch is held (no option: show it)")
    t.add_argument(
        "--count", type=int, metavar="N", help="held when it deletes more than N items (20)"
    )
    t.add_argument(
        "--percent",
        type=float,
        metavar="P",
        help="and more than P %% of a circle's contacts or notes (10)",
    )

    p = sub.add_parser("conflicts", help="fields two devices set at once; keep one value")
    p.add_argument("--json", action="store_true", help="print JSON")
    csub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=ArgumentParser)
    r = csub.add_parser("resolve", help="keep one of the values, for everyone")
    r.add_argument("id", metavar="ID", help="the contact's or note's id")
    r.add_argument("field", metavar="FIELD", help="the field, e.g. role")
    r.add_argument(
        "--pick", type=int, required=True, metavar="N", help="the value to keep, as listed"
    )


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
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("rename", help="change your display name (colleagues see it)")
    p.add_argument("name", metavar="NAME", help="your new display name")


def _add_field_options(
    p: argparse.ArgumentParser, options: Sequence[tuple[str, str, str]], edit: bool
) -> None:
    for opt, _name, kind in options:
        if kind == "list":
            p.add_argument(
                f"--{opt}",
                action="append",
                metavar=opt.upper(),
                help=HELP[opt] + ("; replaces the list" if edit else ""),
            )
            if edit:
                one = ITEM_NAMES.get(opt, f"a {opt}")
                p.add_argument(
                    f"--add-{opt}", action="append", metavar=opt.upper(), help=f"add {one}"
                )
                p.add_argument(
                    f"--remove-{opt}", action="append", metavar=opt.upper(), help=f"remove {one}"
                )
        else:
            p.add_argument(f"--{opt}", metavar=opt.upper(), help=HELP[opt])


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
    e.add_argument("id", metavar="ID", help="the contact's id (or the start of it)")
    _add_field_options(e, CONTACT_OPTIONS, edit=True)
    _privacy_options(e, edit=True)
    _circle_option(e, "move it to this circle (a private contact is shared there)")
    mv = csub.add_parser("move", help="move a contact to another circle")
    mv.add_argument("id", metavar="ID", help="the contact's id (or the start of it)")
    mv.add_argument("--circle", metavar="NAME", required=True, help="the circle it moves to")
    s = csub.add_parser("show", help="show one contact")
    s.add_argument("id", metavar="ID", nargs="+", help="its id (or the start of it), or its name")
    s.add_argument("--json", action="store_true", help="print JSON")
    lst = csub.add_parser("list", help="list contacts")
    lst.dash_words = True
    lst.add_argument(
        "query", metavar="WORDS", nargs="*", help="only those matching: " + SEARCH_HELP
    )
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument("--topic", help="only contacts with this topic")
    lst.add_argument("--added-by", metavar="NAME", help="only contacts this device added")
    _circle_option(lst, "only the contacts of this circle")
    r = csub.add_parser("rm", help="remove a contact")
    r.add_argument("id", metavar="ID", help="the contact's id (or the start of it)")
    d = csub.add_parser("dupes", help="list contacts that look like the same person")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.add_argument("--all", action="store_true", help="also the pairs marked as not duplicates")
    m = csub.add_parser("merge", help="merge the second contact into the first")
    m.add_argument("keep", metavar="KEEP_ID", help="the contact that stays")
    m.add_argument(
        "other", metavar="OTHER_ID", help="the contact merged into KEEP_ID (it then leads there)"
    )


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
    e.add_argument("id", metavar="ID", help="the note's id (or the start of it)")
    _add_field_options(e, NOTE_OPTIONS, edit=True)
    e.add_argument("--body-file", type=Path, metavar="FILE", help="read the body from FILE")
    _privacy_options(e, edit=True)
    _circle_option(e, "move it to this circle (a private note is shared there)")
    mv = nsub.add_parser("move", help="move a note to another circle")
    mv.add_argument("id", metavar="ID", help="the note's id (or the start of it)")
    mv.add_argument("--circle", metavar="NAME", required=True, help="the circle it moves to")
    s = nsub.add_parser("show", help="show one note")
    s.add_argument("id", metavar="ID", help="the note's id (or the start of it)")
    s.add_argument("--json", action="store_true", help="print JSON")
    lst = nsub.add_parser("list", help="list notes")
    lst.dash_words = True
    lst.add_argument(
        "query", metavar="WORDS", nargs="*", help="only those matching: " + SEARCH_HELP
    )
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument("--tag", help="only notes with this tag")
    lst.add_argument("--added-by", metavar="NAME", help="only notes this device wrote")
    _circle_option(lst, "only the notes of this circle")
    r = nsub.add_parser("rm", help="remove a note")
    r.add_argument("id", metavar="ID", help="the note's id (or the start of it)")


def _relay_parser(sub: Any) -> None:
    p = sub.add_parser(
        "relay", help="the transit relay that reaches colleagues beyond the LAN (see README)"
    )
    rsub = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=ArgumentParser
    )
    s = rsub.add_parser("set", help="use this relay (--circle: for all the circle's members)")
    s.add_argument("address", metavar="tcp:HOST:PORT", help="where the relay listens")
    s.add_argument(
        "--circle", metavar="NAME", help="write it into this circle, so its members get it"
    )
    o = rsub.add_parser("off", help="use no relay here, even where a circle names one")
    o.add_argument("--circle", metavar="NAME", help="instead: this circle names no relay any more")
    rsub.add_parser("unset", help="forget this device's own setting: a circle's relay applies")
    sh = rsub.add_parser("show", help="the relay in use, where that comes from, every setting")
    sh.add_argument("--json", action="store_true", help="print JSON")


def _doctor_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="explain why a colleague is not seen (network, port, trust)")
    p.add_argument("--port", type=int, default=None, help="the sync port to check (default 47600)")
    p.add_argument(
        "--listen", default="0.0.0.0", metavar="ADDRESS", help="the address sync listens on"
    )
    p.add_argument(
        "--timeout", type=float, default=3.0, metavar="SECONDS", help="how long to browse the LAN"
    )
    p.add_argument("--json", action="store_true", help="print JSON")


COMMANDS: dict[str, str] = {
    "init": "profile:cmd_init",
    "contact": "contacts:cmd_contact",
    "note": "notes:cmd_note",
    "log": "activity:cmd_log",
    "due": "activity:cmd_due",
    "remind": "activity:cmd_remind",
    "search": "search:cmd_search",
    "who": "search:cmd_who",
    "import": "transfer:cmd_import",
    "export": "transfer:cmd_export",
    "repair": "profile:cmd_repair",
    "id": "peers:cmd_id",
    "peer": "peers:cmd_peer",
    "sync": "sync:cmd_sync",
    "pair": "peers:cmd_pair",
    "circle": "circles:cmd_circle",
    "doctor": "sync:cmd_doctor",
    "relay": "relay:cmd_relay",
    "compact": "profile:cmd_compact",
    "whatsnew": "activity:cmd_whatsnew",
    "rename": "profile:cmd_rename",
    "history": "recovery:cmd_history",
    "show": "recovery:cmd_show",
    "restore": "recovery:cmd_restore",
    "trash": "recovery:cmd_trash",
    "held": "recovery:cmd_held",
    "conflicts": "recovery:cmd_conflicts",
}
"""Each command's handler, as ``module:function`` in this package: imported when it runs."""

APP = "launch:cmd_app"
"""With no command: open the app (the only handler that imports Textual)."""


def handler_of(command: str | None) -> Callable[[argparse.Namespace], int]:
    """The function that runs ``command`` (None: the app), its module imported now."""
    module, name = (COMMANDS.get(command or "") or APP).split(":")
    found: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"{__package__}.{module}"), name
    )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_of(words))
    try:
        args, extra = parser.parse_known_args(words)
        if extra:
            # words of a search after an option ("search rust --json -kubernetes") are words
            if isinstance(getattr(args, "query", None), list) and not any(
                e.startswith("--") for e in extra
            ):
                args.query += extra
            else:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
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

            from ..demo import make_demo_profile

            demo_folder = Path(tempfile.mkdtemp(prefix="plntui-demo-"))
            args.home = str(make_demo_profile(demo_folder / "profile"))
        return handler_of(args.command)(args)
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
