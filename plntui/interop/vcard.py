"""Provides vCard reading (2.1, 3.0 and 4.0) into import drafts, and vCard 3.0 writing of contacts.

Reading follows what Google Contacts, Apple Contacts and khard write: folded lines (CRLF or LF
followed by a space or tab), property groups (``item1.EMAIL``, ``item1.X-ABLabel``), parameters in
every spelling (``TYPE=work,pref``, ``TYPE=WORK;TYPE=pref``, vCard 2.1's bare ``;WORK;PREF``),
backslash escapes, and vCard 2.1's QUOTED-PRINTABLE values with a CHARSET.

How properties map onto contact fields:

- ``FN`` is the name; without it the name is built from ``N`` (given, additional, family names).
- ``ORG:Acme;R&D``: the organisation is the first component ("Acme"); the departments are added
  to the role in brackets ("Engineer (R&D)"), or become the role when there is no TITLE/ROLE.
- ``TITLE`` (else ``ROLE``) is the role; ``EMAIL``, ``TEL`` and ``URL`` (plus Apple's
  ``X-SOCIALPROFILE`` web addresses) fill e-mails, phones and links, preferred ones first.
- ``CATEGORIES`` are topics (Google's built-in "myContacts"/"starred" groups are dropped from
  cards that plntui did not write).
- ``NOTE`` becomes "how you met" only when the card has no ``X-PLNTUI-MET`` (which plntui writes
  next to NOTE); it is made one line and, when too long, cut, with the whole note kept as remark.
- ``X-PLNTUI-*`` properties carry every other contact field exactly; ``X-PLNTUI-ID`` is the id.
- ``PHOTO``, ``ADR``, ``BDAY``, ``REV`` and every other property are ignored on import.

A card with neither name nor e-mail, a ``BEGIN:VCARD`` without ``END:VCARD`` and a card with lines
that are not properties are rejected with a reason; the other cards of the file still import.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..model import CONTACT_FIELDS, Record
from . import Draft, Rejected, draft_or_rejected, is_system_group, met_from_note

_NAME_RE = re.compile(r"^(?:(?P<group>[A-Za-z0-9_-]+)\.)?(?P<name>[A-Za-z0-9_-]+)$")
_ESCAPE_RE = re.compile(r"\\(.)", re.S)
_FOLD_OCTETS = 75
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})
_STANDARD = frozenset({"name", "emails", "phones", "org", "role", "topics", "links"})
_X_FIELDS = {
    "X-PLNTUI-" + spec.name.upper().replace("_", "-"): spec
    for spec in CONTACT_FIELDS
    if spec.name not in _STANDARD
}


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


def _split_escaped(text: str, separator: str) -> list[str]:
    """Split a structured or list value on unescaped separators, then unescape each part."""
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
    return [_unescape(part) for part in parts]


# ---------------------------------------------------------------------------------------------
# card -> values


def _card_values(props: list[_Prop]) -> dict[str, Any]:
    by_name: dict[str, list[_Prop]] = {}
    for prop in props:
        by_name.setdefault(prop.name, []).append(prop)
    values: dict[str, Any] = {
        "name": _name(by_name),
        "emails": _items(by_name.get("EMAIL", []), "mailto:"),
        "phones": _items(by_name.get("TEL", []), "tel:"),
        "links": _items(by_name.get("URL", []), "") + _social_links(by_name),
        "topics": _topics(by_name.get("CATEGORIES", []), "X-PLNTUI-ID" not in by_name),
    }
    values.update(_org_and_role(by_name))
    values.update(_plntui_values(by_name))
    notes = by_name.get("NOTE", [])
    if notes and not values.get("met"):
        values["met"], overflow = met_from_note("\n".join(p.text() for p in notes))
        if overflow and not values.get("remark"):
            values["remark"] = overflow
    return values


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
    parts = by_name["N"][0].parts(";") + ["", "", ""]
    family, given, additional = parts[0], parts[1], parts[2]
    return " ".join(
        " ".join(p.replace(",", " ").split()) for p in (given, additional, family) if p.strip()
    )


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
    for prop_name, spec in _X_FIELDS.items():
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


def contacts_to_vcards(records: list[Record]) -> str:
    """A vCard 3.0 file (CRLF line ends, lines folded at 75 octets) of the given contacts.

    Every contact field is written, the ones vCard has no property for as ``X-PLNTUI-*``, so that
    :func:`parse_vcards` gives back every value exactly.
    """
    return "".join(_card_text(record) for record in records)


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
    lines = ["FN:" + _escape(name), "N:" + _structured_name(name)]
    lines += ["EMAIL;TYPE=INTERNET:" + _escape(email) for email in record["emails"]]
    lines += ["TEL:" + _escape(phone) for phone in record["phones"]]
    if record["org"]:
        lines.append("ORG:" + _escape(str(record["org"])))
    if record["role"]:
        lines.append("TITLE:" + _escape(str(record["role"])))
    lines += ["URL:" + _escape(link) for link in record["links"]]
    if record["topics"]:
        lines.append("CATEGORIES:" + ",".join(_escape(topic) for topic in record["topics"]))
    if record["met"]:
        lines.append("NOTE:" + _escape(str(record["met"])))
    return lines


def _structured_name(name: str) -> str:
    """Best effort ``N`` (family;given;additional;prefix;suffix) from a display name:
    "Ada King Lovelace" and "Lovelace, Ada" both give family "Lovelace", given "Ada"."""
    words, suffix = name.split(), ""
    if len(words) > 1 and words[-1].strip(",.").casefold() in _SUFFIXES:
        suffix, words = words[-1], words[:-1]
        words[-1] = words[-1].rstrip(",")
    if len(words) == 2 and words[0].endswith(","):
        words = [words[1], words[0].rstrip(",")]
    if len(words) < 2:
        parts = ["", " ".join(words), ""]
    else:
        parts = [words[-1], words[0], " ".join(words[1:-1])]
    return ";".join(_escape(part) for part in [*parts, "", suffix])


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
