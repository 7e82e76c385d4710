"""Tests for plntui.interop: vCard/CSV/JSON import and export, and the notes exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plntui import interop
from plntui.errors import ImportFormatError, ValidationError
from plntui.interop import (
    Draft,
    contacts_to_csv,
    contacts_to_json,
    contacts_to_vcards,
    export_notes_markdown,
    notes_to_html,
    notes_to_json,
    parse_csv,
    parse_vcards,
    read_contacts_file,
)
from plntui.model import CONTACT_FIELDS, Record, check_new, empty_value

# ---------------------------------------------------------------------------------------------
# helpers


def full_contact() -> Record:
    """A contact with every field set, and values that stress escaping."""
    return Record(
        "contacts",
        "a1b2c3d4e5f6",
        {
            "name": "Zoë O'Brien-Łukasiewicz, Jr.",
            "emails": ["zoe@example.org", "z.b+tag@sub.example.io"],
            "phones": ["+44 20 7946 0958", "(555) 010-9999 ext 12"],
            "org": "Acme; Inc, Ltd \\ Research",
            "role": 'Head of R&D: compilers, "fast" ones',
            "relationship": "mentor",
            "topics": ["rust", "c, c++", "a;b", "ünïcode 漢字", "back\\slash"],
            "met": "At PyCon, in the hallway; we talked about \\n escapes 🎉",
            "met_where": "Berlin, DE",
            "channel": "conference",
            "introduced_by": "0123456789ab",
            "links": ["https://example.org/a,b;c?x=1&y=2", "https://www.linkedin.com/in/zoe"],
            "nickname": 'Zo, the \\ "compiler"; whisperer',
            "name_prefix": "Dr.",
            "given_name": "Zoë",
            "additional_names": "Anne, Marie; B.",
            "family_name": "O'Brien-Łukasiewicz",
            "name_suffix": "Jr.",
            "birthday": "1990-02-28",
            "address": "Flat 3; 10 Downing St, London SW1A 2AA, UK",
            "last_contacted": "2024-03-12",
            "cadence_days": 30,
            "remark": "line one\nline two, with ; and \\n literal\n\n  indented\ttab\n",
            "rating": 4,
            "reminder": "ask about the book; bring it back",
            "created": "2024-01-01T10:00:00Z",
            "updated": "2024-02-01T10:00:00Z",
            "added_by": "laptop-7f3a",
        },
    )


def small_contact() -> Record:
    return Record("contacts", "00aa11bb22cc", {"name": "Ada Lovelace"})


def expected(record: Record) -> dict[str, Any]:
    """What a draft read back from our own export must hold: every non-empty field, and the id."""
    values = {
        spec.name: record[spec.name]
        for spec in CONTACT_FIELDS
        if record[spec.name] != empty_value(spec)
    }
    return {**values, "id": record.id}


def by_name(drafts: list[Draft]) -> dict[str, dict[str, Any]]:
    return {d.values["name"]: d.values for d in drafts}


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


# ---------------------------------------------------------------------------------------------
# vCard samples in the styles of the programs people export from

GOOGLE_VCF = crlf("""BEGIN:VCARD
VERSION:3.0
FN:Ada Lovelace
N:Lovelace;Ada;;;
EMAIL;TYPE=INTERNET;TYPE=HOME:ada@example.com
EMAIL;TYPE=INTERNET;TYPE=WORK:ada@analytical.example
TEL;TYPE=CELL:+44 7700 900123
ORG:Analytical Engines Ltd
TITLE:Programmer
item1.URL:https\\://ada.example.com
item1.X-ABLabel:
NOTE:Met at the Difference Engine demo\\, 1833.
CATEGORIES:myContacts,Mathematicians
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Charles Babbage
N:Babbage;Charles;;;
EMAIL;TYPE=INTERNET:charles@example.com
CATEGORIES:myContacts,starred
END:VCARD
""")

APPLE_VCF = crlf("""BEGIN:VCARD
VERSION:3.0
PRODID:-//Apple Inc.//macOS 14.2//EN
N:Hopper;Grace;Brewster;Rear Admiral;
FN:Grace Hopper
ORG:US Navy;Computing;
TITLE:Rear Admiral
EMAIL;type=INTERNET;type=WORK:ghopper@navy.example
item1.EMAIL;type=INTERNET;type=pref:grace@example.net
item1.X-ABLabel:_$!<Other>!$_
TEL;type=CELL;type=VOICE;type=pref:+1 (202) 555-0143
item2.URL;type=pref:https\\://grace.example/cobol
item2.X-ABLabel:_$!<HomePage>!$_
X-SOCIALPROFILE;type=linkedin;x-user=gracehopper:https://www.linkedin.com/in/gracehopper
PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBg
 cGBwgHBwgJCgkICAoIBwcKDQoKCwsMDAwHCQ4PDQwOCwwMDP/bAEMBAwMDBAMEBwQEBwwHBwcMDAwM
