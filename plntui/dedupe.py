"""Provides duplicate detection: the same person added twice, by two imports or two colleagues.

Two contacts are likely one person when they share a signal, each with a score (0-100):

- **the same e-mail address** (any case): 100;
- **the same phone number**, however it is written: 95. Numbers are read with ``phonenumbers``:
  ``+44 20 7946 0958``, ``0044 (0)20-7946-0958`` and ``+442079460958`` are one number. A number
  written without a country code (``020 7946 0958``) has no region to be read in (a network
  spans countries, and guessing one from the machine's locale would make the result depend on
  the machine): it is compared by its national digits (the trunk ``0`` dropped) with the other
  numbers written that way, and with the national part of the international ones
  (``+44 20 7946 0958`` -> ``2079460958``). Two international numbers are compared whole, so
  ``+44 20 7946 0958`` and ``+1 207 946 0958`` differ. An extension is part of the number;
  a number shared by more than ``MAX_SHARED`` contacts (a switchboard) is no signal;
- **close names** (``rapidfuzz``), on a key that ignores case, accents, punctuation and word
  order ("Lovelace, Ada" is "Ada Lovelace"): the same words, a small spelling difference
  ("Ada Lovelac"), or all the words of a shorter name (two at least) in a longer one ("Grace
  Hopper" in "Grace Brewster Hopper"). Names whose digits differ are never close: "Person 00663"
  and "Person 00566" are two people. At the same organisation (compared loosely too: "Engines"
  and "Engines Ltd") a name needs ``SAME_ORG_CUTOFF`` and scores up to 90; when one or both
  have no organisation it needs ``NO_ORG_CUTOFF`` and scores up to 80; at two different
  organisations a name is no signal (namesakes).

A pair with several signals scores the best of them plus 5 for each other one (at most 100).

Names are compared within blocks, not all against all: contacts whose names have the same digits
and share a word's first two letters. 10,000 contacts cost a few hundred thousand comparisons
(rapidfuzz's ``process.extract`` over each block, in C), not 50 million; a name with a typo in the
first two letters of every word is missed.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from .model import Record

SAME_ORG_CUTOFF = 85.0
"""The least name similarity (0-100) flagged at one organisation."""
NO_ORG_CUTOFF = 90.0
"""The least name similarity flagged when one or both contacts have no organisation."""
ORG_CUTOFF = 90.0
"""The least similarity of two organisations' names to count as one organisation."""
SUBSET_SCORE = 90.0
"""The name similarity of a name whose words (two at least) are all in a longer one."""
WORD_CUTOFF = 75.0
"""The least similarity of the words two close names do not share ("jon" and "john": 86)."""
BIG_BLOCK = 500
"""A two-letter prefix shared by more names than this blocks only names with no rarer one."""
MAX_SUBSET_WORDS = 6
"""Longer names are not looked up for the shorter names they contain (63 subsets at six)."""
MAX_SHARED = 20
"""An e-mail or phone number shared by more contacts than this is an office's, not a signal."""
MIN_PHONE_DIGITS = 6
"""Fewer national digits are a short code or an extension: no signal."""

EMAIL_SCORE = 100
PHONE_SCORE = 95

_DIGITS = re.compile(r"\d+")


# -- names ---------------------------------------------------------------------------------------


def name_key(name: str) -> str:
    """Lower case, accents and punctuation removed, words sorted:
    "Lovelace, Ada" == "ada lovelace"."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = "".join(ch if ch.isalnum() else " " for ch in text.casefold()).split()
    return " ".join(sorted(words))


@dataclass(frozen=True, slots=True)
class NameParts:
    """A name's key split in its letters (words sorted) and its numbers, in order."""

    letters: str
    digits: tuple[str, ...]

    @classmethod
    def of(cls, name: str) -> NameParts:
        key = name_key(name)
        digits = tuple(_DIGITS.findall(key))
        letters = " ".join(sorted(_DIGITS.sub(" ", key).split())) if digits else key
        return cls(letters, digits)


