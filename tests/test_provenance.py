"""Tests of who changed what: actor ids from the identity, the device registry, per-record
provenance across a merge, the "added by" filter and what's new."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plntui import crdt, layout, provenance
from plntui.catalog import Catalog, contact_columns
from plntui.errors import ValidationError
from plntui.network import Network
from plntui.peersync import load_identity, public_fingerprint
from plntui.profile import Profile, actor_from_fingerprint
from tests.repo_helpers import copy_docs, join


def exchange(src: Network, dst: Network) -> None:
    """What a sync does: the sender's shared documents, checked and stored by the receiver."""
    copy_docs(src, dst)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Network, Network]:
    alice, bob = (
        Network.create(tmp_path / "alice", "Alice"),
        Network.create(tmp_path / "bob", "Bob"),
    )
    join(alice, bob)
    return alice, bob


def test_actor_id_derives_from_the_identity_fingerprint(tmp_path: Path) -> None:
    net = Network.create(tmp_path / "a", "Alice")
    identity = load_identity(net.profile.home)
    assert public_fingerprint(net.profile.home) == identity.fingerprint
    expected = actor_from_fingerprint(identity.fingerprint, net.profile.meta.device_id)
    assert len(expected) == 16 and net.profile.actor == expected
    net.add("contacts", {"name": "Ada"})
    net.add("notes", {"title": "Reading list"}, private=True)
    again = Network.open(net.profile.home)
    with again.lock:
        for doc_id in again.repo.storage.manifest():
            doc = again.repo.get(doc_id)
            actors = {c.actor_id for c in doc.get_changes([])} - {layout.GENESIS_ACTOR}
            assert actors == {expected}, doc_id
    assert again.device_id == expected.hex()


def test_two_profiles_have_different_actors_and_the_registry_names_both(
    pair: tuple[Network, Network],
) -> None:
    alice, bob = pair
    assert alice.device_id != bob.device_id
    ada = alice.add("contacts", {"name": "Ada Lovelace"})
    exchange(alice, bob)
    bob.edit("contacts", ada.id, {"org": "Analytical Engines"})
    note = bob.add("notes", {"title": "Compilers", "body": "Grace's notes"})
    exchange(bob, alice)

    registry = alice.device_registry()
    assert registry[alice.device_id]["name"] == "Alice"
    assert registry[bob.device_id]["name"] == "Bob"
    assert registry[bob.device_id]["fingerprint"] == bob.profile.fingerprint.hex()
    assert registry[bob.device_id]["registered"]

    merged = alice.get("contacts", ada.id)
    assert merged.values["added_by"] == alice.device_id
    assert merged.values["changed_by"] == bob.device_id
    line = provenance.provenance(alice, merged).line()
    assert line.startswith("Added by Alice (") and "· changed by Bob (" in line
    mine = alice.get("notes", note.id)
    assert mine.values["author"] == bob.device_id
    assert provenance.provenance(alice, mine).line().startswith("Added by Bob")

    # Alice splices the note body: the change is hers, and Bob learns it after the next sync.
    alice.splice_note(note.id, 0, 0, "My ")
    exchange(alice, bob)
    assert bob.get("notes", note.id).values["changed_by"] == alice.device_id
    assert bob.device_name(alice.device_id) == "Alice"


def test_unknown_actor_shows_short_hex_and_peer_names_are_sanitised(
    pair: tuple[Network, Network],
) -> None:
    alice, bob = pair
    assert alice.device_name("0123456789abcdef0123456789abcdef") == "01234567"
    bob.add("contacts", {"name": "Ada"})
    circle = layout.circle_doc(bob.default_circle().id)
    with bob.repo.writing() as work, work.doc(circle).transaction() as tx:
        # a hostile peer writes its own registry entry
        obj = crdt.item_obj(tx, "devices", bob.device_id)
        crdt.put_scalar(tx, obj, "name", "\x1b[31mEvil\x07 [bold]Bob[/]\n")
    exchange(bob, alice)
    assert alice.device_name(bob.device_id) == "[31mEvil [bold]Bob[/]"
    assert "\x1b" not in provenance.provenance(alice, alice.contacts()[0]).line()


