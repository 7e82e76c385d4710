"""Tests of the search syntax (``plntui.query``): the parser, the haystack's marks, matching,
and that ``plntui search``, the list commands and the app's filter keep the same items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plntui.catalog import Catalog, circles_matching, contact_columns, note_columns
from plntui.cli import main
from plntui.model import Record
from plntui.network import Network
from plntui.provenance import actors_named
from plntui.query import (
    BY_MARK,
    CIRCLE_MARK,
    FIELD_END,
    Filter,
    Term,
    by_mark,
    field_has,
    haystack,
    parse,
)
from tests.repo_helpers import copy_docs, join


def kinds(text: str) -> list[tuple[str, str, bool]]:
    return [(t.kind, t.value, t.negated) for t in parse(text).terms]


# -- the parser -----------------------------------------------------------------------------------


def test_words_phrases_qualifiers_and_negation() -> None:
    assert kinds("Rust -Kubernetes") == [("text", "rust", False), ("text", "kubernetes", True)]
    assert kinds('"Machine  Learning" org:"Acme Corp"') == [
        ("text", "machine learning", False),
        ("org", "acme corp", False),
    ]
    assert kinds("topic:ML tag:Books By:Bob circle:data-team") == [
        ("topic", "ml", False),
        ("topic", "books", False),  # tag: and topic: are one
        ("by", "Bob", False),  # a name, as typed: resolved by device names
        ("circle", "data-team", False),
    ]
    assert kinds("-org:navy -by:me -circle:private -tag:x") == [
        ("org", "navy", True),
        ("by", "me", True),
        ("circle", "private", True),
        ("topic", "x", True),
    ]
    assert kinds("Zoë") == [("text", "zoe", False)]  # folded: accents and case do not matter


def test_what_is_not_ours_is_a_word_and_what_is_being_typed_is_nothing() -> None:
    assert kinds("http://example.org 12:30 re:thing") == [
        ("text", "http://example.org", False),
        ("text", "12:30", False),
        ("text", "re:thing", False),
    ]
    for typing in ("", "  ", "-", "--", "org:", "-by:", "circle:", '""', 'org:"'):
        assert kinds(typing) == [], typing
    assert kinds('"machine lea') == [("text", "machine lea", False)]  # an unclosed phrase
    assert kinds("ca-fe o'brien") == [("text", "ca-fe", False), ("text", "o'brien", False)]


def test_typed_text_can_match_no_mark() -> None:
    assert kinds("a\x00b \x01c \ue001d") == [
        ("text", "a b", False),
        ("text", "c", False),
        ("text", "d", False),
    ]


def test_a_query_implies_another_only_when_it_narrows_it() -> None:
    def implies(new: str, old: str) -> bool:
        return parse(new).implies(parse(old))

    assert implies("ada", "ad") and implies("ada lov", "ada") and implies("org:acme", "org:ac")
    assert implies("by:bob ada", "by:bob") and implies("-rust ada", "-rust")
    assert not implies("-kub", "-ku")  # excludes fewer
    assert not implies("circle:data", "circle:da")  # an exact name wins over longer ones
    assert not implies("by:bob", "by:bo")
    assert not implies("org:acme", "acme") and not implies("ada", "org:ada")
    assert implies("ada", "")


# -- the haystack and matching --------------------------------------------------------------------


def contact(item_id: str, **values: object) -> Record:
    return Record("contacts", item_id, {"name": "X", **values}, circle="c0ffee00")


def test_the_haystack_marks_fields_creator_and_circle() -> None:
    record = contact(
        "000000000001",
        name="Ada  Lovelace",
        org="Analytical Engines",
        topics=["Rust", "machine learning"],
        remark="ask about the notes",
        added_by="81bf196e",
    )
    hay = haystack(record)
    assert hay.startswith("ada lovelace ")
    assert "\x02analytical engines" + FIELD_END in hay
    assert "\x03rust\x1fmachine learning" + FIELD_END in hay
    assert "ask about the notes" in hay
    assert by_mark("81bf196e") in hay and "81bf" not in hay  # typed hex never matches the id
    assert CIRCLE_MARK in hay and "c0ffee00" not in hay
    assert field_has(hay, "org", "engines") and not field_has(hay, "org", "rust")
    assert field_has(hay, "topic", "machine") and not field_has(hay, "topic", "rust machine")
    assert BY_MARK in hay


def test_a_filter_keeps_what_meets_every_term() -> None:
    ada = contact("000000000001", name="Ada", org="Acme Corp", topics=["rust"], added_by="aa")
    grace = contact("000000000002", name="Grace", org="Navy", topics=["rust", "kubernetes"])
    linus = contact("000000000003", name="Linus", role="acme fan", topics=["kernels"])
    rows = [haystack(r) for r in (ada, grace, linus)]

    def keep(text: str) -> list[int]:
        by = {"me": ["aa"], "nobody": []}
        found = Filter(text, lambda t: by.get(t, []), lambda t: []).keep(rows, hay=str)
        return [rows.index(h) for h in found]

    assert keep("rust") == [0, 1]
    assert keep("rust -kubernetes") == [0]
    assert keep("acme") == [0, 2] and keep("org:acme") == [0] and keep("-org:acme") == [1, 2]
    assert keep("topic:kube") == [1] and keep("tag:rust") == [0, 1]
    assert keep('org:"acme corp"') == [0] and keep('"acme corp"') == [0]
    assert keep("by:me") == [0] and keep("-by:me") == [1, 2] and keep("by:nobody") == []
    assert keep("-by:nobody") == [0, 1, 2]
    # without a resolver, by: is a plain word (as lists that have no devices read it)
    assert Filter("by:me").keep(rows, hay=str) == []
    assert Filter("by:me").steps[0][0] == Term("text", "by:me", False, "by:me")


def test_the_catalog_narrows_only_when_sound() -> None:
    records = [
        contact("000000000001", name="Ada", topics=["kubernetes"]),
        contact("000000000002", name="Adam", topics=["kubectl"]),
        contact("000000000003", name="Adalbert"),
    ]
    catalog = Catalog(contact_columns())
    catalog.load(records)

    def names(text: str) -> list[str]:
        return [row.record.label for row in catalog.apply_filter(text)]

    for typed in ("a", "ad", "ada", "ada ", "ada -", "ada -k", "ada -ku", "ada -kub"):
        names(typed)
    assert names("ada -kub") == ["Adalbert"]  # typed key by key, "-ku" kept fewer
    assert names("ada -kuber") == ["Adam", "Adalbert"]
    catalog.sort_by("name")  # the same filter again, in the new order
    assert [row.record.label for row in catalog.visible] == ["Adalbert", "Adam"]
    catalog.sort_by("name")
    assert [row.record.label for row in catalog.visible] == ["Adam", "Adalbert"]


# -- the same answer everywhere -------------------------------------------------------------------


@pytest.fixture
def team(tmp_path: Path) -> tuple[Network, Network]:
    """Alice's network with contacts and notes Alice added and some that Bob added."""
    alice = Network.create(tmp_path / "alice", "Alice")
    bob = Network.create(tmp_path / "bob", "Bob")
    join(alice, bob)
    alice.add(
        "contacts",
        {"name": "Ada Lovelace", "org": "Analytical Engines", "topics": ["rust", "mathematics"]},
    )
    alice.add("contacts", {"name": "Linus Torvalds", "org": "Linux Foundation"})
    alice.add(
        "contacts", {"name": "Secret Agent", "remark": "met at the rust meetup"}, private=True
    )
    bob.add(
        "contacts",
        {"name": "Grace Hopper", "org": "US Navy", "topics": ["rust", "kubernetes", "cobol"]},
    )
    bob.add("contacts", {"name": "Bob's Friend", "role": "Writes Rust at Acme"})
    alice.add("notes", {"title": "Rust reading", "tags": ["rust"], "body": "Borrowing."})
    bob.add("notes", {"title": "Kubernetes at scale", "tags": ["kubernetes", "rust"]})
    copy_docs(bob, alice)
    return alice, bob