X-ABUID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE\\:ABPerson
END:VCARD
""")

# khard writes one file per contact or several cards in one; vCard 4.0, LF line ends here.
KHARD_VCF = """BEGIN:VCARD
VERSION:4.0
PRODID:-//khard//khard//EN
UID:7d4c4e2a-9f0e-4c57-8b40-8f9d1c2d2a11
FN:Alan Turing
N:Turing;Alan;Mathison;;
EMAIL;TYPE=work;PREF=1:alan@bletchley.example
EMAIL;TYPE=home:alan@home.example
TEL;VALUE=uri;TYPE="voice,cell":tel:+44-1908-640404
ORG:Bletchley Park;Hut 8
CATEGORIES:cryptography,computability,machine learning
NOTE:Introduced by Max Newman at Cambridge. He asked about the Entscheidungsp
 roblem\\nand morphogenesis.
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Joan Clarke
N:Clarke;Joan;;;
EMAIL:joan@bletchley.example
CATEGORIES:cryptography
END:VCARD
"""

VCARD21 = crlf("""BEGIN:VCARD
VERSION:2.1
N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;
FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller
TEL;CELL;PREF:+49 170 1234567
TEL;WORK;VOICE:+49 30 1234567
EMAIL;INTERNET;WORK:juergen@example.de
ORG;CHARSET=UTF-8:Stadtwerke
NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=ISO-8859-1:Kennengelernt auf der Messe in K=F6ln, =
sehr nett.=0D=0AGr=FC=DFe an Anna
END:VCARD
BEGIN:VCARD
VERSION:2.1
N:Curie;Marie;;;
EMAIL;PREF;INTERNET:marie@example.fr
END:VCARD
""")


def test_google_vcard() -> None:
    drafts, rejected = parse_vcards(GOOGLE_VCF, "google.vcf")
    assert rejected == []
    assert [d.source for d in drafts] == ["google.vcf: card 1", "google.vcf: card 2"]
    ada = drafts[0].values
    assert ada["name"] == "Ada Lovelace"
    assert ada["emails"] == ["ada@example.com", "ada@analytical.example"]
    assert ada["phones"] == ["+44 7700 900123"]
    assert ada["org"] == "Analytical Engines Ltd"
    assert ada["role"] == "Programmer"
    assert ada["links"] == ["https://ada.example.com"]
    assert ada["topics"] == ["Mathematicians"]  # Google's "myContacts" group is not a topic
    # NOTE is free text about the person: the private remark, never the shared "how you met"
    assert ada["remark"] == "Met at the Difference Engine demo, 1833."
    assert "met" not in ada
    assert "id" not in ada
    assert not {"given_name", "family_name"} & set(ada)  # N:Lovelace;Ada;;; is what FN gives
    assert "topics" not in drafts[1].values  # only system groups


def test_apple_vcard_groups_pref_department_and_photo() -> None:
    drafts, rejected = parse_vcards(APPLE_VCF, "apple.vcf")
    assert rejected == []
    (grace,) = [d.values for d in drafts]
    assert grace["name"] == "Grace Hopper"
    assert grace["emails"] == ["grace@example.net", "ghopper@navy.example"]  # pref first
    assert grace["phones"] == ["+1 (202) 555-0143"]
    assert grace["org"] == "US Navy"
    assert grace["role"] == "Rear Admiral (Computing)"
    # N:Hopper;Grace;Brewster;Rear Admiral; keeps what "Grace Hopper" does not say
    assert (grace["family_name"], grace["given_name"], grace["additional_names"]) == (
        "Hopper",
        "Grace",
        "Brewster",
    )
    assert grace["name_prefix"] == "Rear Admiral"
    assert grace["links"] == [
        "https://grace.example/cobol",
        "https://www.linkedin.com/in/gracehopper",
    ]
    assert set(grace) <= {spec.name for spec in CONTACT_FIELDS}


def test_khard_vcard4_multiple_cards_and_categories() -> None:
    drafts, rejected = parse_vcards(KHARD_VCF, "khard.vcf")
    assert rejected == []
    people = by_name(drafts)
    alan = people["Alan Turing"]
    assert alan["emails"] == ["alan@bletchley.example", "alan@home.example"]
    assert alan["phones"] == ["+44-1908-640404"]
    assert alan["org"] == "Bletchley Park"
    assert alan["role"] == "Hut 8"  # department becomes the role when there is no TITLE
    assert alan["topics"] == ["cryptography", "computability", "machine learning"]
    # NOTE is unfolded, and kept whole (its line break too) as the private remark
    assert alan["remark"] == (
        "Introduced by Max Newman at Cambridge. He asked about the "
        "Entscheidungsproblem\nand morphogenesis."
    )
    assert "met" not in alan
    assert alan["additional_names"] == "Mathison"
    assert people["Joan Clarke"]["topics"] == ["cryptography"]


def test_vcard21_quoted_printable_charset_and_bare_params() -> None:
    drafts, rejected = parse_vcards(VCARD21, "old.vcf")
    assert rejected == []
    juergen, marie = (d.values for d in drafts)
    assert juergen["name"] == "Jürgen Müller"
    assert juergen["phones"] == ["+49 170 1234567", "+49 30 1234567"]
    assert juergen["emails"] == ["juergen@example.de"]
    assert juergen["org"] == "Stadtwerke"
    assert juergen["remark"] == "Kennengelernt auf der Messe in Köln, sehr nett.\nGrüße an Anna"
    assert marie["name"] == "Marie Curie"  # built from N when FN is missing
    assert marie["emails"] == ["marie@example.fr"]


def test_vcard_folding_tabs_and_escapes_on_input() -> None:
    text = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:Rosalind\n\tFranklin\nEMAIL:rf@exa\n mple.org\n"
        "TITLE:Chemist\\, crystallographer\\; X-ray\\\\diffraction\n"
        "ORG:King\\;s College\nEND:VCARD\n"
    )
    (draft,), rejected = parse_vcards(text, "f.vcf")
    assert rejected == []
    assert draft.values["name"] == "RosalindFranklin"
    assert draft.values["emails"] == ["rf@example.org"]
    assert draft.values["role"] == "Chemist, crystallographer; X-ray\\diffraction"
    assert draft.values["org"] == "King;s College"


def test_vcard_output_is_folded_crlf_3_0() -> None:
    record = Record(
        "contacts",
        "0f0f0f0f0f0f",
        {
            "name": "Ünïcødé " * 20,
            "remark": "ß" * 200 + "\nend",
            "topics": ["x" * 90],
        },
    )
    record.values["name"] = record.values["name"].strip()
    text = contacts_to_vcards([record])
    assert text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n")
    assert text.endswith("END:VCARD\r\n")
    assert "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[:-1]
    assert all(len(line.encode("utf-8")) <= 75 for line in lines)
    assert any(line.startswith(" ") for line in lines)
    (draft,), _ = parse_vcards(text, "u.vcf")
    assert draft.values == expected(record)


def test_rejected_cards_do_not_stop_the_others() -> None:
    text = crlf("""BEGIN:VCARD
