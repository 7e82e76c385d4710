"""Provides the PLN data model: field tables, records, validation and normalisation.

Pure Python: nothing here touches Automerge, files or the terminal. A record is a plain dict of
field values plus the set of fields that are private; the field tables below say how each field
is checked, normalised and where it lives by default.
"""

from __future__ import annotations

import datetime as _dt
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ValidationError

SCHEMA_VERSION = 2
"""The document layout: 1 was one network document, 2 the repository (see ``layout``)."""

RELATIONSHIPS = ("colleague", "mentor", "mentee", "peer", "professional", "friend", "other")
NOTE_KINDS = ("note", "resource", "template", "review")
INTERACTION_KINDS = ("meeting", "call", "message", "email", "coffee", "event", "other")

Kind = Literal["str", "text", "list", "int", "date", "timestamp"]
Collection = Literal["contacts", "notes", "interactions"]
COLLECTIONS: tuple[Collection, ...] = ("contacts", "notes", "interactions")

_EMAIL_RE = re.compile(
    r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_URL_RE = re.compile(r"^(https?|mailto|ftp)://[^\s/$.?#][^\s]*$|^mailto:[^\s@]+@[^\s@]+$", re.I)
_PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{3,32}(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$", re.I)
_ID_RE = re.compile(r"^[0-9a-f]{4,32}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def new_id() -> str:
    """A fresh item id: 48 random bits in hex, unique across every device that syncs."""
    return secrets.token_hex(6)


def now_stamp() -> str:
    """The current time as an ISO 8601 UTC timestamp with seconds, e.g. ``2026-11-23T18:44:00Z``."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def today() -> _dt.date:
    return _dt.date.today()


# ---------------------------------------------------------------------------------------------
# normalisers and validators: each takes the raw value and returns the stored one, or raises


def clean_text(value: Any, name: str, limit: int, multiline: bool = False) -> str:
    """Strip, remove control characters, and check the length of a text field."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text", name)
    text = unicodedata.normalize("NFC", value)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _CONTROL_RE.sub("", text)  # tabs and newlines are not in it: they stay
    else:
        text = " ".join(_CONTROL_RE.sub(" ", text).split())
    text = text.strip() if not multiline or not text.strip() else text
    if len(text) > limit:
        raise ValidationError(f"{name} is too long ({len(text)} characters, at most {limit})", name)
    return text


def normalise_topic(value: str) -> str:
    """Topics and tags compare case- and space-insensitively: ``" Machine  Learning"`` ->
    ``"machine learning"``. A leading ``#`` is dropped."""
    text = " ".join(_CONTROL_RE.sub(" ", unicodedata.normalize("NFKC", value)).split()).lower()
    return text.lstrip("#").strip()


def _check_email(value: str) -> str:
    email = value.strip()
    if email.lower().startswith("mailto:"):
        email = email[7:]
    if len(email) > 254 or not _EMAIL_RE.match(email):
        raise ValidationError(f"not a valid e-mail address: {value!r}", "emails")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def _check_url(value: str) -> str:
    url = value.strip()
    if "://" not in url and not url.lower().startswith("mailto:") and "." in url and " " not in url:
        url = "https://" + url
    if len(url) > 2000 or not _URL_RE.match(url):
        raise ValidationError(f"not a valid link (expected http(s)://…): {value!r}", "links")
    return url


def _check_phone(value: str) -> str:
    phone = " ".join(value.split())
    if not _PHONE_RE.match(phone) or sum(ch.isdigit() for ch in phone) < 3:
        raise ValidationError(f"not a valid phone number: {value!r}", "phones")
    return phone


def parse_date(value: Any, name: str = "date") -> str:
    """Accept ``YYYY-MM-DD``, ``today``, ``yesterday`` or ``-Nd`` (N days ago); return ISO text."""
    if value is None or value == "":
        return ""
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a date like 2026-03-14", name)
    text = value.strip().lower()
    if text == "today":
        return today().isoformat()
    if text == "yesterday":
        return (today() - _dt.timedelta(days=1)).isoformat()
    match = re.fullmatch(r"-(\d{1,5})d", text)
    if match:
        return (today() - _dt.timedelta(days=int(match.group(1)))).isoformat()
    try:
        day = _dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        day = None
    if day is None or (len(text) > 10 and text[10] not in "t "):
        raise ValidationError(
            f"{name}: {value!r} is not a date (use YYYY-MM-DD, 'today', 'yesterday' or -Nd)", name
        )
    if not 1900 <= day.year <= 2200:
        raise ValidationError(f"{name}: year {day.year} is out of range", name)
    return day.isoformat()


def _check_timestamp(value: Any, name: str) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str):
        try:
            stamp = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=_dt.UTC)
            return stamp.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise ValidationError(f"{name}: {value!r} is not a timestamp", name)


