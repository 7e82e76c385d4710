"""Provides import and export of contacts and notes: vCard, CSV, JSON, Markdown and HTML files.

``read_contacts_file`` looks at a file's content (not its name) and hands back import drafts: raw
values keyed by the model's contact field names, not yet validated; the domain checks them when it
adds them. Every ``Draft`` has a name or an e-mail; rows and cards that have neither come back as
``Rejected`` with a reason, so one bad card never stops the rest of a file. Problems with the file
as a whole (missing, empty, binary, not a format we read) raise :class:`ImportFormatError` with a
one-line message that never quotes the file: a file that is none of the formats (a password
file, a TOML or INI file, prose) is refused as such (:data:`NOT_CONTACTS`).

What every format shares lives here: a free-text note about a person (vCard ``NOTE``, a CSV
"Notes" column) becomes the private remark, never a shared field (:func:`remark_from_note`); a
structured name keeps its parts only where the display name does not give them
(:func:`name_part_values`, :func:`name_parts_of`); exports name the devices that added and
changed an item by their registered names (:func:`with_author_names`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError
from ..model import CONTACT_FIELDS, PROVENANCE_FIELDS, Record

MAX_FILE_BYTES = 50 * 1024 * 1024
_TOO_BIG = "{name} is larger than 50 MB; split it into smaller files"
CONTACT_FIELD_NAMES = frozenset(spec.name for spec in CONTACT_FIELDS)
REMARK_LIMIT = next(spec.limit for spec in CONTACT_FIELDS if spec.name == "remark")
SYSTEM_GROUPS = frozenset({"mycontacts", "starred"})  # Google's built-in contact groups
_BINARY_MAGIC = {  # the file's first bytes -> what it is, and what to do
    b"PK\x03\x04": ("a zip archive or Excel workbook (.xlsx)", "; save it as CSV first"),
    b"\xd0\xcf\x11\xe0": ("an Excel/Office file (.xls)", "; save it as CSV first"),
    b"%PDF": ("a PDF document", ""),
    b"SQLite format 3": ("an SQLite database", ""),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_VCARD_START = re.compile(r"^[ \t]*BEGIN:VCARD[ \t\r]*$", re.I | re.M)
# What a JSON file starts with: an object or an array of values (a TOML/INI "[section]" is not).
_JSON_START = re.compile(r'\s*(?:\{\s*(?:"|\})|\[\s*(?:[\[\]{"\-0-9]|true|false|null))')
NOT_CONTACTS = (
    "{name} is not a vCard, a CSV with a header row (Name, Email, …), a LinkedIn export, "
    "plntui JSON or Markdown notes: nothing to import"
)
NAME_PART_FIELDS: tuple[str, ...] = (
    "family_name",
    "given_name",
    "additional_names",
    "name_prefix",
    "name_suffix",
)
"""The name-part fields in the order of vCard's ``N``: family; given; additional; prefix; suffix."""
_PREFIXES = frozenset({"dr", "prof", "mr", "mrs", "ms", "mx", "miss", "sir", "dame", "rev"})
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})


@dataclass(slots=True)
class Draft:
    """One contact read from a file: raw values keyed by model field names (contacts).

    Only non-empty values are present; ``values["id"]`` is the plntui id when the file came from a
    plntui export. ``source`` says where it came from, for messages: ``"team.vcf: card 3"``.
    """

    values: dict[str, Any]
    source: str


@dataclass(slots=True)
class Rejected:
    """A card, row or item of a file that cannot become a contact, and why."""

    source: str
    reason: str


def draft_or_rejected(values: dict[str, Any], source: str) -> Draft | Rejected:
    """Drop empty values; a contact with an e-mail but no name is named after the e-mail."""
    kept = {key: value for key, value in values.items() if value not in (None, "", [])}
    emails = kept.get("emails") or []
    if isinstance(emails, str):
        emails = [emails]
    if not str(kept.get("name", "")).strip():
        if not emails:
            return Rejected(source, "no name or e-mail")
        kept["name"] = str(emails[0])
    return Draft(kept, source)


def remark_from_note(note: str) -> str:
    """A free-text note about a person as the private remark: kept whole (line breaks too), cut
    with "…" at the remark's limit."""
    text = note.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > REMARK_LIMIT:
        return text[: REMARK_LIMIT - 1] + "…"
    return text


def split_name(name: str) -> list[str]:
    """Best-effort parts of a display name, in ``N`` order (family, given, additional, prefix,
    suffix): "Ada King Lovelace" and "Lovelace, Ada" both give family "Lovelace", given "Ada";
    "Dr. Ada Lovelace, PhD" gives prefix "Dr." and suffix "PhD"."""
    words, prefix, suffix = name.split(), "", ""
    if len(words) > 1 and words[-1].strip(",.").casefold() in _SUFFIXES:
        suffix, words = words[-1], words[:-1]
        words[-1] = words[-1].rstrip(",")
    if len(words) > 2 and words[0].strip(".").casefold() in _PREFIXES:
        prefix, words = words[0], words[1:]
    if len(words) == 2 and words[0].endswith(","):
        words = [words[1], words[0].rstrip(",")]
    if len(words) < 2:
        return ["", " ".join(words), "", prefix, suffix]
    return [words[-1], words[0], " ".join(words[1:-1]), prefix, suffix]


