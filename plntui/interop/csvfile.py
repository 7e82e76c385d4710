"""Provides CSV and JSON reading of contacts into import drafts, and CSV/JSON writing of contacts.

Reading takes any CSV with a header row: plntui's own export, LinkedIn's ``Connections.csv``
(whose real header comes after a few "Notes:" lines), Google Contacts, Outlook and hand-made
sheets. Header names are matched loosely ("E-mail Address", "Email", "E-mail 1 - Value" all mean
e-mails); the delimiter (comma, semicolon or tab) is found from the header. Sources name the line
of the file where the row starts.

Mapping of foreign columns (the README's "Import and export" has the table): a "Notes" column
is free text about the person and becomes the private remark, never a shared field; First,
Middle and Last Name (and Name Prefix/Suffix) make the name, and are kept as name parts where
the name does not give them ("Mary Ann" as a given name); Nickname, Birthday and an address
column ("Address", "Home Address", Google's "Address 1 - Formatted") fill those fields; a
department is added to the role in brackets; LinkedIn's "Connected On" becomes "Connected on
LinkedIn on YYYY-MM-DD" (as "how you met", channel "LinkedIn"); Google's ``" ::: "`` separated
cells and its built-in "* myContacts" groups are understood. Only cells that look like column
names count in a header (no ``:``, ``$``, ``=``, ``@``...), so that a password or config file is
not taken for a CSV.

Writing: one column per contact field (plus ``id``), list fields joined with ``"; "``
(:data:`LIST_JOINER`), so list items must not themselves contain ``"; "``. Cells that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) get a leading ``'``, which the
reader removes again, so a plntui CSV reads back exactly. The devices that added and changed a
contact are named by their registered names, as in the other exports but JSON.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ImportFormatError
from ..model import CONTACT_FIELDS, RELATIONSHIPS, Record
from . import (
    CONTACT_FIELD_NAMES,
    NOT_CONTACTS,
    Draft,
    Rejected,
    draft_or_rejected,
    is_system_group,
    name_part_values,
    remark_from_note,
    with_author_names,
)

LIST_JOINER = "; "
OWN_COLUMNS: tuple[str, ...] = (
    "id",
    *(spec.name for spec in CONTACT_FIELDS),
    "private",
    "private_fields",
)
PRIVACY_KEYS = frozenset({"private", "private_fields"})
_OUR_MARKERS = frozenset({"id", "name", "emails", "phones", "topics", "links", "added_by"})
_KINDS = {spec.name: spec.kind for spec in CONTACT_FIELDS}
_LIST_TARGETS = frozenset(name for name, kind in _KINDS.items() if kind == "list")
_HEADER_ROWS = 40
_DELIMITERS = (",", ";", "\t")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"[0-9 ()./;+\-xXet]*")  # phone numbers stay as they are
# A header cell names a column: letters, digits, spaces and a little punctuation ("E-mail 1 -
# Value", "Organization Name", "Job Title (current)"), never a line of data ("mail:*:19700:0").
_HEADER_CELL = re.compile(r"[^\W_]|[^\W_][\w .'&/()#+-]{0,78}[\w.)#]")

# normalised header (lower case, letters and digits only) -> (target, priority; lower wins)
_EXACT: dict[str, tuple[str, int]] = {
    **{name.replace("_", ""): (name, 0) for name in OWN_COLUMNS},
    **dict.fromkeys(("fullname", "displayname", "contactname", "formattedname"), ("name", 1)),
    **dict.fromkeys(("firstname", "givenname"), ("first", 0)),
    **dict.fromkeys(("middlename", "additionalname"), ("middle", 0)),
    **dict.fromkeys(("lastname", "familyname", "surname"), ("last", 0)),
    **dict.fromkeys(
        (
            "company",
            "companyname",
            "organization",
            "organisation",
            "organizationname",
            "organisationname",
            "organization1name",
            "employer",
        ),
        ("org", 1),
    ),
    **dict.fromkeys(
        ("jobtitle", "position", "organizationtitle", "organization1title", "occupation"),
        ("role", 1),
    ),
    "title": ("role", 2),
    **dict.fromkeys(
        ("department", "organizationdepartment", "organization1department"), ("department", 0)
    ),
    **dict.fromkeys(("notes", "note", "comments"), ("note", 0)),
    **dict.fromkeys(("prefix", "honorificprefix"), ("name_prefix", 1)),
    **dict.fromkeys(("suffix", "honorificsuffix"), ("name_suffix", 1)),
    **dict.fromkeys(("birthdate", "dateofbirth", "dob", "bday"), ("birthday", 1)),
    **dict.fromkeys(
        (
            "tags",
            "expertise",
            "categories",
            "labels",
            "groupmembership",
            "skills",
            "interests",
            "keywords",
        ),
        ("topics", 0),
    ),
    "connectedon": ("connected_on", 0),
    "howwemet": ("met", 1),
}
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"(?:work|home|other|primary|personal|business)?e?mail(?:address)?\d*"
            r"(?:value|address)?\d*"
        ),
        "emails",
    ),
    (
        re.compile(
            r"(?:business|home|work|other|primary|main|company|mobile|cell)?"
            r"(?:phone|telephone|tel|mobile|cell)(?:number)?\d*(?:value)?\d*"
        ),
        "phones",
    ),
    (
        re.compile(
            r"(?:website|web|url|webpage|homepage|webaddress|linkedin|linkedinprofile|"
            r"profile|personalwebsite|businesswebsite)\d*(?:value|url)?\d*"
        ),
        "links",
    ),
    (
        re.compile(r"(?:home|work|business|other|postal|mailing|street)?address\d*(?:formatted)?"),
        "address",
    ),
)


@dataclass(slots=True)
class _Layout:
    """What the header says: (column index, target, priority) and whose export it is."""

    columns: list[tuple[int, str, int]]
    ours: bool


# ---------------------------------------------------------------------------------------------
# reading


def parse_csv(text: str, source_name: str) -> tuple[list[Draft], list[Rejected]]:
    """Every row of a CSV file with a header as a draft, or rejected with the reason."""
    text = text.lstrip("\ufeff")
    found = _find_header(text)
    if found is None:
        raise ImportFormatError(NOT_CONTACTS.format(name=source_name))
    delimiter, header_index, layout = found
    drafts: list[Draft] = []
    rejected: list[Rejected] = []
    for line, row in _data_rows(text, delimiter, header_index, source_name):
        result = draft_or_rejected(_row_values(row, layout), f"{source_name}: line {line}")
        if isinstance(result, Draft):
            drafts.append(result)
        else:
            rejected.append(result)
    return drafts, rejected


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Rows with the file line each one starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def _find_header(text: str) -> tuple[str, int, _Layout] | None:
    """The delimiter and header row (within the first rows) that name the most known columns."""
    best: tuple[int, str, int, _Layout] | None = None
    for delimiter in _DELIMITERS:
        try:
            for index, (_line, row) in enumerate(_rows(text, delimiter)):
                if index >= _HEADER_ROWS:
                    break
                layout = _layout(row)
                if layout is not None:
                    if best is None or len(layout.columns) > best[0]:
                        best = (len(layout.columns), delimiter, index, layout)
                    break
        except csv.Error:
            continue
    return None if best is None else best[1:]


def _data_rows(
    text: str, delimiter: str, header_index: int, source_name: str
) -> Iterator[tuple[int, list[str]]]:
    rows = _rows(text, delimiter)
    line = 0
    try:
        for index, (line, row) in enumerate(rows):
            if index > header_index and any(cell.strip() for cell in row):
                yield line, row
    except csv.Error as err:
        raise ImportFormatError(f"{source_name}: after line {line}: {err}") from None


def _column_target(header: str) -> tuple[str, int] | None:
    key = re.sub(r"[^a-z0-9]", "", header.strip().lower())
    if key in _EXACT:
        return _EXACT[key]
    for pattern, target in _PATTERNS:
        if pattern.fullmatch(key):
            return target, 1
    return None


def _layout(header: list[str]) -> _Layout | None:
    cells = [cell.strip() for cell in header]
    ours = _OUR_MARKERS.issubset(cells)
    columns: list[tuple[int, str, int]] = []
    for index, cell in enumerate(cells):
        if not _HEADER_CELL.fullmatch(cell):
            continue
        target = (cell, 0) if ours and cell in OWN_COLUMNS else _column_target(cell)
        if target is not None:
            columns.append((index, *target))
    if not {target for _i, target, _p in columns} & {"name", "first", "last", "emails"}:
        return None
    if not ours:
        columns = [column for column in columns if column[1] != "id"]
    else:  # plntui's own export also says what was private
        columns += [
            (i, cell.strip(), 0) for i, cell in enumerate(header) if cell.strip() in PRIVACY_KEYS
        ]
    return _Layout(columns, ours)


def _row_values(row: list[str], layout: _Layout) -> dict[str, Any]:
    singles: dict[str, tuple[int, str]] = {}
    lists: dict[str, list[str]] = {}
    for index, target, priority in layout.columns:
        cell = _unguard(row[index]) if index < len(row) else ""
        if target in _LIST_TARGETS:
            lists.setdefault(target, []).extend(_split_list(target, cell, layout.ours))
        elif cell.strip() and (target not in singles or priority < singles[target][0]):
            singles[target] = (priority, cell)
    texts = {
        target: (cell if target == "remark" else cell.strip())
        for target, (_p, cell) in singles.items()
    }
    values: dict[str, Any] = {**texts, **lists}
    if layout.ours:
        return _typed(values)
    return _typed(_foreign(values))


def _split_list(target: str, cell: str, ours: bool) -> list[str]:
    if ours:
        return [item for item in cell.split(LIST_JOINER) if item]
    separators = {
        "emails": r"\s*:::\s*|[;,\s]+",
        "phones": r"\s*:::\s*|;",
        "links": r"\s*:::\s*|[;,]?\s+",
        "topics": r"\s*:::\s*|[;,]",
    }[target]
    items = [item.strip() for item in re.split(separators, cell)]
    if target == "topics":
        items = [item for item in items if not is_system_group(item)]
    if target == "emails":  # "Ada <ada@example.org>" -> "ada@example.org"
        found = [item.strip("<>()[]\"',") for item in items if "@" in item]
        # A cell with no address at all is kept as it is, so the row is rejected with a reason.
        items = found if found or not cell.strip() else [cell.strip()]
    return [item for item in items if item]


def _foreign(values: dict[str, Any]) -> dict[str, Any]:
    """Fold the helper columns of other programs' files into contact fields."""
    given, middle, family = (values.pop(key, "") for key in ("first", "middle", "last"))
    prefix, suffix = values.pop("name_prefix", ""), values.pop("name_suffix", "")
    if not values.get("name"):
        values["name"] = " ".join(part for part in (given, middle, family) if part)
    values.update(name_part_values(values["name"], [family, given, middle, prefix, suffix]))
    department = values.pop("department", "")
    if department:
        role = values.get("role", "")
        values["role"] = f"{role} ({department})" if role else department
    note = values.pop("note", "")
    if note and not values.get("remark"):
        values["remark"] = remark_from_note(note)
    connected = values.pop("connected_on", "")
    if connected:
        values.setdefault("met", f"Connected on LinkedIn on {_linkedin_date(connected)}")
        values.setdefault("channel", "LinkedIn")
    relationship = str(values.get("relationship", "")).lower()
    if relationship:
        values["relationship"] = relationship if relationship in RELATIONSHIPS else "other"
    return values


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    for name in ("cadence_days", "rating"):
        text = values.get(name)
        if isinstance(text, str) and re.fullmatch(r"-?\d{1,9}", text):
            values[name] = int(text)
    if isinstance(values.get("private"), str):
        values["private"] = values["private"].strip().lower() in ("true", "1", "yes")
    if isinstance(values.get("private_fields"), str):
        values["private_fields"] = [f for f in values["private_fields"].split(LIST_JOINER) if f]
    return {
        k: v
        for k, v in values.items()
        if k in CONTACT_FIELD_NAMES or k == "id" or k in PRIVACY_KEYS
    }


