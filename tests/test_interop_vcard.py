"""Tests for the vCard fields beyond the basics: structured names, NICKNAME, BDAY, ADR, NOTE as a
private remark, field by field round trips, and how khard reads plntui's cards."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import automerge.core as am
import pytest
import vobject
from khard.contacts import VCardWrapper

from plntui import crdt, layout
from plntui.cli import main
from plntui.guard import GuardRefused, check
from plntui.interop import contacts_to_vcards, parse_vcards, split_name
from plntui.model import CONTACT_FIELDS, Record, check_new, empty_value

RENE = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:René Ünal 李\r\nN:Ünal;René;;;\r\nEND:VCARD\r\n"
GRACE = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Hopper;Grace;Brewster;Rear Admiral;\r\nFN:Grace Hopper\r\n"
    "NICKNAME:Amazing Grace,Grandma COBOL\r\nBDAY:1906-12-09\r\n"
    "ADR;TYPE=WORK:;;Navy Yard;Washington;DC;20374;USA\r\n"
    "item1.ADR;TYPE=HOME;TYPE=pref:PO Box 7;Apt 2;1 Main St\\, Rear;Arlington;VA;22201;USA\r\n"
    "EMAIL;TYPE=INTERNET:grace@navy.example\r\nORG:US Navy\r\nTITLE:Rear Admiral\r\n"
    "NOTE:COBOL ❤ and debugging\\nkeeps a clock that runs backwards\r\nEND:VCARD\r\n"
)


def imported(text: str) -> list[Record]:
    """Cards as the domain would store them: read, validated, made records."""
    drafts, rejected = parse_vcards(text, "in.vcf")
    assert rejected == []
    return [
        Record("contacts", f"{n:012x}", check_new("contacts", _no_id(d.values)))
        for n, d in enumerate(drafts, 1)
    ]


def _no_id(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "id"}


def card_lines(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_structured_names_keep_their_parts_through_import_and_export() -> None:
    (rene,) = imported(RENE)
    assert (rene["given_name"], rene["family_name"]) == ("René", "Ünal")
    assert "N:Ünal;René;;;" in card_lines(contacts_to_vcards([rene]))
    (grace,) = imported(GRACE)
    assert "N:Hopper;Grace;Brewster;Rear Admiral;" in card_lines(contacts_to_vcards([grace]))


def test_parts_the_name_gives_are_not_stored_and_stale_parts_are_not_written() -> None:
    (ada,) = imported("BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nN:Lovelace;Ada;;;\nEND:VCARD\n")
    assert not {"given_name", "family_name"} & set(ada.values)
    assert "N:Lovelace;Ada;;;" in card_lines(contacts_to_vcards([ada]))
    (guido,) = imported("BEGIN:VCARD\nVERSION:3.0\nN:van Rossum;Guido;;;\nEND:VCARD\n")
    assert guido["name"] == "Guido van Rossum" and guido["family_name"] == "van Rossum"
    # renamed since: the old parts no longer fit, the name's own parts are written
    (grace,) = imported(GRACE)
    grace.values["name"] = "Amazing Grace"
    assert "N:Grace;Amazing;;;" in card_lines(contacts_to_vcards([grace]))
    assert split_name("Dr. Ada King Lovelace, PhD") == ["Lovelace", "Ada", "King", "Dr.", "PhD"]


def test_nickname_birthday_and_address_are_imported_and_exported() -> None:
    (grace,) = imported(GRACE)
    assert grace["nickname"] == "Amazing Grace, Grandma COBOL"
    assert grace["birthday"] == "1906-12-09"
    # the preferred ADR, its parts on one line (a list part keeps its comma)
    assert grace["address"] == "PO Box 7, Apt 2, 1 Main St, Rear, Arlington, VA, 22201, USA"
    # NOTE: free text about the person, the private remark; "how you met" stays empty
    assert grace["remark"] == "COBOL ❤ and debugging\nkeeps a clock that runs backwards"
    assert grace["met"] == ""
    lines = card_lines(contacts_to_vcards([grace]))
    assert "NICKNAME:Amazing Grace\\, Grandma COBOL" in lines
    assert "BDAY:1906-12-09" in lines
    assert (
        "ADR:;;PO Box 7\\, Apt 2\\, 1 Main St\\, Rear\\, Arlington\\, VA\\, 22201\\, USA;;;;"
        in lines
    )
    assert "NOTE:COBOL ❤ and debugging\\nkeeps a clock that runs backwards" in lines
    assert not any(line.startswith("X-PLNTUI-MET") for line in lines)


@pytest.mark.parametrize(
    ("bday", "stored"),
    [
        ("BDAY:1906-12-09", "1906-12-09"),
        ("BDAY:19061209", "1906-12-09"),
        ("BDAY:1906-12-09T00:00:00Z", "1906-12-09"),
        ("BDAY:--1209", "--12-09"),
        ("BDAY:--12-09", "--12-09"),
        ("BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-09", "--12-09"),
        ("BDAY;VALUE=date:--0229", "--02-29"),
    ],
)
def test_birthday_forms(bday: str, stored: str) -> None:
    (record,) = imported(f"BEGIN:VCARD\nVERSION:4.0\nFN:A\n{bday}\nEND:VCARD\n")
    assert record["birthday"] == stored
    (again,) = imported(contacts_to_vcards([record]))
    assert again["birthday"] == stored


def test_a_card_with_an_unreadable_birthday_is_rejected_with_the_reason() -> None:
    (draft,), _ = parse_vcards("BEGIN:VCARD\nVERSION:4.0\nFN:A\nBDAY:circa 1800\nEND:VCARD\n", "b")
    with pytest.raises(Exception, match="Birthday: 'circa 1800' is not a birthday"):
        check_new("contacts", draft.values)
    future = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    with pytest.raises(Exception, match="not a birthday in the past"):
        check_new("contacts", {"name": "A", "birthday": future})


# ---------------------------------------------------------------------------------------------
# round trips, field by field

SAMPLES: dict[str, Any] = {
    "emails": ["a@example.org", "b+x@example.com"],
    "phones": ["+44 20 7946 0958", "(555) 010-9999 ext 12"],
    "org": "Acme; Inc, Ltd \\ Research",
    "role": 'Head of R&D: "fast" ones',
    "relationship": "mentor",
    "topics": ["rust", "c, c++", "a;b"],
    "met": "At PyCon; we talked about \\n escapes",
    "met_where": "Berlin, DE",
    "channel": "conference",
    "introduced_by": "0123456789ab",
    "links": ["https://example.org/a,b;c?x=1"],
    "nickname": "Zo; the \\ whisperer, mostly",
    "name_prefix": "Rear Admiral",
    "given_name": "Zoë",
    "additional_names": "Anne, Marie",
    "family_name": "O'Brien",
    "name_suffix": "Jr.",
    "birthday": "--02-29",
    "address": "Flat 3; 10 Downing St, London",
    "last_contacted": "2024-03-12",
    "cadence_days": 30,
    "remark": "line one\n\n  two; three, \\n four\n",
    "rating": 4,
    "reminder": "bring the book; soon",
    "created": "2024-01-01T10:00:00Z",
    "updated": "2024-02-01T10:00:00Z",
    "added_by": "laptop-7f3a",
    "changed_by": "phone-0b1c",
}


def test_every_contact_field_has_a_sample() -> None:
    assert set(SAMPLES) == {spec.name for spec in CONTACT_FIELDS} - {"name"}


@pytest.mark.parametrize("field", sorted(SAMPLES))
def test_each_field_round_trips_alone(field: str) -> None:
    values = {"name": "Zoë O'Brien", field: SAMPLES[field]}
    assert check_new("contacts", values) == values  # the samples are stored values
    record = Record("contacts", "a1b2c3d4e5f6", values)
    (draft,), rejected = parse_vcards(contacts_to_vcards([record]), "one.vcf")
    assert rejected == []
    assert draft.values == {**values, "id": record.id}


def test_all_fields_round_trip_together() -> None:
    record = Record("contacts", "a1b2c3d4e5f6", {"name": "Zoë O'Brien", **SAMPLES})
    (draft,), _ = parse_vcards(contacts_to_vcards([record]), "all.vcf")
    want = {k: v for k, v in record.values.items() if v != empty_value(_spec(k))}
    assert draft.values == {**want, "id": record.id}


def _spec(name: str) -> Any:
    return next(spec for spec in CONTACT_FIELDS if spec.name == name)


# ---------------------------------------------------------------------------------------------
# khard's reading: khard wraps vobject's parse of the card (khard.contacts.VCardWrapper)


def khard_view(text: str) -> dict[str, Any]:
    """What khard shows of a card, by the properties plntui maps."""
    card = VCardWrapper(vobject.readOne(text))
    addresses = [a for kind in card.post_addresses.values() for a in kind]
    birthday = card.birthday
    return {
        "name": card.formatted_name,
        "prefix": card._get_name_prefixes(),
        "given": card._get_first_names(),
        "additional": card._get_additional_names(),
        "family": card._get_last_names(),
        "suffix": card._get_name_suffixes(),
        "nicknames": card.nicknames,
        "birthday": birthday.strftime("%m-%d") if isinstance(birthday, dt.datetime) else None,
        "emails": sorted(e for kind in card.emails.values() for e in kind),
        "phones": sorted(p for kind in card.phone_numbers.values() for p in kind),
        "org": [o[0] for o in card.organisations if isinstance(o, list)],
        "titles": card.titles,
        "categories": card.categories,
        "notes": card.notes,
        "webpages": card.webpages,
        "address": [
            ", ".join(
                a[part]
                for part in ("box", "extended", "street", "city", "region", "code", "country")
                if a[part]
            )
            for a in addresses
        ],
    }


def test_khard_reads_an_export_as_plntui_holds_it() -> None:
    record = Record("contacts", "a1b2c3d4e5f6", {"name": "Zoë O'Brien", **SAMPLES})
    record.values["birthday"] = "1990-02-28"
    record.values["additional_names"] = "Anne Marie"
    view = khard_view(contacts_to_vcards([record]))
    assert view == {
        "name": "Zoë O'Brien",
        "prefix": ["Rear Admiral"],
        "given": ["Zoë"],
        "additional": ["Anne Marie"],
        "family": ["O'Brien"],
        "suffix": ["Jr."],
        "nicknames": [SAMPLES["nickname"]],
        "birthday": "02-28",
        "emails": sorted(SAMPLES["emails"]),
        "phones": sorted(SAMPLES["phones"]),
        "org": [SAMPLES["org"]],
        "titles": [SAMPLES["role"]],
        "categories": SAMPLES["topics"],
        "notes": [SAMPLES["remark"]],
        "webpages": SAMPLES["links"],
        "address": [SAMPLES["address"]],
    }


@pytest.mark.parametrize(
    "card",
    [
        RENE,
        # vobject keeps only the first of several nicknames in one NICKNAME: give khard one
        GRACE.replace("item1.ADR", "ADR").replace(",Grandma COBOL", ""),
    ],
)
def test_khard_reads_our_export_of_a_card_as_it_read_the_card(card: str) -> None:
    """A card imported into plntui and exported again: khard sees the same fields (the
    address as one line, and only the preferred address)."""
    before = khard_view(card)
    after = khard_view(contacts_to_vcards(imported(card)))
    before["address"] = before["address"][-1:]  # the preferred one, last in GRACE
    assert after == before


# ---------------------------------------------------------------------------------------------
# through the command line


def test_cli_import_keeps_note_private_and_exports_the_names(tmp_path: Path) -> None:
    home = tmp_path / "profile"
    card = tmp_path / "grace.vcf"
    card.write_text(GRACE + RENE, encoding="utf-8")
    assert main(["--home", str(home), "init", "--name", "Alice"]) == 0
    assert main(["--home", str(home), "import", str(card)]) == 0
    out = tmp_path / "out.vcf"
    assert (
        main(["--home", str(home), "export", "contacts", "--format", "vcf", "--out", str(out)]) == 0
    )
    lines = card_lines(out.read_bytes().decode("utf-8"))
    assert "N:Hopper;Grace;Brewster;Rear Admiral;" in lines
    assert "N:Ünal;René;;;" in lines
    assert "X-PLNTUI-ADDED-BY:Alice" in lines
    # without --include-private: no remark, birthday or address leaves the device
    assert not any(line.startswith(("NOTE", "BDAY", "ADR")) for line in lines)
    json_out = tmp_path / "out.json"
    export = ["export", "contacts", "--format", "json", "--out", str(json_out)]
    assert main(["--home", str(home), *export, "--include-private"]) == 0
    grace = next(c for c in json.loads(json_out.read_text()) if c["name"] == "Grace Hopper")
    assert grace["met"] == "" and grace["nickname"] == "Amazing Grace, Grandma COBOL"
    assert grace["remark"].startswith("COBOL ❤")
    # the note, the birthday and the address stay on this device: never in a shared document
    assert {"birthday", "address", "remark"} <= set(grace["private_fields"])
    assert {"name", "nickname", "given_name", "name_prefix"}.isdisjoint(grace["private_fields"])
    assert grace["added_by"] != "Alice" and len(grace["added_by"]) >= 8  # JSON keeps the id


def test_the_guard_passes_a_shared_contact_with_the_new_fields() -> None:
    """Peers running this version accept the fields a card brings (older ones take any short
    text field they do not know); birthday and address pass when the user shares them."""
    (grace,) = imported(GRACE)
    doc = layout.new_document("shard", bytes(16))
    with doc.transaction() as tx:
        obj = crdt.ensure_item(tx, "contacts", "abcdef012345")
        shared = {k: v for k, v in grace.values.items() if k != "remark"}  # never shared
        crdt.write_fields(tx, "contacts", obj, shared)
    values = check("s:0123456789abcdef:00", doc, None)[("contacts", "abcdef012345")]
    assert values["name_prefix"] == "Rear Admiral" and values["birthday"] == "1906-12-09"
    with doc.transaction() as tx:
        obj = crdt.ensure_item(tx, "contacts", "abcdef012345")
        tx.put(obj, "birthday", am.ScalarType.Str, "x" * 11)
    with pytest.raises(GuardRefused, match="Birthday is too long"):
        check("s:0123456789abcdef:00", doc, None)


def test_a_merge_into_a_shared_contact_keeps_private_fields_out_of_the_shared_record(
    tmp_path: Path,
) -> None:
    """A card merged into an existing shared contact (same e-mail, another role) records the
    merged values in the shared document: never the card's birthday, address or remark."""
    from plntui.network import Network

    net = Network.create(tmp_path / "p", "Alice")
    kept = net.add(
        "contacts", {"name": "Grace Hopper", "emails": ["grace@navy.example"], "role": "Captain"}
    )
    card = tmp_path / "grace.vcf"
    card.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"
        "EMAIL:grace@navy.example\r\nTITLE:Rear Admiral\r\nBDAY:1906-12-09\r\n"
        "ADR:;;1 Navy Way;Arlington;VA;22202;USA\r\nNOTE:COBOL ❤ and debugging\r\n"
        "END:VCARD\r\n",
        encoding="utf-8",
    )
    assert main(["--home", str(tmp_path / "p"), "import", str(card)]) == 0
    net = Network.open(tmp_path / "p")
    where = net._where("contacts", kept.id)
    assert where.shared is not None
    doc = net._doc(where.shared)
    obj = crdt.item_obj(doc, "contacts", kept.id)
    assert obj is not None
    text = json.dumps(crdt.read_item(doc, obj), default=str, ensure_ascii=False)
    assert "Rear Admiral" in text  # the merge (a differing role) was recorded there
    for private in ("1906-12-09", "Navy Way", "COBOL"):
        assert private not in text, private
