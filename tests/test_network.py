"""Tests of the domain API: items, per-field privacy, interactions, follow-ups, duplicates and
search."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import automerge.core as am
import pytest

from plntui import crdt, layout
from plntui.errors import AmbiguousIdError, NotFoundError, ValidationError
from plntui.index import SearchIndex
from plntui.network import Network
from tests.repo_helpers import copy_docs, private_item, shared_item


def test_add_and_read_back_after_reopen(net: Network, home: Path) -> None:
    ada = net.add(
        "contacts",
        {
            "name": "Ada Lovelace",
            "emails": ["ada@example.com"],
            "org": "Analytical Engines",
            "topics": ["Maths", "Engines"],
            "relationship": "mentor",
            "met": "At a lecture",
            "links": ["https://example.com/ada"],
            "phones": ["+44 20 1234"],
        },
    )
    again = Network.open(home).get("contacts", ada.id)
    assert again.values["name"] == "Ada Lovelace"
    assert again.values["topics"] == ["maths", "engines"]
    assert again.values["added_by"] == net.device_id
    assert again.values["created"] and again.values["updated"]
    assert net.device_name(again.values["added_by"]) == "Alice"


def test_id_prefixes(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    assert net.get("contacts", ada.id[:6]).id == ada.id
    with pytest.raises(NotFoundError, match="at least 4"):
        net.get("contacts", ada.id[:2])
    with pytest.raises(NotFoundError, match="no contact"):
        net.get("contacts", "ffffffffffff" if not ada.id.startswith("ffff") else "000000000000")


def test_ambiguous_prefix(net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["abcd11111111", "abcd22222222"])
    monkeypatch.setattr("plntui.network.new_id", lambda: next(ids))
    net.add("contacts", {"name": "One"})
    net.add("contacts", {"name": "Two"})
    with pytest.raises(AmbiguousIdError, match="matches 2"):
        net.get("contacts", "abcd")


def test_private_fields_never_enter_the_shared_document(net: Network) -> None:
    ada = net.add(
        "contacts",
        {
            "name": "Ada",
            "phones": ["+44 1234 5678"],
            "remark": "owes me a book",
            "rating": 4,
            "cadence_days": 30,
        },
        private_fields=["phones"],
    )
    shared = shared_item(net, "contacts", ada.id)
    private = private_item(net, "contacts", ada.id)
    assert shared is not None and private is not None
    assert "phones" not in shared and "remark" not in shared and "rating" not in shared
    assert "cadence_days" not in shared
    assert private["phones"] == ["+44 1234 5678"] and private["remark"] == "owes me a book"
    merged = net.get("contacts", ada.id)
    assert merged.is_private("phones") and merged.is_private("remark")
    assert not merged.is_private("name")
    assert merged.values["phones"] == ["+44 1234 5678"]


def test_move_fields_between_shared_and_private(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada", "org": "Engines Ltd"})
    net.edit("contacts", ada.id, make_private=["org"])
    assert "org" not in shared_item(net, "contacts", ada.id)
    assert net.get("contacts", ada.id).values["org"] == "Engines Ltd"
    assert net.get("contacts", ada.id).is_private("org")
    net.edit("contacts", ada.id, {"org": "Engines plc"})
    assert private_item(net, "contacts", ada.id)["org"] == "Engines plc"
    net.edit("contacts", ada.id, make_shared=["org"])
    assert shared_item(net, "contacts", ada.id)["org"] == "Engines plc"
    assert "org" not in private_item(net, "contacts", ada.id)
    with pytest.raises(ValidationError, match="always private"):
        net.edit("contacts", ada.id, make_shared=["remark"])


def test_private_items_live_only_in_the_private_document(net: Network) -> None:
    note = net.add("notes", {"title": "Salary talk prep", "body": "numbers"}, private=True)
    assert shared_item(net, "notes", note.id) is None
    assert net.get("notes", note.id).private_item
    net.edit("notes", note.id, item_private=False)
    assert shared_item(net, "notes", note.id)["title"] == "Salary talk prep"
    assert not net.get("notes", note.id).private_item
    net.edit("notes", note.id, item_private=True)
    assert shared_item(net, "notes", note.id) is None
    assert net.get("notes", note.id).values["body"] == "numbers"


def test_edit_writes_only_what_changed(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada", "topics": ["a", "b"]})
    generation = net.profile.generation()
    net.edit("contacts", ada.id, {"name": "Ada", "topics": ["a", "b"]})
    assert net.profile.generation() == generation  # nothing was written at all
    net.edit("contacts", ada.id, {"topics": ["a", "c", "b"]})
    assert net.get("contacts", ada.id).values["topics"] == ["a", "c", "b"]


def test_failed_edit_changes_nothing(net: Network, home: Path) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    before = net.repo.storage.manifest()
    with pytest.raises(ValidationError):
        net.edit("contacts", ada.id, {"emails": ["nope"], "org": "X"})
    with pytest.raises(ValidationError, match="required"):
        net.edit("contacts", ada.id, {"name": ""})
    assert net.repo.storage.manifest() == before
    assert net.get("contacts", ada.id).values.get("org") is None


def test_an_edit_that_fails_midway_leaves_the_live_documents_untouched(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    doc_id = layout.shard_doc(net.default_circle().id, ada.id)
    with net.lock:
        live = net.repo.get(doc_id)
        heads = live.get_heads()
    with pytest.raises(RuntimeError, match="boom"), net._writing():  # noqa: PT012 - it fails inside the write
        net.edit("contacts", ada.id, {"org": "Half written"})
        raise RuntimeError("boom")
    with net.lock:
        assert net.repo.get(doc_id) is live  # the same object: whoever holds it is not stale
        assert live.get_heads() == heads
    assert net.get("contacts", ada.id).values.get("org") is None
    assert Network.open(net.profile.home).get("contacts", ada.id).values.get("org") is None


def test_unknown_reference_is_refused(net: Network) -> None:
    with pytest.raises(NotFoundError):
        net.add("contacts", {"name": "Bob", "introduced_by": "deadbeef0000"})
    with pytest.raises(NotFoundError):
        net.add("notes", {"title": "x", "contacts": ["deadbeef0000"]})


def test_note_body_is_an_automerge_text_edited_per_character(net: Network) -> None:
    note = net.add("notes", {"title": "T", "body": "hello world"})
    with net.lock:
        doc = net.repo.get(layout.note_doc(net.default_circle().id, note.id))
        obj = crdt.item_obj(doc, "notes", note.id)
        found = doc.get(obj, "body")
        assert found[0] == am.ObjType.Text
        assert doc.length(found[1]) == len("hello world")
    net.splice_note(note.id, 5, 0, ", dear")
    assert net.get("notes", note.id).values["body"] == "hello, dear world"
    net.edit("notes", note.id, {"body": "hello, dear big world!"})
    assert net.get("notes", note.id).values["body"] == "hello, dear big world!"
    with pytest.raises(ValidationError, match="outside"):
        net.splice_note(note.id, 999, 0, "x")


def _pair(tmp_path: Path) -> tuple[Network, Network]:
    from tests.repo_helpers import join

    a = Network.create(tmp_path / "a", "A")
    b = Network.create(tmp_path / "b", "B")
    join(a, b)
    copy_docs(a, b)  # b now holds a's circle, with both as members
    return a, b


def test_concurrent_note_edits_keep_both_words(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    note = a.add("notes", {"title": "Shared", "body": "The quick fox"})
    copy_docs(a, b)
    a.splice_note(note.id, 4, 0, "very ")
    b.splice_note(note.id, 13, 0, " jumps")
    copy_docs(b, a)
    copy_docs(a, b)
    assert a.get("notes", note.id).values["body"] == "The very quick fox jumps"
    assert b.get("notes", note.id).values["body"] == "The very quick fox jumps"


def test_concurrent_contact_field_edits_merge(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    ada = a.add("contacts", {"name": "Ada", "topics": ["maths"]})
    copy_docs(a, b)
    a.edit(
        "contacts",
        ada.id,
        {"org": "Engines"},
    )
    a.edit("contacts", ada.id, {"topics": ["maths", "poetry"]})
    b.edit("contacts", ada.id, {"role": "Analyst", "topics": ["maths", "computing"]})
    copy_docs(b, a)
    merged = a.get("contacts", ada.id).values
    assert merged["org"] == "Engines" and merged["role"] == "Analyst"
    assert sorted(merged["topics"]) == ["computing", "maths", "poetry"]


def test_log_interaction_updates_last_contacted_privately(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    item = net.log_interaction(ada.id, "coffee", "Talked about engines", "2026-01-05")
    assert item.private_item and shared_item(net, "interactions", item.id) is None
    assert net.get("contacts", ada.id).values["last_contacted"] == "2026-01-05"
    net.log_interaction(ada.id, "call", "Older call", "2025-12-01")
    assert net.get("contacts", ada.id).values["last_contacted"] == "2026-01-05"
    assert "last_contacted" not in shared_item(net, "contacts", ada.id)
    shared = net.log_interaction(ada.id, "meeting", "Team sync", "2026-01-06", shared=True)
    assert shared_item(net, "interactions", shared.id)["summary"] == "Team sync"
    assert [i.values["summary"] for i in net.interactions(ada.id)] == [
        "Older call",
        "Talked about engines",
        "Team sync",
    ]
    with pytest.raises(ValidationError, match="must be one of"):
        net.log_interaction(ada.id, "telepathy", "x")


def test_due(net: Network) -> None:
    today = dt.date.today()

    def ago(days: int) -> str:
        return (today - dt.timedelta(days=days)).isoformat()

    late = net.add("contacts", {"name": "Late", "cadence_days": 30, "last_contacted": ago(61)})
    soon = net.add("contacts", {"name": "Soon", "cadence_days": 30, "last_contacted": ago(28)})
    net.add("contacts", {"name": "No cadence", "last_contacted": ago(3000)})
    never = net.add("contacts", {"name": "Never", "cadence_days": 7})
    due = net.due()
    assert [d.contact.id for d in due] == [late.id, never.id]  # never contacted: due at once
    assert [d.days_overdue for d in due] == [31, 0]
    within = net.due(within_days=2)
    assert [d.contact.id for d in within] == [late.id, never.id, soon.id]
    assert within[2].days_overdue == -2


def test_duplicates_and_merge_keep_every_field(net: Network) -> None:
    intro = net.add("contacts", {"name": "Introducer"})
    a = net.add(
        "contacts",
        {
            "name": "Ada Lovelace",
            "emails": ["ada@example.com"],
            "org": "Engines",
            "topics": ["maths"],
        },
    )
    b = net.add(
        "contacts",
        {
            "name": "Lovelace, Ada",
            "emails": ["ADA@example.com", "al@x.org"],
            "org": "Engines Ltd",
            "role": "Analyst",
            "topics": ["poetry"],
            "introduced_by": intro.id,
        },
    )
    c = net.add("contacts", {"name": "Ada Lovelac", "org": "engines"})
    note = net.add("notes", {"title": "About Ada", "contacts": [b.id]})
    pairs = {frozenset((p.first.id, p.second.id)): p for p in net.duplicates()}
    same = pairs[frozenset((a.id, b.id))]
    assert same.reason.startswith("same e-mail ada@example.com; same name at Engines")
    assert len(same.reasons) == 2 and same.score == 100  # the older one's organisation
    assert pairs[frozenset((a.id, c.id))].reason.lower() == "similar name at engines"
    merged = net.merge_contacts(a.id, b.id)
    assert merged.values["emails"] == ["ada@example.com", "al@x.org"]
    assert merged.values["topics"] == ["maths", "poetry"]
    assert merged.values["role"] == "Analyst"
    assert merged.values["introduced_by"] == intro.id
    assert merged.values["org"] == "Engines"
    source = merged.sources[0]
    assert source["merged_id"] == b.id and source["differing"] == ["name", "org"]
    assert source["values"]["org"] == "Engines Ltd"
    assert net.get("notes", note.id).values["contacts"] == [a.id]
    assert net.get("contacts", b.id).id == a.id  # the old id still finds the person
    with pytest.raises(ValidationError, match="itself"):
        net.merge_contacts(a.id, a.id)


def test_search_and_who(net: Network) -> None:
    ada = net.add(
        "contacts",
        {
            "name": "Ada Lovelace",
            "topics": ["Rust", "compilers"],
            "org": "Engines",
            "last_contacted": "2026-01-01",
        },
    )
    bob = net.add("contacts", {"name": "Bob", "topics": ["rust"], "last_contacted": "2026-02-01"})
    cy = net.add("contacts", {"name": "Cy", "topics": ["rustacean community"]})
    dee = net.add("contacts", {"name": "Dee", "role": "Writes Rust at work"})
    net.add(
        "notes",
        {
            "title": "Rust reading",
            "tags": ["rust"],
            "contacts": [cy.id],
            "body": "ownership and borrowing",
        },
    )
    found = net.search("lovel")
    assert [r.id for r in found["contacts"]] == [ada.id]
    assert [r.label for r in net.search("borrowing")["notes"]] == ["Rust reading"]
    assert net.search("") == {"contacts": [], "notes": []}
    ranked = [r.id for r in net.who("RUST")["contacts"]]
    assert ranked[:2] == [bob.id, ada.id]  # exact topic; the later last-contacted first
    assert ranked.index(cy.id) < ranked.index(dee.id)
    assert net.who("rust")["notes"][0].label == "Rust reading"


def test_index_follows_edits_from_another_process(net: Network, home: Path) -> None:
    net.add("contacts", {"name": "Ada"})
    assert [r.label for r in net.search("ada")["contacts"]] == ["Ada"]
    other = Network.open(home)
    other.add("contacts", {"name": "Adalbert"})
    assert SearchIndex.for_profile(net.profile).is_fresh(net)  # the writer kept it fresh
    assert sorted(r.label for r in net.search("ada")["contacts"]) == ["Ada", "Adalbert"]
    # A stale index (a write that bypassed the domain API) is brought up to date by the next
    # reader, which reads again only the document that changed.
    circle = other.default_circle().id
    with other.repo.writing() as work:
        doc = work.doc(layout.shard_doc(circle, "0123456789ab"), create=True)
        with doc.transaction() as tx:
            obj = crdt.ensure_item(tx, "contacts", "0123456789ab")
            crdt.put_scalar(tx, obj, "name", "Adam")
    index = SearchIndex.for_profile(net.profile)
    assert index.stale_docs(net) == {layout.shard_doc(circle, "0123456789ab")}
    assert sorted(r.label for r in net.search("ada")["contacts"]) == ["Ada", "Adalbert", "Adam"]
    assert index.is_fresh(net)


def test_a_copied_profile_keeps_its_index_fresh(net: Network, home: Path, tmp_path: Path) -> None:
    import shutil

    net.add("contacts", {"name": "Ada"})
    net.search("ada")
    net.profile.close()
    SearchIndex.for_profile(net.profile).close()
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    twin = Network.open(copy)
    assert SearchIndex.for_profile(twin.profile).stale_docs(twin) == set()
    assert [r.label for r in twin.search("ada")["contacts"]] == ["Ada"]


def test_an_index_without_its_hay_table_gets_it_from_its_items(net: Network, home: Path) -> None:
    """An index made before the narrow ``hay`` table (what a search scans) is not rebuilt: the
    table is filled from the items' rows when the index is opened."""
    import sqlite3

    net.add("contacts", {"name": "Ada", "org": "Engines"})
    net.add("notes", {"title": "Engines", "body": "on engines"})
    net.index().close()
    with sqlite3.connect(home / "index.sqlite3") as db:  # as an earlier version left it
        db.execute(
            "UPDATE items SET haystack = (SELECT haystack FROM hay WHERE hay.rowid = items.rowid)"
        )
        db.execute("DROP TABLE hay")
    fresh = Network.open(home)
    assert SearchIndex.for_profile(fresh.profile).stale_docs(fresh) == set()
    found = fresh.search("org:engines")
    assert [r.label for r in found["contacts"]] == ["Ada"] and found["notes"] == []
    assert [r.label for r in fresh.search("engines")["notes"]] == ["Engines"]
    SearchIndex.for_profile(fresh.profile).rebuild(fresh)  # everything again, hay included
    assert [r.label for r in fresh.search("org:engines")["contacts"]] == ["Ada"]
    fresh.remove("contacts", fresh.search("ada")["contacts"][0].id)
    assert fresh.search("org:engines")["contacts"] == []  # deleted from the hay table too


