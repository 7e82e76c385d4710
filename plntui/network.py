"""Provides the domain API of plntui: contacts, notes, interactions and circles.

The UI and the CLI call this module and nothing below it. Every item belongs to one circle (its
shared fields live in that circle's documents and go to the circle's members) or is private (it
lives in the private documents alone, which never leave the device); a shared item can also keep
single fields private. Reads of one item load only its documents; lists and search read the
search index. Writes go through the repository as one unit of work each (see ``repo``): they
touch only the documents they change, commit as one transaction, and leave nothing behind when
they fail.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import automerge.core as am

from . import circles as circles_mod
from . import crdt, layout
from .circles import Circle
from .errors import AmbiguousIdError, NotFoundError, ProfileError, ValidationError
from .model import (
    CREATOR_FIELD,
    FIELDS,
    PRIVATE_BY_DEFAULT_COLLECTIONS,
    Collection,
    Record,
    check_field,
    check_fields,
    check_new,
    clean_text,
    new_id,
    normalise_topic,
    now_stamp,
    parse_date,
    safe_text,
    today,
)
from .profile import Profile, resolve_home
from .reminders import Reminder, parse_when, read_reminder
from .textdiff import merge_text

Progress = Callable[[int, int], None]
PRIVATE = layout.PRIVATE


@dataclass(slots=True)
class DueItem:
    contact: Record
    due: _dt.date
    days_overdue: int
    last: str
    reason: str = "cadence"
    """Why it is due: "cadence" (the follow-up cadence ran out) or "reminder" (a dated
    reminder, see ``reminders``)."""
    reminder: Reminder | None = None
    """The contact's reminder, dated or not."""


@dataclass(slots=True)
class ImportSummary:
    added: list[Record] = field(default_factory=list)
    merged: list[tuple[Record, str]] = field(default_factory=list)  # (kept record, source)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    possible_duplicates: list[tuple[Record, Record]] = field(default_factory=list)


@dataclass(slots=True)
class DuplicatePair:
    """Two contacts that look like one person (``plntui.dedupe``): ``first`` is the older,
    ``reason`` every signal they share, best first ("same e-mail …; similar name"), ``score``
    0-100."""

    first: Record
    second: Record
    reason: str
    score: int = 0
    reasons: tuple[str, ...] = ()


