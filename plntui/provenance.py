"""Provides who changed what: device names, the provenance line of a record, and what's new.

Every contact and note carries the actor id (hex) of the device that added it (``added_by`` for
contacts, ``author`` for notes) and of the device whose edit last set its ``updated`` stamp
(``changed_by``). Each device writes its own id with its own edits, so attribution survives any
merge; the shared document's device registry (``devices``: actor id -> name, fingerprint, date
registered) turns ids into names. Names come from peers: they are sanitised here and are data,
never markup. An id nobody registered shows as its first 8 hex digits.

"What's new" lists the contacts and notes that other devices added or changed after the time you
last looked, which is kept in ``seen.json`` in the profile (local, never synced). It reads the
search index only, so it stays fast on a large network. It compares the editing device's clock
with yours: an edit made offline and received later with an older stamp than your last look is
not listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .catalog import fold
from .model import CREATOR_FIELD, Record, now_stamp, safe_text
from .store import atomic_write

if TYPE_CHECKING:
    from .network import Network
    from .profile import Profile

SEEN_FILE = "seen.json"
NAME_LIMIT = 64


def clean_name(value: Any) -> str:
    """A display name from a peer as one plain line: no control characters, bounded length."""
    text = " ".join(safe_text(value).split())
    return text[:NAME_LIMIT]


def short_id(actor: str) -> str:
    return "".join(ch for ch in str(actor) if ch in "0123456789abcdef")[:8] or "?"


def device_names(net: Network) -> dict[str, str]:
    """Actor id -> sanitised display name, from the index's copy of the registry; this
    device's own ids always carry its current name."""
    names = {
        actor: clean_name(info.get("name", "")) for actor, info in net.index().devices().items()
    }
    own = clean_name(net.profile.meta.name)
    for actor in net.own_ids:
        names[actor] = own
    return {k: v for k, v in names.items() if v}


def device_label(net: Network, actor: str, names: dict[str, str] | None = None) -> str:
    if not actor:
        return ""
    names = device_names(net) if names is None else names
    return names.get(actor) or short_id(actor)


def actors_named(net: Network, text: str, names: dict[str, str] | None = None) -> set[str]:
    """The actor ids whose name contains ``text`` (case- and accent-insensitive); ``me`` is
    this device. A full or partial actor id (4+ hex digits) matches that device too."""
    wanted = fold(" ".join(text.split()))
    if not wanted:
        return set()
    names = device_names(net) if names is None else names
    if wanted in ("me", "you"):
        return set(net.own_ids)
    found = {actor for actor, name in names.items() if wanted in fold(name)}
    if len(wanted) >= 4 and all(ch in "0123456789abcdef" for ch in wanted):
        found |= {actor for actor in names if actor.startswith(wanted)}
    return found


@dataclass(frozen=True, slots=True)
class Provenance:
    added_by: str  # names, sanitised ("" when unknown)
    changed_by: str
    added: str  # ISO stamps
    changed: str
    edited: bool  # changed since it was added (or by another device)

    def line(self) -> str:
        """``Added by Alice (2026-11-02) · changed by Bob (2026-11-30)``."""
        parts = []
        if self.added_by:
            parts.append(
                f"Added by {self.added_by}" + (f" ({self.added[:10]})" if self.added else "")
            )
        if self.edited and self.changed_by:
            parts.append(f"changed by {self.changed_by} ({self.changed[:10]})")
        return " · ".join(parts)


def provenance(net: Network, record: Record, names: dict[str, str] | None = None) -> Provenance:
    names = device_names(net) if names is None else names
    creator = str(record.values.get(CREATOR_FIELD[record.collection]) or "")
    changer = str(record.values.get("changed_by") or "")
    created = str(record.values.get("created") or "")
    updated = str(record.values.get("updated") or "")
    return Provenance(
        device_label(net, creator, names),
        device_label(net, changer, names) if changer else "",
        created,
        updated,
        bool(changer) and (changer != creator or (updated or created) != created),
    )


# -- what's new -----------------------------------------------------------------------------------


def last_seen(profile: Profile) -> str:
    """When you last looked at what's new (an ISO stamp), or "" if never."""
    try:
        data = json.loads((profile.home / SEEN_FILE).read_text())
    except (OSError, ValueError):
        return ""
    stamp = data.get("whatsnew") if isinstance(data, dict) else None
    return stamp if isinstance(stamp, str) else ""


def mark_seen(profile: Profile, stamp: str | None = None) -> str:
    """Remember that you looked at what's new up to ``stamp`` (default: now); the mark never
    moves back, and never past this device's clock (a colleague's clock running ahead, or a
    garbage stamp, must not hide what comes next)."""
    now = now_stamp()
    before = last_seen(profile)
    stamp = min(max(stamp or now, before if before <= now else ""), now)
    atomic_write(profile.home / SEEN_FILE, json.dumps({"whatsnew": stamp}).encode())
    return stamp


@dataclass(frozen=True, slots=True)
class NewItem:
    record: Record
    what: str  # "added", "changed" or "deleted" (a deleted item can be restored from the trash)
    who: str  # sanitised device name
    when: str  # ISO stamp


def whats_new(net: Network, since: str | None = None, limit: int = 1000) -> list[NewItem]:
    """Contacts and notes other devices added or changed after ``since`` (default: when you
    last looked), latest first."""
    since = last_seen(net.profile) if since is None else since
    names = device_names(net)
    items: list[NewItem] = []
    for record in net.index().changed_since(since, net.own_ids, limit):
        if record.private_item:
            continue
        creator = str(record.values.get(CREATOR_FIELD[record.collection]) or "")
        changer = str(record.values.get("changed_by") or creator)
        created = str(record.values.get("created") or "")
        when = str(record.values.get("updated") or created)
        added = changer == creator and (not since or created > since)
        items.append(
            NewItem(
                record, "added" if added else "changed", device_label(net, changer, names), when
            )
        )
    own = net.own_ids
    for entry in net.index().trash(since):
        by = str(entry["deleted_by"] or "")
        if by in own or entry["record"].private_item:
            continue
        items.append(
            NewItem(
                entry["record"],
                "deleted",
                device_label(net, by, names) if by else "someone",
                str(entry["deleted_at"]),
            )
        )
    items.sort(key=lambda i: i.when, reverse=True)
    return items[:limit]
