"""Provides import and export of contacts and notes: vCard, CSV, JSON, Markdown and HTML files.

``read_contacts_file`` looks at a file's content (not its name) and hands back import drafts: raw
values keyed by the model's contact field names, not yet validated; the domain checks them when it
adds them. Every ``Draft`` has a name or an e-mail; rows and cards that have neither come back as
``Rejected`` with a reason, so one bad card never stops the rest of a file. Problems with the file
as a whole (missing, empty, binary, not a format we read) raise :class:`ImportFormatError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError
from ..model import CONTACT_FIELDS

MAX_FILE_BYTES = 50 * 1024 * 1024
_TOO_BIG = "{name} is larger than 50 MB; split it into smaller files"
CONTACT_FIELD_NAMES = frozenset(spec.name for spec in CONTACT_FIELDS)
MET_LIMIT = next(spec.limit for spec in CONTACT_FIELDS if spec.name == "met")
REMARK_LIMIT = next(spec.limit for spec in CONTACT_FIELDS if spec.name == "remark")
SYSTEM_GROUPS = frozenset({"mycontacts", "starred"})  # Google's built-in contact groups
_BINARY_MAGIC = {
    b"PK\x03\x04": "a zip archive or Excel workbook (.xlsx); save it as CSV first",
    b"\xd0\xcf\x11\xe0": "an Excel/Office file (.xls); save it as CSV first",
    b"%PDF": "a PDF document",
    b"SQLite format 3": "an SQLite database",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_VCARD_START = re.compile(r"^[ \t]*BEGIN:VCARD[ \t\r]*$", re.I | re.M)


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


def met_from_note(note: str) -> tuple[str, str]:
    """A free-text note as the one-line "how you met" text (white space collapsed), and the full
    note when it is longer than that field allows (for the private remark), else ``""``."""
    met = " ".join(note.split())
    if len(met) > MET_LIMIT:
        return met[: MET_LIMIT - 1] + "…", note.strip()[:REMARK_LIMIT]
    return met, ""


def is_system_group(label: str) -> bool:
    """Google's ``* myContacts`` / ``starred`` groups are not topics."""
    text = label.strip()
    return text.startswith("* ") or text.casefold() in SYSTEM_GROUPS


def read_contacts_file(path: Path) -> tuple[list[Draft], list[Rejected]]:
    """Read a vCard, CSV or plntui JSON file of contacts, detected from its content."""
    data = _read_bytes(path)
    text = _decode(data, path.name)
    start = text.lstrip()[:1]
    if start in ("[", "{"):
        return parse_contacts_json(text, path.name)
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
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise ImportFormatError(f"{name} is {what}, not a vCard or CSV file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _decode_utf16(data, name)
    elif b"\x00" in data[:65536]:
        raise ImportFormatError(f"{name} is a binary file, not a vCard or CSV file")
    else:
        text = _decode_8bit(data)
    text = text.lstrip("\ufeff")
    sample = text[:65536]
    if len(_CONTROL.findall(sample)) > max(8, len(sample) // 200):
        raise ImportFormatError(f"{name} is a binary file, not a vCard or CSV file")
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