def _same(parts: Sequence[str], other: Sequence[str]) -> bool:
    return [" ".join(p.split()).casefold() for p in parts] == [
        " ".join(p.split()).casefold() for p in other
    ]


def name_part_values(name: str, parts: Sequence[str]) -> dict[str, str]:
    """The name-part fields to keep for a contact called ``name`` whose file gave these parts (in
    ``N`` order): none when they are what :func:`split_name` makes of the name anyway, else every
    part given. So "Ada Lovelace" with ``N:Lovelace;Ada;;;`` stores nothing more, while Grace
    Hopper keeps "Brewster" and "Rear Admiral", and "Guido van Rossum" his family name."""
    cleaned = [" ".join(str(part).split()) for part in [*parts, "", "", "", "", ""][:5]]
    if not any(cleaned) or _same(cleaned, split_name(name)):
        return {}
    return {field: part for field, part in zip(NAME_PART_FIELDS, cleaned, strict=True) if part}


def name_parts_of(record: Record) -> list[str]:
    """The ``N`` parts to write for a contact: its stored parts while its name still holds the
    stored given and family names (a renamed contact's old parts are not written), else
    :func:`split_name` of its name."""
    name = str(record["name"] or "")
    stored = [str(record[field] or "") for field in NAME_PART_FIELDS]
    folded = " ".join(name.split()).casefold()
    if not any(stored) or any(
        part and " ".join(part.split()).casefold() not in folded for part in stored[:2]
    ):
        return split_name(name)
    return stored


def with_author_names(records: list[Record], names: Mapping[str, str] | None) -> list[Record]:
    """Copies of the records whose provenance fields (``added_by``, ``author``, ``changed_by``)
    hold the devices' registered names instead of their ids (an id nobody registered stays as it
    is), for exports that people read. JSON exports keep the ids."""
    if not names:
        return records
    out: list[Record] = []
    for record in records:
        values = dict(record.values)
        for key in PROVENANCE_FIELDS & values.keys():
            actor = str(values[key] or "")
            values[key] = names.get(actor) or actor
        out.append(
            Record(
                record.collection,
                record.id,
                values,
                record.private,
                record.private_item,
                record.sources,
                record.circle,
                record.circle_name,
            )
        )
    return out


def is_system_group(label: str) -> bool:
    """Google's ``* myContacts`` / ``starred`` groups are not topics."""
    text = label.strip()
    return text.startswith("* ") or text.casefold() in SYSTEM_GROUPS


def read_contacts_file(path: Path) -> tuple[list[Draft], list[Rejected]]:
    """Read a vCard, CSV (LinkedIn's and Google's too) or plntui JSON file of contacts, detected
    from its content; anything else is refused in one line (:data:`NOT_CONTACTS`)."""
    data = _read_bytes(path)
    text = _decode(data, path.name)
    start = text.lstrip()[:1]
    if start in ("[", "{"):
        if _JSON_START.match(text):
            return parse_contacts_json(text, path.name)
        raise ImportFormatError(NOT_CONTACTS.format(name=path.name))
    if _VCARD_START.search(text):
        return parse_vcards(text, path.name)
    return parse_csv(text, path.name)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise ImportFormatError(f"{path} is a folder; give the file to import")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImportFormatError(_TOO_BIG.format(name=path.name))
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ImportFormatError(f"{path}: no such file") from None
    except OSError as err:
        raise ImportFormatError(f"{path}: cannot read it ({err.strerror or err})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ImportFormatError(_TOO_BIG.format(name=path.name))
    if not data.strip():
        raise ImportFormatError(f"{path.name} is empty: nothing to import")
    return data


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (BOM or not) or UTF-16 with a BOM; otherwise Windows-1252, then Latin-1."""
    for magic, (what, hint) in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise ImportFormatError(f"{name} is {what}, not a contacts file{hint}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _decode_utf16(data, name)
    elif b"\x00" in data[:65536]:
        raise ImportFormatError(f"{name} is a binary file, not a contacts file")
    else:
        text = _decode_8bit(data)
    text = text.lstrip("\ufeff")
    sample = text[:65536]
    if len(_CONTROL.findall(sample)) > max(8, len(sample) // 200):
        raise ImportFormatError(f"{name} is a binary file, not a contacts file")
    if not text.strip():
        raise ImportFormatError(f"{name} is empty: nothing to import")
    return text


def _decode_utf16(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-16")
    except UnicodeDecodeError:
        raise ImportFormatError(f"{name}: damaged UTF-16 text") from None


def _decode_8bit(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


from .csvfile import contacts_to_csv, contacts_to_json, parse_contacts_json, parse_csv  # noqa: E402
from .notes_export import export_notes_markdown, notes_to_html, notes_to_json  # noqa: E402
from .vcard import contacts_to_vcards, parse_vcards  # noqa: E402

__all__ = [
    "Draft",
    "Rejected",
    "contacts_to_csv",
    "contacts_to_json",
    "contacts_to_vcards",
    "export_notes_markdown",
    "notes_to_html",
    "notes_to_json",
    "parse_contacts_json",
    "parse_csv",
    "parse_vcards",
    "read_contacts_file",
]