_BIRTHDAY_RE = re.compile(r"^(?:(\d{4})-?|--)(\d{2})-?(\d{2})$")


def _check_birthday(value: str) -> str:
    """``YYYY-MM-DD``, or ``--MM-DD`` when the year is not known; vCard's basic forms
    (``19061209``, ``--1209``) are read too."""
    text = value.strip()
    match = _BIRTHDAY_RE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day = match.group(1), int(match.group(2)), int(match.group(3))
        born = _dt.date(int(year) if year else 2000, month, day)  # 2000: 29 February is a day
    except ValueError:
        raise ValidationError(
            f"{value!r} is not a birthday (use YYYY-MM-DD, or --MM-DD without the year)"
        ) from None
    if not year:
        return f"--{month:02d}-{day:02d}"
    if born.year < 1800 or born > today():
        raise ValidationError(f"{born.isoformat()} is not a birthday in the past")
    return born.isoformat()


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        word = value.strip().lower()
        if word not in options:
            raise ValidationError(f"must be one of {', '.join(options)}; got {value!r}")
        return word

    return check


def _id_ref(value: str) -> str:
    ref = value.strip().lower()
    if ref and not _ID_RE.match(ref):
        raise ValidationError(f"not an item id: {value!r}")
    return ref


# ---------------------------------------------------------------------------------------------
# field tables


@dataclass(frozen=True, slots=True)
class Field:
    """How one field of a record is stored and checked."""

    name: str
    kind: Kind
    label: str
    limit: int = 200
    check: Callable[[str], str] | None = None  # per value (per item for lists)
    required: bool = False
    private_default: bool = False  # lives in the private document unless the user shares it
    private_only: bool = False  # never leaves the device
    system: bool = False  # set by plntui, not by the user
    max_items: int = 100
    choices: tuple[str, ...] = ()


CONTACT_FIELDS: tuple[Field, ...] = (
    Field("name", "str", "Name", 200, required=True),
    Field("emails", "list", "E-mail", 254, _check_email, max_items=20),
    Field("phones", "list", "Phone", 40, _check_phone, max_items=20),
    Field("org", "str", "Organisation", 200),
    Field("role", "str", "Role", 200),
    Field("relationship", "str", "Relationship", 20, _choice(RELATIONSHIPS), choices=RELATIONSHIPS),
    Field("topics", "list", "Topics", 80, normalise_topic, max_items=50),
    Field("met", "str", "How you met", 1000),
    Field("met_where", "str", "Where you met", 200),
    Field("channel", "str", "Channel", 200),
    Field("introduced_by", "str", "Introduced by", 32, _id_ref),
    Field("links", "list", "Links", 2000, _check_url, max_items=20),
    # What vCard and address books keep besides: a nickname, the parts of a structured name (set
    # only when they are not what the name gives: "Rear Admiral", "Brewster", a two-word family
    # name), and a birthday and postal address, which stay on the device unless shared.
    Field("nickname", "str", "Nickname", 200),
    Field("name_prefix", "str", "Name prefix", 100),
    Field("given_name", "str", "Given name", 200),
    Field("additional_names", "str", "Additional names", 200),
    Field("family_name", "str", "Family name", 200),
    Field("name_suffix", "str", "Name suffix", 100),
    Field("birthday", "str", "Birthday", 10, _check_birthday, private_default=True),
    Field("address", "str", "Address", 500, private_default=True),
    Field("last_contacted", "date", "Last contacted", private_default=True),
    Field("cadence_days", "int", "Follow-up every (days)", private_default=True),
    Field("remark", "text", "Private remark", 10_000, private_only=True),
    Field("rating", "int", "Rating (1-5)", private_only=True),
    # a dated reminder is this text with its date in front, "2026-04-01 ask about the book"
    # (see ``reminders``); one without a date is a plain text reminder, as before dates
    Field("reminder", "str", "Reminder", 500, private_only=True),
    Field("created", "timestamp", "Created", system=True),
    Field("updated", "timestamp", "Updated", system=True),
    Field("added_by", "str", "Added by (device)", 64, system=True),
    Field("changed_by", "str", "Changed by (device)", 64, system=True),
)

