"""Provides circles: named groups of members, each with its own documents.

A circle document (``c:<id>``, see ``layout``) holds::

    name       str: the circle's name (set by any member)
    secret     str: 32 random bytes (64 hex digits): the circle's secret, see below
    members    map: certificate fingerprint (hex) -> display name
    devices    map: actor id (hex) -> {"name", "fingerprint", "registered"}: who wrote what
    settings   map: circle-wide settings: ``relay`` (``tcp:HOST:PORT``), the transit relay
               its members meet at beyond the LAN (``relay_config``)

Every contact and note belongs to one circle, or is private. A circle's documents go only to its
members and are accepted only from them (``sync_host``). Members change the member list; adding
someone needs their certificate, so only a trusted peer (paired, pinned by hand, or approved from
an introducer) can be added.

Member entries are scalars, never nested objects: two devices that each add the same member write
the same key, which Automerge resolves without hiding anything.

The circle's secret is what two members who never paired by code derive their relay tokens from
(``sync.relay.peer_token``): only members hold the circle document, so only they can compute
where to meet. A circle gets one when it is created; a circle made by an older plntui gets one
from the first member that needs it (``Network.ensure_circle_secrets``). Two members that write
one at once converge on one of the two values, like any other key. Someone removed from the
circle keeps the secret they had: they could occupy a rendezvous (disrupt a relayed link), never
read or pass for a member, since the pinned TLS runs end to end over the relay.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import automerge.core as am

from . import crdt, layout
from .errors import AmbiguousIdError, NotFoundError, ValidationError
from .model import clean_text, today

NAME_LIMIT = 60
RESERVED = frozenset({"private", "all"})
SECRET_KEY = "secret"  # noqa: S105 - the name of a key, not a secret
RELAY_SETTING = "relay"
SETTING_LIMIT = 300
"""The longest text a circle setting may hold (the guard refuses longer ones)."""
_SECRET = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Circle:
    """One circle as this device sees it."""

    id: str
    name: str
    members: Mapping[str, str] = field(default_factory=dict)
    """Fingerprint (hex) -> display name."""
    devices: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    me: str = ""
    """This device's fingerprint (hex), "" without an identity."""
    secret: bytes | None = None
    """The circle's secret (32 bytes), ``None`` while it has none (see the docstring)."""

    @property
    def relay_text(self) -> str | None:
        """The circle's relay setting as written (not checked: see ``relay_config``)."""
        value = self.settings.get(RELAY_SETTING)
        return value if isinstance(value, str) and value else None

    @property
    def member(self) -> bool:
        """Whether this device is a member (it may edit the circle's items)."""
        return bool(self.me) and self.me in self.members

    def has(self, fingerprint: bytes | str) -> bool:
        key = fingerprint.hex() if isinstance(fingerprint, bytes) else fingerprint
        return key in self.members

    def to_json(self) -> dict[str, Any]:
        from sync.fingerprint import format_fingerprint

        return {
            "id": self.id,
            "name": self.name,
            "member": self.member,
            "members": [
                {
                    "fingerprint": format_fingerprint(bytes.fromhex(fp)),
                    "name": name,
                    "you": fp == self.me,
                }
                for fp, name in sorted(self.members.items(), key=lambda kv: kv[1].casefold())
            ],
        }


def read_circle(doc: Any, circle_id: str, me: str) -> Circle:
    """The circle in its document (``doc`` may be a transaction)."""
    found = doc.get(am.ROOT, "name")
    name = str(found[0][1]) if found is not None and not isinstance(found[0], am.ObjType) else ""
    members: dict[str, str] = {}
    for key, value in crdt.read_map(doc, "members").items():
        if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", key):
            members[key] = value
    devices = {k: v for k, v in crdt.read_map(doc, "devices").items() if isinstance(v, dict)}
    settings = crdt.read_map(doc, "settings")
    return Circle(
        circle_id, name or circle_id[:8], members, devices, settings, me, read_secret(doc)
    )


def read_secret(doc: Any) -> bytes | None:
    """The circle's secret; ``None`` when it has none, or a malformed one (the guard refuses
    those from peers)."""
    found = doc.get(am.ROOT, SECRET_KEY)
    if found is None or isinstance(found[0], am.ObjType):
        return None
    value = found[0][1]
    if not isinstance(value, str) or not _SECRET.fullmatch(value):
        return None
    return bytes.fromhex(value)