def test_damaged_index_is_rebuilt(net: Network, home: Path) -> None:
    net.add("contacts", {"name": "Ada"})
    net.index().close()
    (home / "index.sqlite3").write_bytes(b"garbage" * 100)
    for extra in ("-wal", "-shm"):
        (home / f"index.sqlite3{extra}").unlink(missing_ok=True)
    fresh = Network.open(home)
    assert [r.label for r in fresh.search("ada")["contacts"]] == ["Ada"]


def test_remove_and_restore(net: Network) -> None:
    ada = net.add(
        "contacts",
        {"name": "Ada", "org": "Engines", "remark": "private words"},
        private_fields=["org"],
    )
    removed = net.remove("contacts", ada.id)
    with pytest.raises(NotFoundError):
        net.get("contacts", ada.id)
    assert net.search("ada")["contacts"] == []
    back = net.restore(removed)
    assert back.values == removed.values and back.private == removed.private
    assert [r.id for r in net.search("ada")["contacts"]] == [ada.id]
    secret = net.add("notes", {"title": "Secret"}, private=True)
    assert net.restore(net.remove("notes", secret.id)).private_item


def test_import_merges_by_email_and_reports_rejects(net: Network) -> None:
    from plntui.interop import Draft

    existing = net.add("contacts", {"name": "Ada", "emails": ["ada@example.com"]})
    drafts = [
        Draft({"name": "Ada L.", "emails": ["ADA@example.com"], "org": "Engines"}, "f: 1"),
        Draft({"name": "Bob", "emails": ["bob@example.com"]}, "f: 2"),
        Draft({"name": "", "emails": []}, "f: 3"),
        Draft({"name": "Eve", "emails": ["not-an-email"]}, "f: 4"),
        Draft({"name": "Bobby", "emails": ["bob@example.com"]}, "f: 5"),
    ]
    summary = net.import_contacts(drafts, "f")
    assert [r.label for r in summary.added] == ["Bob"]
    assert [s for _r, s in summary.merged] == ["f: 1", "f: 5"]
    assert [s for s, _why in summary.rejected] == ["f: 3", "f: 4"]
    assert net.get("contacts", existing.id).values["org"] == "Engines"
    assert len(net.contacts()) == 2


