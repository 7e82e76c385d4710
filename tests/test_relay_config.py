"""The relay configuration: the profile's setting, a circle's setting and secret, which relay is
in use, the secrets shared with a peer, and the guard on circles that carry them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import automerge.core as am
import pytest

from plntui import circles as circles_mod
from plntui import layout
from plntui.circles import RELAY_SETTING, Circle, read_circle
from plntui.errors import NotFoundError, ValidationError
from plntui.guard import GuardRefused, check
from plntui.network import Network
from plntui.peersync import open_trust
from plntui.relay_config import (
    EffectiveRelay,
    circle_relay,
    effective_relay,
    profile_relay,
    relay_secrets,
    resolve,
    set_profile_relay,
    shared_secrets,
)
from plntui.settings import read_settings, stamp, update_settings
from sync.relay import RelayAddress

BOB = bytes([0xB0]) * 32
CAROL = bytes([0xCA]) * 32
ME = "ab" * 32


def circle(
    circle_id: str,
    relay: Any = None,
    members: tuple[str, ...] = (ME,),
    secret: bytes | None = None,
) -> Circle:
    settings = {} if relay is None else {RELAY_SETTING: relay}
    return Circle(
        circle_id, circle_id, dict.fromkeys(members, "x"), {}, settings, ME, secret=secret
    )


# -- the profile's setting ---------------------------------------------------------------------


def test_settings_keep_the_keys_a_write_does_not_change(tmp_path: Path) -> None:
    assert read_settings(tmp_path) == {} and stamp(tmp_path) is None
    update_settings(tmp_path, theme="nord")
    first = stamp(tmp_path)
    set_profile_relay(tmp_path, RelayAddress("relay.example", 4001))
    assert read_settings(tmp_path) == {"theme": "nord", "relay": "tcp:relay.example:4001"}
    assert stamp(tmp_path) != first
    update_settings(tmp_path, theme="dracula")
    assert profile_relay(tmp_path) == "tcp:relay.example:4001"
    set_profile_relay(tmp_path, None)
    assert read_settings(tmp_path) == {"theme": "dracula"} and profile_relay(tmp_path) is None


@pytest.mark.parametrize(
    ("stored", "read"),
    [("off", "off"), (" OFF ", "off"), ("", None), (42, None), ("nonsense", "nonsense")],
)
def test_profile_setting_as_stored(tmp_path: Path, stored: Any, read: str | None) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"relay": stored}))
    assert profile_relay(tmp_path) == read


def test_a_damaged_settings_file_reads_as_no_settings(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{not json")
    assert read_settings(tmp_path) == {} and profile_relay(tmp_path) is None
    (tmp_path / "settings.json").write_text("[1, 2]")
    assert read_settings(tmp_path) == {}


# -- which relay is in use ------------------------------------------------------------------------


def test_off_wins_over_every_circle() -> None:
    found = resolve("off", [circle("aa", "tcp:a:1")])
    assert found == EffectiveRelay(None, "off")
    assert "off" in found.describe()


def test_the_profile_address_wins_over_circles() -> None:
    found = resolve("tcp:mine:4001", [circle("aa", "tcp:a:1")])
    assert found.relay == RelayAddress("mine", 4001) and found.source == "profile"
    assert found.describe() == "tcp:mine:4001 (from your profile)"


def test_else_the_first_circle_by_id_with_a_valid_relay() -> None:
    circles = [
        circle("cc", "tcp:c:3"),
        circle("bb", "not an address"),
        circle("aa", "tcp:a:1", members=("ef" * 32,)),  # this device left it
        circle("dd"),
    ]
    found = resolve(None, circles)
    assert found.relay == RelayAddress("c", 3) and found.circle is not None
    assert found.source == "circle" and found.describe() == "tcp:c:3 (from circle cc)"
    assert found.as_dict() == {
        "relay": "tcp:c:3",
        "source": "circle",
        "circle": {"id": "cc", "name": "cc"},
    }


def test_a_profile_setting_that_does_not_parse_falls_back_to_the_circles() -> None:
    assert resolve("garbage", [circle("aa", "tcp:a:1")]).source == "circle"
    assert resolve("garbage", []) == EffectiveRelay(None, "none")


@pytest.mark.parametrize("value", ["tcp:a:0", "tcp:a:99999", "ftp://x", "", "a b:1", 7])
def test_circle_settings_that_are_not_relays_are_ignored(value: Any) -> None:
    assert circle_relay(circle("aa", value)) is None


# -- secrets -------------------------------------------------------------------------------------


def test_shared_secrets_are_those_of_circles_both_are_members_of_by_id() -> None:
    both = (ME, BOB.hex())
    circles = [
        circle("cc", members=both, secret=b"c" * 32),
        circle("aa", members=both, secret=b"a" * 32),
        circle("bb", members=both),  # no secret yet
        circle("dd", members=(ME, CAROL.hex()), secret=b"d" * 32),
        circle("ee", members=(BOB.hex(),), secret=b"e" * 32),  # this device is no member
    ]
    assert shared_secrets(circles, BOB) == [b"a" * 32, b"c" * 32]
    assert shared_secrets(circles, CAROL) == [b"d" * 32]
    assert shared_secrets(circles, bytes(32)) == []


def test_a_new_circle_has_a_secret_that_syncs_with_it(net: Network) -> None:
    made = net.create_circle("Data team")
    assert made.secret is not None and len(made.secret) == 32
    assert net.default_circle().secret is not None
    assert made.secret != net.default_circle().secret
    assert "secret" not in json.dumps(made.to_json())


def without_secret(net: Network, circle_id: str) -> None:
    """The circle as an older plntui made it."""
    with net.batch():
        doc = net._work.doc(layout.circle_doc(circle_id))
        with doc.transaction() as tx:
            tx.delete(am.ROOT, circles_mod.SECRET_KEY)
    assert net.circles()[circle_id].secret is None


def test_circles_without_a_secret_get_one(net: Network) -> None:
    own, team = net.default_circle().id, net.create_circle("Team").id
    without_secret(net, own)
    without_secret(net, team)
    kept = net.circles()
    assert net.ensure_circle_secrets([team]) == [team]
    assert net.circles()[own].secret is None
    assert sorted(net.ensure_circle_secrets()) == [own]
    assert net.ensure_circle_secrets() == []
    assert all(c.secret is not None for c in net.circles().values())
    assert kept[team].secret is None  # what was read before stays as it was


def test_two_members_writing_a_secret_at_once_converge(tmp_path: Path) -> None:
    a = layout.new_document("circle", b"\x01" * 16)
    with a.transaction() as tx:
        circles_mod.write_name(tx, "Team")
    b = a.fork()
    b.set_actor(b"\x02" * 16)
    with a.transaction() as tx:
        circles_mod.write_secret(tx)
    with b.transaction() as tx:
        circles_mod.write_secret(tx)
    assert circles_mod.read_secret(a) != circles_mod.read_secret(b)
    a.merge(b)
    b.merge(a)
    assert circles_mod.read_secret(a) == circles_mod.read_secret(b) is not None


def test_relay_secrets_reads_the_network(net: Network) -> None:
    open_trust(net.profile.home).trust(BOB, "Bob")
    team = net.create_circle("Team")
    assert relay_secrets(net, BOB) == []
    net.add_member(team.id, BOB)
    assert relay_secrets(net, BOB) == [team.secret]


# -- a circle's relay setting --------------------------------------------------------------------


def test_a_circle_setting_is_written_for_its_members_and_removed(net: Network) -> None:
    team = net.create_circle("Team")
    changed = net.set_circle_setting("team", RELAY_SETTING, "tcp:relay.example:4001")
    assert changed.relay_text == "tcp:relay.example:4001"
    assert effective_relay(net).describe() == "tcp:relay.example:4001 (from circle Team)"
    heads = net.repo.get(layout.circle_doc(team.id)).get_heads()
    net.set_circle_setting(team.id, RELAY_SETTING, "tcp:relay.example:4001")
    assert net.repo.get(layout.circle_doc(team.id)).get_heads() == heads  # nothing to write
    set_profile_relay(net.profile.home, "off")
    assert effective_relay(net).source == "off"
    set_profile_relay(net.profile.home, None)
    assert net.set_circle_setting("Team", RELAY_SETTING, None).relay_text is None
    assert effective_relay(net).source == "none"


def test_a_circle_setting_needs_a_member(net: Network) -> None:
    team = net.create_circle("Team")
    net.leave_circle(team.id)
    with pytest.raises(ValidationError, match="not a member"):
        net.set_circle_setting(team.id, RELAY_SETTING, "tcp:a:1")
    with pytest.raises(NotFoundError):
        net.set_circle_setting("nope", RELAY_SETTING, "tcp:a:1")


# -- the guard on circles from peers ---------------------------------------------------------------


def circle_doc(**root: Any) -> tuple[str, am.Document]:
    doc = layout.new_document("circle", b"\x05" * 16)
    with doc.transaction() as tx:
        circles_mod.write_name(tx, "Team")
        circles_mod.put_member(tx, ME, "me")
        for key, (kind, value) in root.items():
            tx.put(am.ROOT, key, kind, value)
    return "c:" + "0" * 16, doc


def test_the_guard_accepts_a_circle_with_a_secret_and_a_relay() -> None:
    doc_id, doc = circle_doc()
    with doc.transaction() as tx:
        circles_mod.write_secret(tx)
        circles_mod.put_setting(tx, RELAY_SETTING, "tcp:relay.example:4001")
        circles_mod.put_setting(tx, "future", "a setting a newer plntui writes")
        crdt_settings = tx.get(am.ROOT, "settings")[1]
        tx.put(crdt_settings, "count", am.ScalarType.Int, 3)
    check(doc_id, doc, None)
    read = read_circle(doc, doc_id[2:], ME)
    assert read.secret is not None and read.relay_text == "tcp:relay.example:4001"
    # text that is no address passes the guard and is ignored where it is read
    with doc.transaction() as tx:
        circles_mod.put_setting(tx, RELAY_SETTING, "udp:somewhere")
    check(doc_id, doc, None)
    assert circle_relay(read_circle(doc, doc_id[2:], ME)) is None


@pytest.mark.parametrize(
    "secret",
    [
        (am.ScalarType.Str, "ab" * 31),  # too short
        (am.ScalarType.Str, "ab" * 33),  # too long
        (am.ScalarType.Str, "AB" * 32),  # not as plntui writes it
        (am.ScalarType.Str, "zz" * 32),
        (am.ScalarType.Int, 7),
        (am.ScalarType.Bytes, b"\x01" * 32),
    ],
)
def test_the_guard_refuses_a_malformed_secret(secret: tuple[Any, Any]) -> None:
    doc_id, doc = circle_doc(secret=secret)
    with pytest.raises(GuardRefused, match="malformed secret"):
        check(doc_id, doc, None)
    assert read_circle(doc, doc_id[2:], ME).secret is None  # and reading ignores it


def test_the_guard_refuses_a_secret_that_is_an_object() -> None:
    doc_id, doc = circle_doc()
    with doc.transaction() as tx:
        tx.put_object(am.ROOT, circles_mod.SECRET_KEY, am.ObjType.Map)
    with pytest.raises(GuardRefused, match="malformed secret"):
        check(doc_id, doc, None)
    assert read_circle(doc, doc_id[2:], ME).secret is None


@pytest.mark.parametrize(
    "setting",
    [
        ("relay", am.ScalarType.Int, 4001),
        ("relay", am.ScalarType.Str, "tcp:" + "a" * 400 + ":1"),
        ("other", am.ScalarType.Bytes, b"\x00"),
        ("k" * 65, am.ScalarType.Str, "x"),
    ],
)
def test_the_guard_refuses_a_malformed_setting(setting: tuple[str, Any, Any]) -> None:
    key, kind, value = setting
    doc_id, doc = circle_doc()
    with doc.transaction() as tx:
        tx.put(tx.get(am.ROOT, "settings")[1], key, kind, value)
    with pytest.raises(GuardRefused, match="malformed setting"):
        check(doc_id, doc, None)


def test_the_guard_refuses_a_setting_that_is_an_object() -> None:
    doc_id, doc = circle_doc()
    with doc.transaction() as tx:
        tx.put_object(tx.get(am.ROOT, "settings")[1], "relay", am.ObjType.List)
    with pytest.raises(GuardRefused, match="malformed setting"):
        check(doc_id, doc, None)
