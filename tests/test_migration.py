"""Migration of plntui 0.1 profiles (one network document) to the repository of documents.

``tests/data/legacy-profiles-v1.tar.gz`` holds two profiles made by plntui 0.1 itself
(``tests/data/legacy-profiles-v1.sh`` is the script that made them): Alice and Bob, who paired
and synced, then each edited a contact the other did not see. Alice's profile has private
contacts, private fields, private notes, a shared and a private interaction, a merged contact,
a deleted contact, a contact introduced by another, and Bob marked as an introducer.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from plntui import layout
from plntui.migrate import LEGACY_NAME
from plntui.network import Network
from plntui.profile import Profile
from plntui.storage import Storage
from tests.repo_helpers import copy_docs

DATA = Path(__file__).with_name("data") / "legacy-profiles-v1.tar.gz"
ADA, GRACE, SECRET, DUP, KENJI = (
    "f7d3de6b8bbd",
    "63922075336e",
    "5d4eb417d155",
    "7ca7b2b705cb",
    "7787a8b26929",
)
READING, PRIVATE_PLAN, BOBS_NOTE, BOBS_MENTOR = (
    "b5ceb9ce7e90",
    "56aa80e23bff",
    "282cc5e92937",
    "934c084f9c3a",
)


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    with tarfile.open(DATA) as archive:
        archive.extractall(tmp_path, filter="data")
    for key in tmp_path.glob("*/identity/key.pem"):
        os.chmod(key, 0o600)  # as plntui made it (archives may widen it)
    return tmp_path


def test_a_0_1_profile_opens_migrated_with_nothing_lost(legacy: Path) -> None:
    home = legacy / "alice"
    assert Profile.is_legacy(home)
    net = Network.open(home)
    assert not Profile.is_legacy(home)
    meta = json.loads((home / "profile.json").read_text())
    assert meta["format"] == 2 and meta["default_circle"] == layout.LEGACY_CIRCLE
    # the 0.1 files are kept, never deleted
    assert sorted(p.name for p in (home / "legacy").iterdir()) == [
        "network.log",
        "network.snapshot",
        "private.log",
        "private.snapshot",
    ]
    circle = net.circles()[layout.LEGACY_CIRCLE]
    assert circle.name == LEGACY_NAME and circle.member
    bob_fp = next(p.fingerprint for p in _trust(home).peers() if p.name == "Bob")
    assert circle.has(bob_fp)  # every trusted peer is a member: sharing goes on as before

    contacts = {c.id: c for c in net.contacts()}
    assert set(contacts) == {ADA, GRACE, SECRET, KENJI, BOBS_MENTOR}
    ada = net.get("contacts", ADA)
    assert ada.circle == layout.LEGACY_CIRCLE
    assert ada.values["emails"] == ["ada@example.com", "ada.l@example.com"]
    assert ada.values["topics"] == ["machine learning", "rust", "babbage"]
    assert ada.values["cadence_days"] == 30 and ada.is_private("cadence_days")
    assert ada.sources and ada.sources[0]["merged_id"] == DUP  # provenance of the merge
    assert net.get("contacts", DUP[:6]).id == ADA  # the merged-away id still finds her
    grace = net.get("contacts", GRACE)
    assert grace.values["phones"] == ["+1 555 0100"] and grace.is_private("phones")
    assert grace.values["remark"] == "Ask about nanoseconds" and grace.values["rating"] == 5
    assert grace.values["role"] == "Rear Admiral"  # edited after the last sync
    secret = net.get("contacts", SECRET)
    assert secret.private_item and secret.circle == ""
    assert net.get("contacts", KENJI).values["introduced_by"] == ADA
    # who added what survives, names included (the device registry moved to the circle)
    assert net.device_name(ada.values["added_by"]) == "Alice Example"
    mentor = net.get("contacts", BOBS_MENTOR)
    assert net.device_name(mentor.values["added_by"]) == "Bob Builder"

    notes = {n.id: n for n in net.notes()}
    assert set(notes) == {READING, PRIVATE_PLAN, BOBS_NOTE}
    reading = net.get("notes", READING)
    assert reading.values["body"].startswith("# Reading list")
    assert reading.values["remark"] == "my own remark" and reading.is_private("remark")
    assert reading.values["contacts"] == [ADA]
    assert net.get("notes", PRIVATE_PLAN).private_item
    talks = {i.values["summary"]: i for i in net.interactions(ADA)}
    assert talks["Talked about her compiler work"].private_item
    shared_talk = net.interactions(GRACE)[0]
    assert not shared_talk.private_item and shared_talk.circle == layout.LEGACY_CIRCLE
    # nothing private went to a shared document
    for doc_id in net.repo.storage.manifest([layout.LEGACY_CIRCLE]):
        data = net.repo.storage.load(doc_id).data  # type: ignore[union-attr]
        assert b"nanoseconds" not in data and b"own remark" not in data, doc_id
    # the introducer and what's new are still there
    assert _trust(home).get(bob_fp).introducer  # type: ignore[union-attr]
    assert (home / "seen.json").exists()
    # and it works: a new contact goes to the migrated circle, and another process sees it
    added = net.add("contacts", {"name": "After migration"})
    assert added.circle == layout.LEGACY_CIRCLE
    assert "After migration" in {c.label for c in Network.open(home).contacts()}


def test_two_colleagues_who_synced_end_up_in_one_circle_without_duplicates(
    legacy: Path,
) -> None:
    alice = Network.open(legacy / "alice")
    bob = Network.open(legacy / "bob")
    assert alice.default_circle().id == bob.default_circle().id == layout.LEGACY_CIRCLE
    # the same item, migrated on two devices, was written by the very same change: the
    # documents of items neither changed since their last sync are identical
    common = {
        d: g
        for d, g in alice.repo.storage.manifest([layout.LEGACY_CIRCLE]).items()
        if d.startswith("n:")
    }
    theirs = bob.repo.storage.manifest([layout.LEGACY_CIRCLE])
    assert (
        common[layout.note_doc(layout.LEGACY_CIRCLE, READING)]
        == theirs[layout.note_doc(layout.LEGACY_CIRCLE, READING)]
    )
    copy_docs(alice, bob)
    copy_docs(bob, alice)
    for net in (alice, bob):
        names = [c.label for c in net.contacts() if not c.private_item]
        assert sorted(names) == sorted(set(names))  # one of each, no duplicates
        assert {"Ada Lovelace", "Grace Hopper", "Bob's Mentor"} <= set(names)
        assert len([n for n in net.notes() if n.label == "Reading list"]) == 1
    # each side edited one contact after their last 0.1 sync: the later version is the one
    # in view, the same on both sides
    assert alice.get("contacts", GRACE).values["role"] == "Rear Admiral"  # Alice's edit
    assert bob.get("contacts", GRACE).values["role"] == "Rear Admiral"
    assert alice.get("contacts", ADA).values["role"] == "Countess"  # Bob's edit
    assert bob.get("contacts", ADA).values["role"] == "Countess"
    # what neither changed is not duplicated in history either: one change made it
    assert alice.repo.storage.manifest([layout.LEGACY_CIRCLE]) == bob.repo.storage.manifest(
        [layout.LEGACY_CIRCLE]
    )


def test_a_crash_during_migration_leaves_the_0_1_profile_as_it_was(
    legacy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = legacy / "alice"
    before = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
    from plntui import migrate

    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(migrate, "_set_aside", crash)
    monkeypatch.setattr(migrate.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        Network.open(home)
    monkeypatch.undo()
    assert Profile.is_legacy(home)
    after = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
    for name, data in before.items():
        assert after[name] == data, name
    assert {c.id for c in Network.open(home).contacts()} >= {ADA, GRACE, SECRET}


def test_the_cli_migrates_too(legacy: Path) -> None:
    import subprocess
    import sys

    home = legacy / "bob"
    result = subprocess.run(
        [sys.executable, "-m", "plntui", "--home", str(home), "contact", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = {c["name"]: c for c in json.loads(result.stdout)}
    assert listed["Bob's Mentor"]["circle"] == LEGACY_NAME
    assert Storage(home / "repo.sqlite3").manifest()


def _trust(home: Path):  # type: ignore[no-untyped-def]
    from plntui.peersync import open_trust

    return open_trust(home)


def test_the_archived_profiles_were_made_by_plntui_0_1() -> None:
    with tarfile.open(DATA) as archive:
        names = set(archive.getnames())
    assert {"alice/network.snapshot", "alice/private.log", "bob/network.log"} <= names
    assert not any(name.endswith("repo.sqlite3") for name in names)
    assert shutil.which("tar") is None or DATA.stat().st_size < 64 * 1024