def name_similarity(first: str, second: str) -> float:
    """0-100: how close two names are (see the module docstring); 0 when their digits differ."""
    a, b = NameParts.of(first), NameParts.of(second)
    if not a.letters or not b.letters or a.digits != b.digits:
        return 0.0
    if _subset(a.letters, b.letters) and a.letters != b.letters:
        return max(SUBSET_SCORE, fuzz.ratio(a.letters, b.letters))
    if not _close_words(a.letters, b.letters):
        return 0.0
    return float(fuzz.ratio(a.letters, b.letters))


def close_name_match(first: str, second: str) -> bool:
    """Whether two names are close enough to be one person at one organisation."""
    return name_similarity(first, second) >= SAME_ORG_CUTOFF


def _subset(first: str, second: str) -> bool:
    a, b = set(first.split()), set(second.split())
    return len(a & b) >= 2 and (a <= b or b <= a)


def _close_words(first: str, second: str) -> bool:
    """Whether the words that differ between two names are spellings of one another ("Jon"
    and "John", "Mary Ann" and "Maryann"), not other words ("Colleague A" and "Colleague B",
    "Tim Lee" and "Tom Lee")."""
    a, b = first.split(), second.split()
    left_a, left_b = list(a), []
    for word in b:
        if word in left_a:
            left_a.remove(word)
        else:
            left_b.append(word)
    if not left_a or not left_b:
        return True
    return fuzz.ratio(" ".join(left_a), " ".join(left_b)) >= WORD_CUTOFF


def _same_org(first: str, second: str) -> bool:
    """Two organisation keys (``name_key``) that name one organisation, loosely."""
    if first == second:
        return True
    a, b = set(first.split()), set(second.split())
    return a <= b or b <= a or fuzz.ratio(first, second) >= ORG_CUTOFF


# -- phones --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhoneKey:
    """A phone number as compared: ``international`` is its E.164 form (with ``x`` and the
    extension), empty when written without a country code; ``national`` its national digits
    (the trunk prefix dropped), with the extension too."""

    international: str
    national: str


def phone_key(text: str) -> PhoneKey | None:
    """The number ``text`` as compared, or None when it is too short to be a signal."""
    import phonenumbers

    raw = text.strip()
    body, ext = _split_extension(raw)
    if raw.startswith(("+", "00")):
        number = "+" + body[2:] if body.startswith("00") else body
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_possible_number(parsed):
            national = str(parsed.national_number)
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        else:  # not a number phonenumbers knows: its digits, as written
            national = ""
            e164 = "+" + "".join(ch for ch in number if ch.isdigit())
        suffix = f"x{ext}" if ext else ""
        if len(e164) - 1 < MIN_PHONE_DIGITS:
            return None
        return PhoneKey(e164 + suffix, national + suffix if national else "")
    digits = "".join(ch for ch in body if ch.isdigit()).lstrip("0")
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    return PhoneKey("", digits + (f"x{ext}" if ext else ""))


_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*(\d+)\s*$", re.I)


def _split_extension(text: str) -> tuple[str, str]:
    found = _EXTENSION.search(text)
    if found is None:
        return text, ""
    return text[: found.start()], found.group(1)


# -- pairs marked as not duplicates (this device's settings) -------------------------------------

NOT_DUPLICATES = "not_duplicates"
"""The settings key (``plntui.settings``) of the pairs marked as two people: ``"ID:ID"``."""
MAX_NOT_DUPLICATES = 5000


def pair_key(first_id: str, second_id: str) -> str:
    return ":".join(sorted((first_id, second_id)))


def not_duplicates(home: Path) -> set[str]:
    """The pairs (``pair_key``) marked on this device as two people, not one."""
    from .settings import read_settings

    stored = read_settings(home).get(NOT_DUPLICATES)
    return {str(k) for k in stored} if isinstance(stored, list) else set()


def mark_not_duplicates(home: Path, key: str, marked: bool = True) -> None:
    """Remember (or forget, ``marked=False``) that a pair is two people. Only this device
    remembers it, in its settings: colleagues' devices still list the pair."""
    from .settings import read_settings, update_settings

    stored = read_settings(home).get(NOT_DUPLICATES)
    keys = [str(k) for k in stored] if isinstance(stored, list) else []
    keys = [k for k in keys if k != key] + ([key] if marked else [])
    update_settings(home, **{NOT_DUPLICATES: keys[-MAX_NOT_DUPLICATES:] or None})


