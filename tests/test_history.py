"""History and recovery over the repository: versions, restore, the trash, held mass deletions,
undoing a device, and conflicts shown (the domain API; the CLI and processes are tested in
tests/test_recovery_processes.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plntui.errors import NotFoundError, ValidationError
from plntui.model import today
from plntui.network import Network
from tests.repo_helpers import copy_docs, join


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Network, Network]:
    a = Network.create(tmp_path / "a", "Alice")
    b = Network.create(tmp_path / "b", "Bob")
    join(a, b)
    return a, b


# -- versions --------------------------------------------------------------------------------------


def test_history_lists_versions_newest_first_with_who_and_what(
    pair: tuple[Network, Network],
) -> None:
    a, b = pair
    ada = a.add("contacts", {"name": "Ada", "role": "Engineer"})
    copy_docs(a, b)
    b.edit("contacts", ada.id, {"role": "Staff engineer"})
    copy_docs(b, a)
    a.edit("contacts", ada.id, {"org": "Engines"})
    found = a.history("contacts", ada.id)
    assert [v.summary for v in found] == [
        "organisation: 'Engines'",
        "role: 'Engineer' → 'Staff engineer'",
        "added",
    ]
    assert found[1].actor in b.own_ids and found[0].actor in a.own_ids
    assert all(len(v.version) == 10 for v in found)
    assert a.at_version("contacts", ada.id, found[1].version).values["role"] == "Staff engineer"
    assert "org" not in a.at_version("contacts", ada.id, found[2].version).values


def test_a_note_body_version_is_summarised_as_characters(net: Network) -> None:
    note = net.add("notes", {"title": "T", "body": "hello world"})
    net.splice_note(note.id, 5, 6, " there!")
    latest = net.history("notes", note.id)[0]
    import re

    found = re.fullmatch(r"body \+(\d+) −(\d+) characters", latest.summary)
    assert found is not None, latest.summary
    assert 0 < int(found.group(1)) <= 7 and 0 < int(found.group(2)) <= 6  # a minimal diff


def test_restore_writes_a_new_version_and_keeps_concurrent_typing(
    pair: tuple[Network, Network],
) -> None:
    a, b = pair
    note = a.add("notes", {"title": "Plan", "body": "one two three"})
    first = a.history("notes", note.id)[0].version
    a.edit("notes", note.id, {"body": "one TWO three four"})
    copy_docs(a, b)
    b.splice_note(note.id, 0, 0, "Bob: ")  # the other side types meanwhile
    restored = a.restore_version("notes", note.id, first)
    assert restored.values["body"] == "one two three"
    assert a.history("notes", note.id)[0].summary.startswith("body ")  # a new version on top
    copy_docs(a, b)
    copy_docs(b, a)
    for net in (a, b):
        assert net.get("notes", note.id).values["body"] == "Bob: one two three"


def test_unknown_or_foreign_versions_are_refused(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    grace = net.add("contacts", {"name": "Grace"})
    theirs = net.history("contacts", grace.id)[0].version
    before = net.repo.storage.manifest()
    with pytest.raises(NotFoundError, match="has no version"):
        net.restore_version("contacts", ada.id, "0000000000")
    with pytest.raises(NotFoundError, match="has no version"):
        net.restore_version("contacts", ada.id, theirs)
    assert net.repo.storage.manifest() == before


# -- the trash -------------------------------------------------------------------------------------


def test_a_deletion_by_a_colleague_lands_in_the_trash_and_comes_back(
    pair: tuple[Network, Network],
) -> None:
    a, b = pair
    elif_ = a.add("contacts", {"name": "Elif Demir", "topics": ["ml"]})
    note = a.add("notes", {"title": "Reading", "body": "text"})
    copy_docs(a, b)
    b.remove("contacts", elif_.id)
    b.remove("notes", note.id)
    copy_docs(b, a)
    trash = {e["record"].id: e for e in a.trash()}
    assert set(trash) == {elif_.id, note.id}
    assert trash[elif_.id]["deleted_by"] == "Bob" and trash[elif_.id]["deleted_at"]
    assert trash[elif_.id]["record"].values["topics"] == ["ml"]
    from plntui.provenance import whats_new

    assert ("deleted", "Bob") in {(n.what, n.who) for n in whats_new(a, "")}
    back = a.restore_from_trash(elif_.id[:6])
    assert back.values["name"] == "Elif Demir" and back.values["topics"] == ["ml"]
    assert {e["record"].id for e in a.trash()} == {note.id}
    copy_docs(a, b)  # the deletion had reached b: the restoration reaches it too
    assert b.get("contacts", elif_.id).label == "Elif Demir"


def test_a_merged_contact_is_not_in_the_trash(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada", "emails": ["ada@x.org"]})
    dup = net.add("contacts", {"name": "Ada L", "emails": ["ada.l@x.org"]})
    net.merge_contacts(ada.id, dup.id)
    assert net.trash() == []


def test_restoring_into_a_circle_left_is_refused(pair: tuple[Network, Network]) -> None:
    a, b = pair
    ada = a.add("contacts", {"name": "Ada"})
    copy_docs(a, b)
    first = b.history("contacts", ada.id)[0].version
    b.leave_circle(a.default_circle().id)
    with pytest.raises(ValidationError, match="no longer a member"):
        b.restore_version("contacts", ada.id, first)


# -- held mass deletions ---------------------------------------------------------------------------


def test_a_mass_deletion_is_held_then_refused_and_everything_comes_back(
    pair: tuple[Network, Network],
) -> None:
    a, b = pair
    ids = [a.add("contacts", {"name": f"Person {i}"}).id for i in range(60)]
    copy_docs(a, b)
    for item_id in ids[:45]:
        b.remove("contacts", item_id)
    copy_docs(b, a)
    held = a.held()
    assert len(held) == 1 and held[0].author in b.own_ids
    assert held[0].via == b.profile.fingerprint.hex()  # type: ignore[union-attr]
    assert len(held[0].deletes) == 45
    assert len(a.contacts()) > 15  # not everything was applied
    a.refuse_held(held[0].id)
    assert len(a.contacts()) == 60 and a.held() == []
    copy_docs(a, b)
    assert len(b.contacts()) == 60  # every replica converges with the items back


def test_a_held_batch_accepted_applies_the_deletions(pair: tuple[Network, Network]) -> None:
    a, b = pair
    ids = [a.add("contacts", {"name": f"Person {i}"}).id for i in range(40)]
    keep = a.add("notes", {"title": "Untouched"})
    copy_docs(a, b)
    for item_id in ids[:30]:
        b.remove("contacts", item_id)
    copy_docs(b, a)
    assert a.held()
    a.accept_held(a.held()[0].id)
    assert len(a.contacts()) == 10 and a.get("notes", keep.id).label == "Untouched"
    copy_docs(a, b)
    assert a.repo.storage.manifest([a.default_circle().id]) == b.repo.storage.manifest(
        [a.default_circle().id]
    )


def test_a_few_deletions_are_not_held(pair: tuple[Network, Network]) -> None:
    a, b = pair
    ids = [a.add("contacts", {"name": f"Person {i}"}).id for i in range(40)]
    copy_docs(a, b)
    for item_id in ids[:5]:
        b.remove("contacts", item_id)
    copy_docs(b, a)
    assert a.held() == [] and len(a.contacts()) == 35


def test_thresholds_are_checked(net: Network) -> None:
    for count, percent in ((0, 10), (20, 101), ("x", 10), (20, -1)):
        with pytest.raises(ValidationError):
            net.set_hold_thresholds(count, percent)
    assert net.set_hold_thresholds(5, 50).count == 5
    assert Network.open(net.profile.home).hold_thresholds().percent == 50


# -- undo a device ---------------------------------------------------------------------------------


def test_undo_a_device_restores_its_changes_but_not_over_a_later_edit(
    pair: tuple[Network, Network],
) -> None:
    a, b = pair
    ids = [a.add("contacts", {"name": f"P{i}", "role": "orig"}).id for i in range(4)]
    copy_docs(a, b)
    b.edit("contacts", ids[0], {"role": "vandal"})
    b.edit("contacts", ids[1], {"role": "vandal"})
    b.remove("contacts", ids[2])
    spam = b.add("contacts", {"name": "Spam"})
    copy_docs(b, a)
    a.edit("contacts", ids[1], {"role": "fixed by Alice"})
    report = a.undo_device(b.profile.fingerprint, today().isoformat())  # type: ignore[arg-type]
    roles = {c.id: c.values.get("role") for c in a.contacts()}
    assert roles[ids[0]] == "orig" and roles[ids[2]] == "orig"
    assert roles[ids[1]] == "fixed by Alice"  # someone else's later edit is kept...
    assert [label for label, _why in report["kept"]] == ["P1"]  # ...and listed
    assert spam.id not in roles


def test_undo_an_unknown_device_is_refused(net: Network) -> None:
    with pytest.raises(NotFoundError, match="no device"):
        net.undo_device(b"\x01" * 32, "2026-01-01")
    with pytest.raises(ValidationError):
        net.undo_device(b"\x01" * 32, "not a date")


# -- conflicts -------------------------------------------------------------------------------------


def test_concurrent_edits_of_one_field_are_shown_and_resolved_for_everyone(
    pair: tuple[Network, Network],
) -> None:
    a, b = pair
    ada = a.add("contacts", {"name": "Ada", "role": "Engineer"})
    note = a.add("notes", {"title": "T", "body": "text"})
    copy_docs(a, b)
    a.edit("contacts", ada.id, {"role": "Staff engineer"})
    b.edit("contacts", ada.id, {"role": "Principal"})
    a.splice_note(note.id, 0, 0, "A")  # concurrent text edits merge: not conflicts
    b.splice_note(note.id, 4, 0, "B")
    copy_docs(a, b)
    copy_docs(b, a)
    found = a.conflicts()
    assert [(c["id"], c["field"]) for c in found] == [(ada.id, "role")]
    shown = a.get("contacts", ada.id).values["role"]
    assert found[0]["values"][0]["value"] == shown
    assert {v["by"] for v in found[0]["values"]} == {"Alice", "Bob"}
    other = 2 if found[0]["values"][1]["value"] == "Principal" else 1
    a.resolve_conflict("contacts", ada.id, "role", other)
    assert a.conflicts() == []
    copy_docs(a, b)
    assert b.conflicts() == [] and b.get("contacts", ada.id).values["role"] == "Principal"
    with pytest.raises(NotFoundError):
        a.resolve_conflict("contacts", ada.id, "role", 1)


def test_a_new_peer_that_receives_documents_whole_sees_their_conflicts(
    pair: tuple[Network, Network], tmp_path: Path
) -> None:
    """Carol joins after Alice and Bob set one field at once: she receives the documents whole
    (no merge diff to look at) and still sees both values."""
    a, b = pair
    ada = a.add("contacts", {"name": "Ada", "role": "Engineer"})
    copy_docs(a, b)
    a.edit("contacts", ada.id, {"role": "Staff engineer"})
    b.edit("contacts", ada.id, {"role": "Principal"})
    copy_docs(b, a)
    carol = Network.create(tmp_path / "carol", "Carol")
    join(a, carol)
    copy_docs(a, carol)
    found = carol.conflicts()
    assert [(c["id"], c["field"]) for c in found] == [(ada.id, "role")]
    assert {v["value"] for v in found[0]["values"]} == {"Staff engineer", "Principal"}


# -- a property ------------------------------------------------------------------------------------

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    edits=st.lists(st.text(alphabet="abcxyz ", min_size=1, max_size=8), min_size=1, max_size=4),
    typed=st.text(alphabet="KLM", min_size=1, max_size=4),
    pick=st.integers(min_value=0, max_value=10),
    a_first=st.booleans(),
)
def test_restore_then_merge_in_any_order_converges(
    edits: list[str], typed: str, pick: int, a_first: bool
) -> None:
    with tempfile.TemporaryDirectory(prefix="plntui-restore-") as tmp:
        a = Network.create(Path(tmp) / "a", "Alice")
        b = Network.create(Path(tmp) / "b", "Bob")
        join(a, b)
        note = a.add("notes", {"title": "T", "body": "base text"})
        for text in edits:
            a.edit("notes", note.id, {"body": text, "title": text.strip() or "T"})
        copy_docs(a, b)
        versions = a.history("notes", note.id)
        a.restore_version("notes", note.id, versions[pick % len(versions)].version)
        b.splice_note(note.id, 0, 0, typed)
        for x, y in ((a, b), (b, a)) if a_first else ((b, a), (a, b)):
            copy_docs(x, y)
        circle = a.default_circle().id
        assert a.repo.storage.manifest([circle]) == b.repo.storage.manifest([circle])
        body = a.get("notes", note.id).values["body"]
        assert body == b.get("notes", note.id).values["body"]
        assert typed in body  # the other side's typing survives the restore


def test_the_trash_and_conflicts_outlive_an_index_made_by_another_version(
    pair: tuple[Network, Network],
) -> None:
    """A new plntui version rebuilds the search index; what was deleted stays in the trash
    (with who deleted it) and the conflicts stay listed."""
    import sqlite3

    from plntui.index import SearchIndex

    a, b = pair
    ada = a.add("contacts", {"name": "Ada", "role": "Engineer"})
    gone = a.add("contacts", {"name": "Grace Hopper"})
    copy_docs(a, b)
    a.edit("contacts", ada.id, {"role": "Staff engineer"})
    b.edit("contacts", ada.id, {"role": "Principal"})
    copy_docs(b, a)
    a.remove("contacts", gone.id)
    trash_before = [(t["record"].id, t["deleted_by"]) for t in a.trash()]
    assert trash_before and a.conflicts()
    home = a.profile.home
    a.profile.close()
    path = SearchIndex.for_profile(a.profile).path
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 1")  # as an older plntui left it
    again = Network.open(home)
    assert [(t["record"].id, t["deleted_by"]) for t in again.trash()] == trash_before
    assert [(c["id"], c["field"]) for c in again.conflicts()] == [(ada.id, "role")]
    assert again.index().get("contacts", ada.id) is not None  # the rest was rebuilt


def closed_without_index(net: Network) -> Path:
    """Close the profile and delete its search index (as a user might by hand); its home."""
    from plntui.index import SearchIndex

    index = SearchIndex.for_profile(net.profile)
    index.close()
    net.profile.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index.path}{suffix}").unlink(missing_ok=True)
    return net.profile.home


@pytest.mark.parametrize("how", ["deleted", "damaged"])
def test_the_trash_and_conflicts_outlive_a_deleted_or_damaged_index(
    pair: tuple[Network, Network], how: str
) -> None:
    """The search index keeps the trash, and the documents' database keeps it too: an index
    made again (deleted by hand, or found damaged) takes it back, and finds the conflicts again
    in the documents' history."""

    a, b = pair
    gone = a.add("contacts", {"name": "Grace Hopper", "org": "Navy"})
    note = a.add("notes", {"title": "COBOL", "body": "notes"})
    ada = a.add("contacts", {"name": "Ada", "role": "Engineer"})
    copy_docs(a, b)
    b.remove("notes", note.id)  # a colleague's deletion
    a.edit("contacts", ada.id, {"role": "Staff engineer"})
    b.edit("contacts", ada.id, {"role": "Principal"})  # and a conflict
    copy_docs(b, a)
    a.remove("contacts", gone.id)  # and one made here
    assert [(c["id"], c["field"]) for c in a.conflicts()] == [(ada.id, "role")]
    trash_before = sorted((t["record"].id, t["deleted_by"], t["deleted_at"]) for t in a.trash())
    assert [t[:2] for t in trash_before] == sorted([(gone.id, "Alice"), (note.id, "Bob")])
    home = closed_without_index(a)
    if how == "damaged":
        (home / "index.sqlite3").write_bytes(b"not a database" * 100)
    again = Network.open(home)
    trash = sorted((t["record"].id, t["deleted_by"], t["deleted_at"]) for t in again.trash())
    assert trash == trash_before
    # the conflict is found again in the history of the documents the new index reads
    assert [(c["id"], c["field"]) for c in again.conflicts()] == [(ada.id, "role")]
    with pytest.raises(NotFoundError):
        again.get("contacts", gone.id)
    back = again.restore_from_trash(gone.id)
    assert back.values["org"] == "Navy"
    # restored: gone from the trash beside the documents too, so a new index does not list it
    third = Network.open(closed_without_index(again))
    assert [t["record"].id for t in third.trash()] == [note.id]
    assert third.get("contacts", gone.id).label == "Grace Hopper"