QUERIES = (
    "rust",
    "rust -kubernetes",
    "by:bob",
    "-by:bob",
    "by:me rust",
    "org:navy",
    "-org:navy rust",
    "topic:rust",
    "tag:kubernetes",
    '"machine learning"',
    '"writes rust"',
    "circle:private",
    "-circle:private rust",
    "meetup",
    "nobody",
)


@pytest.mark.parametrize("collection", ["contacts", "notes"])
def test_search_and_the_app_filter_keep_the_same_items(
    team: tuple[Network, Network], collection: str
) -> None:
    alice, _bob = team
    index = alice.index()
    catalog = Catalog(contact_columns() if collection == "contacts" else note_columns())
    catalog.resolve_by = lambda text: actors_named(alice, text)
    catalog.resolve_circle = lambda text: circles_matching(index.circle_names(), text)
    catalog.load_lazy(index.lazy_rows(collection), sorted_by=catalog.columns[0].key)
    for query in QUERIES:
        searched = alice.search(query, None)[collection]
        filtered = [row.id for row in catalog.apply_filter(query)]
        assert sorted(r.id for r in searched) == sorted(filtered), query
    names = [r.label for r in alice.search("rust -kubernetes", None)["contacts"]]
    assert sorted(names) == ["Ada Lovelace", "Bob's Friend", "Secret Agent"]
    assert [r.label for r in alice.search("by:bob", None)["contacts"]] == [
        "Bob's Friend",
        "Grace Hopper",
    ]
    assert [r.label for r in alice.search("org:navy")["notes"]] == []


def test_search_ranks_whole_words_first(net: Network) -> None:
    net.add("contacts", {"name": "Grace", "role": "trusted advisor"})  # "rust" inside a word
    net.add("contacts", {"name": "Ada", "topics": ["rust"]})
    assert [r.label for r in net.search("rust")["contacts"]] == ["Ada", "Grace"]
    assert [r.label for r in net.search("rust", 1)["contacts"]] == ["Ada"]


