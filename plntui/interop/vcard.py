"""Provides vCard reading (2.1, 3.0 and 4.0) into import drafts, and vCard 3.0 writing of contacts.

Reading follows what Google Contacts, Apple Contacts and khard write: folded lines (CRLF or LF
followed by a space or tab), property groups (``item1.EMAIL``, ``item1.X-ABLabel``), parameters in
every spelling (``TYPE=work,pref``, ``TYPE=WORK;TYPE=pref``, vCard 2.1's bare ``;WORK;PREF``),
backslash escapes, and vCard 2.1's QUOTED-PRINTABLE values with a CHARSET.

How properties map onto contact fields (the README's "Import and export" has the same table):

- ``FN`` is the name; without it the name is built from ``N`` (given, additional, family names).
- ``N`` (family;given;additional;prefix;suffix) keeps its parts in the name-part fields when they
  are not what the name gives anyway ("Rear Admiral", "Brewster", "van Rossum"); a part that is
  a list (``Brewster,Murray``) is kept as words (``Brewster Murray``). The ``N`` written is the
  stored parts while the name still holds the given and family names, else parts made from the
  name (``interop.name_parts_of``).
- ``NICKNAME`` is the nickname (several are joined with ", "); ``BDAY`` the birthday
  (``1906-12-09``, ``19061209``, ``--12-09`` and Apple's ``X-APPLE-OMIT-YEAR`` are read;
  ``--12-09`` is written when the year is unknown); the preferred (else first) ``ADR`` is the
  address, its parts joined with ", " in the card's order, and written back whole as the street
  of one ``ADR``. Birthday and address stay on the device unless shared.
- ``ORG:Acme;R&D``: the organisation is the first component ("Acme"); the departments are added
  to the role in brackets ("Engineer (R&D)"), or become the role when there is no TITLE/ROLE.
- ``TITLE`` (else ``ROLE``) is the role; ``EMAIL``, ``TEL`` and ``URL`` (plus Apple's
  ``X-SOCIALPROFILE`` web addresses) fill e-mails, phones and links, preferred ones first.
- ``CATEGORIES`` are topics (Google's built-in "myContacts"/"starred" groups are dropped from
  cards that plntui did not write).
- ``NOTE`` is free text about the person: it becomes the private remark, whole (several NOTEs one
  after the other), never a shared field; the remark is written as ``NOTE``.
- ``X-PLNTUI-*`` properties carry every other contact field exactly; ``X-PLNTUI-ID`` is the id.
  ``X-PLNTUI-ADDED-BY`` and ``X-PLNTUI-CHANGED-BY`` name the devices by their registered names,
  for people reading the card (an import takes no provenance from a file). Cards that older
  plntui versions wrote read as before: their ``X-PLNTUI-REMARK`` is the remark, and their
  ``NOTE``, a copy of "how you met", is skipped.
- ``PHOTO``, ``REV``, ``LABEL`` and every other property are ignored on import.

A card with neither name nor e-mail, a ``BEGIN:VCARD`` without ``END:VCARD`` and a card with lines
that are not properties are rejected with a reason; the other cards of the file still import.

Why this reader rather than vobject, the library khard uses: vobject reads a file as one stream,
so one malformed line (``ParseError``) loses every card after it, where this reader rejects that
card alone, with its line number; and vobject does not join vCard 2.1's QUOTED-PRINTABLE soft
line breaks, so the NOTE of an old phone's export fails the whole file (its ``ignoreUnreadable``
mode drops such lines silently instead). This reader needs no dependency and is bounded by the
import size limit. That plntui's cards read in khard as they should is tested with khard itself
(and so vobject), a test dependency only (``tests/test_interop.py``).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import CONTACT_FIELDS, Record
from . import (
    NAME_PART_FIELDS,
    Draft,
    Rejected,
    draft_or_rejected,
    is_system_group,
    name_part_values,
    name_parts_of,
    remark_from_note,
    with_author_names,
)

_NAME_RE = re.compile(r"^(?:(?P<group>[A-Za-z0-9_-]+)\.)?(?P<name>[A-Za-z0-9_-]+)$")
_ESCAPE_RE = re.compile(r"\\(.)", re.S)
_FOLD_OCTETS = 75
# fields written as standard properties (FN, N, EMAIL, TEL, ORG, TITLE, URL, CATEGORIES, NICKNAME,
# BDAY, ADR, NOTE); every other field is an X-PLNTUI-* property
_STANDARD = frozenset(
    {"name", "emails", "phones", "org", "role", "topics", "links", "nickname", "birthday"}
    | {"address", "remark", *NAME_PART_FIELDS}
)
_SPECS = {spec.name: spec for spec in CONTACT_FIELDS}
_X_FIELDS = {
    "X-PLNTUI-" + spec.name.upper().replace("_", "-"): spec
    for spec in CONTACT_FIELDS
    if spec.name not in _STANDARD
}
_X_READ = {**_X_FIELDS, "X-PLNTUI-REMARK": _SPECS["remark"]}  # as older plntui wrote the remark


@dataclass(slots=True)
class _Prop:
    """One content line: group, upper-case name, parameters and the raw (escaped) value."""

    group: str
    name: str
    params: dict[str, list[str]]
    raw: str
    line: int

    def decoded(self) -> str:
        return _decode_value(self.raw, self.params)

    def text(self) -> str:
        return _newlines(_unescape(self.decoded()))

    def parts(self, separator: str) -> list[str]:
        return [_newlines(part) for part in _split_escaped(self.decoded(), separator)]

    @property
    def preferred(self) -> bool:
        types = {value.upper() for value in self.params.get("TYPE", [])}
        return "PREF" in types or "PREF" in self.params


@dataclass(slots=True)
class _Card:
    number: int
    line: int
    lines: list[tuple[int, str]] = field(default_factory=list)
    closed: bool = False


# ---------------------------------------------------------------------------------------------
# reading


def parse_vcards(text: str, source_name: str) -> tuple[list[Draft], list[Rejected]]:
    """Every card of a vCard file as a draft, or rejected with the reason."""
    cards, stray = _split_cards(_logical_lines(text))
    drafts: list[Draft] = []
    rejected = [Rejected(f"{source_name}: line {number}", reason) for number, reason in stray]
    for card in cards:
        result = _read_card(card, f"{source_name}: card {card.number}")
        if isinstance(result, Draft):
            drafts.append(result)
        else:
            rejected.append(result)
    return drafts, rejected


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Unfold: join continuation lines (leading space/tab) and QUOTED-PRINTABLE soft breaks."""
    out: list[tuple[int, list[str]]] = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        if out and line[:1] in (" ", "\t"):
            out[-1][1].append(line[1:])
        elif out and out[-1][1][-1].endswith("=") and _is_quoted_printable("".join(out[-1][1])):
            out[-1][1][-1] = out[-1][1][-1][:-1]
            out[-1][1].append(line)
        elif line.strip():
            out.append((number, [line]))
    return [(number, "".join(pieces)) for number, pieces in out]