VERSION:3.0
FN:Good One
END:VCARD
BEGIN:VCARD
VERSION:3.0
ORG:Nobody Inc
TEL:+1 555 0100
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Garbled
this line is not a property
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Only email
EMAIL:only@example.com
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Never ended
EMAIL:never@example.com
""")
    drafts, rejected = parse_vcards(text, "team.vcf")
    assert [d.values["name"] for d in drafts] == ["Good One", "Only email"]
    reasons = {r.source: r.reason for r in rejected}
    assert reasons["team.vcf: card 2"] == "no name or e-mail"
    assert "line 13 is not a vCard property" in reasons["team.vcf: card 3"]
    assert "no END:VCARD" in reasons["team.vcf: card 5"]
    assert len(rejected) == 3


def test_email_only_card_is_named_after_the_address() -> None:
    (draft,), _ = parse_vcards("BEGIN:VCARD\nVERSION:3.0\nEMAIL:x@example.com\nEND:VCARD\n", "a")
    assert draft.values["name"] == "x@example.com"


def test_long_note_is_kept_whole_as_remark_and_cut_at_its_limit() -> None:
    note = "word " * 400
    text = f"BEGIN:VCARD\nVERSION:3.0\nFN:Talker\nNOTE:{note}\nEND:VCARD\n"
    (draft,), _ = parse_vcards(text, "n.vcf")
    assert draft.values["remark"] == note.strip()
    assert "met" not in draft.values
    text = text.replace(note, "x" * 12_000)
    (draft,), _ = parse_vcards(text, "n.vcf")
    assert len(draft.values["remark"]) == 10_000
    assert draft.values["remark"].endswith("…")
    check_new("contacts", draft.values)


def test_note_is_the_private_remark_and_met_stays_apart() -> None:
    text = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:A\nNOTE:COBOL ❤ and debugging\nX-PLNTUI-MET:at a meetup\n"
        "NOTE:second line\nEND:VCARD\n"
    )
    (draft,), _ = parse_vcards(text, "m.vcf")
    assert draft.values["met"] == "at a meetup"
    assert draft.values["remark"] == "COBOL ❤ and debugging\nsecond line"


def test_cards_of_older_plntui_versions() -> None:
    """They wrote "how you met" as NOTE too, and the remark as X-PLNTUI-REMARK."""
    text = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:A\nNOTE:at a meetup\nX-PLNTUI-ID:0123456789ab\n"
        "X-PLNTUI-MET:at a meetup\nX-PLNTUI-REMARK:private\\nwords\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nFN:B\nNOTE:at a meetup\nX-PLNTUI-ID:0123456789ac\n"
        "X-PLNTUI-MET:at a meetup\nEND:VCARD\n"
    )
    first, second = (d.values for d in parse_vcards(text, "old.vcf")[0])
    assert (first["met"], first["remark"]) == ("at a meetup", "private\nwords")
    assert second["met"] == "at a meetup" and "remark" not in second


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (GOOGLE_VCF, "google.vcf"),
        (APPLE_VCF, "apple.vcf"),
        (KHARD_VCF, "khard.vcf"),
        (VCARD21, "old.vcf"),
    ],
)
def test_vcard_drafts_pass_model_validation(text: str, name: str) -> None:
    drafts, _ = parse_vcards(text, name)
    assert drafts
    for draft in drafts:
        check_new("contacts", {k: v for k, v in draft.values.items() if k != "id"})


# ---------------------------------------------------------------------------------------------
# round trips


def test_vcard_round_trip_keeps_every_field() -> None:
    records = [full_contact(), small_contact()]
    drafts, rejected = parse_vcards(contacts_to_vcards(records), "out.vcf")
    assert rejected == []
    assert [d.values for d in drafts] == [expected(r) for r in records]


def test_csv_round_trip_keeps_every_field() -> None:
    records = [full_contact(), small_contact()]
    text = contacts_to_csv(records)
    assert text.splitlines()[0].split(",")[:3] == ["id", "name", "emails"]
    drafts, rejected = parse_csv(text, "out.csv")
    assert rejected == []
    assert [d.values for d in drafts] == [expected(r) for r in records]
    assert drafts[1].source == "out.csv: line 7"  # the first row (remark) spans lines 2-6


def test_json_round_trip_keeps_every_field(tmp_path: Path) -> None:
    records = [full_contact(), small_contact()]
    path = tmp_path / "contacts.json"
    path.write_text(contacts_to_json(records), encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8"))[0]["name"] == records[0]["name"]
    drafts, rejected = read_contacts_file(path)
    assert rejected == []
    assert [d.values for d in drafts] == [expected(r) for r in records]


@pytest.mark.parametrize("write", [contacts_to_vcards, contacts_to_csv, contacts_to_json])
def test_read_contacts_file_detects_our_exports(tmp_path: Path, write: Any) -> None:
    path = tmp_path / "export.txt"  # the name says nothing: the content decides
    path.write_bytes(write([full_contact()]).encode("utf-8"))
    (draft,), rejected = read_contacts_file(path)
    assert rejected == []
    assert draft.values == expected(full_contact())
    assert draft.source.startswith("export.txt: ")


def test_google_group_names_survive_our_own_round_trip() -> None:
    record = Record("contacts", "abcdefabcdef", {"name": "A", "topics": ["starred", "mycontacts"]})
    (draft,), _ = parse_vcards(contacts_to_vcards([record]), "s.vcf")
    assert draft.values["topics"] == ["starred", "mycontacts"]
    (draft,), _ = parse_csv(contacts_to_csv([record]), "s.csv")
    assert draft.values["topics"] == ["starred", "mycontacts"]


def test_csv_guards_formula_cells_and_reads_them_back() -> None:
    record = Record(
        "contacts",
        "abcdef012345",
        {
            "name": '=HYPERLINK("http://evil")',
            "org": "@SUM(A1)",
            "role": "'=already quoted",
            "phones": ["+1 555 0100"],
            "reminder": "-cmd|' /C calc'!A0",
        },
    )
    text = contacts_to_csv([record])
    row = text.splitlines()[1]
    for guarded in ("'=HYPERLINK", "'@SUM", "''=already", "'-cmd"):
        assert guarded in row
    assert ",+1 555 0100," in row  # phone numbers are left alone
    (draft,), _ = parse_csv(text, "g.csv")
    assert draft.values == expected(record)


_PLAIN = st.characters(blacklist_categories=("Cs", "Cc"))
_LINE = st.text(_PLAIN, max_size=60).map(lambda s: " ".join(s.split())).filter(bool)
_ITEM = _LINE.filter(lambda s: "; " not in s and not s.endswith(";"))
_REMARK = st.text(st.one_of(_PLAIN, st.sampled_from("\n\t\\;,")), max_size=120).map(
    lambda s: s if s.strip() else ""  # the model stores white space alone as empty
)


@settings(max_examples=60, deadline=None)
@given(name=_LINE, org=_LINE, topics=st.lists(_ITEM, max_size=4), remark=_REMARK)
def test_round_trips_property(name: str, org: str, topics: list[str], remark: str) -> None:
    record = Record(
        "contacts", "1234567890ab", {"name": name, "org": org, "topics": topics, "remark": remark}
    )
    want = expected(record)
    (from_vcf,), _ = parse_vcards(contacts_to_vcards([record]), "p.vcf")
    (from_csv,), _ = parse_csv(contacts_to_csv([record]), "p.csv")
    assert from_vcf.values == want
    assert from_csv.values == want


# ---------------------------------------------------------------------------------------------
# foreign CSV files

LINKEDIN_CSV = (
    "Notes:\r\n"
    '"When exporting your connection data, you may notice that some of the email addresses are '
    "missing. You will only see email addresses for connections who have allowed their "
    'connections to see or download their email address using this setting."\r\n'
    "\r\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
    "Ada,Lovelace,https://www.linkedin.com/in/ada,,Analytical Engines,Programmer,12 Mar 2024\r\n"
    'Grace,Hopper,https://www.linkedin.com/in/grace,grace@example.net,"US Navy, Inc",'
    "Rear Admiral,01 Jan 2023\r\n"
    ",,,,Stealth Startup,,05 Feb 2024\r\n"
)


def test_linkedin_connections_with_preamble(tmp_path: Path) -> None:
    path = tmp_path / "Connections.csv"
    path.write_bytes(LINKEDIN_CSV.encode("utf-8"))
    drafts, rejected = read_contacts_file(path)
    people = by_name(drafts)
    ada = people["Ada Lovelace"]
    assert "emails" not in ada
    assert ada["links"] == ["https://www.linkedin.com/in/ada"]
    assert ada["org"] == "Analytical Engines"
    assert ada["role"] == "Programmer"
    assert ada["met"] == "Connected on LinkedIn on 2024-03-12"
    assert ada["channel"] == "LinkedIn"
    assert people["Grace Hopper"]["emails"] == ["grace@example.net"]
    assert people["Grace Hopper"]["org"] == "US Navy, Inc"
    assert [d.source for d in drafts] == ["Connections.csv: line 5", "Connections.csv: line 6"]
    assert [(r.source, r.reason) for r in rejected] == [
        ("Connections.csv: line 7", "no name or e-mail")
    ]


GOOGLE_CSV = (
    "First Name,Middle Name,Last Name,Nickname,Labels,E-mail 1 - Label,E-mail 1 - Value,"
    "E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,Phone 1 - Value,Organization Name,"
    "Organization Title,Organization Department,Website 1 - Label,Website 1 - Value,Notes\n"
    "Katherine,G.,Johnson,Kathy,* myContacts ::: Orbital Mechanics ::: NASA,Work,"
    "kj@nasa.example ::: kath@example.com,,,Mobile,+1 757 555 0199,NASA,Mathematician,"
    'Flight Research,Profile,https://example.org/kj,"Computed trajectories.\nMet at Langley."\n'
    ",,,,,* starred,,Home,dorothy@example.com,,,,,,,,\n"
)


def test_google_contacts_csv() -> None:
    drafts, rejected = parse_csv(GOOGLE_CSV, "contacts.csv")
    assert rejected == []
    kj, dorothy = (d.values for d in drafts)
    assert kj["name"] == "Katherine G. Johnson"
    assert kj["topics"] == ["Orbital Mechanics", "NASA"]
    assert kj["emails"] == ["kj@nasa.example", "kath@example.com"]
    assert kj["phones"] == ["+1 757 555 0199"]
    assert kj["org"] == "NASA"
    assert kj["role"] == "Mathematician (Flight Research)"
    assert kj["links"] == ["https://example.org/kj"]
    assert kj["remark"] == "Computed trajectories.\nMet at Langley."  # private, never shared
    assert "met" not in kj
    assert kj["nickname"] == "Kathy"
    assert "given_name" not in kj  # First/Middle/Last are what the name gives
    assert dorothy == {"name": "dorothy@example.com", "emails": ["dorothy@example.com"]}
    assert drafts[1].source == "contacts.csv: line 4"


def test_foreign_csv_name_parts_birthday_address_and_notes() -> None:
    text = (
        "Name Prefix,First Name,Middle Name,Last Name,Name Suffix,Nickname,Birthday,"
        "Address 1 - Formatted,E-mail 1 - Value,Notes\n"
        'Dr.,Mary Ann,,Smith,PhD,Annie,--04-01,"1 Main St, Springfield",ma@example.org,'
        "Prefers e-mail\n"
        ",Ada,,Lovelace,,,1815-12-10,,ada@example.org,\n"
    )
    (mary, ada), rejected = parse_csv(text, "google.csv")
    assert rejected == []
    assert mary.values == {
        "name": "Mary Ann Smith",
        "name_prefix": "Dr.",
        "given_name": "Mary Ann",  # not "Mary" with "Ann" as a middle name
        "family_name": "Smith",
        "name_suffix": "PhD",
        "nickname": "Annie",
        "birthday": "--04-01",
        "address": "1 Main St, Springfield",
        "emails": ["ma@example.org"],
        "remark": "Prefers e-mail",  # a note: private, never "how you met"
    }
    assert ada.values == {
        "name": "Ada Lovelace",
        "birthday": "1815-12-10",
        "emails": ["ada@example.org"],
    }
    for draft in (mary, ada):
        check_new("contacts", draft.values)


def test_semicolon_csv_in_latin1_with_loose_headers(tmp_path: Path) -> None:
    text = "Nom;Courriel;Adresse\nx;y;z\n"  # unknown header words
    path = tmp_path / "bad.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ImportFormatError, match="header"):
        read_contacts_file(path)
    text = (
        "Full Name;Email Address;Mobile;Organisation;Job Title;Tags;Relationship\n"
        "Émile Borel;emile@example.fr;+33 1 23 45 67 89;Sorbonne;Professor;"
        "probability, measure theory;Colleague\n"
        ";;;Nobody;;;\n"
    )
    path = tmp_path / "semi.csv"
    path.write_bytes(text.encode("latin-1"))
    drafts, rejected = read_contacts_file(path)
    (emile,) = (d.values for d in drafts)
    assert emile == {
        "name": "Émile Borel",
        "emails": ["emile@example.fr"],
        "phones": ["+33 1 23 45 67 89"],
        "org": "Sorbonne",
        "role": "Professor",
        "topics": ["probability", "measure theory"],
        "relationship": "colleague",
    }
    assert [(r.source, r.reason) for r in rejected] == [("semi.csv: line 3", "no name or e-mail")]


def test_foreign_csv_drafts_pass_model_validation() -> None:
    for text, name in ((LINKEDIN_CSV, "Connections.csv"), (GOOGLE_CSV, "google.csv")):
        drafts, _ = parse_csv(text, name)
        assert drafts
        for draft in drafts:
            check_new("contacts", draft.values)


def test_email_cells_with_display_names() -> None:
    text = 'Name,Email\nAda,"Ada Lovelace <ada@example.org>, <ada@work.example>"\n'
    (draft,), _ = parse_csv(text, "e.csv")
    assert draft.values["emails"] == ["ada@example.org", "ada@work.example"]


def test_tab_separated_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_bytes("\ufeffName\tEmail\nAda\tada@example.com\n".encode())
    (draft,), _ = read_contacts_file(path)
    assert draft.values == {"name": "Ada", "emails": ["ada@example.com"]}


def test_foreign_id_column_is_not_taken_as_plntui_id() -> None:
    (draft,), _ = parse_csv("ID,Name\n17,Ada\n", "crm.csv")
    assert draft.values == {"name": "Ada"}


# ---------------------------------------------------------------------------------------------
# files that are not contact files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \r\n\n  ", "empty"),
        (bytes(range(256)) * 40, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x01" * 100, "binary"),
        (b"PK\x03\x04" + b"\x14" * 50, "Excel"),
        (b"just some prose, without any header that names people\nand more\n", "header"),
        (b"[1, 2", "not valid JSON"),
        (b'{"title": "x"}', "array"),
        (b'[{"title": "a note", "body": "text"}]', "notes"),
    ],
)
def test_unusable_files_raise(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.dat"
    path.write_bytes(content)
    with pytest.raises(ImportFormatError, match=message) as caught:
        read_contacts_file(path)
    assert "\n" not in str(caught.value)


SHADOW_LIKE = (  # the layout of /etc/shadow, with made-up hashes
    "root:$6$Zq1nWm0a$k2bW1m4xQe0cLr8oVhJd7aQ9n3T5sY1uZ6wE2pR8tG0iK4lM7oN9qB3vC5xD1fH2jL0:19700:0:99999:7:::\n"
    "daemon:*:19700:0:99999:7:::\nmail:*:19700:0:99999:7:::\nnews:*:19700:0:99999:7:::\n"
    "alice:$6$Ab12Cd34$Xy0.Zz9qWv8uTs7rQp6oNm5lKj4iHg3fEd2cBa1:19701:0:99999:7:::\n"
)
PYPROJECT_LIKE = (
    '[build-system]\nrequires = ["hatchling>=1.25"]\n\n[project]\nname = "plntui"\n'
    'authors = [{name = "Ada", email = "ada@example.org"}]\ndependencies = [\n    "rich",\n]\n'
)
PASSWD_LIKE = "root:x:0:0:root:/root:/bin/bash\nmail:x:8:8:mail:/var/mail:/usr/sbin/nologin\n"
INI_LIKE = "[user]\n\tname = Ada Lovelace\n\temail = ada@example.org\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("shadow", SHADOW_LIKE),
        ("pyproject.toml", PYPROJECT_LIKE),
        ("passwd", PASSWD_LIKE),
        (".gitconfig", INI_LIKE),
        ("notes.txt", "Name: Ada\nEmail: ada@example.org\n"),
    ],
)
def test_files_that_are_no_contact_format_are_refused_in_one_line(
    tmp_path: Path, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFormatError) as caught:
        read_contacts_file(path)
    message = str(caught.value)
    assert message == interop.NOT_CONTACTS.format(name=name)
    assert "\n" not in message and "$6$" not in message and "19700" not in message


def test_missing_folder_and_oversized_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ImportFormatError, match="no such file"):
        read_contacts_file(tmp_path / "nope.vcf")
    with pytest.raises(ImportFormatError, match="folder"):
        read_contacts_file(tmp_path)
    path = tmp_path / "big.csv"
    path.write_text("Name\n" + "Ada\n" * 100, encoding="utf-8")
    monkeypatch.setattr(interop, "MAX_FILE_BYTES", 50)
    with pytest.raises(ImportFormatError, match="50 MB"):
        read_contacts_file(path)


def test_vcard_with_junk_around_cards(tmp_path: Path) -> None:
    path = tmp_path / "x.vcf"
    path.write_text("some junk\nmore junk\n" + GOOGLE_VCF, encoding="utf-8")
    drafts, rejected = read_contacts_file(path)
    assert len(drafts) == 2
    assert [(r.source, r.reason[:12]) for r in rejected] == [("x.vcf: line 1", "text outside")]


# ---------------------------------------------------------------------------------------------
# notes exports

HOSTILE = '<script>alert(1)</script> " onmouseover="alert(2)'


def notes_and_contacts() -> tuple[list[Record], dict[str, Record]]:
    ada = Record("contacts", "0a0a0a0a0a0a", {"name": "Ada <b>Lovelace</b>", "org": "A&B"})
    notes = [
        Record(
            "notes",
            "1111aaaa2222",
            {
                "title": "Rust: ownership & borrowing",
                "kind": "resource",
                "tags": ["rust", 'memory "safety"'],
                "contacts": ["0a0a0a0a0a0a", "ffffffffffff"],
                "body": "# Summary\n\nRead *this* and **that**, see [the book](https://doc.rust-lang.org/book/).\n"
                "\n- one\n- two with `code <b>`\n\n```python\nprint('<hi>')\n```\n",
                "created": "2024-01-01T10:00:00Z",
                "updated": "2024-01-02T10:00:00Z",
                "author": "laptop",
            },
        ),
        Record(
            "notes",
            "3333bbbb4444",
            {
                "title": HOSTILE,
                "kind": "note",
                "tags": ["<img src=x onerror=alert(3)>"],
                "body": HOSTILE + "\n\n[click](javascript:alert(4)) and [x](JAVASCRIPT:alert(5))\n"
                '<a href="javascript:alert(6)">raw</a> [ok](mailto:a@example.com)\n',
                "author": 'phone\n"quoted"\\',
            },
        ),
    ]
    return notes, {"0a0a0a0a0a0a": ada}


def read_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A reader for exactly what the emitter writes: JSON-compatible quoted scalars."""
    head, _, body = text.partition("\n---\n")
    lines = head.split("\n")
    assert lines[0] == "---"
    data: dict[str, Any] = {}
    for line in lines[1:]:
        if line.startswith("  - name: "):
            data["contacts"].append({"name": json.loads(line[10:])})
        elif line.startswith("    id: "):
            data["contacts"][-1]["id"] = json.loads(line[8:])
        else:
            key, _, value = line.partition(": ")
            data[key.rstrip(":")] = json.loads(value) if value else []
    return data, body.removeprefix("\n")