NOTE_FIELDS: tuple[Field, ...] = (
    Field("title", "str", "Title", 300, required=True),
    Field("body", "text", "Body", 1_000_000),
    Field("tags", "list", "Tags", 80, normalise_topic, max_items=50),
    Field("kind", "str", "Kind", 20, _choice(NOTE_KINDS), choices=NOTE_KINDS),
    Field("contacts", "list", "Linked contacts", 32, _id_ref, max_items=200),
    Field("remark", "text", "Private remark", 10_000, private_only=True),
    Field("rating", "int", "Rating (1-5)", private_only=True),
    Field("reminder", "str", "Reminder", 500, private_only=True),
    Field("created", "timestamp", "Created", system=True),
    Field("updated", "timestamp", "Updated", system=True),
    Field("author", "str", "Author (device)", 64, system=True),
    Field("changed_by", "str", "Changed by (device)", 64, system=True),
)

INTERACTION_FIELDS: tuple[Field, ...] = (
    Field("contact", "str", "Contact", 32, _id_ref, required=True),
    Field("date", "date", "Date", required=True),
    Field("kind", "str", "Kind", 20, _choice(INTERACTION_KINDS), choices=INTERACTION_KINDS),
    Field("summary", "text", "Summary", 10_000, required=True),
    Field("created", "timestamp", "Created", system=True),
    Field("author", "str", "Author (device)", 64, system=True),
)

FIELDS: dict[Collection, dict[str, Field]] = {
    "contacts": {f.name: f for f in CONTACT_FIELDS},
    "notes": {f.name: f for f in NOTE_FIELDS},
    "interactions": {f.name: f for f in INTERACTION_FIELDS},
}

# Provenance: the actor id (hex) of the device that created an item, and of the device whose edit
# last set its ``updated`` stamp. Every device writes its own actor id with its own edits, so a
# merged network says who did what; the device registry of the shared document names them.
CREATOR_FIELD: dict[Collection, str] = {
    "contacts": "added_by",
    "notes": "author",
    "interactions": "author",
}
PROVENANCE_FIELDS = frozenset({"added_by", "author", "changed_by"})

# Interactions are the user's own log: they stay on the device unless shared explicitly.
PRIVATE_BY_DEFAULT_COLLECTIONS: frozenset[Collection] = frozenset({"interactions"})


def empty_value(spec: Field) -> Any:
    if spec.kind == "list":
        return []
    if spec.kind == "int":
        return None
    return ""


def check_field(collection: Collection, name: str, value: Any) -> Any:
    """Validate and normalise one field value; raise :class:`ValidationError` with the field."""
    spec = FIELDS[collection].get(name)
    if spec is None:
        raise ValidationError(f"unknown field {name!r} for {collection}", name)
    try:
        return _check(spec, value)
    except ValidationError as err:
        message = err.message
        if message.startswith("is "):
            message = f"{spec.label} {message}"
        elif not message.startswith(spec.label) and not message.startswith(spec.name):
            message = f"{spec.label}: {message}"
        raise ValidationError(message, spec.name) from None


def _check(spec: Field, value: Any) -> Any:
    if spec.kind == "list":
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, Iterable):
            raise ValidationError("expected a list", spec.name)
        items: list[str] = []
        for raw in value:
            if not isinstance(raw, str):
                raise ValidationError(f"expected text, got {raw!r}", spec.name)
            item = clean_text(raw, spec.label, spec.limit)
            if not item:
                continue
            if spec.check is not None:
                item = spec.check(item)
            if item and item not in items:
                items.append(item)
        if len(items) > spec.max_items:
            raise ValidationError(f"at most {spec.max_items} items", spec.name)
        return items
    if spec.kind == "int":
        if value in (None, ""):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{value!r} is not a whole number", spec.name) from None
        if spec.name == "rating" and not 1 <= number <= 5:
            raise ValidationError("must be from 1 to 5", spec.name)
        if spec.name == "cadence_days" and not 1 <= number <= 3660:
            raise ValidationError("must be from 1 to 3660 days", spec.name)
        return number
    if spec.kind == "date":
        day = parse_date(value, spec.label)
        if day and day > today().isoformat():
            raise ValidationError(f"{day} is in the future", spec.name)
        return day
    if spec.kind == "timestamp":
        return _check_timestamp(value, spec.label)
    text = clean_text(value, spec.label, spec.limit, multiline=spec.kind == "text")
    if spec.required and not text.strip():
        raise ValidationError("is required", spec.name)
    if text and spec.check is not None:
        text = spec.check(text)
    return text