def _linkedin_date(text: str) -> str:
    """LinkedIn writes "12 Mar 2024" (older exports "03/12/24"); anything else stays as is."""
    for layout in ("%d %b %Y", "%d %B %Y", "%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d", "%b %d, %Y"):
        try:
            return _dt.datetime.strptime(text.strip(), layout).date().isoformat()
        except ValueError:
            continue
    return text.strip()


def _needs_guard(cell: str) -> bool:
    if cell[:1] == "'":
        return _needs_guard(cell[1:])
    return cell[:1] in _FORMULA_START and not _HARMLESS.fullmatch(cell)


def _guard(cell: str) -> str:
    return "'" + cell if _needs_guard(cell) else cell


def _unguard(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and _needs_guard(cell[1:]) else cell


# ---------------------------------------------------------------------------------------------
# JSON


def parse_contacts_json(text: str, source_name: str) -> tuple[list[Draft], list[Rejected]]:
    """A JSON array of contacts as :func:`contacts_to_json` writes it, or
    ``{"contacts": [...]}``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ImportFormatError(
            f"{source_name} is not valid JSON (line {err.lineno}: {err.msg})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("contacts"), list):
        data = data["contacts"]
    if not isinstance(data, list):
        raise ImportFormatError(f"{source_name}: expected a JSON array of contacts (plntui export)")
    if data and all(isinstance(i, dict) and "title" in i and "name" not in i for i in data):
        raise ImportFormatError(f"{source_name} holds notes, not contacts")
    drafts: list[Draft] = []
    rejected: list[Rejected] = []
    for number, item in enumerate(data, 1):
        result = _json_item(item, f"{source_name}: item {number}")
        if isinstance(result, Draft):
            drafts.append(result)
        else:
            rejected.append(result)
    return drafts, rejected


def _json_item(item: Any, source: str) -> Draft | Rejected:
    if not isinstance(item, dict):
        return Rejected(source, "not a JSON object")
    values = {key: value for key, value in item.items() if key in CONTACT_FIELD_NAMES}
    if isinstance(item.get("id"), str) and item["id"]:
        values["id"] = item["id"]
    if item.get("private") is True:
        values["private"] = True
    fields = item.get("private_fields")
    if isinstance(fields, list) and not values.get("private"):
        values["private_fields"] = [f for f in fields if isinstance(f, str)]
    return draft_or_rejected(values, source)


# ---------------------------------------------------------------------------------------------
# writing


def contacts_to_csv(records: list[Record], names: Mapping[str, str] | None = None) -> str:
    """A CSV file with a header of every contact field; lists joined with ``"; "``. ``names``
    (device id -> registered name) names the devices in ``added_by`` and ``changed_by``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(OWN_COLUMNS)
    for record in with_author_names(records, names):
        writer.writerow([_guard(_cell(record, name)) for name in OWN_COLUMNS])
    return buffer.getvalue()


def _cell(record: Record, name: str) -> str:
    if name == "private":
        return "true" if record.private_item else ""
    if name == "private_fields":
        return LIST_JOINER.join(sorted(record.private)) if not record.private_item else ""
    value = record[name]
    if isinstance(value, list):
        return LIST_JOINER.join(str(item) for item in value)
    return "" if value is None else str(value)


def contacts_to_json(records: list[Record]) -> str:
    """A JSON array of the contacts as ``Record.to_json()`` gives them."""
    return json.dumps([record.to_json() for record in records], indent=2, ensure_ascii=False) + "\n"
