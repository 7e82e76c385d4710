"""Property tests: replicas that exchange their documents in any order end up identical.

Every replica is a member of one circle; a "sync" hands every document of that circle from one
replica to another through the sync host (the guard included), as a link would."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plntui import crdt, layout
from plntui.network import Network
from tests.repo_helpers import copy_docs, join

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
PHRASE = st.lists(WORDS, min_size=1, max_size=3).map(" ".join)
TOPICS = st.lists(WORDS, max_size=4)
SEL = st.integers(min_value=0, max_value=1000)


@contextmanager
def replicas(count: int) -> Iterator[list[Network]]:
    """``count`` fresh profiles in their own folders, all members of the first one's circle,
    which is everyone's default circle."""
    with tempfile.TemporaryDirectory(prefix="plntui-conv-") as tmp:
        nets = [Network.create(Path(tmp) / f"r{i}", f"Replica {i}") for i in range(count)]
        for other in nets[1:]:
            join(nets[0], other)
        circle = nets[0].default_circle().id
        for other in nets[1:]:
            sync(other, nets[0])
            other.set_default_circle(circle)
            for third in nets[1:]:
                if third is not other:
                    join_trust(other, third)
        yield nets


def join_trust(a: Network, b: Network) -> None:
    from plntui.peersync import open_trust

    assert b.profile.fingerprint is not None
    open_trust(a.profile.home).trust(b.profile.fingerprint, b.profile.meta.name)


def sync(into: Network, source: Network) -> None:
    """Hand every document ``source`` shares with ``into`` over, checked and stored."""
    copy_docs(source, into)


def shared_state(net: Network) -> tuple[Any, ...]:
    """Every item of the common circle, and the heads digest of each of its documents."""
    circle = [c for c in net.circles().values() if c.name == "Replica 0's circle"][0].id
    manifest = net.repo.storage.manifest([circle])
    contacts: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    with net.lock:
        for doc_id in sorted(manifest):
            doc = net.repo.get(doc_id)
            if layout.kind_of(doc_id) == "shard":
                contacts.update(crdt.read_collection(doc, "contacts"))
            elif layout.kind_of(doc_id) == "note":
                notes.update(crdt.read_collection(doc, "notes"))
    return contacts, notes, manifest


def ids(net: Network, collection: str) -> list[str]:
    state = shared_state(net)
    return sorted(state[0] if collection == "contacts" else state[1])


def pick(items: list[str], sel: int) -> str | None:
    return items[sel % len(items)] if items else None


# -- operations -----------------------------------------------------------------------------------


def op_strategy(n: int) -> st.SearchStrategy[tuple[Any, ...]]:
    r = st.integers(min_value=0, max_value=n - 1)
    return st.one_of(
        st.tuples(st.just("add_contact"), r, PHRASE, TOPICS),
        st.tuples(
            st.just("edit_contact"), r, SEL, st.sampled_from(["name", "org", "role"]), PHRASE
        ),
        st.tuples(st.just("topics"), r, SEL, TOPICS),
        st.tuples(st.just("remove_contact"), r, SEL),
        st.tuples(st.just("add_note"), r, PHRASE, st.text(alphabet="abc \n", max_size=20), TOPICS),
        st.tuples(st.just("splice"), r, SEL, SEL, st.integers(0, 4), PHRASE),
        st.tuples(st.just("rewrite_body"), r, SEL, PHRASE),
        st.tuples(st.just("tags"), r, SEL, TOPICS),
        st.tuples(st.just("remove_note"), r, SEL),
        st.tuples(st.just("sync"), r, r),
    )