def test_markdown_export(tmp_path: Path) -> None:
    notes, contacts = notes_and_contacts()
    out_dir = tmp_path / "deep" / "notes"
    paths = export_notes_markdown(notes, contacts, out_dir)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "index.md",
            "rust-ownership-borrowing-1111aaaa2222.md",
            "script-alert-1-script-onmouseover-alert-2-3333bbbb4444.md",
        ]
    )
    assert all(p.parent == out_dir and p.is_file() for p in paths)
    rust = (out_dir / "rust-ownership-borrowing-1111aaaa2222.md").read_text(encoding="utf-8")
    meta, body = read_front_matter(rust)
    assert meta == {
        "id": "1111aaaa2222",
        "title": "Rust: ownership & borrowing",
        "kind": "resource",
        "tags": ["rust", 'memory "safety"'],
        "contacts": [
            {"name": "Ada <b>Lovelace</b>", "id": "0a0a0a0a0a0a"},
            {"name": "(unknown contact)", "id": "ffffffffffff"},
        ],
        "created": "2024-01-01T10:00:00Z",
        "updated": "2024-01-02T10:00:00Z",
        "author": "laptop",
    }
    assert body == notes[0]["body"]
    hostile = next(p for p in paths if p.name.startswith("script"))
    meta, _ = read_front_matter(hostile.read_text(encoding="utf-8"))
    assert meta["title"] == HOSTILE
    assert meta["author"] == 'phone\n"quoted"\\'
    assert meta["contacts"] == []
    index = (out_dir / "index.md").read_text(encoding="utf-8")
    assert index.index("## Notes") < index.index("## Resources")
    assert "[Rust: ownership & borrowing](rust-ownership-borrowing-1111aaaa2222.md)" in index
    assert 'tags: rust, memory "safety"' in index
    assert "\\<script\\>" in index  # Markdown-escaped title