def test_reimporting_an_export_merges_by_id(net: Network) -> None:
    from plntui.interop import Draft

    ada = net.add("contacts", {"name": "Ada", "org": "Engines"})
    summary = net.import_contacts(
        [Draft({"id": ada.id, "name": "Ada", "role": "Analyst"}, "x")], "x"
    )
    assert summary.added == [] and len(summary.merged) == 1
    assert net.get("contacts", ada.id).values["role"] == "Analyst"
    assert len(net.contacts()) == 1


def test_a_document_with_a_newer_schema_is_refused(net: Network, home: Path) -> None:
    from plntui.errors import ProfileError

    ada = net.add("contacts", {"name": "Ada"})
    doc_id = layout.shard_doc(net.default_circle().id, ada.id)
    with net.repo.writing() as work, work.doc(doc_id).transaction() as tx:
        tx.put(am.ROOT, "schema", am.ScalarType.Int, layout.SCHEMA_VERSION + 1)
    with pytest.raises(ProfileError, match="newer than this plntui"):
        Network.open(home).get("contacts", ada.id)


def test_editor_saves_merge_with_what_another_process_wrote(net: Network, home: Path) -> None:
    note = net.add("notes", {"title": "T", "body": "Ownership."})
    other = Network.open(home)
    other.splice_note(note.id, 0, 0, "Hello ")  # lands after the editor loaded "Ownership."
    saved = net.edit_note_body(note.id, "Ownership.", "Owner42ship.", {"title": "T2"})
    assert saved.values["body"] == "Hello Owner42ship." and saved.values["title"] == "T2"
    assert Network.open(home).get("notes", note.id).values["body"] == "Hello Owner42ship."