# -- pairs ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Match:
    """Two contacts that look like one person: ``first`` is the older (the one to keep, by
    default), ``signals`` what they share, each with its score (``reasons``: best first)."""

    first: Record
    second: Record
    signals: list[tuple[str, int]] = field(default_factory=list)

    @property
    def score(self) -> int:
        if not self.signals:
            return 0
        best = max(s for _r, s in self.signals)
        return min(100, best + 5 * (len(self.signals) - 1))

    @property
    def reasons(self) -> list[str]:
        return [reason for reason, _s in sorted(self.signals, key=lambda s: -s[1])]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(slots=True)
class DedupeStats:
    """What one search did: ``compared`` name comparisons (for the tests: blocking works)."""

    compared: int = 0


def find_duplicates(contacts: Sequence[Record], stats: DedupeStats | None = None) -> list[Match]:
    """Pairs of contacts that look like one person, best score first."""
    found = _Pairs(contacts)
    _by_email(found, contacts)
    _by_phone(found, contacts)
    _by_name(found, contacts, stats if stats is not None else DedupeStats())
    return found.sorted()


class _Pairs:
    def __init__(self, contacts: Sequence[Record]) -> None:
        self.contacts = contacts
        self.matches: dict[tuple[int, int], Match] = {}

    def add(self, i: int, j: int, reason: str, score: int) -> None:
        if i == j:
            return
        key = (min(i, j), max(i, j))
        match = self.matches.get(key)
        if match is None:
            a, b = self.contacts[key[0]], self.contacts[key[1]]
            first, second = sorted((a, b), key=_age)
            match = self.matches[key] = Match(first, second)
        kind = reason.split(" ", 2)[:2]  # one signal of each kind ("same e-mail", "same phone")
        for k, (known, known_score) in enumerate(match.signals):
            if known.split(" ", 2)[:2] == kind or (_is_name(known) and _is_name(reason)):
                if score > known_score:
                    match.signals[k] = (reason, score)
                return
        match.signals.append((reason, score))

    def sorted(self) -> list[Match]:
        return sorted(
            self.matches.values(),
            key=lambda m: (-m.score, m.first.label.casefold(), m.second.label.casefold()),
        )


def _age(record: Record) -> tuple[str, str]:
    return str(record.values.get("created", "")), record.id


def _is_name(reason: str) -> bool:
    return reason.startswith(("same name", "similar name"))


def _groups(found: _Pairs, keyed: Iterable[tuple[str, int]], reason: Any, score: int) -> None:
    """Pair the contacts that share a key; ``reason(key)`` says why."""
    groups: dict[str, list[int]] = {}
    for key, i in keyed:
        members = groups.setdefault(key, [])
        if not members or members[-1] != i:
            members.append(i)
    for key, members in groups.items():
        if len(members) < 2 or len(members) > MAX_SHARED:
            continue
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                found.add(i, j, reason(key), score)


def _by_email(found: _Pairs, contacts: Sequence[Record]) -> None:
    keyed = (
        (str(email).strip().lower(), i)
        for i, contact in enumerate(contacts)
        for email in contact.values.get("emails") or []
    )
    _groups(found, keyed, lambda email: f"same e-mail {email}", EMAIL_SCORE)


def _by_phone(found: _Pairs, contacts: Sequence[Record]) -> None:
    international: dict[str, list[tuple[int, str]]] = {}  # E.164 -> (contact, as written)
    national: dict[str, list[tuple[int, str]]] = {}  # national digits -> numbers without code
    national_of: dict[str, list[tuple[int, str]]] = {}  # national digits -> international ones
    for i, contact in enumerate(contacts):
        for written in contact.values.get("phones") or []:
            key = phone_key(str(written))
            if key is None:
                continue
            if key.international:
                international.setdefault(key.international, []).append((i, str(written)))
                if key.national:
                    national_of.setdefault(key.national, []).append((i, str(written)))
            else:
                national.setdefault(key.national, []).append((i, str(written)))

    def pair(members: list[tuple[int, str]], others: list[tuple[int, str]] | None) -> None:
        if len(members) + len(others or []) > MAX_SHARED:
            return
        for n, (i, a) in enumerate(members):
            for j, b in others if others is not None else members[n + 1 :]:
                if i != j:
                    # the number with its country code first
                    written = sorted(((i, a), (j, b)), key=lambda w: (w[1][:1] != "+", w[0]))
                    shown = a if a == b else " = ".join(w for _i, w in written)
                    found.add(i, j, f"same phone {shown}", PHONE_SCORE)

    for members in international.values():
        pair(members, None)
    for digits, members in national.items():
        pair(members, None)
        if digits in national_of:
            pair(members, national_of[digits])