def test_markdown_export_refuses_a_file_and_reexports(tmp_path: Path) -> None:
    notes, contacts = notes_and_contacts()
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        export_notes_markdown(notes, contacts, target)
    assert not isinstance(caught.value, ImportFormatError)
    first = export_notes_markdown(notes, contacts, tmp_path / "out")
    assert export_notes_markdown(notes, contacts, tmp_path / "out") == first
    assert export_notes_markdown([], {}, tmp_path / "empty") == [tmp_path / "empty" / "index.md"]


def test_html_escapes_hostile_content() -> None:
    notes, contacts = notes_and_contacts()
    page = notes_to_html(notes, contacts, title="Team <notes>")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Team &lt;notes&gt;</title>" in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "onmouseover=" not in page.replace("&quot; onmouseover=&quot;", "")
    assert re.search(r"<[^>]*\sonmouseover", page) is None
    assert re.search(r"<[^>]*\sonerror", page) is None
    assert "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', page)).lower()
    assert "[click](javascript:alert(4))" in page  # shown as text
    assert '<a href="mailto:a@example.com"' in page
    assert "&lt;a href=&quot;javascript:alert(6)&quot;&gt;raw&lt;/a&gt;" in page
    assert 'Ada &lt;b&gt;Lovelace&lt;/b&gt; <span class="muted">(A&amp;B)</span>' in page
    assert "unknown contact ffffffffffff" in page
    assert 'http-equiv="Content-Security-Policy"' in page
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)