def test_an_index_made_before_hands_its_trash_to_the_documents_database(net: Network) -> None:
    """A profile whose trash lived only in its index: the first open copies it beside the
    documents, so that the index can then be lost without losing the trash."""
    from plntui.index import SearchIndex

    gone = net.add("contacts", {"name": "Ada"})
    net.remove("contacts", gone.id)
    storage = net.repo.storage
    storage.drop_trash([("contacts", gone.id)])  # as before the trash was kept there
    assert storage.trash_entries() == []
    home = net.profile.home
    SearchIndex.for_profile(net.profile).close()  # the index stays
    net.profile.close()
    again = Network.open(home)
    assert [t["record"].id for t in again.trash()] == [gone.id]
    assert [(c, i) for c, i, _e in again.repo.storage.trash_entries()] == [("contacts", gone.id)]


def test_a_malformed_trash_entry_beside_the_documents_is_left_alone(net: Network) -> None:
    gone = net.add("contacts", {"name": "Ada"})
    net.remove("contacts", gone.id)
    net.repo.storage.keep_trash([("contacts", "0123456789ab", "{not json"), ("notes", "x", "[1]")])
    again = Network.open(closed_without_index(net))
    assert [t["record"].id for t in again.trash()] == [gone.id]
    assert len(again.repo.storage.trash_entries()) == 3  # nothing kept was erased