def _merge_values(
    collection: Collection, keep: Mapping[str, Any], other: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fold ``other`` into ``keep``: fill empty fields, unite lists. Returns (changes for keep,
    values of ``other`` that differ and were not taken)."""
    changes: dict[str, Any] = {}
    differing: dict[str, Any] = {}
    for name, spec in FIELDS[collection].items():
        if spec.system or name not in other:
            continue
        mine, theirs = keep.get(name), other[name]
        if theirs in (None, "", []):
            continue
        if spec.kind == "list":
            union = list(mine or [])
            seen = {str(item).casefold() for item in union}
            for item in theirs:
                if str(item).casefold() not in seen:
                    seen.add(str(item).casefold())
                    union.append(item)
            if union != list(mine or []):
                changes[name] = union[: spec.max_items]
        elif mine in (None, "", []):
            changes[name] = theirs
        elif mine != theirs:
            if name == "last_contacted":
                changes[name] = max(mine, theirs)
            else:
                differing[name] = theirs
    return changes, differing


@dataclass(frozen=True, slots=True)
class _Where:
    """The documents of one item: its shared document (in its circle) and its private one."""

    shared: str | None
    private: str | None

    @property
    def circle(self) -> str:
        return layout.circle_of(self.shared) if self.shared else ""


def _check_schema(doc_id: str, doc: Any) -> None:
    found = doc.get(am.ROOT, "schema")
    version = int(found[0][1]) if found and not isinstance(found[0], am.ObjType) else 0
    if version > layout.SCHEMA_VERSION:
        raise ProfileError(
            f"document {doc_id} uses schema {version}, newer than this plntui "
            f"({layout.SCHEMA_VERSION}); upgrade plntui"
        )


def _new_identity(profile: Profile) -> Profile:
    """A profile whose ``identity/`` is gone gets a new one (as ``plntui id`` would make); the
    actor it wrote with stays its own (``former_actors``)."""
    import dataclasses

    from .peersync import load_identity

    old = profile.actor.hex()
    try:
        load_identity(profile.home)
    except Exception as err:
        raise ProfileError(f"cannot make this device's identity in {profile.home}: {err}") from None
    former = dict.fromkeys((*profile.meta.former_actors, old))
    profile.meta = dataclasses.replace(profile.meta, former_actors=tuple(former))
    profile.save_meta()
    profile.close()
    return Profile.open(profile.home)


class Network:
    """A profile's learning network: read and change contacts, notes, interactions, circles."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.repo = profile.repo
        self._index: Any = None
        self._touched: set[tuple[str, str]] = set()
        self._removed: set[tuple[str, str]] = set()
        self._work: Any = None
        self._known: dict[tuple[str, str], _Where] = {}
        self._added: dict[tuple[str, str], tuple[Record, str | None, str | None]] = {}
        self._contacts_known: set[str] | None = None
        """During a notes import: contact ids just read from the index (links to them need no
        check against the documents)."""
        """Items added by this write as ``add`` read them back, while nothing else touched
        them: the index takes them as they are instead of reading them again."""
        """Where the current write put the items it added (no need to look for them)."""
        self._circles: dict[str, Circle] | None = None
        self.repo.subscribe(self._docs_changed)

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, home: str | Path | None = None) -> Network:
        path = resolve_home(home)
        if Profile.is_legacy(path):
            from .migrate import migrate

            migrate(path)
        profile = Profile.open(path)
        if profile.fingerprint is None:
            profile = _new_identity(profile)
        net = cls(profile)
        net._rekey()
        net.ensure_default_circle()
        return net

    def _rekey(self) -> None:
        """After a lost identity was replaced: this device's circles list its old fingerprint
        (the registry ties it to one of this profile's own actor ids); add the new one beside
        it, under the same name, so the device is still a member. Colleagues must trust the new
        fingerprint (pair again) before they sync with it."""
        from .profile import actor_from_fingerprint

        me = self.fingerprint_hex
        if not me:
            return
        found: set[str] = set()
        for circle in self.circles().values():
            if me in circle.members:
                continue
            old = []
            for actor, info in circle.devices.items():
                fp = str(info.get("fingerprint") or "")
                try:
                    mine = actor_from_fingerprint(bytes.fromhex(fp), self.profile.meta.device_id)
                except ValueError:
                    continue
                if mine.hex() == actor and fp in circle.members and fp != me:
                    old.append(fp)
                    found.add(actor)
            if old:
                with self._writing() as work:
                    doc = work.doc(layout.circle_doc(circle.id))
                    with doc.transaction() as tx:
                        circles_mod.put_member(tx, me, self.profile.meta.name)
        if found - self.own_ids:
            import dataclasses

            meta = self.profile.meta
            former = dict.fromkeys((*meta.former_actors, *sorted(found - self.own_ids)))
            self.profile.meta = dataclasses.replace(meta, former_actors=tuple(former))
            self.profile.save_meta()

    @classmethod
    def create(cls, home: str | Path | None, name: str) -> Network:
        net = cls(Profile.create(resolve_home(home), name))
        net.ensure_default_circle()
        return net

    @property
    def lock(self) -> Any:
        """Held around every use of a live document (re-entrant; the sync engine holds it too)."""
        return self.repo.lock

    def _docs_changed(self, origin: str, doc_ids: frozenset[str]) -> None:
        if any(d.startswith("c:") for d in doc_ids):
            self._circles = None

    def _doc(self, doc_id: str) -> Any:
        """A live (or, inside a write, staged) document, or ``None``; refuses a newer schema."""
        doc = self.repo.get(doc_id)
        if doc is not None:
            _check_schema(doc_id, doc)
        return doc

    # -- this device ----------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        """This device's Automerge actor id in hex: what its edits are attributed to."""
        return self.profile.actor.hex()

    @property
    def own_ids(self) -> frozenset[str]:
        """Every id this profile ever wrote with: its actor, and the random id of old profiles."""
        meta = self.profile.meta
        return frozenset({self.device_id, meta.device_id, *meta.former_actors})

    @property
    def fingerprint_hex(self) -> str:
        return self.profile.fingerprint.hex() if self.profile.fingerprint is not None else ""

    # -- circles --------------------------------------------------------------------------------

    def circles(self) -> dict[str, Circle]:
        """Every circle this device holds (member or not), by id."""
        with self.lock:
            cached = self._circles
            if cached is None:
                cached = {}
                for doc_id in self.repo.storage.ids("c:"):
                    live = self.repo.live(doc_id)  # as committed (a write's own: see below)
                    doc = live.doc if live is not None else None
                    if doc is not None:
                        _check_schema(doc_id, doc)
                        circle_id = doc_id[2:]
                        cached[circle_id] = circles_mod.read_circle(
                            doc, circle_id, self.fingerprint_hex
                        )
                self._circles = cached
            work = self._work
            if work is None or not work.staged_circles:
                return cached
            out = dict(cached)  # inside a write, circles it changed are read from the write
            for doc_id in work.staged_circles:
                circle_id = doc_id[2:]
                out[circle_id] = circles_mod.read_circle(
                    work.staged[doc_id].doc, circle_id, self.fingerprint_hex
                )
            return out

    def my_circles(self) -> builtins.list[Circle]:
        """The circles this device is a member of, by name."""
        return sorted(
            (c for c in self.circles().values() if c.member), key=lambda c: c.name.casefold()
        )

    def circle(self, ref: str) -> Circle:
        return circles_mod.resolve(self.circles(), ref)

    def circle_name(self, circle_id: str) -> str:
        if not circle_id or circle_id == PRIVATE:
            return ""
        found = self.circles().get(circle_id)
        return found.name if found is not None else circle_id[:8]

    def default_circle(self) -> Circle:
        """Where new items go when no circle is named."""
        mine = {c.id: c for c in self.my_circles()}
        chosen = mine.get(self.profile.meta.default_circle)
        if chosen is None:
            chosen = self.ensure_default_circle()
        return chosen

    def ensure_default_circle(self) -> Circle:
        """The default circle, made if this device is in none (a new profile)."""
        mine = {c.id: c for c in self.my_circles()}
        found = mine.get(self.profile.meta.default_circle)
        if found is not None:
            return found
        if mine:
            first = sorted(mine.values(), key=lambda c: c.name.casefold())[0]
            self.profile.set_default_circle(first.id)
            return first
        circle = self.create_circle(f"{self.profile.meta.name}'s circle", _make_default=True)
        return circle

    def set_default_circle(self, ref: str) -> Circle:
        circle = self._member_circle(ref)
        self.profile.set_default_circle(circle.id)
        return circle

    def _member_circle(self, ref: str | None) -> Circle:
        """The circle named ``ref`` (default: the default circle); this device must be in it."""
        if ref is None or ref == "":
            return self.default_circle()
        circle = self.circle(ref)
        if not circle.member:
            raise ValidationError(
                f"you are not a member of circle {circle.name!r}: its items can be read but not "
                "changed, and nothing can move into it",
                "circle",
            )
        return circle

    def _taken_names(self, except_id: str = "") -> builtins.list[str]:
        return [c.name for c in self.circles().values() if c.member and c.id != except_id]

    def create_circle(self, name: str, *, _make_default: bool = False) -> Circle:
        """A new circle with this device as its only member."""
        if not self.fingerprint_hex:
            raise ProfileError("this profile has no identity yet: run plntui id first")
        text = circles_mod.check_name(name, self._taken_names())
        circle_id = circles_mod.new_circle_id()
        with self._writing() as work:
            doc = work.doc(layout.circle_doc(circle_id), create=True)
            with doc.transaction() as tx:
                circles_mod.write_name(tx, text)
                circles_mod.write_secret(tx)
                circles_mod.put_member(tx, self.fingerprint_hex, self.profile.meta.name)
        self._circles = None
        if _make_default or not self.profile.meta.default_circle:
            self.profile.set_default_circle(circle_id)
        return self.circles()[circle_id]

    def rename_circle(self, ref: str, name: str) -> Circle:
        circle = self._member_circle(ref)
        text = circles_mod.check_name(name, self._taken_names(except_id=circle.id))
        with self._writing() as work:
            doc = work.doc(layout.circle_doc(circle.id))
            with doc.transaction() as tx:
                circles_mod.write_name(tx, text)
        return self.circles()[circle.id]

    def add_member(self, ref: str, fingerprint: bytes, name: str | None = None) -> Circle:
        """Add a trusted peer to a circle (its certificate is needed to sync with it)."""
        from .peersync import open_trust

        circle = self._member_circle(ref)
        peer = open_trust(self.profile.home).get(fingerprint)
        if fingerprint.hex() == self.fingerprint_hex:
            raise ValidationError("this is your own device; it is a member already", "fingerprint")
        if peer is None or not peer.trusted:
            from sync.fingerprint import format_fingerprint

            raise ValidationError(
                f"{format_fingerprint(fingerprint)} is not a peer you trust: pair with it first "
                "(plntui pair), or pin it with plntui peer trust",
                "fingerprint",
            )
        with self._writing() as work:
            doc = work.doc(layout.circle_doc(circle.id))
            with doc.transaction() as tx:
                circles_mod.put_member(tx, fingerprint.hex(), name or peer.display_name)
        return self.circles()[circle.id]

    def remove_member(self, ref: str, fingerprint: bytes) -> Circle:
        circle = self._member_circle(ref)
        if not circle.has(fingerprint):
            from sync.fingerprint import format_fingerprint

            raise NotFoundError(
                f"{format_fingerprint(fingerprint)} is not a member of circle {circle.name!r}"
            )
        if fingerprint.hex() == self.fingerprint_hex:
            raise ValidationError(
                f"to remove yourself, leave the circle: plntui circle leave {circle.name!r}"
            )
        with self._writing() as work:
            doc = work.doc(layout.circle_doc(circle.id))
            with doc.transaction() as tx:
                circles_mod.delete_member(tx, fingerprint.hex())
        return self.circles()[circle.id]

    def leave_circle(self, ref: str) -> Circle:
        """Stop being a member: the others stop syncing it with this device. Its items stay
        here, read-only."""
        circle = self._member_circle(ref)
        with self._writing() as work:
            doc = work.doc(layout.circle_doc(circle.id))
            with doc.transaction() as tx:
                circles_mod.delete_member(tx, self.fingerprint_hex)
        if self.profile.meta.default_circle == circle.id:
            self.profile.set_default_circle("")
        return self.circles()[circle.id]

    def set_circle_setting(self, ref: str, key: str, value: str | None) -> Circle:
        """Set a circle-wide setting its members get (``None`` removes it); this device must be
        a member. Writes nothing when the setting is already so."""
        circle = self._member_circle(ref)
        if circle.settings.get(key) != value:
            with self._writing() as work:
                doc = work.doc(layout.circle_doc(circle.id))
                with doc.transaction() as tx:
                    circles_mod.put_setting(tx, key, value)
        return self.circles()[circle.id]

    def ensure_circle_secrets(self, circle_ids: Iterable[str] | None = None) -> list[str]:
        """Give each circle of ``circle_ids`` (default: every circle this device is a member
        of) that has no secret yet a new one (see ``circles``); returns the ids written."""
        with self.lock:
            wanted = None if circle_ids is None else set(circle_ids)
            missing = sorted(
                c.id
                for c in self.my_circles()
                if c.secret is None and (wanted is None or c.id in wanted)
            )
            if missing:
                with self._writing() as work:
                    for circle_id in missing:
                        doc = work.doc(layout.circle_doc(circle_id))
                        with doc.transaction() as tx:
                            circles_mod.write_secret(tx)
        return missing

    def circles_shared_with(self, fingerprint: bytes) -> set[str]:
        """The circles this device syncs with a peer: both are members (as seen here)."""
        key = fingerprint.hex()
        return {c.id for c in self.circles().values() if c.member and key in c.members}

    # -- devices ----------------------------------------------------------------------------------

    def register_device(self) -> None:
        """Record this device in the registry of every circle it is a member of. Idempotent."""
        with self._writing(register=False) as work:
            for circle in self.my_circles():
                self._register_in(work, circle.id)

    def _register_in(self, work: Any, circle_id: str) -> None:
        doc_id = layout.circle_doc(circle_id)
        current = self._doc(doc_id)
        if current is None:
            return
        circle = circles_mod.read_circle(current, circle_id, self.fingerprint_hex)
        if not circle.member:
            return
        entry = circle.devices.get(self.device_id, {})
        wanted_fp = self.fingerprint_hex or None
        if (
            entry.get("name") == self.profile.meta.name
            and entry.get("registered")
            and (wanted_fp is None or entry.get("fingerprint") == wanted_fp)
        ):
            return
        doc = work.doc(doc_id)
        with doc.transaction() as tx:
            circles_mod.register_device(tx, self.device_id, self.profile.meta.name, wanted_fp)

    def rename_device(self, name: str) -> None:
        """Change this device's display name, in the profile and in the registry of every
        circle it is in, under its old ids too; and its name in the member lists."""
        if not clean_text(name, "name", 100):
            raise ValidationError("your display name must not be empty", "name")
        self.profile.rename(name)
        with self._writing(register=False) as work:
            for circle in self.my_circles():
                doc = work.doc(layout.circle_doc(circle.id))
                with doc.transaction() as tx:
                    circles_mod.put_member(tx, self.fingerprint_hex, self.profile.meta.name)
                    devices = crdt.top(tx, "devices")
                    for device in sorted(self.own_ids):
                        found = tx.get(devices, device)
                        if found is not None and found[0] == am.ObjType.Map:
                            crdt.put_scalar(tx, found[1], "name", self.profile.meta.name)
                self._register_in(work, circle.id)

    def device_registry(self) -> dict[str, dict[str, Any]]:
        """Actor id -> {"name", "fingerprint", "registered"}, from every circle's registry."""
        out: dict[str, dict[str, Any]] = {}
        for circle in sorted(self.circles().values(), key=lambda c: c.id):
            for actor, info in circle.devices.items():
                out.setdefault(actor, dict(info))
        return out

    def devices(self) -> dict[str, str]:
        """Device id -> display name, for every device that ever edited a circle here."""
        return {k: str(v.get("name", "")) for k, v in self.device_registry().items()}

    def device_name(self, device_id: str) -> str:
        """A device's display name for the screen (sanitised), or its short id when unknown.
        Read through the search index: no document is loaded."""
        from .provenance import device_label

        return device_label(self, device_id)

    # -- locating and reading ------------------------------------------------------------------

    def _item_in(self, doc_id: str, collection: str, item_id: str) -> bool:
        doc = self._doc(doc_id)
        return doc is not None and crdt.item_obj(doc, collection, item_id) is not None

    def _where(self, collection: Collection, item_id: str) -> _Where:
        """The documents that hold an item now (either may be ``None``)."""
        known = self._known.get((collection, item_id))
        if known is not None:
            return known
        private_id = layout.item_doc(PRIVATE, collection, item_id)
        private = private_id if self._item_in(private_id, collection, item_id) else None
        return _Where(self._shared_doc(collection, item_id), private)

    def _shared_doc(self, collection: str, item_id: str) -> str | None:
        hint = self._index_hint(collection, item_id)
        order = ([hint] if hint else []) + sorted(
            self.circles(), key=lambda c: (not self.circles()[c].member, c)
        )
        for circle_id in dict.fromkeys(order):
            doc_id = layout.item_doc(circle_id, collection, item_id)
            if self._item_in(doc_id, collection, item_id):
                return doc_id
        return None

    def _index_hint(self, collection: str, item_id: str) -> str | None:
        try:
            from .index import SearchIndex

            return SearchIndex.for_profile(self.profile).circle_of(collection, item_id)
        except Exception:  # the index is a cache: a hint, never needed
            return None

    def _assemble(
        self,
        collection: Collection,
        item_id: str,
        shared: dict[str, Any] | None,
        private: dict[str, Any] | None,
        circle: str,
    ) -> Record:
        record = crdt.assemble(collection, item_id, shared, private, circle)
        record.circle_name = self.circle_name(record.circle)
        return record

    def _read_where(self, collection: Collection, item_id: str, where: _Where) -> Record:
        shared = private = None
        if where.shared:
            doc = self._doc(where.shared)
            obj = crdt.item_obj(doc, collection, item_id) if doc is not None else None
            shared = crdt.read_item(doc, obj) if obj is not None else None
        if where.private:
            doc = self._doc(where.private)
            obj = crdt.item_obj(doc, collection, item_id) if doc is not None else None
            private = crdt.read_item(doc, obj) if obj is not None else None
        if shared is None and private is None:
            raise NotFoundError(f"no {collection[:-1]} with id {item_id!r}")
        return self._assemble(collection, item_id, shared, private, where.circle)

    def _read(self, collection: Collection, item_id: str) -> Record:
        with self.lock:
            return self._read_where(collection, item_id, self._where(collection, item_id))

    def _exists(self, collection: Collection, item_id: str) -> bool:
        where = self._where(collection, item_id)
        return bool(where.shared or where.private)

    def resolve_id(self, collection: Collection, ref: str) -> str:
        """A full id, a unique prefix of at least 4 characters, or an id merged away."""
        ref = (ref or "").strip().lower()
        noun = collection[:-1]
        if len(ref) < 4:
            raise NotFoundError(f"{noun} id {ref!r} is too short: give at least 4 characters")
        with self.lock:
            if len(ref) == 12 and self._exists(collection, ref):
                return ref  # a whole id: no need to list every item
        index = self.index()
        matches = index.ids_with_prefix(collection, ref)
        if ref in matches:
            return ref
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousIdError(
                f"{noun} id {ref!r} matches {len(matches)} items ({', '.join(matches[:5])}); "
                "give more characters"
            )
        target = index.redirect(ref)
        if target is not None:
            return target
        raise NotFoundError(f"no {noun} with id {ref!r} (see: plntui {noun} list)")

    def get(self, collection: Collection, ref: str) -> Record:
        item_id = self.resolve_id(collection, ref)
        return self._read(collection, item_id)

    def find_contact(self, ref: str) -> str:
        """A contact's id from what ``resolve_id`` takes, or from its name when one contact
        has it: the whole name (case and accents aside), else the start of words of the name
        (``ada``, ``lovelace``, ``ada lov``). Several contacts with it: an ``AmbiguousIdError``
        naming them; none: a ``NotFoundError`` naming the closest names."""
        from .catalog import fold

        text = " ".join((ref or "").split())
        if not text:
            raise NotFoundError("give a contact's id or name")
        by_id: str | None = None
        try:
            by_id = self.resolve_id("contacts", text)
        except AmbiguousIdError:
            raise
        except NotFoundError:
            pass
        if by_id is not None and len(text) >= 12:
            return by_id
        wanted = fold(text)
        rows = (
            self.index()
            .db.execute("SELECT id, label, sort_key FROM items WHERE collection = 'contacts'")
            .fetchall()
        )
        found = [(i, label) for i, label, key in rows if " ".join(key.split()) == wanted]
        if by_id is not None:  # a short id, unless it is someone's whole name too ("Bede")
            if not found or [i for i, _label in found] == [by_id]:
                return by_id
            label = next((n for i, n, _key in rows if i == by_id), by_id)
            found = [(by_id, label), *((i, n) for i, n in found if i != by_id)]
        if not found:
            words = wanted.split()
            found = [
                (i, label)
                for i, label, key in rows
                if all(any(w.startswith(q) for w in re.split(r"[\W_]+", key)) for q in words)
            ]
        if len(found) == 1:
            return str(found[0][0])
        if found:
            found.sort(key=lambda f: fold(f[1]))
            names = ", ".join(f"{safe_text(label)} ({i})" for i, label in found[:5])
            more = f" and {len(found) - 5} more" if len(found) > 5 else ""
            raise AmbiguousIdError(
                f"{text!r} matches {len(found)} contacts: {names}{more}; give more of the name "
                "or an id"
            )
        import difflib

        keys: dict[str, set[str]] = {}  # a folded name, or one word of it -> the names
        for _i, label, key in rows:
            for part in {key, *key.split()}:
                keys.setdefault(part, set()).add(label)
        close: list[str] = []
        for part in difflib.get_close_matches(wanted, list(keys), n=5, cutoff=0.7):
            close += sorted(keys[part] - set(close), key=fold)
        hint = (
            "did you mean " + ", ".join(safe_text(c) for c in close[:3]) + "?"
            if close
            else "see: plntui contact list"
        )
        raise NotFoundError(f"no contact with the id or name {text!r} ({hint})")

    def list(self, collection: Collection, circle: str | None = None) -> builtins.list[Record]:
        """Every item of ``collection`` (of one circle, by name or id), sorted, from the index."""
        circle_id = self.circle(circle).id if circle else None
        records = self.index().list(collection)
        if circle_id is not None:
            records = [r for r in records if r.circle == circle_id and not r.private_item]
        return records

    def contacts(self, circle: str | None = None) -> builtins.list[Record]:
        return self.list("contacts", circle)

    def notes(self, circle: str | None = None) -> builtins.list[Record]:
        return self.list("notes", circle)

    def interactions(self, contact: str | None = None) -> builtins.list[Record]:
        if contact is None:
            return self.list("interactions")
        contact_id = self.resolve_id("contacts", contact)
        return self.index().linked_to("interactions", contact_id)

    # -- writing --------------------------------------------------------------------------------

    @contextmanager
    def _writing(self, origin: str = "local", register: bool = True) -> Iterator[Any]:
        """One atomic, durable edit (a unit of work of the repository). A local edit of a
        circle's documents also records this device in that circle's registry."""
        with self.repo.writing(origin) as work:
            if self._work is not None:
                yield work
                return
            self._work = work
            self._touched.clear()
            self._removed.clear()
            self._known.clear()
            self._added.clear()
            try:
                yield work
                if register and origin == "local":
                    for circle_id in {s.circle for s in work.staged.values()}:
                        if circle_id != PRIVATE:
                            self._register_in(work, circle_id)
            finally:
                self._work = None
                known, self._known = self._known, {}
                added, self._added = self._added, {}
            before = {
                doc_id: (staged.live.digest if staged.live is not None else None)
                for doc_id, staged in work.staged.items()
            }
            touched, removed = set(self._touched), set(self._removed)
            work.on_commit(
                lambda: self._after_write(
                    before, touched, removed, known, added, work.writer.written
                )
            )

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Everything inside is one atomic, durable edit (reads inside see what other processes
        and peers stored before it): an import, a form that reads, merges and writes."""
        with self.lock, self._writing():
            yield

    def _after_write(
        self,
        before: dict[str, str | None],
        touched: set[tuple[str, str]],
        removed: set[tuple[str, str]],
        known: dict[tuple[str, str], _Where],
        added: dict[tuple[str, str], tuple[Record, str | None, str | None]],
        written: dict[str, tuple[str, bytes]],
    ) -> None:
        from .index import SearchIndex

        if any(doc_id.startswith("c:") for doc_id in before):
            self._circles = None
        self._known = known  # where the items just added are, for the index to read them
        try:
            SearchIndex.for_profile(self.profile).apply_write(
                self, before, touched, removed, added, written
            )
        finally:
            self._known = {}

    def _touch(self, key: tuple[str, str]) -> None:
        """The write changed this item (the index updates its row)."""
        self._touched.add(key)
        self._added.pop(key, None)

    def _remove(self, key: tuple[str, str]) -> None:
        """The write deleted or merged away this item."""
        self._removed.add(key)
        self._added.pop(key, None)

    def _circle_for_write(self, collection: Collection, item_id: str, where: _Where) -> None:
        """Refuse an edit of an item in a circle this device is no longer a member of."""
        if where.shared is None:
            return
        circle_id = where.circle
        circle = self.circles().get(circle_id)
        if circle is not None and not circle.member:
            raise ValidationError(
                f"this {collection[:-1]} belongs to circle {circle.name!r}, which you are no "
                "longer a member of: it can be read but not changed",
                "circle",
            )

    def _field_home(
        self, collection: Collection, item_id: str, spec_name: str, where: _Where
    ) -> str:
        """Which side a field of an item is written to: "shared" or "private"."""
        spec = FIELDS[collection][spec_name]
        if spec.private_only or where.shared is None:
            return "private"
        if where.private is not None:
            doc = self._doc(where.private)
            obj = crdt.item_obj(doc, collection, item_id)
            if obj is not None and doc.get(obj, spec_name) is not None:
                return "private"
        doc = self._doc(where.shared)
        obj = crdt.item_obj(doc, collection, item_id)
        if obj is not None and doc.get(obj, spec_name) is not None:
            return "shared"
        return "private" if spec.private_default else "shared"

    def _write(
        self,
        work: Any,
        doc_id: str,
        collection: Collection,
        item_id: str,
        values: Mapping[str, Any],
    ) -> None:
        doc = work.doc(doc_id, create=True)
        with doc.transaction() as tx:
            obj = crdt.ensure_item(tx, collection, item_id)
            crdt.write_fields(tx, collection, obj, values)

    def _write_split(
        self,
        collection: Collection,
        item_id: str,
        where: _Where,
        shared_vals: Mapping[str, Any],
        private_vals: Mapping[str, Any],
    ) -> None:
        work = self._work
        if shared_vals:
            assert where.shared is not None
            self._write(work, where.shared, collection, item_id, shared_vals)
        if private_vals:
            self._write(
                work,
                layout.item_doc(PRIVATE, collection, item_id),
                collection,
                item_id,
                private_vals,
            )

    def add(
        self,
        collection: Collection,
        values: Mapping[str, Any],
        *,
        private: bool | None = None,
        private_fields: Iterable[str] = (),
        allow_duplicate: bool = True,
        circle: str | None = None,
    ) -> Record:
        """Add a contact, note or interaction to ``circle`` (name or id; default: the default
        circle). ``private`` keeps the whole item on this device; ``private_fields`` keeps those
        fields of a shared item on this device. A shared interaction goes to its contact's
        circle."""
        raw = self._check_refs(collection, {k: v for k, v in values.items() if v is not None})
        checked = check_new(collection, raw)
        if private is None:
            private = collection in PRIVATE_BY_DEFAULT_COLLECTIONS
        private_names: set[str] = set(self._check_field_names(collection, private_fields))
        if collection == "contacts" and not allow_duplicate:
            for email in checked.get("emails", []):
                other = self.find_by_email(email)
                if other is not None:
                    raise ValidationError(
                        f"{other.label} ({other.id}) already has the e-mail {email}; edit that "
                        "contact, or merge later with: plntui contact dupes",
                        "emails",
                    )
        with self.lock:
            circle_id = ""
            if collection == "interactions" and not private:
                contact = self._read("contacts", checked["contact"])
                if contact.private_item:
                    raise ValidationError(
                        f"{contact.label} is private: a talk with them cannot be shared", "contact"
                    )
                if circle is not None:
                    raise ValidationError("a shared talk goes to its contact's circle", "circle")
                circle_id = contact.circle
                self._member_circle(circle_id)
            elif not private:
                circle_id = self._member_circle(circle).id
            elif circle is not None:
                raise ValidationError("a private item belongs to no circle", "circle")
            if collection == "notes":
                checked.setdefault("kind", "note")
            item_id = new_id()
            stamp = now_stamp()
            checked.setdefault("created", stamp)
            if "updated" in FIELDS[collection]:
                checked["updated"] = stamp
            checked[CREATOR_FIELD[collection]] = self.device_id
            if "changed_by" in FIELDS[collection]:
                checked["changed_by"] = self.device_id
            shared_vals: dict[str, Any] = {}
            private_vals: dict[str, Any] = {}
            for name, value in checked.items():
                spec = FIELDS[collection][name]
                if (
                    private
                    or spec.private_only
                    or name in private_names
                    or (spec.private_default and not spec.system)
                ):
                    private_vals[name] = value
                else:
                    shared_vals[name] = value
            if private:
                private_vals.update(shared_vals)
                shared_vals = {}
            else:
                # Every shared list and text gets its object now, in the item's first change: two
                # devices that each created it later would each make their own, and one would
                # hide the other's words after a merge.
                for name, spec in FIELDS[collection].items():
                    if (
                        spec.kind in ("list", "text")
                        and name not in shared_vals
                        and name not in private_vals
                        and not spec.private_only
                    ):
                        shared_vals[name] = [] if spec.kind == "list" else ""
            with self._writing() as work:
                if shared_vals:
                    self._write(
                        work,
                        layout.item_doc(circle_id, collection, item_id),
                        collection,
                        item_id,
                        shared_vals,
                    )
                if private_vals or private:
                    pdoc = work.doc(layout.item_doc(PRIVATE, collection, item_id), create=True)
                    with pdoc.transaction() as tx:
                        obj = crdt.ensure_item(tx, collection, item_id)
                        if private:
                            crdt.put_scalar(tx, obj, crdt.PRIVATE_ITEM_KEY, True)
                        crdt.write_fields(tx, collection, obj, private_vals)
                self._touch((collection, item_id))
                if collection == "interactions":
                    self._bump_last_contacted(checked["contact"], checked["date"])
                    self._complete_reminder(checked["contact"], checked["date"])
                where = _Where(
                    layout.item_doc(circle_id, collection, item_id) if shared_vals else None,
                    layout.item_doc(PRIVATE, collection, item_id)
                    if (private_vals or private)
                    else None,
                )
                self._known[(collection, item_id)] = where
                record = self._read_where(collection, item_id, where)
                self._added[(collection, item_id)] = (record, where.shared, where.private)
                return record

    def _check_field_names(
        self, collection: Collection, names: Iterable[str]
    ) -> builtins.list[str]:
        out = []
        for name in names:
            spec = FIELDS[collection].get(name)
            if spec is None or spec.system:
                known = ", ".join(n for n, s in FIELDS[collection].items() if not s.system)
                raise ValidationError(f"unknown field {name!r}; fields are: {known}", name)
            if spec.required:
                raise ValidationError(
                    f"{spec.label} cannot be private on its own: colleagues would get an item "
                    f"without it (make the whole {collection[:-1]} private instead)",
                    name,
                )
            out.append(name)
        return out

    def _check_refs(self, collection: Collection, values: Mapping[str, Any]) -> dict[str, Any]:
        """Resolve contact references (prefixes allowed) in place; unknown ones are errors."""
        refs: dict[str, Any] = dict(values)
        known = self._contacts_known
        if collection == "notes" and known is not None:  # a notes import checked them already
            contacts = values.get("contacts") or []
            contacts = [contacts] if isinstance(contacts, str) else list(contacts)
            if all(str(c) in known for c in contacts):
                return refs
        if collection == "contacts" and values.get("introduced_by"):
            refs["introduced_by"] = self.resolve_id("contacts", str(values["introduced_by"]))
        if collection == "notes" and values.get("contacts"):
            contacts = values["contacts"]
            contacts = [contacts] if isinstance(contacts, str) else list(contacts)
            refs["contacts"] = [self.resolve_id("contacts", str(c)) for c in contacts if c]
        if collection == "interactions" and values.get("contact"):
            refs["contact"] = self.resolve_id("contacts", str(values["contact"]))
        return refs

    def edit(
        self,
        collection: Collection,
        ref: str,
        values: Mapping[str, Any] | None = None,
        *,
        make_private: Iterable[str] = (),
        make_shared: Iterable[str] = (),
        item_private: bool | None = None,
        circle: str | None = None,
    ) -> Record:
        """Change fields of an item. Fields not named keep their value. ``circle`` moves a
        shared item to that circle (and shares a private one there)."""
        item_id = self.resolve_id(collection, ref)
        checked = check_fields(collection, self._check_refs(collection, dict(values or {})))
        for name in checked:
            if FIELDS[collection][name].system:
                raise ValidationError(f"{name} is set by plntui and cannot be edited", name)
            if FIELDS[collection][name].required and not checked[name]:
                raise ValidationError(f"{FIELDS[collection][name].label} is required", name)
        to_private: set[str] = set(self._check_field_names(collection, make_private))
        to_shared: set[str] = set(self._check_field_names(collection, make_shared))
        for name in to_shared:
            if FIELDS[collection][name].private_only:
                raise ValidationError(f"{name} is always private and cannot be shared", name)
        if to_private & to_shared:
            raise ValidationError("a field cannot be made private and shared at once")
        if circle is not None and item_private is True:
            raise ValidationError("a private item belongs to no circle", "circle")
        with self.lock, self._writing():
            current = self._read(collection, item_id)
            where = self._where(collection, item_id)
            self._circle_for_write(collection, item_id, where)
            if item_private is True and not current.private_item:
                self._move_item(collection, item_id, to_private_doc=True)
            elif (item_private is False or circle is not None) and current.private_item:
                target = self._member_circle(circle).id
                self._move_item(collection, item_id, to_private_doc=False, circle=target)
            elif circle is not None and not current.private_item:
                self._move_circle(collection, item_id, self._member_circle(circle).id)
            where = self._where(collection, item_id)
            current = self._read_where(collection, item_id, where)
            if not current.private_item:
                for name in to_private:
                    self._move_field(collection, item_id, where, name, to_private_doc=True)
                for name in to_shared:
                    self._move_field(collection, item_id, where, name, to_private_doc=False)
            shared_vals: dict[str, Any] = {}
            private_vals: dict[str, Any] = {}
            for name, value in checked.items():
                if current.values.get(name) == value and name not in to_private | to_shared:
                    continue
                if self._field_home(collection, item_id, name, where) == "private":
                    private_vals[name] = value
                else:
                    shared_vals[name] = value
            if shared_vals or private_vals:
                stamp = now_stamp()
                # an edit of private fields alone stamps the private side: colleagues must not
                # even learn that something changed
                target_vals = shared_vals if where.shared and shared_vals else private_vals
                if "updated" in FIELDS[collection]:
                    target_vals["updated"] = stamp
                    target_vals["changed_by"] = self.device_id
            self._write_split(collection, item_id, where, shared_vals, private_vals)
            self._touch((collection, item_id))
        return self._read(collection, item_id)

    def move(self, collection: Collection, ref: str, circle: str) -> Record:
        """Move an item to another circle (a private one is shared there). Its history in the
        old circle stays with that circle's members."""
        return self.edit(collection, ref, circle=circle)

    def _move_circle(self, collection: Collection, item_id: str, target: str) -> None:
        self._known.pop((collection, item_id), None)
        where = self._where(collection, item_id)
        if where.shared is None or where.circle == target:
            return
        work = self._work
        src = work.doc(where.shared)
        obj = crdt.item_obj(src, collection, item_id)
        assert obj is not None  # where.shared holds it
        values = crdt.read_item(src, obj)
        with src.transaction() as tx:
            crdt.delete_item(tx, collection, item_id)
        self._put_item(
            work, layout.item_doc(target, collection, item_id), collection, item_id, values
        )
        self._remove((collection, item_id))
        self._touch((collection, item_id))
        if collection == "contacts":  # its shared talks follow it
            from .index import SearchIndex

            index = SearchIndex.for_profile(self.profile)
            for talk in index.linked_to("interactions", item_id):
                talk_where = self._where("interactions", talk.id)
                if talk_where.shared and talk_where.circle == where.circle:
                    self._move_circle("interactions", talk.id, target)

    def _put_item(
        self, work: Any, doc_id: str, collection: Collection, item_id: str, raw: dict[str, Any]
    ) -> None:
        """Write an item read with ``crdt.read_item`` (fields and merge sources) anew."""
        fields = {k: v for k, v in raw.items() if k in FIELDS[collection]}
        doc = work.doc(doc_id, create=True)
        with doc.transaction() as tx:
            obj = crdt.ensure_item(tx, collection, item_id)
            crdt.write_fields(tx, collection, obj, fields)
            if raw.get(crdt.PRIVATE_ITEM_KEY):
                crdt.put_scalar(tx, obj, crdt.PRIVATE_ITEM_KEY, True)
            for source in raw.get(crdt.SOURCES_KEY, []) or []:
                if isinstance(source, dict):
                    crdt.append_source(tx, obj, source)

    def _move_field(
        self,
        collection: Collection,
        item_id: str,
        where: _Where,
        name: str,
        to_private_doc: bool,
    ) -> None:
        self._known.pop((collection, item_id), None)
        work = self._work
        private_id = layout.item_doc(PRIVATE, collection, item_id)
        assert where.shared is not None
        src_id, dst_id = (
            (where.shared, private_id) if to_private_doc else (private_id, where.shared)
        )
        src = work.existing(src_id)
        src_obj = crdt.item_obj(src, collection, item_id) if src is not None else None
        spec = FIELDS[collection][name]
        if src_obj is None or src.get(src_obj, name) is None:
            if to_private_doc:  # nothing stored yet: mark the field private with an empty value
                doc = work.doc(private_id, create=True)
                with doc.transaction() as tx:
                    obj = crdt.ensure_item(tx, collection, item_id)
                    crdt.write_fields(
                        tx, collection, obj, {name: [] if spec.kind == "list" else ""}
                    )
                    if tx.get(obj, name) is None:
                        crdt.put_scalar(tx, obj, name, "" if spec.kind != "int" else 0)
            return
        value = crdt.read_item(src, src_obj).get(name)
        dst = work.doc(dst_id, create=True)
        with dst.transaction() as tx:
            obj = crdt.ensure_item(tx, collection, item_id)
            crdt.write_fields(tx, collection, obj, {name: value})
            if tx.get(obj, name) is None:  # empty values are normally not stored; keep the mark
                if spec.kind == "list":
                    crdt.put_list(tx, obj, name, [])
                else:
                    crdt.put_scalar(tx, obj, name, "")
        with src.transaction() as tx:
            crdt.delete_fields(tx, src_obj, [name])

    def _move_item(
        self,
        collection: Collection,
        item_id: str,
        to_private_doc: bool,
        circle: str = "",
    ) -> None:
        self._known.pop((collection, item_id), None)
        work = self._work
        current = self._read(collection, item_id)
        where = self._where(collection, item_id)
        values = dict(current.values)
        private_id = layout.item_doc(PRIVATE, collection, item_id)
        if to_private_doc:
            pdoc = work.doc(private_id, create=True)
            with pdoc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, item_id)
                crdt.put_scalar(tx, obj, crdt.PRIVATE_ITEM_KEY, True)
                crdt.write_fields(tx, collection, obj, values)
            if where.shared is not None:
                sdoc = work.doc(where.shared)
                with sdoc.transaction() as tx:
                    crdt.delete_item(tx, collection, item_id)
        else:
            keep_private = {
                n
                for n in current.values
                if FIELDS[collection][n].private_only or FIELDS[collection][n].private_default
            }
            self._write(
                work,
                layout.item_doc(circle, collection, item_id),
                collection,
                item_id,
                {k: v for k, v in values.items() if k not in keep_private},
            )
            pdoc = work.doc(private_id, create=True)
            with pdoc.transaction() as tx:
                pobj = crdt.ensure_item(tx, collection, item_id)
                if tx.get(pobj, crdt.PRIVATE_ITEM_KEY) is not None:
                    tx.delete(pobj, crdt.PRIVATE_ITEM_KEY)
                crdt.delete_fields(tx, pobj, [k for k in values if k not in keep_private])

    def remove(self, collection: Collection, ref: str) -> Record:
        """Delete an item from its documents. It stays in their history."""
        item_id = self.resolve_id(collection, ref)
        with self.lock, self._writing() as work:
            where = self._where(collection, item_id)
            self._known.pop((collection, item_id), None)
            self._circle_for_write(collection, item_id, where)
            record = self._read_where(collection, item_id, where)
            for doc_id in (where.shared, where.private):
                if doc_id is not None:
                    doc = work.doc(doc_id)
                    with doc.transaction() as tx:
                        crdt.delete_item(tx, collection, item_id)
            self._remove((collection, item_id))
        return record

    def restore(self, record: Record) -> Record:
        """Put back a removed item with its id, values, privacy and circle (undo ``remove``)."""
        specs = FIELDS[record.collection]
        values = {k: v for k, v in record.values.items() if k in specs}
        private_vals = {
            k: v for k, v in values.items() if record.private_item or k in record.private
        }
        shared_vals = {k: v for k, v in values.items() if k not in private_vals}
        with self.lock, self._writing() as work:
            shared_doc = None
            if not record.private_item:
                circle = self._member_circle(record.circle or None)
                shared_doc = layout.item_doc(circle.id, record.collection, record.id)
            where = _Where(shared_doc, None)
            self._write_split(record.collection, record.id, where, shared_vals, private_vals)
            if record.private_item:
                pdoc = work.doc(layout.item_doc(PRIVATE, record.collection, record.id), True)
                with pdoc.transaction() as tx:
                    obj = crdt.ensure_item(tx, record.collection, record.id)
                    crdt.put_scalar(tx, obj, crdt.PRIVATE_ITEM_KEY, True)
            self._touch((record.collection, record.id))
        return self._read(record.collection, record.id)

    # -- notes ----------------------------------------------------------------------------------

    def splice_note(self, ref: str, pos: int, delete: int, insert: str) -> Record:
        """Edit a note body in place: character-level, so concurrent edits merge."""
        item_id = self.resolve_id("notes", ref)
        with self.lock:
            where = self._where("notes", item_id)
            body = self._read_where("notes", item_id, where).values.get("body", "")
            if not (0 <= pos <= len(body)) or delete < 0 or pos + delete > len(body):
                raise ValidationError(
                    f"splice {pos}+{delete} is outside the body ({len(body)} characters)"
                )
            new_body = check_field("notes", "body", body[:pos] + insert + body[pos + delete :])
            if len(new_body) != len(body) - delete + len(insert):
                insert = new_body[pos : len(new_body) - (len(body) - pos - delete)]
            self._circle_for_write("notes", item_id, where)
            home = self._field_home("notes", item_id, "body", where)
            doc_id = (
                where.shared
                if home == "shared" and where.shared
                else layout.item_doc(PRIVATE, "notes", item_id)
            )
            with self._writing() as work:
                doc = work.doc(doc_id, create=True)
                with doc.transaction() as tx:
                    obj = crdt.ensure_item(tx, "notes", item_id)
                    text = crdt.text_obj(tx, obj, "body")
                    if text is None:
                        crdt.put_text(tx, obj, "body", insert)
                    else:
                        crdt.splice_text(tx, text, pos, delete, insert)
                stamps = {"updated": now_stamp(), "changed_by": self.device_id}
                self._write(work, where.shared or doc_id, "notes", item_id, stamps)
                self._touch(("notes", item_id))
            return self._read("notes", item_id)

    def edit_note_body(
        self, ref: str, base: str, body: str, values: Mapping[str, Any] | None = None
    ) -> Record:
        """Save an editor's body: ``base`` is the text the editor started from and ``body`` what
        it holds now. Whatever reached the document since (another process, a peer) is merged
        character by character, in the same locked step as the write, so neither side's words
        are lost. Other ``values`` (title, tags) are saved with it."""
        item_id = self.resolve_id("notes", ref)
        with self.lock, self._writing():
            current = str(self._read("notes", item_id).values.get("body", ""))
            merged = merge_text(base, body, current)
            return self.edit("notes", item_id, {**(values or {}), "body": merged})

    # -- interactions and follow-ups --------------------------------------------------------------

    def log_interaction(
        self, contact: str, kind: str, summary: str, date: str | None = None, shared: bool = False
    ) -> Record:
        """Log a catch-up with a contact; its last-contacted date moves forward if later."""
        values = {
            "contact": contact,
            "kind": kind or "other",
            "summary": summary,
            "date": date or "today",
        }
        return self.add("interactions", values, private=not shared)

    def _bump_last_contacted(self, contact_id: str, date: str) -> None:
        where = self._where("contacts", contact_id)
        record = self._read_where("contacts", contact_id, where)
        if str(record.values.get("last_contacted") or "") < date:
            vals = {"last_contacted": date}
            if self._field_home("contacts", contact_id, "last_contacted", where) == "private":
                self._write_split("contacts", contact_id, where, {}, vals)
            else:
                self._circle_for_write("contacts", contact_id, where)
                self._write_split("contacts", contact_id, where, vals, {})
            self._touch(("contacts", contact_id))

    def due(self, within_days: int = 0, on: _dt.date | None = None) -> builtins.list[DueItem]:
        """Contacts whose next follow-up falls on or before ``on + within_days``: on a dated
        reminder's day when they have one, else when their follow-up cadence runs out (a
        contact never contacted is due from the day it was added)."""
        day = on or today()
        horizon = day + _dt.timedelta(days=within_days)
        items: builtins.list[DueItem] = []
        for contact in self.contacts():
            item = self.follow_up(contact, day)
            if item is not None and item.due <= horizon:
                items.append(item)
        items.sort(key=lambda i: (i.due, i.contact.label.casefold()))
        return items

    def follow_up(self, contact: Record, on: _dt.date | None = None) -> DueItem | None:
        """A contact's next follow-up (``None``: no dated reminder and no cadence)."""
        day = on or today()
        reminder = read_reminder(contact.values.get("reminder"))
        last = str(contact.values.get("last_contacted") or "")
        if reminder is not None and reminder.on is not None:
            return DueItem(
                contact, reminder.on, (day - reminder.on).days, last, "reminder", reminder
            )
        cadence = contact.values.get("cadence_days")
        if not cadence:
            return None
        base = last or str(contact.values.get("created", ""))[:10]
        try:
            start = (
                _dt.date.fromisoformat(base)
                if last
                else _dt.date.fromisoformat(base) - _dt.timedelta(days=int(cadence))
            )
        except ValueError:
            start = day - _dt.timedelta(days=int(cadence))
        due_on = start + _dt.timedelta(days=int(cadence))
        return DueItem(contact, due_on, (day - due_on).days, last, "cadence", reminder)

    # -- reminders (see ``reminders``) ------------------------------------------------------------

    def _set_reminder(self, contact_id: str, value: str) -> None:
        """Write a contact's reminder (private to this device: only the private document
        changes, and the shared one keeps its stamps), inside a write."""
        value = check_field("contacts", "reminder", value)
        where = self._where("contacts", contact_id)
        if not (where.shared or where.private):
            raise NotFoundError(f"no contact with id {contact_id!r}")
        self._write_split("contacts", contact_id, where, {}, {"reminder": value})
        self._touch(("contacts", contact_id))

    def remind(
        self, ref: str, when: str | _dt.date, text: str = ""
    ) -> tuple[Record, Reminder | None]:
        """Remind yourself about a contact on a day (``when``: a date or how it is typed, see
        ``reminders.parse_when``; today or later). It replaces the contact's reminder, which is
        returned with the contact."""
        day = when if isinstance(when, _dt.date) else parse_when(when, today())
        if day < today():
            raise ValidationError(f"{day.isoformat()} is in the past", "date")
        text = clean_text(text, "Reminder", 500)
        contact_id = self.resolve_id("contacts", ref)
        with self.lock, self._writing():
            before = read_reminder(self._read("contacts", contact_id).values.get("reminder"))
            self._set_reminder(contact_id, Reminder(text, day).value())
        return self._read("contacts", contact_id), before

    def reminder_done(self, ref: str) -> tuple[Record, Reminder]:
        """Forget a contact's reminder (it is done); returns the contact and the reminder."""
        contact_id = self.resolve_id("contacts", ref)
        with self.lock, self._writing():
            current = self._read("contacts", contact_id)
            reminder = read_reminder(current.values.get("reminder"))
            if reminder is None:
                raise ValidationError(f"{current.label} has no reminder")
            self._set_reminder(contact_id, "")
        return self._read("contacts", contact_id), reminder

    def snooze(self, ref: str, until: str | _dt.date) -> tuple[Record, bool]:
        """Postpone a contact's next follow-up to a day (``until``: as ``remind`` takes it):
        its dated reminder moves there (one with no text is made if it has none). A follow-up
        already later than that stays; returns the contact and whether anything changed."""
        day = until if isinstance(until, _dt.date) else parse_when(until, today())
        if day <= today():
            raise ValidationError(f"snooze until a later day than today, not {day.isoformat()}")
        contact_id = self.resolve_id("contacts", ref)
        with self.lock, self._writing():
            current = self._read("contacts", contact_id)
            item = self.follow_up(current)
            if item is not None and item.due >= day:
                return current, False
            reminder = read_reminder(current.values.get("reminder"))
            if reminder is not None and reminder.on is None and reminder.text:
                # a snooze makes a dated reminder, which the next catch-up completes: an
                # undated remark kept as a reminder would be erased with it
                raise ValidationError(
                    f"{current.label}'s reminder has no date ({reminder.text[:40]!r}): date it "
                    f"with plntui remind {contact_id} DATE TEXT, or clear it, then snooze"
                )
            self._set_reminder(contact_id, Reminder(reminder.text if reminder else "", day).value())
        return self._read("contacts", contact_id), True

    def _complete_reminder(self, contact_id: str, date: str) -> None:
        """A catch-up logged on ``date``: the contact's dated reminder is done if it was due
        by then, or if it has no text (a snoozed follow-up)."""
        record = self._read("contacts", contact_id)
        reminder = read_reminder(record.values.get("reminder"))
        if reminder is None or reminder.on is None:
            return
        if not reminder.text or reminder.on.isoformat() <= date:
            self._set_reminder(contact_id, "")

    # -- duplicates -----------------------------------------------------------------------------

    def with_email(self, email: str) -> builtins.list[Record]:
        """The contacts that have this e-mail (any case), found through the search index."""
        wanted = email.lower()
        candidates = self.index().search(email, limit=1000)["contacts"]
        return [
            c for c in candidates if any(e.lower() == wanted for e in c.values.get("emails", []))
        ]

    def find_by_email(self, email: str) -> Record | None:
        found = self.with_email(email)
        return found[0] if found else None

    def duplicates(self) -> builtins.list[DuplicatePair]:
        from .dedupe import find_duplicates

        return [
            DuplicatePair(m.first, m.second, m.reason, m.score, tuple(m.reasons))
            for m in find_duplicates(self.contacts())
        ]

    @staticmethod
    def merge_preview(keep: Record, other: Record) -> tuple[dict[str, Any], dict[str, Any]]:
        """What ``merge_contacts(keep, other)`` would do to the fields: (the new values of the
        fields it fills or unites, the values of ``other`` that differ and are only recorded
        under "merged from")."""
        return _merge_values("contacts", keep.values, other.values)

    def merge_contacts(self, keep_ref: str, other_ref: str, via: str = "merge") -> Record:
        """Merge ``other`` into ``keep``: empty fields filled, lists united, differing values
        kept under ``sources`` with where they came from; references repointed."""
        keep_id = self.resolve_id("contacts", keep_ref)
        other_id = self.resolve_id("contacts", other_ref)
        if keep_id == other_id:
            raise ValidationError("cannot merge a contact with itself")
        referrers = self.index().referrers(other_id)
        with self.lock, self._writing() as work:
            keep = self._read("contacts", keep_id)
            other_where = self._where("contacts", other_id)
            self._known.pop(("contacts", other_id), None)
            self._circle_for_write("contacts", keep_id, self._where("contacts", keep_id))
            self._circle_for_write("contacts", other_id, other_where)
            other = self._read_where("contacts", other_id, other_where)
            self._fold_into(
                keep,
                other.values,
                {
                    "merged_id": other_id,
                    "via": via,
                    "added_by": other.values.get("added_by", ""),
                    "created": other.values.get("created", ""),
                },
                other.sources,
            )
            self._repoint(other_id, keep_id, referrers)
            for doc_id in (other_where.shared, other_where.private):
                if doc_id is not None:
                    doc = work.doc(doc_id)
                    with doc.transaction() as tx:
                        crdt.delete_item(tx, "contacts", other_id)
            circle = PRIVATE if other.private_item else other_where.circle or PRIVATE
            rdoc = work.doc(layout.shard_doc(circle, other_id), create=True)
            with rdoc.transaction() as tx:
                crdt.put_scalar(tx, crdt.top(tx, "redirects"), other_id, keep_id)
            self._remove(("contacts", other_id))
        return self._read("contacts", keep_id)

    def _fold_into(
        self,
        keep: Record,
        incoming: Mapping[str, Any],
        source: dict[str, Any],
        extra_sources: Iterable[dict[str, Any]] = (),
    ) -> bool:
        changes, differing = _merge_values("contacts", keep.values, incoming)
        where = self._where("contacts", keep.id)
        shared_vals: dict[str, Any] = {}
        private_vals: dict[str, Any] = {}
        for name, value in changes.items():
            if self._field_home("contacts", keep.id, name, where) == "private":
                private_vals[name] = value
            else:
                shared_vals[name] = value
        if changes or differing:
            target = private_vals if keep.private_item else shared_vals
            target["updated"] = now_stamp()
            target["changed_by"] = self.device_id
        self._write_split("contacts", keep.id, where, shared_vals, private_vals)
        kept_values = {
            k: v for k, v in incoming.items() if k in FIELDS["contacts"] and v not in (None, "", [])
        }
        if differing or source.get("merged_id"):
            doc_id = (
                layout.item_doc(PRIVATE, "contacts", keep.id)
                if keep.private_item or where.shared is None
                else where.shared
            )
            # the record of merged values goes where the item's shared fields go: it must not
            # carry a field that lives on this device's private side (a birthday, a cadence)
            to_shared = doc_id == where.shared
            recorded = {
                k: v
                for k, v in kept_values.items()
                if not FIELDS["contacts"][k].private_only
                and (not to_shared or self._field_home("contacts", keep.id, k, where) == "shared")
            }
            doc = self._work.doc(doc_id, create=True)
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "contacts", keep.id)
                crdt.append_source(
                    tx,
                    obj,
                    {
                        **source,
                        "values": recorded,
                        "differing": sorted(differing),
                    },
                )
                for extra in extra_sources:
                    crdt.append_source(tx, obj, extra)
        self._touch(("contacts", keep.id))
        return bool(changes or differing)

    def _repoint(self, old: str, new: str, referrers: Iterable[tuple[str, str]]) -> None:
        for collection, item_id in referrers:
            where = self._where(collection, item_id)  # type: ignore[arg-type]
            for doc_id in (where.shared, where.private):
                if doc_id is None:
                    continue
                doc = self._work.doc(doc_id)
                obj = crdt.item_obj(doc, collection, item_id)
                if obj is None:
                    continue
                values = crdt.read_item(doc, obj)
                key = {"contacts": "introduced_by", "notes": "contacts"}.get(collection, "contact")
                value = values.get(key)
                if value == old or (isinstance(value, list) and old in value):
                    with doc.transaction() as tx:
                        obj = crdt.ensure_item(tx, collection, item_id)
                        if isinstance(value, list):
                            updated = [new if v == old else v for v in value]
                            crdt.put_list(tx, obj, key, list(dict.fromkeys(updated)))
                        else:
                            crdt.put_scalar(tx, obj, key, new)
                    self._touch((collection, item_id))

    # -- import ---------------------------------------------------------------------------------

    def import_contacts(
        self,
        drafts: Iterable[Any],
        source: str,
        progress: Progress | None = None,
        circle: str | None = None,
    ) -> ImportSummary:
        """Add drafts (``interop.Draft``) to ``circle``. A draft with an e-mail or a profile link
        already known, or the id of a contact already here (a plntui export imported back), is
        merged into that contact. Introductions between contacts of the file are kept, and so is
        what plntui's own files mark private. All of it is one commit: a rejected draft changes
        nothing."""
        from .dedupe import close_name_match

        drafts = list(drafts)
        summary = ImportSummary()
        target = self._member_circle(circle).id
        # what new contacts are matched by, read from the index without decoding every record
        keys = self.index().match_keys()
        existing, by_email, by_link, by_org = keys.ids, keys.emails, keys.links, keys.by_org

        def remember(contact: Record) -> None:
            for email in contact.values.get("emails", []):
                by_email.setdefault(email.lower(), contact.id)
            for link in contact.values.get("links", []):
                by_link.setdefault(link.rstrip("/").lower(), contact.id)

        file_ids: dict[str, str] = {}  # id in the file -> id here
        introductions: builtins.list[tuple[str, str]] = []  # (id here, introducer's id in the file)
        with self.lock, self._writing():
            for done, draft in enumerate(drafts, 1):
                if progress:
                    progress(done, len(drafts))
                specs = FIELDS["contacts"]
                raw = {
                    k: v
                    for k, v in draft.values.items()
                    if k in specs and (not specs[k].system or k == "created")
                }
                introducer = str(raw.pop("introduced_by", "") or "")
                try:
                    checked = check_new("contacts", raw)
                    private_fields = self._check_field_names(
                        "contacts", draft.values.get("private_fields") or []
                    )
                except ValidationError as err:
                    summary.rejected.append((draft.source, err.message))
                    continue
                own_id = str(draft.values.get("id") or "")
                match = next(
                    (
                        by_email[e.lower()]
                        for e in checked.get("emails", [])
                        if e.lower() in by_email
                    ),
                    None,
                )
                match = match or next(
                    (
                        by_link[u.rstrip("/").lower()]
                        for u in checked.get("links", [])
                        if u.rstrip("/").lower() in by_link
                    ),
                    None,
                )
                if match is None and own_id in existing:  # re-importing a plntui export
                    match = own_id
                if match is not None:
                    keep = self._read("contacts", match)
                    checked.pop("created", None)
                    try:
                        self._circle_for_write("contacts", match, self._where("contacts", match))
                    except ValidationError as err:
                        summary.rejected.append((draft.source, err.message))
                        continue
                    self._fold_into(keep, checked, {"via": f"import of {draft.source}"})
                    summary.merged.append((self._read("contacts", match), draft.source))
                    record_id = match
                else:
                    record = self.add(
                        "contacts",
                        checked,
                        private=True if draft.values.get("private") else None,
                        private_fields=private_fields,
                        circle=None if draft.values.get("private") else target,
                    )
                    summary.added.append(record)
                    remember(record)
                    record_id = record.id
                    org = str(record.values.get("org", "")).casefold()
                    if org:
                        for other_id, other_label in by_org.get(org, []):
                            if close_name_match(record.label, other_label):
                                try:
                                    other = self._read("contacts", other_id)
                                except NotFoundError:  # deleted since the keys were read
                                    continue
                                summary.possible_duplicates.append((record, other))
                                break
                        by_org.setdefault(org, []).append((record.id, record.label))
                if own_id:
                    file_ids[own_id] = record_id
                if introducer:
                    introductions.append((record_id, introducer))
            for record_id, introducer in introductions:
                target_id = file_ids.get(introducer) or (
                    introducer if introducer in existing else None
                )
                if target_id and target_id != record_id:
                    self.edit("contacts", record_id, {"introduced_by": target_id})
        return summary

    @contextmanager
    def _known_contacts(self, ids: set[str]) -> Iterator[None]:
        self._contacts_known = ids
        try:
            yield
        finally:
            self._contacts_known = None

    def import_notes(
        self,
        drafts: Iterable[Any],
        circle: str | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Add notes read from files (``interop.notes_import.NoteDraft``) to ``circle``, as one
        batch: every note its own document, all stored in one transaction.

        A draft whose ``values["id"]`` is a note already here (plntui's own export imported
        back) updates that note instead. Linked contacts (``contact_refs``: ids or names) are
        kept when they resolve to exactly one contact; tags, kind and dates come along as the
        draft has them. A draft the model refuses is listed under ``rejected``."""
        drafts = list(drafts)
        summary = ImportSummary()
        target = self._member_circle(circle).id
        by_name: dict[str, builtins.list[str]] = {}
        contact_ids: set[str] = set()
        for contact in self.contacts():
            contact_ids.add(contact.id)
            by_name.setdefault(contact.label.casefold(), []).append(contact.id)
        existing = {note.id for note in self.notes()}
        with self.lock, self._writing(), self._known_contacts(contact_ids):
            for done, draft in enumerate(drafts, 1):
                if progress:
                    progress(done, len(drafts))
                values = {k: v for k, v in draft.values.items() if k in FIELDS["notes"]}
                values = {
                    k: v
                    for k, v in values.items()
                    if not FIELDS["notes"][k].system or k == "created"
                }
                links: builtins.list[str] = []
                for ref in draft.values.get("contact_refs", []) or []:
                    text = str(ref).strip()
                    if text.lower() in contact_ids:
                        links.append(text.lower())
                    elif len(by_name.get(text.casefold(), [])) == 1:
                        links.append(by_name[text.casefold()][0])
                if links:
                    values["contacts"] = list(dict.fromkeys(links))
                own_id = str(draft.values.get("id") or "")
                try:
                    if own_id in existing:
                        values.pop("created", None)
                        record = self.edit("notes", own_id, values)
                        summary.merged.append((record, draft.source))
                        continue
                    checked = check_new("notes", values)
                except ValidationError as err:
                    summary.rejected.append((draft.source, err.message))
                    continue
                record = self.add(
                    "notes",
                    checked,
                    private=True if draft.values.get("private") else None,
                    circle=None if draft.values.get("private") else target,
                )
                summary.added.append(record)
                for circle_id in (target, PRIVATE):
                    self._work.freeze(layout.item_doc(circle_id, "notes", record.id))
        return summary

    # -- search ---------------------------------------------------------------------------------

    def index(self) -> Any:
        from .index import SearchIndex

        return SearchIndex.for_profile(self.profile).ensure_fresh(self)

    def search(
        self,
        query: str,
        limit: int | None = 50,
        collections: Sequence[Collection] = ("contacts", "notes"),
        ranked: bool = True,
    ) -> dict[str, builtins.list[Record]]:
        """Contacts and notes matching ``query`` in the search syntax (``query``: words,
        ``"phrases"``, ``org:``, ``topic:``/``tag:``, ``by:NAME``, ``circle:NAME``, ``-`` to
        exclude), as the app's filters match them; see ``SearchIndex.matching``."""
        from .catalog import circles_matching
        from .provenance import actors_named, device_names

        index = self.index()
        names: dict[str, str] | None = None

        def resolve_by(text: str) -> set[str]:
            nonlocal names
            names = device_names(self) if names is None else names
            return actors_named(self, text, names)

        def resolve_circle(text: str) -> set[str]:
            return circles_matching(index.circle_names(), text)

        return index.matching(  # type: ignore[no-any-return]
            query,
            limit,
            resolve_by=resolve_by,
            resolve_circle=resolve_circle,
            collections=collections,
            ranked=ranked,
        )

    def who(self, topic: str, limit: int = 50) -> dict[str, builtins.list[Record]]:
        if not normalise_topic(topic):
            raise ValidationError("give a topic, e.g. plntui who rust")
        return self.index().who(topic, limit)

    # -- history, trash, conflicts ---------------------------------------------------------------

    def _history_doc(self, collection: Collection, item_id: str) -> str:
        """The document whose history is the item's: its circle's (or the private one), also
        for an item deleted since (found through the trash)."""
        with self.lock:
            where = self._where(collection, item_id)
            if where.shared is not None:
                return where.shared
            if where.private is not None:
                return where.private
        for entry in self.index().trash():
            record = entry["record"]
            if record.collection == collection and record.id == item_id and entry["doc"]:
                return str(entry["doc"])
        raise NotFoundError(f"no {collection[:-1]} with id {item_id!r}")

    def _item_ref(self, collection: Collection, ref: str) -> str:
        """An id as ``resolve_id`` finds it, or the id of a deleted item in the trash."""
        try:
            return self.resolve_id(collection, ref)
        except NotFoundError:
            text = (ref or "").strip().lower()
            matches = [
                e["record"].id
                for e in self.index().trash()
                if e["record"].collection == collection and e["record"].id.startswith(text)
            ]
            if len(text) >= 4 and len(set(matches)) == 1:
                return matches[0]
            raise

    def history(self, collection: Collection, ref: str) -> builtins.list[Any]:
        """Every version of a contact or note, newest first (``history.Version``)."""
        from .history import versions

        if collection not in ("contacts", "notes"):
            raise ValidationError("history is kept for contacts and notes")
        item_id = self._item_ref(collection, ref)
        doc_id = self._history_doc(collection, item_id)
        with self.lock:
            doc = self._doc(doc_id)
            if doc is None:
                raise NotFoundError(f"no {collection[:-1]} with id {item_id!r}")
            return versions(doc, collection, item_id)

    def _version(self, collection: Collection, ref: str, version: str) -> tuple[str, Any]:
        from .history import version_of

        if collection not in ("contacts", "notes"):
            raise ValidationError("history is kept for contacts and notes")
        item_id = self._item_ref(collection, ref)
        doc_id = self._history_doc(collection, item_id)
        with self.lock:
            doc = self._doc(doc_id)
            found = version_of(doc, collection, item_id, version) if doc is not None else None
        if found is None:
            raise NotFoundError(
                f"{collection[:-1]} {item_id} has no version {version!r} (see: plntui history "
                f"{collection[:-1]} {item_id})"
            )
        return item_id, found

    def at_version(self, collection: Collection, ref: str, version: str) -> Record:
        """The item as it was at ``version`` (its shared values then; private fields as now)."""
        item_id, found = self._version(collection, ref, version)
        if found.values is None:
            raise ValidationError(
                f"version {found.version} is the deletion of this {collection[:-1]}; pick an "
                "earlier one"
            )
        doc_id = self._history_doc(collection, item_id)
        circle = layout.circle_of(doc_id)
        shared = None if circle == PRIVATE else found.values
        private = found.values if circle == PRIVATE else None
        return self._assemble(collection, item_id, shared, private, circle)

    def restore_version(self, collection: Collection, ref: str, version: str) -> Record:
        """Bring ``version`` back as a new change (minimal edits: a colleague's concurrent
        typing in a body still merges). A deleted item comes back where it was."""
        item_id, found = self._version(collection, ref, version)
        if found.values is None:
            raise ValidationError(
                f"version {found.version} is the deletion of this {collection[:-1]}; pick an "
                "earlier one"
            )
        doc_id = self._history_doc(collection, item_id)
        return self._bring_back(collection, item_id, doc_id, found.values)

    def _bring_back(
        self, collection: Collection, item_id: str, doc_id: str, values: Mapping[str, Any]
    ) -> Record:
        circle = layout.circle_of(doc_id)
        if circle != PRIVATE:
            known = self.circles().get(circle)
            if known is None or not known.member:
                name = known.name if known is not None else circle[:8]
                raise ValidationError(
                    f"this {collection[:-1]} belongs to circle {name!r}, which you are no "
                    "longer a member of: it cannot be restored here",
                    "circle",
                )
        specs = FIELDS[collection]
        wanted = {k: v for k, v in values.items() if k in specs}
        with self.lock, self._writing() as work:
            doc = work.doc(doc_id, create=True)
            obj = crdt.item_obj(doc, collection, item_id)
            current = crdt.read_item(doc, obj) if obj is not None else {}
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, item_id)
                changes = {k: v for k, v in wanted.items() if current.get(k) != v}
                crdt.write_fields(tx, collection, obj, changes)  # type: ignore[arg-type]
                gone = [k for k in current if k in specs and k not in wanted]
                crdt.delete_fields(tx, obj, gone)
                for key in (crdt.PRIVATE_ITEM_KEY,):
                    if key in values and tx.get(obj, key) is None:
                        crdt.put_scalar(tx, obj, key, values[key])
                if "updated" in specs:
                    crdt.put_scalar(tx, obj, "updated", now_stamp())
                    crdt.put_scalar(tx, obj, "changed_by", self.device_id)
            self._known.pop((collection, item_id), None)
            self._touch((collection, item_id))
        return self._read(collection, item_id)

    def trash(self) -> builtins.list[dict[str, Any]]:
        """Deleted contacts and notes, latest first: ``record`` (its last values), ``deleted_by``
        (a device name, "" when unknown), ``deleted_at``."""
        from .provenance import device_label, device_names

        names = device_names(self)
        out = []
        for entry in self.index().trash():
            by = entry["deleted_by"]
            out.append({**entry, "deleted_by": device_label(self, by, names) if by else ""})
        return out

    def restore_from_trash(self, ref: str) -> Record:
        """Put a deleted contact or note back (its last version before the deletion)."""
        text = (ref or "").strip().lower()
        if len(text) < 4:
            raise NotFoundError(f"id {ref!r} is too short: give at least 4 characters")
        entries = [e for e in self.index().trash() if e["record"].id.startswith(text)]
        if not entries:
            raise NotFoundError(f"nothing in the trash has the id {ref!r} (see: plntui trash)")
        if len({e["record"].id for e in entries}) > 1:
            raise AmbiguousIdError(f"id {ref!r} matches several items in the trash")
        entry = entries[0]
        record = entry["record"]
        if entry["doc"]:
            doc_id = str(entry["doc"])
            with self.lock:
                doc = self._doc(doc_id)
                last = self._last_values(doc, record.collection, record.id) if doc else None
            if last is not None:
                return self._bring_back(record.collection, record.id, doc_id, last)
        return self.restore(record)

    @staticmethod
    def _last_values(doc: Any, collection: str, item_id: str) -> dict[str, Any] | None:
        from .history import versions

        for version in versions(doc, collection, item_id):  # type: ignore[arg-type]
            if version.values is not None:
                return version.values
        return None

    def conflicts(self) -> builtins.list[dict[str, Any]]:
        """Fields of contacts and notes that two devices set concurrently: ``{id, collection,
        label, field, values: [{value, by}]}``, the value shown first. The merges that brought
        them recorded them in the index; their values are read from the documents."""
        from .history import conflict_values
        from .provenance import device_label, device_names

        keys = self.index().conflict_keys()
        names = device_names(self) if keys else {}
        out: list[dict[str, Any]] = []
        with self.lock:
            for collection, item_id, field_name in keys:
                where = self._where(collection, item_id)  # type: ignore[arg-type]
                doc = self._doc(where.shared) if where.shared else None
                if doc is None:
                    continue
                values = conflict_values(doc, collection, item_id, field_name)
                if len({repr(v.value) for v in values}) < 2:
                    continue
                record = self._read_where(collection, item_id, where)  # type: ignore[arg-type]
                out.append(
                    {
                        "id": item_id,
                        "collection": collection,
                        "label": record.label,
                        "field": field_name,
                        "values": [
                            {"value": v.value, "by": device_label(self, v.actor, names)}
                            for v in values
                        ],
                    }
                )
        return out

    def conflicts_of(self, record: Record) -> builtins.list[dict[str, Any]]:
        """The conflicts of one item (for its detail view)."""
        from .history import conflict_values, conflicted_keys
        from .provenance import device_label, device_names

        with self.lock:
            where = self._where(record.collection, record.id)
            if where.shared is None:
                return []
            doc = self._doc(where.shared)
            keys = [k for k in conflicted_keys(doc) if k[:2] == (record.collection, record.id)]
            names = device_names(self) if keys else {}
            out = []
            for _c, _i, field_name in sorted(keys):
                spec = FIELDS[record.collection].get(field_name)
                if spec is None or spec.system:
                    continue
                values = conflict_values(doc, record.collection, record.id, field_name)
                if len({repr(v.value) for v in values}) >= 2:
                    out.append(
                        {
                            "field": field_name,
                            "values": [
                                {"value": v.value, "by": device_label(self, v.actor, names)}
                                for v in values
                            ],
                        }
                    )
            return out

    def resolve_conflict(self, collection: Collection, ref: str, field: str, pick: int) -> Record:
        """Write value number ``pick`` (1-based, as listed) of a conflicted field: it then
        stands alone, for everyone."""
        item_id = self.resolve_id(collection, ref)
        record = self._read(collection, item_id)
        found = [c for c in self.conflicts_of(record) if c["field"] == field]
        if not found:
            raise NotFoundError(
                f"{record.label} has no conflict on {field!r} (see: plntui conflicts)"
            )
        values = found[0]["values"]
        if not 1 <= pick <= len(values):
            raise ValidationError(f"--pick must be from 1 to {len(values)}")
        chosen = values[pick - 1]["value"]
        with self.lock, self._writing() as work:
            where = self._where(collection, item_id)
            self._circle_for_write(collection, item_id, where)
            assert where.shared is not None
            doc = work.doc(where.shared)
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, item_id)
                if tx.get(obj, field) is not None:
                    tx.delete(obj, field)  # one new op over every standing value
                crdt.write_fields(tx, collection, obj, {field: chosen})
                crdt.put_scalar(tx, obj, "updated", now_stamp())
                crdt.put_scalar(tx, obj, "changed_by", self.device_id)
            self._touch((collection, item_id))
        return self._read(collection, item_id)

    # -- held mass deletions -----------------------------------------------------------------------

    def hold_thresholds(self) -> Any:
        from .held import Thresholds

        meta = self.profile.meta
        return Thresholds(meta.hold_count, meta.hold_percent)

    def set_hold_thresholds(self, count: Any, percent: Any) -> Any:
        import dataclasses

        from .held import Thresholds

        checked = Thresholds.checked(count, percent)
        self.profile.meta = dataclasses.replace(
            self.profile.meta, hold_count=checked.count, hold_percent=checked.percent
        )
        self.profile.save_meta()
        return checked

    def held(self, state: str | None = "held") -> builtins.list[Any]:
        """The batches held for your decision (``held.Batch``), oldest first."""
        from .held import load_batches

        return load_batches(self.repo.storage.db, state)

    def _held_batch(self, ref: str) -> Any:
        text = (ref or "").strip().lower()
        found = [b for b in self.held() if b.id.startswith(text)] if text else []
        if len(found) != 1:
            raise NotFoundError(f"no held batch {ref!r} (see: plntui held)")
        return found[0]

    def accept_held(self, ref: str) -> Any:
        """Apply a held batch: the deletions it holds, and the author's later changes."""
        from .guard import GuardRefused, check
        from .held import held_changes, save_batch
        from .index import SearchIndex

        batch = self._held_batch(ref)
        waiting = held_changes(self.repo.storage.db, batch.id)
        with self.lock:
            with self.repo.writing("remote") as work:
                for doc_id, changes in waiting.items():
                    doc = work.doc(doc_id, create=True)
                    loaded = am.Document.load(doc.save() + b"".join(changes))
                    try:
                        check(doc_id, loaded, None)
                    except GuardRefused as exc:
                        raise ValidationError(
                            f"the held changes are unusable: {exc.message}"
                        ) from None
                    doc.merge(loaded)
                batch.state = "accepted"
                save_batch(work.writer.db, batch)
                work.writer.db.execute("DELETE FROM held WHERE batch = ?", (batch.id,))
            SearchIndex.for_profile(self.profile).reindex(self, builtins.list(waiting))
        return batch

    def refuse_held(self, ref: str) -> Any:
        """Apply a held batch, then at once bring back everything it deleted (a new change
        every replica receives): the items come back everywhere."""
        from .held import save_batch

        batch = self.accept_held(ref)
        for item in batch.deletes:
            doc = None
            with self.lock:
                doc = self._doc(item.doc)
                last = self._last_values(doc, item.collection, item.id) if doc else None
                exists = doc is not None and crdt.item_obj(doc, item.collection, item.id)
            if last is not None and not exists:
                self._bring_back(item.collection, item.id, item.doc, last)  # type: ignore[arg-type]
        batch.state = "refused"
        with self.repo.storage.transaction() as writer:
            save_batch(writer.db, batch)
        return batch

    # -- undo a device ---------------------------------------------------------------------------

    def device_actors(self, fingerprint: bytes) -> set[str]:
        """The actor ids a device (by certificate fingerprint) wrote with, from the registries."""
        key = fingerprint.hex()
        return {
            actor
            for actor, info in self.device_registry().items()
            if str(info.get("fingerprint") or "") == key
        }

    def undo_device(self, fingerprint: bytes, since: str) -> dict[str, builtins.list[Any]]:
        """Write restoring changes for everything a device's actors changed since ``since``
        (a date): each item it added, changed or deleted goes back to how it was before. An item
        someone else changed afterwards in a field the device changed is listed instead of
        overwritten. Returns ``{"restored": [...], "kept": [...]}`` (records, and (record or
        name, reason) pairs)."""
        from .history import item_at

        day = parse_date(since, "--since") if since else ""
        if not day:
            raise ValidationError("give --since DATE (YYYY-MM-DD)", "since")
        actors = self.device_actors(fingerprint)
        if not actors:
            from sync.fingerprint import format_fingerprint

            raise NotFoundError(
                f"no device with the fingerprint {format_fingerprint(fingerprint)} wrote in your "
                "circles"
            )
        plans: list[tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]] = []
        kept: list[tuple[str, str]] = []
        with self.lock:
            for circle in self.my_circles():
                for doc_id in sorted(self.repo.storage.manifest([circle.id])):
                    if doc_id.startswith("c:"):
                        continue
                    doc = self._doc(doc_id)
                    if doc is None:
                        continue
                    changes = doc.get_changes([])
                    if not any(c.actor_id.hex() in actors for c in changes):
                        self.repo.drop([doc_id])
                        continue
                    plans += self._undo_plan(doc, doc_id, changes, actors, day, kept)
                    self.repo.drop([doc_id])
        restored: list[Record] = []
        for doc_id, collection, item_id, target, _now in plans:
            if target is None:  # the device added it: it goes
                try:
                    restored.append(self.remove(collection, item_id))  # type: ignore[arg-type]
                except NotFoundError:
                    pass
            else:
                restored.append(self._bring_back(collection, item_id, doc_id, target))  # type: ignore[arg-type]
        del item_at
        return {"restored": restored, "kept": kept}

    def _undo_plan(
        self,
        doc: Any,
        doc_id: str,
        changes: builtins.list[Any],
        actors: set[str],
        day: str,
        kept: builtins.list[tuple[str, str]],
    ) -> builtins.list[tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]]:
        from .history import ancestors, item_at

        family = ancestors(doc)
        kind = layout.kind_of(doc_id)
        collections = ("contacts",) if kind == "shard" else ("notes",)
        plans = []
        for collection in collections:
            ids: set[str] = set()
            for change in changes:
                if change.actor_id.hex() not in actors:
                    continue
                coll = doc.get(am.ROOT, collection, [change.hash])
                if coll is not None:
                    ids.update(doc.keys(coll[1], [change.hash]))
                if change.deps:
                    before = doc.get(am.ROOT, collection, list(change.deps))
                    if before is not None:
                        ids.update(doc.keys(before[1], list(change.deps)))
            for item_id in sorted(ids):
                first = None  # the device's first change of this item since the day
                fields: set[str] = set()
                for change in changes:
                    if change.actor_id.hex() not in actors:
                        continue
                    before = item_at(doc, collection, item_id, list(change.deps))
                    after = item_at(doc, collection, item_id, [change.hash])
                    if before == after:
                        continue
                    stamp = str((after or before or {}).get("updated") or "")
                    if after is not None and stamp[:10] < day:
                        continue
                    if first is None:
                        first = (change, before)
                    fields |= {
                        k
                        for k in set(before or {}) | set(after or {})
                        if (before or {}).get(k) != (after or {}).get(k)
                    }
                if first is None:
                    continue
                change, target = first
                fields -= {"updated", "changed_by"}
                later = [
                    c
                    for c in changes
                    if c.actor_id.hex() not in actors and change.hash in family.get(c.hash, set())
                ]
                clash = None
                for other in later:
                    b = item_at(doc, collection, item_id, list(other.deps))
                    a = item_at(doc, collection, item_id, [other.hash])
                    if b == a:
                        continue
                    touched = {
                        k
                        for k in set(b or {}) | set(a or {})
                        if (b or {}).get(k) != (a or {}).get(k)
                    }
                    if touched & fields or a is None or b is None:
                        clash = other
                        break
                now_obj = crdt.item_obj(doc, collection, item_id)
                now = crdt.read_item(doc, now_obj) if now_obj is not None else None
                label = str(
                    (now or target or {}).get("name")
                    or (now or target or {}).get("title")
                    or item_id
                )
                if clash is not None:
                    kept.append((label, "someone else changed it afterwards: left as it is"))
                    continue
                plans.append((doc_id, collection, item_id, target, now))
        return plans

    # -- what the index reads -------------------------------------------------------------------

    def items_of(self, doc_id: str) -> builtins.list[tuple[Collection, str]]:
        """The ``(collection, id)`` of every item a document holds now."""
        doc = self._doc(doc_id)
        if doc is None:
            return []
        kind = layout.kind_of(doc_id)
        out: builtins.list[tuple[Collection, str]] = []
        for collection in ("contacts", "interactions") if kind == "shard" else ("notes",):
            if kind == "circle":
                break
            try:
                coll = crdt.top(doc, collection)
            except KeyError:
                continue
            out += [(collection, item_id) for item_id in doc.keys(coll)]  # type: ignore[misc]
        return out

    def redirects_of(self, doc_id: str) -> dict[str, str]:
        doc = self._doc(doc_id)
        if doc is None or layout.kind_of(doc_id) != "shard":
            return {}
        return {k: v for k, v in crdt.read_map(doc, "redirects").items() if isinstance(v, str)}

    def locate(
        self, collection: Collection, item_id: str
    ) -> tuple[Record, str | None, str | None] | None:
        """The item as it is now with its shared and private document ids; ``None`` when gone."""
        with self.lock:
            where = self._where(collection, item_id)
            if where.shared is None and where.private is None:
                return None
            return self._read_where(collection, item_id, where), where.shared, where.private