def test_remote_changes_are_stored_and_indexed(tmp_path: Path) -> None:
    a, b = _pair(tmp_path)
    ada = a.add("contacts", {"name": "Ada Lovelace", "topics": ["rust"]})
    a.add("notes", {"title": "Shared reading", "contacts": [ada.id]})
    b.add("contacts", {"name": "Bob"})
    assert b.search("ada")["contacts"] == []
    copy_docs(a, b)
    index = SearchIndex.for_profile(b.profile)
    assert index.is_fresh(b)  # the sync host indexed what it stored: no rebuild
    assert [r.label for r in b.search("ada")["contacts"]] == ["Ada Lovelace"]
    assert [r.label for r in Network.open(tmp_path / "b").who("rust")["contacts"]] == [
        "Ada Lovelace"
    ]
    a.remove("contacts", ada.id)
    copy_docs(a, b)
    assert b.search("ada")["contacts"] == []


def test_reimporting_a_file_without_emails_merges_by_profile_link(net: Network) -> None:
    from plntui.interop import Draft

    drafts = [Draft({"name": "Ada L", "links": ["https://www.linkedin.com/in/ada"]}, "f: 1")]
    assert len(net.import_contacts(drafts, "f").added) == 1
    again = [
        Draft(
            {"name": "Ada L", "links": ["https://www.linkedin.com/in/ada/"], "role": "CTO"}, "f: 1"
        )
    ]
    summary = net.import_contacts(again, "f")
    assert summary.added == [] and len(summary.merged) == 1
    assert [c.values.get("role") for c in net.contacts()] == ["CTO"]


