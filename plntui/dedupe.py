"""Provides duplicate detection: the same person added twice, by two imports or two colleagues.

Two contacts are likely one person when they share an e-mail address, or when their names are
close (same words in any order, or a small spelling difference) at the same organisation.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence

from .model import Record


def name_key(name: str) -> str:
    """Lower case, accents and punctuation removed, words sorted:
    "Lovelace, Ada" == "ada lovelace"."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = "".join(ch if ch.isalnum() else " " for ch in text.casefold()).split()
    return " ".join(sorted(words))


def close_name_match(first: str, second: str) -> bool:
    a, b = name_key(first), name_key(second)
    if not a or not b:
        return False
    if a == b:
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.88


def find_duplicates(contacts: Sequence[Record]) -> list[tuple[Record, Record, str]]:
    """Pairs of contacts that look like one person, each with the reason."""
    pairs: list[tuple[Record, Record, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(a: Record, b: Record, reason: str) -> None:
        key = (min(a.id, b.id), max(a.id, b.id))
        if key not in seen:
            seen.add(key)
            first, second = sorted((a, b), key=lambda r: (str(r.values.get("created", "")), r.id))
            pairs.append((first, second, reason))

    by_email: dict[str, Record] = {}
    for contact in contacts:
        for email in contact.values.get("emails", []):
            other = by_email.setdefault(email.lower(), contact)
            if other is not contact:
                add(other, contact, f"same e-mail {email.lower()}")
    by_org: dict[str, list[Record]] = {}
    for contact in contacts:
        org = name_key(str(contact.values.get("org", "")))
        if org:
            by_org.setdefault(org, []).append(contact)
    for group in by_org.values():
        if len(group) > 2000:
            continue  # a huge organisation: exact name matches only, below
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if close_name_match(a.label, b.label):
                    add(a, b, f"similar name at {a.values.get('org')}")
    by_name: dict[str, list[Record]] = {}
    for contact in contacts:
        by_name.setdefault(name_key(contact.label), []).append(contact)
    for key, group in by_name.items():
        orgs = {name_key(str(c.values.get("org", ""))) for c in group}
        if key and len(group) > 1 and len(orgs - {""}) <= 1:
            for b in group[1:]:
                add(group[0], b, "same name")
    return pairs