def write_secret(tx: Any) -> None:
    """Give the circle a new secret (32 random bytes)."""
    tx.put(am.ROOT, SECRET_KEY, am.ScalarType.Str, secrets.token_hex(32))


def put_setting(tx: Any, key: str, value: str | None) -> bool:
    """Set a circle setting (``None`` removes it); True if anything changed."""
    settings = crdt.top(tx, "settings")
    found = tx.get(settings, key)
    if value is None:
        if found is None:
            return False
        tx.delete(settings, key)
        return True
    if found is not None and not isinstance(found[0], am.ObjType) and found[0][1] == value:
        return False
    tx.put(settings, key, am.ScalarType.Str, value)
    return True


def new_circle_id() -> str:
    return secrets.token_hex(8)


def check_name(name: Any, taken: Iterable[str] = ()) -> str:
    """A clean circle name, or ``ValidationError``: empty, too long, reserved or taken."""
    if not isinstance(name, str):
        raise ValidationError("a circle name must be text", "circle")
    text = clean_text(name, "circle name", NAME_LIMIT)
    if not text:
        raise ValidationError("a circle name must not be empty", "circle")
    if text.casefold() in RESERVED:
        raise ValidationError(f"{text!r} is reserved; choose another circle name", "circle")
    if text.casefold() in {t.casefold() for t in taken}:
        raise ValidationError(f"you already have a circle named {text!r}", "circle")
    return text


def write_name(tx: Any, name: str) -> None:
    tx.put(am.ROOT, "name", am.ScalarType.Str, name)


def put_member(tx: Any, fingerprint_hex: str, name: str) -> None:
    crdt.put_scalar(tx, crdt.top(tx, "members"), fingerprint_hex, name or fingerprint_hex[:8])


def delete_member(tx: Any, fingerprint_hex: str) -> bool:
    members = crdt.top(tx, "members")
    if tx.get(members, fingerprint_hex) is None:
        return False
    tx.delete(members, fingerprint_hex)
    return True


def register_device(tx: Any, actor_hex: str, name: str, fingerprint_hex: str | None) -> bool:
    """Record this device in the circle's registry; True if anything changed."""
    devices = crdt.top(tx, "devices")
    found = tx.get(devices, actor_hex)
    current = crdt.read_item(tx, found[1]) if found and found[0] == am.ObjType.Map else {}
    wanted: dict[str, Any] = {"name": name}
    if fingerprint_hex:
        wanted["fingerprint"] = fingerprint_hex
    if not current.get("registered"):
        wanted["registered"] = today().isoformat()
    if all(current.get(k) == v for k, v in wanted.items()):
        return False
    obj = found[1] if found and found[0] == am.ObjType.Map else None
    if obj is None:
        obj = tx.put_object(devices, actor_hex, am.ObjType.Map)
    for key, value in wanted.items():
        crdt.put_scalar(tx, obj, key, value)
    return True


def resolve(circles: Mapping[str, Circle], ref: str) -> Circle:
    """A circle by name (any case) or by id (a prefix of 4+ digits)."""
    text = " ".join(str(ref or "").split())
    if not text:
        raise ValidationError("give a circle name (see: plntui circle list)", "circle")
    by_name = [c for c in circles.values() if c.name.casefold() == text.casefold()]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        ids = ", ".join(sorted(c.id for c in by_name))
        raise AmbiguousIdError(
            f"{len(by_name)} circles are named {text!r} ({ids}); give the circle's id instead"
        )
    lowered = text.lower()
    if len(lowered) >= 4 and re.fullmatch(r"[0-9a-f]+", lowered):
        by_id = [c for c in circles.values() if c.id.startswith(lowered)]
        if len(by_id) == 1:
            return by_id[0]
        if len(by_id) > 1:
            raise AmbiguousIdError(f"circle id {text!r} matches {len(by_id)} circles")
    raise NotFoundError(f"no circle named {text!r} (see: plntui circle list)")


def genesis_document(actor: bytes) -> am.Document:
    return layout.new_document("circle", actor)