def _sync_messages(src: Network, dst: Network, doc_ids: list[str], states: dict[str, Any]) -> None:
    """Automerge sync messages from ``src`` to ``dst`` for ``doc_ids``, both ways until quiet,
    as a link sends them (``dst`` stores through its sync host: the guard, held batches)."""
    import automerge.core as am

    from plntui.sync_host import RepoHost

    host = RepoHost(dst)
    peer = src.profile.fingerprint or b"\x00" * 32
    try:
        for doc_id in doc_ids:
            ours, theirs = states.setdefault(doc_id, (am.SyncState(), am.SyncState()))
            for _ in range(10):
                sent = src.repo.get(doc_id).generate_sync_message(ours)
                if sent is not None:
                    received = host.receive_sync(peer, doc_id, theirs, sent.encode())
                    if received.held:  # HELD, no answer: the sender starts afresh (session)
                        states[doc_id] = (am.SyncState(), theirs)
                        break
                reply = host.generate(doc_id, theirs)
                if reply is not None:
                    src.repo.get(doc_id).receive_sync_message(ours, am.Message.decode(reply))
                if sent is None and reply is None:
                    break
    finally:
        host.close()


def test_a_held_authors_later_change_waits_with_the_batch_and_arrives_once_refused(
    pair: tuple[Network, Network], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob deletes 30 of 40 contacts; Alice holds the batch. Bob then adds a contact to a shard
    where a deletion of his is held (his change comes after it there): it waits with the batch,
    and arrives once Alice refuses the batch."""
    from plntui import layout

    a, b = pair
    ids = [a.add("contacts", {"name": f"Person {i}"}).id for i in range(40)]
    copy_docs(a, b)
    circle = a.default_circle().id
    shards = sorted({layout.item_doc(circle, "contacts", i) for i in ids})
    for item_id in ids[:30]:
        b.remove("contacts", item_id)
    states: dict[str, Any] = {}
    _sync_messages(b, a, shards, states)
    held = a.held()
    assert len(held) == 1 and held[0].changes > 0
    waiting = held[0].changes
    # a shard where a deletion of Bob's waits (those under the threshold were applied before it)
    victim = held[0].deletes[0]
    target = victim.doc
    new = next(
        f"{n:012x}"
        for n in range(1, 100_000)
        if layout.shard_of(f"{n:012x}") == layout.shard_of(victim.id)
    )
    monkeypatch.setattr("plntui.network.new_id", lambda: new)
    later = b.add("contacts", {"name": "Added after the deletions"}, circle=circle)
    assert layout.item_doc(circle, "contacts", later.id) == target
    for _ in range(4):  # after HELD, Bob's side starts afresh: a few rounds
        _sync_messages(b, a, [target], states)
    assert a.held()[0].changes == waiting + 1  # it waits with the batch, counted
    assert "Added after the deletions" not in {c.label for c in a.contacts()}
    a.refuse_held(held[0].id)
    _sync_messages(b, a, [target], states)
    assert "Added after the deletions" in {c.label for c in a.contacts()}
    assert len(a.contacts()) == 41