def test_renaming_updates_the_registry(pair: tuple[Network, Network]) -> None:
    alice, bob = pair
    alice.add("contacts", {"name": "Ada"})
    alice.rename_device("Alice Smith")
    exchange(alice, bob)
    assert bob.devices()[alice.device_id] == "Alice Smith"
    assert Network.open(alice.profile.home).profile.meta.name == "Alice Smith"
    with pytest.raises(ValidationError):
        alice.rename_device("  \x07 ")
    assert alice.profile.meta.name == "Alice Smith"


def test_a_profile_whose_identity_is_lost_gets_a_new_one_and_stays_in_its_circles(
    tmp_path: Path,
) -> None:
    net = Network.create(tmp_path / "old", "Old")
    record = net.add("contacts", {"name": "Ada"})
    circle = net.default_circle().id
    old_fp, old_actor = net.profile.fingerprint, net.device_id
    net.profile.close()
    shutil.rmtree(net.profile.home / "identity")
    new = Network.open(net.profile.home)
    assert new.profile.fingerprint not in (None, old_fp)
    assert new.device_id != old_actor and old_actor in new.own_ids
    assert new.circles()[circle].member  # the new fingerprint joined the circle it was in
    assert old_fp.hex() in new.circles()[circle].members
    new.edit("contacts", record.id, {"org": "Engines"})
    assert provenance.whats_new(new, "") == []  # both ids are this device's own


def test_a_profile_created_again_beside_a_kept_identity_gets_a_new_actor(tmp_path: Path) -> None:
    home = tmp_path / "again"
    first = Network.create(home, "Alice")
    first.add("contacts", {"name": "Ada"})
    bob = Network.create(tmp_path / "bob", "Bob")
    join(first, bob)
    exchange(first, bob)
    first.profile.close()
    for item in home.iterdir():  # start over, but keep the key and the pairings
        if item.name not in ("identity", "peers.json"):
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    second = Network.create(home, "Alice")
    assert second.profile.fingerprint == first.profile.fingerprint
    assert second.profile.actor != first.profile.actor
    copy_docs(bob, second)  # bob gives the circle back, and Alice writes into it again
    second.add("contacts", {"name": "Grace"}, circle=first.default_circle().id)
    exchange(second, bob)  # Automerge would refuse a second history of one actor
    assert {r.values["name"] for r in bob.list("contacts")} == {"Ada", "Grace"}