def test_an_import_flags_a_close_name_at_the_same_organisation_as_a_possible_duplicate(
    net: Network,
) -> None:
    from plntui.interop import Draft

    ada = net.add("contacts", {"name": "Ada Lovelace", "org": "Engines", "emails": ["a@x.example"]})
    net.add("contacts", {"name": "Ada Lovelace"})  # no organisation: never compared
    drafts = [
        Draft({"name": "Ada Lovelace", "org": "ENGINES", "emails": ["ada@y.example"]}, "f: 1"),
        Draft({"name": "Grace Hopper", "org": "Engines"}, "f: 2"),
        Draft({"name": "Grace Hoper", "org": "engines"}, "f: 3"),
        Draft({"name": "Bob", "emails": ["A@X.example"]}, "f: 4"),  # merged by e-mail
    ]
    summary = net.import_contacts(drafts, "f")
    assert [r.label for r in summary.added] == ["Ada Lovelace", "Grace Hopper", "Grace Hoper"]
    assert [(a.label, b.label, b.id) for a, b in summary.possible_duplicates] == [
        ("Ada Lovelace", "Ada Lovelace", ada.id),
        ("Grace Hoper", "Grace Hopper", summary.added[1].id),  # one added by the same import
    ]
    assert summary.possible_duplicates[0][1].values["emails"] == ["a@x.example"]
    assert [(r.id, s) for r, s in summary.merged] == [(ada.id, "f: 4")]