def _is_quoted_printable(line: str) -> bool:
    colon = _value_start(line)
    return colon > 0 and "QUOTED-PRINTABLE" in line[:colon].upper()


def _split_cards(lines: Iterable[tuple[int, str]]) -> tuple[list[_Card], list[tuple[int, str]]]:
    cards: list[_Card] = []
    stray: list[tuple[int, str]] = []
    current: _Card | None = None
    last_stray = -2
    for number, line in lines:
        word = line.strip().upper()
        if word == "BEGIN:VCARD":
            current = _Card(len(cards) + 1, number)
            cards.append(current)
        elif current is not None and word == "END:VCARD":
            current.closed = True
            current = None
        elif current is not None:
            current.lines.append((number, line))
        else:
            if number != last_stray + 1:
                stray.append((number, "text outside BEGIN:VCARD … END:VCARD, ignored"))
            last_stray = number
    return cards, stray


def _read_card(card: _Card, source: str) -> Draft | Rejected:
    if not card.closed:
        return Rejected(source, f"BEGIN:VCARD on line {card.line} has no END:VCARD")
    props: list[_Prop] = []
    for number, line in card.lines:
        prop = _parse_line(number, line)
        if prop is None:
            shown = line if len(line) <= 40 else line[:40] + "…"
            return Rejected(source, f"line {number} is not a vCard property: {shown!r}")
        props.append(prop)
    try:
        values = _card_values(props)
    except (ValueError, UnicodeError) as err:
        return Rejected(source, f"cannot decode a value: {err}")
    return draft_or_rejected(values, source)