def run(home: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    status = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    assert status == code, (status, captured.out, captured.err)
    run.err = captured.err  # type: ignore[attr-defined]
    return captured.out


def test_the_command_line_takes_the_syntax(
    team: tuple[Network, Network], capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = team
    home = alice.profile.home

    def labels(*args: str) -> dict[str, list[str]]:
        found = json.loads(run(home, capsys, *args, "--json"))
        if isinstance(found, list):
            return {"list": sorted(item.get("name") or item["title"] for item in found)}
        return {
            k: sorted(item.get("name") or item["title"] for item in v) for k, v in found.items()
        }

    assert labels("search", "by:bob") == {
        "contacts": ["Bob's Friend", "Grace Hopper"],
        "notes": ["Kubernetes at scale"],
    }
    assert labels("search", "rust", "-kubernetes")["contacts"] == [
        "Ada Lovelace",
        "Bob's Friend",
        "Secret Agent",
    ]
    # a -word after an option is still a word; -h alone is still help
    assert labels("search", "rust", "--limit", "10", "-kubernetes")["notes"] == ["Rust reading"]
    assert labels("search", "-by:me")["contacts"] == ["Bob's Friend", "Grace Hopper"]
    assert labels("contact", "list", "topic:rust", "-org:navy") == {"list": ["Ada Lovelace"]}
    assert labels("contact", "list", "by:bob", "--circle", bob.default_circle().name) == {
        "list": ["Bob's Friend", "Grace Hopper"]
    }
    assert labels("contact", "list", "circle:bob") == {"list": ["Bob's Friend", "Grace Hopper"]}
    assert labels("contact", "list", "circle:private") == {"list": ["Secret Agent"]}
    assert labels("note", "list", "tag:kubernetes") == {"list": ["Kubernetes at scale"]}
    assert "Rust reading" in run(home, capsys, "note", "list", "rust")
    assert "No contacts match." in run(home, capsys, "contact", "list", "nobody")
    out = run(home, capsys, "search", "by:carol")
    assert out.strip() == "Nothing matches."
    assert "no device is named 'carol' (devices: Alice, Bob)" in run.err  # type: ignore[attr-defined]
    run(home, capsys, "search", "circle:nowhere")
    assert "no circle is named 'nowhere'" in run.err  # type: ignore[attr-defined]
    run(home, capsys, "search", "rust", "--bogus", code=2)
    assert run.err.count("\n") == 1 and "--bogus" in run.err  # type: ignore[attr-defined]
    assert "usage:" in run(home, capsys, "search", "-h")


def test_contact_show_takes_a_unique_name(net: Network, capsys: pytest.CaptureFixture[str]) -> None:
    ada = net.add("contacts", {"name": "Ada Lovelace"})
    king = net.add("contacts", {"name": "Ada King"})
    net.add("contacts", {"name": "Zoë Ångström"})
    home = net.profile.home
    for ref in ("Ada Lovelace", "ada lovelace", "lovelace", "ada lov", ada.id[:5]):
        assert json.loads(run(home, capsys, "contact", "show", ref, "--json"))["id"] == ada.id
    assert (
        json.loads(run(home, capsys, "contact", "show", "Ada", "King", "--json"))["id"] == king.id
    )
    assert "Zoë Ångström" in run(home, capsys, "contact", "show", "zoe")
    run(home, capsys, "contact", "show", "ada", code=2)
    err = run.err  # type: ignore[attr-defined]
    assert err.count("\n") == 1
    assert f"'ada' matches 2 contacts: Ada King ({king.id}), Ada Lovelace ({ada.id})" in err
    run(home, capsys, "contact", "show", "Adda", code=2)
    err = run.err  # type: ignore[attr-defined]
    assert err.count("\n") == 1 and "did you mean Ada King, Ada Lovelace?" in err
    run(home, capsys, "contact", "show", "Nobody At All", code=2)
    assert "see: plntui contact list" in run.err  # type: ignore[attr-defined]
    # two contacts with one name: the ids tell them apart
    twin = net.add("contacts", {"name": "Ada King"})
    run(home, capsys, "contact", "show", "Ada King", code=2)
    assert twin.id in run.err  # type: ignore[attr-defined]


def test_a_name_that_is_also_an_id_prefix_is_ambiguous(
    net: Network, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bede = net.add("contacts", {"name": "Bede"})
    monkeypatch.setattr("plntui.network.new_id", lambda: "bede00000001")
    other = net.add("contacts", {"name": "Someone Else"})
    home = net.profile.home
    assert json.loads(run(home, capsys, "contact", "show", other.id, "--json"))["id"] == other.id
    assert json.loads(run(home, capsys, "contact", "show", "bede0", "--json"))["id"] == other.id
    run(home, capsys, "contact", "show", "bede", code=2)
    err = run.err  # type: ignore[attr-defined]
    assert f"'bede' matches 2 contacts: Bede ({bede.id}), Someone Else ({other.id})" in err