def test_an_import_skips_a_possible_duplicate_deleted_since_it_read_the_keys(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plntui.interop import Draft

    ada = net.add("contacts", {"name": "Ada Lovelace", "org": "Engines"})
    read_keys = SearchIndex.match_keys

    def then_deleted(index: SearchIndex) -> Any:
        keys = read_keys(index)
        net.remove("contacts", ada.id)  # by another process or a peer, before the import writes
        return keys

    monkeypatch.setattr(SearchIndex, "match_keys", then_deleted)
    summary = net.import_contacts([Draft({"name": "Ada Lovelace", "org": "Engines"}, "f: 1")], "f")
    assert [r.label for r in summary.added] == ["Ada Lovelace"]
    assert summary.possible_duplicates == []


def test_a_batch_over_the_cache_budget_loads_each_document_it_writes_once(
    net: Network, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documents a unit of work holds do not count against the cache's budget, and stay
    loaded until the index has read them after the commit: trimming the cache then made the
    index load each of them again, and reads inside the batch reloaded the ones just used."""
    from plntui import repo as repo_module

    ids = [net.add("contacts", {"name": f"Person {n}"}).id for n in range(40)]
    net.profile.close()
    fresh = Network.open(home)
    fresh.index()
    fresh.get("contacts", ids[0])
    one = fresh.repo.live(layout.item_doc(fresh.default_circle().id, "contacts", ids[0]))
    assert one is not None
    monkeypatch.setattr(repo_module, "CACHE_BYTES", 3 * repo_module._cost(one))  # 3 shards
    loaded: list[str] = []
    from_stored = repo_module.Repository._from_stored

    def counted(self: Any, stored: Any) -> Any:
        loaded.append(stored.id)
        return from_stored(self, stored)

    monkeypatch.setattr(repo_module.Repository, "_from_stored", counted)
    with fresh.batch():
        for item_id in ids:
            fresh.edit("contacts", item_id, {"org": "Engines"})
    shards = {layout.shard_of(item_id) for item_id in ids}
    assert len(shards) > 10 and len(loaded) == len(set(loaded))  # none loaded twice
    assert {r.values.get("org") for r in fresh.contacts()} == {"Engines"}
    assert len(fresh.repo.loaded()) <= 4  # trimmed to the budget once the index read them


def test_a_dropped_network_is_freed(home: Path) -> None:
    import gc
    import weakref

    net = Network.create(home, "A")
    net.add("contacts", {"name": "Ada"})
    net.search("ada")
    ref = weakref.ref(net.profile)
    del net
    gc.collect()
    assert ref() is None  # the search index cache does not keep the profile alive


def test_editing_only_private_fields_leaves_the_shared_document_alone(net: Network) -> None:
    """A remark or a reminder is this device's own: writing one must not touch the circle's
    document (colleagues would see that something changed)."""
    ada = net.add("contacts", {"name": "Ada Lovelace", "role": "Engineer"})
    with net.lock:
        where = net._where("contacts", ada.id)
        assert where.shared is not None
        before = net.repo.get(where.shared).get_heads()
    net.edit("contacts", ada.id, {"remark": "met at the meetup", "reminder": "ask about rust"})
    with net.lock:
        assert net.repo.get(where.shared).get_heads() == before
    shown = net.get("contacts", ada.id).values
    assert shown["remark"] == "met at the meetup" and shown["role"] == "Engineer"
    net.edit("contacts", ada.id, {"role": "Principal"})
    with net.lock:
        assert net.repo.get(where.shared).get_heads() != before


def test_an_index_locked_by_another_process_while_it_must_be_brought_up_to_date_is_kept(
    net: Network, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index that needs a write to open (made by another version) while another process
    holds its write lock longer than the wait is reported as busy, never taken for damaged
    and deleted under that process; the next open brings it up to date."""
    import sqlite3

    from plntui import index as index_module
    from plntui.errors import ProfileError

    net.add("contacts", {"name": "Ada"})
    net.index().close()
    path = home / "index.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 1")  # as an earlier version left it
    inode = path.stat().st_ino
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing (its lock held)
    other.execute("INSERT INTO meta VALUES ('written-elsewhere', 'yes')")
    monkeypatch.setattr(index_module, "LOCK_TIMEOUT", 0.2)
    fresh = Network.open(home)
    try:
        with pytest.raises(ProfileError, match="stayed locked by another plntui process"):
            fresh.search("ada")
        other.execute("COMMIT")  # what the other process wrote is in the same file
    finally:
        other.close()
    assert path.stat().st_ino == inode  # not deleted and made again
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'written-elsewhere'").fetchone()
    assert [r.label for r in fresh.search("ada")["contacts"]] == ["Ada"]  # brought up to date
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == index_module.INDEX_VERSION


def test_an_edit_while_the_index_is_locked_for_its_upgrade_is_stored_and_reported_done(
    net: Network, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edit is durable before the index is updated: an index that cannot be opened then
    (another process holds it while it must be brought up to date) stays behind, and its next
    reader catches up; the edit is not reported as failed (a retry would add it twice)."""
    import sqlite3

    from plntui import index as index_module

    net.add("contacts", {"name": "Ada"})
    net.index().close()
    path = home / "index.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 1")  # as an earlier version left it
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(index_module, "LOCK_TIMEOUT", 0.2)
    fresh = Network.open(home)
    try:
        grace = fresh.add("contacts", {"name": "Grace"})  # no error
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert fresh.get("contacts", grace.id).label == "Grace"
    assert [r.label for r in fresh.contacts()] == ["Ada", "Grace"]  # the index caught up