def _parse_line(number: int, line: str) -> _Prop | None:
    colon = _value_start(line)
    if colon <= 0:
        return None
    head = _split_quoted(line[:colon], ";")
    match = _NAME_RE.match(head[0].strip())
    if match is None:
        return None
    params = _parse_params(head[1:])
    return _Prop(match["group"] or "", match["name"].upper(), params, line[colon + 1 :], number)


def _value_start(line: str) -> int:
    """Index of the colon that ends name and parameters (colons in quoted values don't count)."""
    colon = line.find(":")
    if '"' not in line[:colon]:
        return colon
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return index
    return -1


def _split_quoted(text: str, separator: str) -> list[str]:
    if '"' not in text:
        return text.split(separator)
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parse_params(items: list[str]) -> dict[str, list[str]]:
    """``TYPE=work,pref``, ``TYPE="work,pref"``, repeated keys, and 2.1's bare ``WORK``."""
    params: dict[str, list[str]] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            key, value = "TYPE", item
        values = [v.strip().strip('"') for v in _split_quoted(value, ",")]
        params.setdefault(key.strip().upper(), []).extend(v for v in values if v)
    return params


def _decode_value(raw: str, params: dict[str, list[str]]) -> str:
    encodings = {v.upper() for v in params.get("ENCODING", []) + params.get("TYPE", [])}
    charset = (params.get("CHARSET") or ["utf-8"])[0]
    if "QUOTED-PRINTABLE" in encodings:
        data = quopri.decodestring(raw.encode("utf-8"))
    elif encodings & {"B", "BASE64"}:
        try:
            data = base64.b64decode("".join(raw.split()), validate=False)
        except binascii.Error as err:
            raise ValueError(f"bad base64 ({err})") from None
    else:
        return raw
    return _bytes_to_text(data, charset)


def _bytes_to_text(data: bytes, charset: str) -> str:
    for encoding in (charset, "utf-8"):
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _unescape(text: str) -> str:
    return _ESCAPE_RE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def _split_raw(text: str, separator: str) -> list[str]:
    """Split a value on unescaped separators, leaving the escapes in the parts."""
    parts: list[str] = []
    start = index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == separator:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def _split_escaped(text: str, separator: str) -> list[str]:
    """Split a structured or list value on unescaped separators, then unescape each part."""
    return [_unescape(part) for part in _split_raw(text, separator)]


# ---------------------------------------------------------------------------------------------
# card -> values


def _card_values(props: list[_Prop]) -> dict[str, Any]:
    by_name: dict[str, list[_Prop]] = {}
    for prop in props:
        by_name.setdefault(prop.name, []).append(prop)
    name = _name(by_name)
    values: dict[str, Any] = {
        "name": name,
        "emails": _items(by_name.get("EMAIL", []), "mailto:"),
        "phones": _items(by_name.get("TEL", []), "tel:"),
        "links": _items(by_name.get("URL", []), "") + _social_links(by_name),
        "topics": _topics(by_name.get("CATEGORIES", []), "X-PLNTUI-ID" not in by_name),
        "nickname": ", ".join(_words(by_name.get("NICKNAME", [])[:1], ",")),
        "birthday": _birthday(by_name.get("BDAY", [])),
        "address": _address(by_name.get("ADR", [])),
    }
    if by_name.get("N"):
        values.update(name_part_values(name, [" ".join(p) for p in _components(by_name["N"][0])]))
    values.update(_org_and_role(by_name))
    values.update(_plntui_values(by_name))
    notes = [p.text() for p in by_name.get("NOTE", [])]
    ours = "X-PLNTUI-ID" in by_name
    if ours and notes == [str(values.get("met", ""))]:
        notes = []  # an older plntui's copy of "how you met"
    if notes and not values.get("remark"):
        text = "\n".join(notes)
        values["remark"] = text if ours else remark_from_note(text)  # plntui's: exactly
    return values