def _by_name(found: _Pairs, contacts: Sequence[Record], stats: DedupeStats) -> None:
    parts = [NameParts.of(c.label) for c in contacts]
    orgs = [name_key(str(c.values.get("org") or "")) for c in contacts]
    hits: dict[tuple[int, int], float] = {}
    for members in _blocks(parts):
        letters = [parts[i].letters for i in members]
        for n, i in enumerate(members[:-1]):
            rest = letters[n + 1 :]
            stats.compared += len(rest)
            for _choice, score, k in process.extract(
                letters[n], rest, scorer=fuzz.ratio, score_cutoff=SAME_ORG_CUTOFF, limit=None
            ):
                if score >= 100 or _close_words(letters[n], rest[k]):
                    hits[(i, members[n + 1 + k])] = float(score)
    for i, j in _subsets(parts):
        pair = (min(i, j), max(i, j))
        hits[pair] = max(hits.get(pair, 0.0), SUBSET_SCORE)
    for (i, j), score in hits.items():
        _name_signal(found, i, j, score, orgs, contacts)


def _blocks(parts: Sequence[NameParts]) -> Iterable[list[int]]:
    """The groups of names compared with one another: the same digits, and a word starting
    with the same two letters. A prefix shared by more than ``BIG_BLOCK`` names (a common given
    name) blocks only the names that have no rarer one: "John Smith" and "John Smyth" meet
    under "sm", not among every John."""
    by_prefix: dict[tuple[tuple[str, ...], str], list[int]] = {}
    chosen: list[list[tuple[tuple[str, ...], str]]] = []
    for i, part in enumerate(parts):
        keys = [(part.digits, prefix) for prefix in {word[:2] for word in part.letters.split()}]
        chosen.append(keys)
        for key in keys:
            by_prefix.setdefault(key, []).append(i)
    blocks: dict[tuple[tuple[str, ...], str], list[int]] = {}
    for i, keys in enumerate(chosen):
        if not keys:
            continue
        rare = [k for k in keys if len(by_prefix[k]) <= BIG_BLOCK]
        for key in rare or [min(keys, key=lambda k: len(by_prefix[k]))]:
            blocks.setdefault(key, []).append(i)
    for members in blocks.values():
        if len(members) > 1:
            yield members


def _subsets(parts: Sequence[NameParts]) -> Iterable[tuple[int, int]]:
    """Pairs of names where the shorter's words (two at least) are all in the longer one, with
    the same digits: looked up by word sets, not compared."""
    by_words: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = {}
    for i, part in enumerate(parts):
        words = tuple(part.letters.split())
        if len(words) >= 2:
            by_words.setdefault((part.digits, words), []).append(i)
    for i, part in enumerate(parts):
        longer = part.letters.split()
        if not 3 <= len(longer) <= MAX_SUBSET_WORDS:
            continue
        for size in range(2, len(longer)):
            for subset in set(itertools.combinations(longer, size)):  # sorted words: sorted too
                for j in by_words.get((part.digits, subset), ()):
                    yield i, j


def _name_signal(
    found: _Pairs, i: int, j: int, score: float, orgs: list[str], contacts: Sequence[Record]
) -> None:
    same = "same name" if score >= 100 else "similar name"
    if orgs[i] and orgs[j]:
        if not _same_org(orgs[i], orgs[j]):
            return  # namesakes at two organisations
        older = min(i, j, key=lambda k: _age(contacts[k]))  # its organisation as written
        org = " ".join(str(contacts[older].values.get("org", "")).split())
        found.add(i, j, f"{same} at {org}", round(score * 0.9))
    elif score >= NO_ORG_CUTOFF:
        found.add(i, j, same, round(score * 0.8))