def test_repair_gives_the_profile_a_new_actor_and_keeps_the_old_one_its_own(
    tmp_path: Path,
) -> None:
    import sqlite3

    net = Network.create(tmp_path / "r", "Alice")
    ada = net.add("contacts", {"name": "Ada"})
    before = net.device_id
    net.profile.close()
    db = sqlite3.connect(net.profile.home / "repo.sqlite3")
    doc_id = layout.shard_doc(net.default_circle().id, ada.id)
    data = bytearray(db.execute("SELECT snapshot FROM docs WHERE id = ?", (doc_id,)).fetchone()[0])
    data[len(data) // 2] ^= 0xFF  # a damaged snapshot of a shared document
    db.execute("UPDATE docs SET snapshot = ? WHERE id = ?", (bytes(data), doc_id))
    db.commit()
    db.close()
    assert Profile.open(net.profile.home).repair()
    again = Network.open(net.profile.home)
    assert again.device_id != before and before in again.own_ids
    assert again.profile.meta.former_actors == (before,)
    assert Profile.open(net.profile.home).repair() == []  # nothing damaged: the actor stays
    assert Network.open(net.profile.home).device_id == again.device_id


def test_added_by_filter_in_the_index_and_the_catalog(pair: tuple[Network, Network]) -> None:
    alice, bob = pair
    alice.add("contacts", {"name": "Ada Lovelace", "topics": ["bob's topic"]})
    bob.add("contacts", {"name": "Grace Hopper"})
    exchange(bob, alice)
    actors = provenance.actors_named(alice, "bo")
    assert actors == {bob.device_id}
    assert [r.label for r in alice.index().created_by("contacts", actors)] == ["Grace Hopper"]
    assert provenance.actors_named(alice, "me") == set(alice.own_ids)
    assert provenance.actors_named(alice, "nobody") == set()

    catalog = Catalog(contact_columns())
    catalog.resolve_by = lambda text: provenance.actors_named(alice, text)
    catalog.load_lazy(alice.index().lazy_rows("contacts"), sorted_by="name")
    assert [r.id for r in catalog.apply_filter("by:")] == [r.id for r in catalog.rows]
    assert [r.record.label for r in catalog.apply_filter("by:bob")] == ["Grace Hopper"]
    assert [r.record.label for r in catalog.apply_filter("by:alice")] == ["Ada Lovelace"]
    assert [r.record.label for r in catalog.apply_filter("by:alice ada")] == ["Ada Lovelace"]
    assert catalog.apply_filter("by:carol") == []
    assert [r.record.label for r in catalog.apply_filter("bob")] == ["Ada Lovelace"]  # a word
    catalog.apply_filter("")
    for typed in ("b", "by", "by:", "by:b", "by:bo"):  # typed key by key: no stale narrowing
        catalog.apply_filter(typed)
    assert [r.record.label for r in catalog.visible] == ["Grace Hopper"]


def test_whats_new_lists_what_others_did_since_the_mark(pair: tuple[Network, Network]) -> None:
    alice, bob = pair
    ada = alice.add("contacts", {"name": "Ada"})
    alice.add("notes", {"title": "Alice's own note"})
    exchange(alice, bob)
    assert provenance.whats_new(alice) == []  # only her own edits so far
    grace = bob.add("contacts", {"name": "Grace"})
    bob.edit("contacts", ada.id, {"org": "Engines"})
    note = bob.add("notes", {"title": "Compilers"})
    bob.add("notes", {"title": "Bob's private note"}, private=True)
    exchange(bob, alice)

    fresh = Network.open(alice.profile.home)  # what's new reads the index, no document
    items = provenance.whats_new(fresh)
    assert all(doc_id.startswith("c:") for doc_id in fresh.repo.loaded())
    seen = {(i.record.id, i.what, i.who) for i in items}
    assert seen == {
        (grace.id, "added", "Bob"),
        (ada.id, "changed", "Bob"),
        (note.id, "added", "Bob"),
    }
    assert items == sorted(items, key=lambda i: i.when, reverse=True)

    mark = provenance.mark_seen(alice.profile)
    assert provenance.last_seen(alice.profile) == mark
    assert provenance.whats_new(alice) == []
    assert len(provenance.whats_new(alice, "")) == 3  # "ever" still lists them
    assert provenance.mark_seen(alice.profile, "2000-01-01T00:00:00Z") == mark  # never back


def test_a_stamp_from_the_future_never_hides_what_comes_next(
    pair: tuple[Network, Network], monkeypatch: pytest.MonkeyPatch
) -> None:
    import plntui.network as network_module

    alice, bob = pair
    monkeypatch.setattr(network_module, "now_stamp", lambda: "2099-01-01T00:00:00Z")
    bob.add("contacts", {"name": "From a clock far ahead"})
    monkeypatch.undo()
    exchange(bob, alice)
    monkeypatch.setattr(provenance, "now_stamp", lambda: "2026-01-01T00:00:00Z")  # our clock
    mark = provenance.mark_seen(alice.profile, "2099-01-01T00:00:00Z")
    assert mark == "2026-01-01T00:00:00Z"  # clamped to our clock
    monkeypatch.undo()
    bob.add("contacts", {"name": "Grace"})
    exchange(bob, alice)
    names = {i.record.values["name"] for i in provenance.whats_new(alice)}
    assert "Grace" in names


def test_whats_new_since_a_stamp(pair: tuple[Network, Network]) -> None:
    alice, bob = pair
    bob.add("contacts", {"name": "Grace"})
    exchange(bob, alice)
    stamp = alice.contacts()[0].values["created"]
    assert provenance.whats_new(alice, stamp) == []
    assert [i.record.label for i in provenance.whats_new(alice, "2000-01-01T00:00:00Z")] == [
        "Grace"
    ]


# -- command line ----------------------------------------------------------------------------------


def cli(home: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    from plntui.cli import main

    status = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    assert status == code, (status, captured.out, captured.err)
    return captured.out if code == 0 else captured.err


def test_cli_show_list_added_by_and_whatsnew(
    pair: tuple[Network, Network], capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = pair
    home = alice.profile.home
    ada = alice.add("contacts", {"name": "Ada Lovelace"})
    exchange(alice, bob)
    bob.edit("contacts", ada.id, {"org": "Engines"})
    grace = bob.add("contacts", {"name": "Grace Hopper"})
    note = bob.add("notes", {"title": "Compilers"})
    exchange(bob, alice)

    shown = cli(home, capsys, "contact", "show", ada.id)
    assert "Added by Alice (" in shown and "· changed by Bob (" in shown
    assert "Added by Bob (" in cli(home, capsys, "note", "show", note.id)

    listed = cli(home, capsys, "contact", "list", "--added-by", "BOB")
    assert grace.id in listed and ada.id not in listed
    assert note.id in cli(home, capsys, "note", "list", "--added-by", "bob")
    err = cli(home, capsys, "contact", "list", "--added-by", "carol", code=2)
    assert "no device is named 'carol'" in err and "Alice, Bob" in err

    new = cli(home, capsys, "whatsnew")
    assert f"Bob added contact Grace Hopper ({grace.id})" in new
    assert f"Bob changed contact Ada Lovelace ({ada.id})" in new
    assert f"Bob added note Compilers ({note.id})" in new
    assert "Nothing new" not in new
    cli(home, capsys, "whatsnew", "--mark-seen")
    assert "Nothing new from colleagues since" in cli(home, capsys, "whatsnew")
    assert grace.id in cli(home, capsys, "whatsnew", "--all")

    assert "Renamed Alice to Alice Smith" in cli(home, capsys, "rename", "Alice Smith")
    assert "must not be empty" in cli(home, capsys, "rename", " ", code=2)
    assert "Alice Smith" in cli(home, capsys, "contact", "show", ada.id)


def test_after_concurrent_edits_the_winning_stamp_and_author_agree(
    pair: tuple[Network, Network], monkeypatch: pytest.MonkeyPatch
) -> None:
    import plntui.network as network_module

    alice, bob = pair
    ada = alice.add("contacts", {"name": "Ada"})
    exchange(alice, bob)
    alice.edit("contacts", ada.id, {"org": "Engines"})  # Alice is already the last changer
    exchange(alice, bob)
    monkeypatch.setattr(network_module, "now_stamp", lambda: "2030-01-01T00:00:01Z")
    alice.edit("contacts", ada.id, {"role": "Analyst"})  # both edit again, concurrently
    monkeypatch.setattr(network_module, "now_stamp", lambda: "2030-01-01T00:00:02Z")
    bob.edit("contacts", ada.id, {"topics": ["maths"]})
    exchange(alice, bob)
    exchange(bob, alice)
    merged = alice.get("contacts", ada.id).values
    assert merged == bob.get("contacts", ada.id).values
    winner = alice if merged["updated"] == "2030-01-01T00:00:01Z" else bob
    assert merged["changed_by"] == winner.device_id