def test_html_renders_markdown() -> None:
    notes, contacts = notes_and_contacts()
    page = notes_to_html(notes, contacts)
    assert "<nav><h2>Contents</h2>" in page
    assert '<a href="#note-1111aaaa2222">Rust: ownership &amp; borrowing</a>' in page
    assert '<article id="note-1111aaaa2222">' in page
    assert "<h3>Summary</h3>" in page
    assert "Read <em>this</em> and <strong>that</strong>, see " in page
    assert (
        '<a href="https://doc.rust-lang.org/book/" rel="noopener noreferrer nofollow">the book</a>'
    ) in page
    assert "<ul>\n<li>one</li>\n<li>two with <code>code &lt;b&gt;</code></li>\n</ul>" in page
    assert "<pre><code class=\"language-python\">print('&lt;hi&gt;')\n</code></pre>" in page
    assert (
        '<ul class="tags" aria-label="tags"><li>rust</li><li>memory &quot;safety&quot;</li>' in page
    )


def note_with(body: str, note_id: str = "5555cccc6666", **values: Any) -> Record:
    return Record("notes", note_id, {"title": "T", "kind": "note", "body": body, **values})


def test_html_renders_tables_task_lists_and_footnotes() -> None:
    body = (
        "| Tool | Stars |\n|:-----|------:|\n| ruff | *many* |\n| `<b>` | 2 |\n\n"
        "- [x] read the RFC\n- [ ] write the summary\n\n"
        "CRDTs converge[^proof]. ~~Locks~~ are not needed.\n\n"
        "[^proof]: Shapiro et al., 2011.\n"
    )
    page = notes_to_html([note_with(body), note_with(body, "7777dddd8888")], {})
    assert "<table>" in page and '<th style="text-align:right">Stars</th>' in page
    assert (
        '<td style="text-align:left">ruff</td>\n<td style="text-align:right"><em>many</em></td>'
    ) in page
    assert '<td style="text-align:left"><code>&lt;b&gt;</code></td>' in page
    assert "| Tool |" not in page  # not a paragraph of pipes
    assert page.count('<ul class="contains-task-list">') == 2
    assert (
        '<li class="task-list-item"><input class="task-list-item-checkbox" disabled="" '
        'type="checkbox" checked=""> read the RFC</li>'
    ) in page
    assert 'type="checkbox"> write the summary</li>' in page
    assert "<s>Locks</s>" in page
    # footnotes: the reference and the note, with anchors that differ between notes on one page
    assert '<a href="#fn-note-5555cccc6666-1" id="fnref-note-5555cccc6666-1">[1]</a>' in page
    assert '<li id="fn-note-5555cccc6666-1" class="footnote-item"><p>Shapiro et al., 2011.' in page
    assert 'id="fn-note-7777dddd8888-1"' in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_html_escapes_raw_html_in_a_note() -> None:
    body = (
        "<script>alert(1)</script>\n\n"
        'Inline <img src=x onerror="alert(2)"> and <a href="javascript:alert(3)">x</a>.\n\n'
        "![a picture](https://example.org/p.png) ![bad](javascript:alert(4))\n\n"
        "<https://example.org/auto> and www.example.org and [rel](relative.html)\n"
    )
    page = notes_to_html([note_with(body)], {})
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert re.search(r"<[^>]*\sonerror", page) is None
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert not re.search(r"<(img|iframe|object|embed|link)\b", page)
    assert "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', page)).lower()
    # an image is a link to it (the page loads nothing), an unsafe one stays text
    assert (
        '<a href="https://example.org/p.png" rel="noopener noreferrer nofollow">a picture</a>'
    ) in page
    assert "![bad](javascript:alert(4))" in page
    assert '<a href="https://example.org/auto" rel="noopener noreferrer nofollow">' in page
    assert '<a href="http://www.example.org" rel="noopener noreferrer nofollow">' in page
    assert "[rel](relative.html)" in page  # only http(s) and mailto become links