def check_fields(collection: Collection, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every given field; collect the first error of each field into one message."""
    out: dict[str, Any] = {}
    errors: list[ValidationError] = []
    for name, value in values.items():
        try:
            out[name] = check_field(collection, name, value)
        except ValidationError as err:
            errors.append(err)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        combined = ValidationError("; ".join(e.message for e in errors), errors[0].field)
        combined.errors = errors  # type: ignore[attr-defined]
        raise combined
    return out


def check_new(collection: Collection, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a new record: every required field present."""
    checked = check_fields(collection, values)
    for spec in FIELDS[collection].values():
        if spec.required and not checked.get(spec.name):
            raise ValidationError(f"{spec.label} is required", spec.name)
    return checked


# ---------------------------------------------------------------------------------------------
# records


@dataclass(slots=True)
class Record:
    """One contact, note or interaction as the API returns it: both documents merged.

    ``private`` names the fields whose value lives in the device's private documents; every
    other field is shared with the members of the item's ``circle`` (its id; ``circle_name`` is
    its name). ``private_item`` means the whole item is private (it has no circle).
    ``stored`` is for the index's lists alone (``listed.Listed``): a listed record keeps its
    label and stored JSON there until its values are first read.
    """

    collection: Collection
    id: str
    values: dict[str, Any]
    private: frozenset[str] = frozenset()
    private_item: bool = False
    sources: list[dict[str, Any]] = field(default_factory=list)
    circle: str = ""
    circle_name: str = ""
    stored: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def __getitem__(self, name: str) -> Any:
        if name == "id":
            return self.id
        spec = FIELDS[self.collection].get(name)
        if name in self.values:
            return self.values[name]
        return empty_value(spec) if spec else None

    def get(self, name: str, default: Any = None) -> Any:
        value = self[name]
        return default if value in (None, "", []) else value

    @property
    def label(self) -> str:
        if self.collection == "contacts":
            return str(self.values.get("name", ""))
        if self.collection == "notes":
            return str(self.values.get("title", ""))
        return str(self.values.get("summary", ""))[:60]

    def is_private(self, name: str) -> bool:
        return self.private_item or name in self.private

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by ``--json`` output and the JSON exports."""
        out: dict[str, Any] = {"id": self.id}
        for spec in FIELDS[self.collection].values():
            out[spec.name] = self[spec.name]
        if self.collection == "contacts":
            out["org"] = self["org"]
        out["private_fields"] = sorted(
            FIELDS[self.collection] if self.private_item else self.private
        )
        out["private"] = self.private_item
        out["circle"] = None if self.private_item else (self.circle_name or None)
        out["circle_id"] = None if self.private_item else (self.circle or None)
        if self.sources:
            out["sources"] = self.sources
        return out


def shared_view(records: list[Record], include_private: bool) -> tuple[list[Record], int]:
    """What may leave the device: records without private items and private fields (as the
    exports write them), and how many items lost something."""
    if include_private:
        return records, 0
    kept: list[Record] = []
    hidden = 0
    for record in records:
        if record.private_item:
            hidden += 1
            continue
        if record.private:
            hidden += 1
            record = Record(
                record.collection,
                record.id,
                {k: v for k, v in record.values.items() if k not in record.private},
                frozenset(),
                False,
                record.sources,
                record.circle,
                record.circle_name,
            )
        kept.append(record)
    return kept, hidden


def display_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def safe_text(value: Any) -> str:
    """Data for a terminal: control characters (escape sequences included) removed."""
    return _CONTROL_RE.sub("", display_value(value))  # tabs and newlines stay
