"""Provides the options that set a contact's or a note's fields, for the parser and the commands.

``CONTACT_OPTIONS`` and ``NOTE_OPTIONS`` map each option to its field; ``field_values`` turns the
parsed options into the values to store (list fields also take ``--add-X``/``--remove-X`` on
edit); ``warn_history`` warns that a shared value made private stays in the shared history.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..model import NOTE_KINDS, RELATIONSHIPS, Record
from .output import warn

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
    ("nickname", "nickname", "str"),
    ("name-prefix", "name_prefix", "str"),
    ("given-name", "given_name", "str"),
    ("additional-names", "additional_names", "str"),
    ("family-name", "family_name", "str"),
    ("name-suffix", "name_suffix", "str"),
    ("birthday", "birthday", "str"),
    ("address", "address", "str"),
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
HELP = {
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
    "nickname": "nickname",
    "name-prefix": "name prefix, as in a vCard (Dr., Rear Admiral)",
    "given-name": "given name, when the name alone does not say (vCard N)",
    "additional-names": "middle names, when the name alone does not say (vCard N)",
    "family-name": "family name, when the name alone does not say (van Rossum)",
    "name-suffix": "name suffix, as in a vCard (Jr., PhD)",
    "birthday": "birthday: YYYY-MM-DD, or =--MM-DD without the year (private unless shared)",
    "address": "postal address on one line (private unless shared)",
    "last-contacted": "date you last talked: YYYY-MM-DD, today, yesterday, or =-Nd (N days ago)",
    "cadence": "follow up every N days",
    "remark": "your private remark (never shared)",
    "rating": "your private rating 1-5 (never shared)",
    "reminder": "private reminder; YYYY-MM-DD first makes it due then (see: plntui remind)",
    "title": "title",
    "body": "body text (Markdown)",
    "tag": "tag (repeatable)",
    "kind": "one of " + ", ".join(NOTE_KINDS),
    "contact": "id of a linked contact (repeatable)",
}


def field_values(
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
                from ..model import check_field

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


def warn_history(before: Record, made_private: Sequence[str], item_private: bool | None) -> None:
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