def test_exports_name_authors_and_json_keeps_ids(tmp_path: Path) -> None:
    alice, bob = "81bf196e9017aa00", "22cc33dd44ee55ff"
    names = {alice: "Alice Example", bob: "Bob"}
    note = note_with("text", author=alice, changed_by=bob, updated="2024-05-01T10:00:00Z")
    page = notes_to_html([note], {}, names=names)
    assert "by Alice Example" in page and alice not in page
    paths = export_notes_markdown([note], {}, tmp_path / "md", names=names)
    meta, _ = read_front_matter(paths[0].read_text(encoding="utf-8"))
    assert meta["author"] == "Alice Example"
    assert json.loads(notes_to_json([note]))[0]["author"] == alice  # JSON keeps the id
    unknown = note_with("text", "9999eeee0000", author="abcdef0123456789")
    assert "by abcdef0123456789" in notes_to_html([unknown], {}, names=names)
    contact = Record("contacts", "0a0a0a0a0a0a", {"name": "Ada", "added_by": alice})
    card = contacts_to_vcards([contact], names)
    assert "X-PLNTUI-ADDED-BY:Alice Example\r\n" in card and alice not in card
    (draft,), _ = parse_csv(contacts_to_csv([contact], names), "c.csv")
    assert draft.values["added_by"] == "Alice Example"
    assert json.loads(contacts_to_json([contact]))[0]["added_by"] == alice
    assert contact.values["added_by"] == alice  # the records themselves are left alone


def test_counts_in_exports_are_singular_for_one(tmp_path: Path) -> None:
    page = notes_to_html([note_with("x")], {})
    assert "1 note exported from plntui." in page
    paths = export_notes_markdown([note_with("x")], {}, tmp_path / "one")
    index = (tmp_path / "one" / "index.md").read_text(encoding="utf-8")
    assert "1 note exported from plntui." in index
    assert paths[-1].name == "index.md"
    from plntui.interop.notes_import import read_notes

    found = read_notes(tmp_path / "one")  # the index is still known as plntui's, not a note
    assert [d.values["title"] for d in found.drafts] == ["T"]


def test_notes_to_json() -> None:
    notes, _ = notes_and_contacts()
    data = json.loads(notes_to_json(notes))
    assert [item["id"] for item in data] == ["1111aaaa2222", "3333bbbb4444"]
    assert data[1]["title"] == HOSTILE
    assert data[0]["tags"] == ["rust", 'memory "safety"']
    assert data[0]["remark"] == ""