def apply(nets: list[Network], op: tuple[Any, ...]) -> None:
    kind, net = op[0], nets[op[1]]
    contacts, notes = ids(net, "contacts"), ids(net, "notes")
    if kind == "add_contact":
        net.add("contacts", {"name": op[2], "topics": op[3]})
    elif kind == "edit_contact" and contacts:
        net.edit("contacts", pick(contacts, op[2]), {op[3]: op[4]})
    elif kind == "topics" and contacts:
        net.edit("contacts", pick(contacts, op[2]), {"topics": op[3]})
    elif kind == "remove_contact" and contacts:
        net.remove("contacts", pick(contacts, op[2]))
    elif kind == "add_note":
        net.add("notes", {"title": op[2], "body": op[3], "tags": op[4]})
    elif kind == "splice" and notes:
        note = pick(notes, op[2])
        body = net.get("notes", note).values.get("body", "")
        pos = op[3] % (len(body) + 1)
        delete = min(op[4], len(body) - pos)
        after = net.splice_note(note, pos, delete, op[5])
        assert after.values["body"] == body[:pos] + op[5] + body[pos + delete :]
    elif kind == "rewrite_body" and notes:
        note = pick(notes, op[2])
        body = net.get("notes", note).values.get("body", "")
        net.edit("notes", note, {"body": op[3] + " " + body[len(body) // 2 :]})
    elif kind == "tags" and notes:
        net.edit("notes", pick(notes, op[2]), {"tags": op[3]})
    elif kind == "remove_note" and notes:
        net.remove("notes", pick(notes, op[2]))
    elif kind == "sync" and op[1] != op[2]:
        sync(net, nets[op[2]])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[tuple[Any, ...]], list[tuple[int, int]]]:
    n = draw(st.integers(min_value=2, max_value=4))
    ops = draw(st.lists(op_strategy(n), min_size=2, max_size=18))
    order = draw(st.permutations([p for p in itertools.permutations(range(n), 2)]))
    return n, ops, order


# -- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(scenarios())
def test_replicas_converge_whatever_the_merge_order(
    scenario: tuple[int, list[tuple[Any, ...]], list[tuple[int, int]]],
) -> None:
    n, ops, order = scenario
    with replicas(n) as nets:
        # a common starting point, so that edits on different replicas hit the same items
        seed = nets[0]
        seed.add("contacts", {"name": "Ada Lovelace", "topics": ["math", "engines"]})
        seed.add("contacts", {"name": "Grace Hopper", "org": "Navy"})
        seed.add("notes", {"title": "Reading list", "body": "one two three\nfour", "tags": ["a"]})
        seed.add("notes", {"title": "Empty", "body": ""})
        for other in nets[1:]:
            sync(other, seed)
        for op in ops:
            apply(nets, op)
        # one pass over every ordered pair, in a random order: each replica hears from every
        # other directly, so every change made anywhere reaches everyone
        for into, source in order:
            sync(nets[into], nets[source])
        states = [shared_state(net) for net in nets]
        for i, state in enumerate(states[1:], 1):
            assert state[0] == states[0][0], f"contacts differ on replica {i}"
            assert state[1] == states[0][1], f"notes differ on replica {i}"
            assert state[2] == states[0][2], f"heads differ on replica {i}"
        # the merged state is durable: every replica reopens from disk to the same thing
        for net in nets:
            assert shared_state(Network.open(net.profile.home)) == states[0]
        # and merging again changes nothing
        before = nets[0].repo.storage.manifest()
        sync(nets[0], nets[-1])
        assert nets[0].repo.storage.manifest() == before


@SETTINGS
@given(
    base=st.text(alphabet="abcdefgh ", min_size=0, max_size=30),
    first=st.tuples(SEL, st.integers(0, 5), st.text(alphabet="KLMN", min_size=1, max_size=6)),
    second=st.tuples(SEL, st.integers(0, 5), st.text(alphabet="XYZW", min_size=1, max_size=6)),
    first_merges_first=st.booleans(),
)
def test_concurrent_splices_on_one_note_both_survive(
    base: str,
    first: tuple[int, int, str],
    second: tuple[int, int, str],
    first_merges_first: bool,
) -> None:
    with replicas(2) as (a, b):
        note = a.add("notes", {"title": "Shared", "body": base}).id
        sync(b, a)
        body = b.get("notes", note).values["body"]  # as stored (normalised)
        for net, (sel, delete, word) in ((a, first), (b, second)):
            pos = sel % (len(body) + 1)
            net.splice_note(note, pos, min(delete, len(body) - pos), word)
        pairs = [(a, b), (b, a)] if first_merges_first else [(b, a), (a, b)]
        for into, source in pairs:
            sync(into, source)
        merged = a.get("notes", note).values["body"]
        assert b.get("notes", note).values["body"] == merged
        assert first[2] in merged
        assert second[2] in merged
        assert Network.open(b.profile.home).get("notes", note).values["body"] == merged


def test_concurrent_edits_of_different_fields_and_list_items_all_survive() -> None:
    with replicas(3) as (a, b, c):
        ada = a.add("contacts", {"name": "Ada", "topics": ["math"]}).id
        note = a.add("notes", {"title": "Reading", "body": "one two three", "tags": ["x"]}).id
        sync(b, a)
        sync(c, a)
        a.edit("contacts", ada, {"org": "Analytical Engines"})
        b.edit("contacts", ada, {"role": "Programmer", "topics": ["math", "poetry"]})
        c.edit("contacts", ada, {"topics": ["math", "engines"]})
        a.edit("notes", note, {"body": "zero one two three"})
        c.edit("notes", note, {"body": "one two three four", "tags": ["x", "y"]})
        for into, source in itertools.permutations((a, b, c), 2):
            sync(into, source)
        for net in (a, b, c):
            record = net.get("contacts", ada)
            assert record.values["org"] == "Analytical Engines"
            assert record.values["role"] == "Programmer"
            assert sorted(record.values["topics"]) == ["engines", "math", "poetry"]
            assert net.get("notes", note).values["body"] == "zero one two three four"
            assert net.get("notes", note).values["tags"] == ["x", "y"]


def test_remove_against_concurrent_edit_converges() -> None:
    with replicas(2) as (a, b):
        ada = a.add("contacts", {"name": "Ada"}).id
        sync(b, a)
        a.remove("contacts", ada)
        b.edit("contacts", ada, {"org": "Somewhere"})
        sync(a, b)
        sync(b, a)
        assert shared_state(a) == shared_state(b)


def test_concurrent_first_splices_on_a_note_added_without_body_both_survive() -> None:
    with replicas(2) as (a, b):
        note = a.add("notes", {"title": "No body yet"}).id
        sync(b, a)
        a.splice_note(note, 0, 0, "alpha")
        b.splice_note(note, 0, 0, "beta")
        sync(a, b)
        sync(b, a)
        body = a.get("notes", note).values["body"]
        assert b.get("notes", note).values["body"] == body
        assert "alpha" in body
        assert "beta" in body


def test_concurrent_topics_on_a_contact_added_without_topics_both_survive() -> None:
    with replicas(2) as (a, b):
        ada = a.add("contacts", {"name": "Ada"}).id
        sync(b, a)
        a.edit("contacts", ada, {"topics": ["rust"]})
        b.edit("contacts", ada, {"topics": ["go"]})
        sync(a, b)
        sync(b, a)
        topics = a.get("contacts", ada).values.get("topics", [])
        assert b.get("contacts", ada).values.get("topics", []) == topics
        assert sorted(topics) == ["go", "rust"]