def _components(prop: _Prop) -> list[list[str]]:
    """A structured value (``N``, ``ADR``): its ``;`` parts, each a list of its ``,`` values."""
    return [
        [_newlines(value) for value in _split_escaped(part, ",")]
        for part in _split_raw(prop.decoded(), ";")
    ]


def _words(props: list[_Prop], separator: str) -> list[str]:
    return [" ".join(w.split()) for prop in props for w in prop.parts(separator) if w.strip()]


def _birthday(props: list[_Prop]) -> str:
    """The first BDAY as text for the model to check (a time after the date is dropped); Apple
    marks an unknown year with ``X-APPLE-OMIT-YEAR=1604`` on ``1604-12-09``."""
    for prop in props:
        text = prop.text().strip()
        if re.match(r"(?:\d{4}-?|--)\d\d-?\d\dT", text):
            text = text.split("T", 1)[0]  # a date and time: the date
        omit = prop.params.get("X-APPLE-OMIT-YEAR", [])
        if text and omit and text.startswith(omit[0]):
            return "--" + text[len(omit[0]) :].lstrip("-")[:5]
        if text:
            return text
    return ""


def _address(props: list[_Prop]) -> str:
    """The preferred (else first) ADR as one line: its non-empty parts joined with ", "."""
    for prop in sorted(props, key=lambda p: not p.preferred):
        parts = [" ".join(", ".join(values).split()) for values in _components(prop)]
        line = ", ".join(part for part in parts if part)
        if line:
            return line
    return ""


def _first_text(by_name: dict[str, list[_Prop]], name: str) -> str:
    for prop in by_name.get(name, []):
        text = prop.text().strip()
        if text:
            return text
    return ""


def _name(by_name: dict[str, list[_Prop]]) -> str:
    full = _first_text(by_name, "FN")
    if full or not by_name.get("N"):
        return full
    parts = [" ".join(p) for p in _components(by_name["N"][0])] + ["", "", ""]
    family, given, additional = parts[0], parts[1], parts[2]
    return " ".join(" ".join(p.split()) for p in (given, additional, family) if p.strip())


def _items(props: list[_Prop], scheme: str) -> list[str]:
    out: list[str] = []
    for prop in sorted(props, key=lambda p: not p.preferred):
        text = prop.text().strip()
        if scheme and text.lower().startswith(scheme):
            text = text[len(scheme) :]
        if text:
            out.append(text)
    return out


def _social_links(by_name: dict[str, list[_Prop]]) -> list[str]:
    links = _items(by_name.get("X-SOCIALPROFILE", []), "")
    return [link for link in links if link.lower().startswith(("http://", "https://"))]


def _topics(props: list[_Prop], foreign: bool) -> list[str]:
    topics = [topic.strip() for prop in props for topic in prop.parts(",")]
    return [t for t in topics if t and not (foreign and is_system_group(t))]


def _org_and_role(by_name: dict[str, list[_Prop]]) -> dict[str, str]:
    role = _first_text(by_name, "TITLE") or _first_text(by_name, "ROLE")
    orgs = by_name.get("ORG", [])
    if not orgs:
        return {"role": role}
    parts = [p.strip() for p in orgs[0].parts(";")]
    department = ", ".join(p for p in parts[1:] if p)
    if department:
        role = f"{role} ({department})" if role else department
    return {"org": parts[0], "role": role}


