"""Tests of duplicate detection (plntui.dedupe): each signal on its own (same e-mail, the same
phone written two ways, fuzzy names), what must not be flagged (numbered names, namesakes at two
organisations, different countries' numbers), 10,000 contacts paired through blocking, and `plntui
contact dupes` with the pairs marked as two people left out."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from plntui.dedupe import (
    DedupeStats,
    Match,
    find_duplicates,
    mark_not_duplicates,
    name_similarity,
    pair_key,
    phone_key,
)
from plntui.model import Record


def contact(n: int, name: str, **values: Any) -> Record:
    created = f"2026-01-01T00:00:{n % 60:02d}Z" if n < 60 else f"2026-01-02T{n:08d}"
    return Record("contacts", f"{n:012x}", {"name": name, "created": created, **values})


def labels(contacts: list[Record]) -> dict[frozenset[str], Match]:
    return {frozenset((m.first.label, m.second.label)): m for m in find_duplicates(contacts)}


def test_same_email_in_any_case() -> None:
    found = labels(
        [
            contact(1, "Ada", emails=["ada@example.com"]),
            contact(2, "Countess of Lovelace", emails=["x@y.org", "ADA@Example.com"]),
            contact(3, "Grace", emails=["grace@example.com"]),
        ]
    )
    match = found[frozenset(("Ada", "Countess of Lovelace"))]
    assert match.reason == "same e-mail ada@example.com" and match.score == 100
    assert match.first.label == "Ada"  # the older one first: the one kept by default
    assert len(found) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("+44 20 7946 0958", "020 7946 0958"),  # with and without the country code
        ("+44 20 7946 0958", "0044 (0)20-7946-0958"),  # 00 and a bracketed trunk prefix
        ("+442079460958", "+44 (0)20 7946 0958"),
        ("+39 06 1234 5678", "06 1234 5678"),  # Italy keeps its leading 0
        ("(555) 123-4567", "555.123.4567"),
        ("+1 555 123 4567 x12", "+1-555-123-4567 ext. 12"),
    ],
)
def test_the_same_phone_written_two_ways(first: str, second: str) -> None:
    found = labels(
        [contact(1, "A. Person", phones=[first]), contact(2, "Someone", phones=[second])]
    )
    match = found[frozenset(("A. Person", "Someone"))]
    assert match.reason == f"same phone {first} = {second}" and match.score == 95


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("+44 20 7946 0958", "+1 207 946 0958"),  # one national number, two countries
        ("+1 555 123 4567 x12", "+1 555 123 4567 x13"),  # two extensions of one switchboard
        ("12345", "012345"),  # too short to tell anything
    ],
)
def test_different_phones_are_no_signal(first: str, second: str) -> None:
    assert (
        find_duplicates([contact(1, "A", phones=[first]), contact(2, "B", phones=[second])]) == []
    )


def test_phone_keys() -> None:
    key = phone_key("+44 (0)20 7946 0958")
    assert key is not None and key.international == "+442079460958"
    assert key.national == "2079460958"
    local = phone_key("020 7946 0958")
    assert local is not None and (local.international, local.national) == ("", "2079460958")
    assert phone_key("123") is None


def test_a_switchboard_shared_by_many_is_no_signal() -> None:
    office = [
        contact(n, f"Colleague {chr(65 + n)}", phones=["+44 20 7946 0000"]) for n in range(25)
    ]
    assert find_duplicates(office) == []


def test_fuzzy_names() -> None:
    contacts = [
        contact(1, "Ada Lovelace", org="Analytical Engines"),
        contact(2, "Lovelace, Ada", org="Analytical Engines Ltd"),  # words swapped, org longer
        contact(3, "Ada Lovelac", org="analytical engines"),  # a typo
        contact(4, "Grace Hopper"),
        contact(5, "Grace Brewster Hopper"),  # a longer name, no organisation
        contact(6, "René Ünal", org="Navy"),
        contact(7, "Rene Unal"),  # accents, one organisation missing
        contact(8, "Linus Torvalds", org="Linux Foundation"),
        contact(9, "Linus Torvalds", org="Transmeta"),  # namesakes at two organisations
        contact(10, "Bob Smith"),
        contact(11, "Rob Smith"),  # one letter, but too short a name to be close without an org
    ]
    found = labels(contacts)
    assert found[frozenset(("Ada Lovelace", "Lovelace, Ada"))].reason == (
        "same name at Analytical Engines"
    )
    typo = found[frozenset(("Ada Lovelace", "Ada Lovelac"))]
    assert typo.reason == "similar name at Analytical Engines" and 80 <= typo.score < 90
    longer = found[frozenset(("Grace Hopper", "Grace Brewster Hopper"))]
    assert longer.reason == "similar name" and longer.score == 72
    assert found[frozenset(("René Ünal", "Rene Unal"))].reason == "same name"
    assert not any(m.first.label == "Linus Torvalds" for m in found.values())
    assert frozenset(("Bob Smith", "Rob Smith")) not in found
    assert len(found) == 5  # the three Adas pair up, Grace, René
    assert [m.score for m in find_duplicates(contacts)] == sorted(
        (m.score for m in found.values()), reverse=True
    )


def test_numbered_names_are_not_close() -> None:
    assert name_similarity("Person 00663", "Person 00566") == 0
    assert name_similarity("Person 00663", "person 00663") == 100
    assert name_similarity("Room 101 Smith", "Room 102 Smith") == 0
    numbered = [contact(n, f"Person {n:05d}", org="Acme") for n in range(1, 300)]
    assert find_duplicates(numbered) == []
    same = [contact(1, "Person 00663", org="Acme"), contact(2, "person 00663", org="Acme")]
    assert [m.reason for m in find_duplicates(same)] == ["same name at Acme"]


def test_several_signals_add_up() -> None:
    found = find_duplicates(
        [
            contact(1, "Ada Lovelace", emails=["ada@example.com"], phones=["+44 20 7946 0958"]),
            contact(2, "Ada Lovelace", emails=["ADA@example.com"], phones=["020 7946 0958"]),
        ]
    )
    assert len(found) == 1
    assert found[0].reasons == [
        "same e-mail ada@example.com",
        "same phone +44 20 7946 0958 = 020 7946 0958",
        "same name",
    ]
    assert found[0].score == 100


def test_ten_thousand_contacts_are_paired_through_blocks() -> None:
    """No timing here: the number of name comparisons shows that the names are compared within
    blocks (a few hundred thousand), not all against all (50 million)."""
    rng = random.Random(13)
    given = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8)))
        for _ in range(400)
    ]
    family = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 10)))
        for _ in range(4000)
    ]
    contacts = [
        contact(
            n,
            f"{rng.choice(given).title()} {rng.choice(family).title()}",
            org=f"Org {rng.randint(1, 50)}",
            phones=[f"+44 20 {n:08d}"],
        )
        for n in range(5000)
    ]
    contacts += [contact(5000 + n, f"Person {n:05d}", org="Acme") for n in range(4994)]
    planted = [
        contact(20_000, "Ada Lovelace", org="Org 1"),
        contact(20_001, "Lovelace Ada", org="Org 1"),
        contact(20_002, "Grace Hopper", emails=["grace@navy.example"]),
        contact(20_003, "G. Hopper", emails=["Grace@Navy.example"]),
        contact(20_004, "Alan Turing", phones=["+44 161 496 0000"]),
        contact(20_005, "A. M. Turing", phones=["0161 496 0000"]),
    ]
    contacts += planted
    assert len(contacts) == 10_000
    stats = DedupeStats()
    found = find_duplicates(contacts, stats)
    ids = {frozenset((m.first.id, m.second.id)) for m in found}
    for a, b in zip(planted[::2], planted[1::2], strict=True):
        assert frozenset((a.id, b.id)) in ids
    assert not any(m.first.label.startswith("Person ") for m in found)
    assert stats.compared < 1_000_000  # all against all would be 49,995,000


def test_the_command_line_lists_each_signal_and_hides_pairs_marked_two_people(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli import Run, added_id

    run = Run(home, capsys)
    run("init", "--name", "Alice")
    grace = added_id(run("contact", "add", "--name", "Grace Hopper", "--phone", "+1 555 010 0199"))
    other = added_id(run("contact", "add", "--name", "Amazing Grace", "--phone", "555 010 0199"))
    run("contact", "add", "--name", "Person 00663", "--org", "Acme")
    run("contact", "add", "--name", "Person 00566", "--org", "Acme")
    listed = run("contact", "dupes")
    assert "same phone +1 555 010 0199 = 555 010 0199 (score 95)" in listed
    assert "Person" not in listed
    pairs = run.json("contact", "dupes", "--json")
    assert isinstance(pairs, list) and len(pairs) == 1
    assert pairs[0]["score"] == 95 and pairs[0]["reasons"] == [pairs[0]["reason"]]
    mark_not_duplicates(home, pair_key(grace, other))
    assert "1 marked as not duplicates" in run("contact", "dupes")
    assert run.json("contact", "dupes", "--json") == []
    assert len(run.json("contact", "dupes", "--json", "--all")) == 1  # type: ignore[arg-type]