def _plntui_values(by_name: dict[str, list[_Prop]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    ids = by_name.get("X-PLNTUI-ID", [])
    if ids:
        values["id"] = ids[0].text().strip()
    if any(p.text().strip().lower() == "true" for p in by_name.get("X-PLNTUI-PRIVATE", [])):
        values["private"] = True
    for prop in by_name.get("X-PLNTUI-PRIVATE-FIELDS", [])[:1]:
        values["private_fields"] = [f.strip() for f in prop.text().split(",") if f.strip()]
    for prop_name, spec in _X_READ.items():
        props = by_name.get(prop_name, [])
        if not props:
            continue
        text = props[0].text()
        if spec.kind == "int" and re.fullmatch(r"\s*-?\d{1,9}\s*", text):
            values[spec.name] = int(text)
        else:
            values[spec.name] = text
    return values


# ---------------------------------------------------------------------------------------------
# writing


def contacts_to_vcards(records: list[Record], names: Mapping[str, str] | None = None) -> str:
    """A vCard 3.0 file (CRLF line ends, lines folded at 75 octets) of the given contacts.

    Every contact field is written, the ones vCard has no property for as ``X-PLNTUI-*``, so that
    :func:`parse_vcards` gives back every value exactly (name parts that the name gives anyway
    are not stored, on import as here). ``names`` (device id -> registered name) names the
    devices in ``X-PLNTUI-ADDED-BY`` and ``X-PLNTUI-CHANGED-BY``.
    """
    return "".join(_card_text(record) for record in with_author_names(records, names))


def _card_text(record: Record) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", "PRODID:-//plntui//plntui//EN"]
    lines += _standard_lines(record)
    lines.append("X-PLNTUI-ID:" + _escape(record.id))
    if record.private_item:
        lines.append("X-PLNTUI-PRIVATE:true")
    elif record.private:
        lines.append("X-PLNTUI-PRIVATE-FIELDS:" + ",".join(sorted(record.private)))
    for prop_name, spec in _X_FIELDS.items():
        value = record[spec.name]
        if value not in (None, "", []):
            lines.append(f"{prop_name}:{_escape(str(value))}")
    if record["updated"]:
        lines.append("REV:" + _escape(str(record["updated"])))
    lines.append("END:VCARD")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _standard_lines(record: Record) -> list[str]:
    name = str(record["name"])
    lines = ["FN:" + _escape(name), "N:" + ";".join(_escape(p) for p in name_parts_of(record))]
    if record["nickname"]:
        lines.append("NICKNAME:" + _escape(str(record["nickname"])))
    if record["birthday"]:
        lines.append("BDAY:" + _escape(str(record["birthday"])))
    if record["address"]:
        lines.append("ADR:;;" + _escape(str(record["address"])) + ";;;;")
    lines += ["EMAIL;TYPE=INTERNET:" + _escape(email) for email in record["emails"]]
    lines += ["TEL:" + _escape(phone) for phone in record["phones"]]
    if record["org"]:
        lines.append("ORG:" + _escape(str(record["org"])))
    if record["role"]:
        lines.append("TITLE:" + _escape(str(record["role"])))
    lines += ["URL:" + _escape(link) for link in record["links"]]
    if record["topics"]:
        lines.append("CATEGORIES:" + ",".join(_escape(topic) for topic in record["topics"]))
    if record["remark"]:
        lines.append("NOTE:" + _escape(str(record["remark"])))
    return lines


def _escape(text: str) -> str:
    return (
        _newlines(text.replace("\\", "\\\\"))
        .replace("\n", "\\n")
        .replace(",", "\\,")
        .replace(";", "\\;")
    )


def _fold(line: str) -> str:
    """Fold a content line at 75 octets of UTF-8 without splitting a character."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        octets = len(char.encode("utf-8", "surrogatepass"))
        if size + octets > _FOLD_OCTETS:
            pieces.append("".join(current))
            current, size = [" "], 1
        current.append(char)
        size += octets
    pieces.append("".join(current))
    return "\r\n".join(pieces)
