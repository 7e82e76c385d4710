"""Provides the domain API of plntui: contacts, notes and interactions over both documents.

The UI and the CLI call this module and nothing below it. Every item is assembled from the
shared network document (what syncs with trusted colleagues) and the private document (what never
leaves the device), field by field: a shared contact can carry private fields, and a private item
lives in the private document alone. Writes go where the field lives; ``make_private`` and
``make_shared`` move fields between the two.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import crdt
from .errors import AmbiguousIdError, NotFoundError, ValidationError
from .model import (
    CREATOR_FIELD,
    FIELDS,
    PRIVATE_BY_DEFAULT_COLLECTIONS,
    SCHEMA_VERSION,
    Collection,
    Record,
    check_field,
    check_fields,
    check_new,
    clean_text,
    new_id,
    normalise_topic,
    now_stamp,
    today,
)
from .profile import Profile, resolve_home
from .textdiff import merge_text

Progress = Callable[[int, int], None]
GENESIS_HEADS: list[bytes] = crdt.am.Document.load(crdt.GENESIS).get_heads()
MIGRATIONS: dict[int, Callable[[Any], None]] = {}
"""Schema migrations: ``MIGRATIONS[n]`` turns a version ``n`` document into version ``n + 1``
inside a transaction. Migrations must be deterministic (same ops on every device), and new
top-level objects must come from a shipped genesis-like change, never a local ``put_object``."""


@dataclass(slots=True)
class DueItem:
    contact: Record
    due: _dt.date
    days_overdue: int
    last: str


@dataclass(slots=True)
class ImportSummary:
    added: list[Record] = field(default_factory=list)
    merged: list[tuple[Record, str]] = field(default_factory=list)  # (kept record, source)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    possible_duplicates: list[tuple[Record, Record]] = field(default_factory=list)


@dataclass(slots=True)
class DuplicatePair:
    first: Record
    second: Record
    reason: str


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


class Network:
    """A profile's learning network: read and change contacts, notes and interactions."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._index: Any = None
        self._touched: set[tuple[str, str]] = set()
        self._removed: set[tuple[str, str]] = set()
        self._schema_checked = False
        self._devices_changed = False

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, home: str | Path | None = None) -> Network:
        return cls(Profile.open(resolve_home(home)))

    @classmethod
    def create(cls, home: str | Path | None, name: str) -> Network:
        # The device registers its name with its first shared edit: until then the network
        # document is the bare genesis, so a first sync can send it one snapshot.
        return cls(Profile.create(resolve_home(home), name))

    @property
    def shared_doc(self) -> Any:
        if not self._schema_checked:
            self.check_schema()
        return self.profile.shared.doc

    @property
    def private_doc(self) -> Any:
        if not self._schema_checked:
            self.check_schema()
        return self.profile.private.doc

    def check_schema(self) -> None:
        """Refuse a document from a newer plntui; migrate an older one. Runs once, when the
        documents are first needed (reading through the search index never loads them)."""
        self._schema_checked = True
        for store in (self.profile.shared, self.profile.private):
            version = crdt.schema_version(store.doc)
            if version > SCHEMA_VERSION:
                from .errors import ProfileError

                self._schema_checked = False
                raise ProfileError(
                    f"{store.snapshot_path.name} uses schema {version}, newer than this plntui "
                    f"({SCHEMA_VERSION}); upgrade plntui"
                )
            if version < SCHEMA_VERSION:
                with self.profile.writing(), store.doc.transaction() as tx:
                    for step in range(version, SCHEMA_VERSION):
                        MIGRATIONS[step](tx)

    @property
    def device_id(self) -> str:
        """This device's Automerge actor id in hex: what its edits are attributed to."""
        return self.profile.actor.hex()

    @property
    def own_ids(self) -> frozenset[str]:
        """Every id this profile ever wrote with: its actor, and the random id of old profiles."""
        meta = self.profile.meta
        return frozenset({self.device_id, meta.device_id, *meta.former_actors})

    def register_device(self) -> None:
        """Record this device in the shared document's registry (actor id -> display name,
        certificate fingerprint, date registered), for attribution. Idempotent."""
        with self._writing(remote=True):
            doc = self.shared_doc
            devices = crdt.top(doc, "devices")
            found = doc.get(devices, self.device_id)
            current = crdt.read_item(doc, found[1]) if found else {}
            wanted: dict[str, Any] = {"name": self.profile.meta.name}
            if self.profile.fingerprint is not None:
                wanted["fingerprint"] = self.profile.fingerprint.hex()
            if not current.get("registered"):
                wanted["registered"] = today().isoformat()
            if any(current.get(k) != v for k, v in wanted.items()):
                with doc.transaction() as tx:
                    obj = crdt.ensure_item(tx, "devices", self.device_id)
                    for key, value in wanted.items():
                        crdt.put_scalar(tx, obj, key, value)

    def rename_device(self, name: str) -> None:
        """Change this device's display name, in the profile and (once the device has edited
        the shared network) in the registry colleagues read, under its old ids too."""
        if not clean_text(name, "name", 100):
            raise ValidationError("your display name must not be empty", "name")
        self.profile.rename(name)
        with self._writing(remote=True):
            doc = self.shared_doc
            devices = crdt.top(doc, "devices")
            registered = [i for i in sorted(self.own_ids) if doc.get(devices, i) is not None]
            if registered:
                with doc.transaction() as tx:
                    for device in registered:
                        obj = crdt.ensure_item(tx, "devices", device)
                        crdt.put_scalar(tx, obj, "name", self.profile.meta.name)
                self.register_device()
            self._devices_changed = True

    def device_registry(self) -> dict[str, dict[str, Any]]:
        """Actor id -> {"name", "fingerprint", "registered"} for every device that registered."""
        raw = crdt.read_map(self.shared_doc, "devices")
        return {k: v for k, v in raw.items() if isinstance(v, dict)}

    def devices(self) -> dict[str, str]:
        """Device id -> display name, for every device that ever edited the shared network."""
        return {k: str(v.get("name", "")) for k, v in self.device_registry().items()}

    def device_name(self, device_id: str) -> str:
        """A device's display name for the screen (sanitised), or its short id when unknown.
        Read through the search index: no document is loaded."""
        from .provenance import device_label

        return device_label(self, device_id)

    # -- reading --------------------------------------------------------------------------------

    def _assemble(
        self,
        collection: Collection,
        item_id: str,
        shared: dict[str, Any] | None,
        private: dict[str, Any] | None,
    ) -> Record:
        values: dict[str, Any] = {}
        private_fields: set[str] = set()
        sources: list[dict[str, Any]] = []
        specs = FIELDS[collection]
        if shared:
            for key, value in shared.items():
                if key in specs:
                    values[key] = value
            sources += shared.get(crdt.SOURCES_KEY, [])
        private_item = False
        if private:
            private_item = bool(private.get(crdt.PRIVATE_ITEM_KEY)) or not shared
            for key, value in private.items():
                if key in specs:
                    values[key] = value
                    private_fields.add(key)
            sources += private.get(crdt.SOURCES_KEY, [])
        return Record(collection, item_id, values, frozenset(private_fields), private_item, sources)

    def _resolve_redirect(self, item_id: str) -> str:
        seen = set()
        for doc in (self.shared_doc, self.private_doc):
            redirects = crdt.top(doc, "redirects")
            while item_id not in seen:
                seen.add(item_id)
                found = doc.get(redirects, item_id)
                if found is None or isinstance(found[0], crdt.am.ObjType):
                    break
                item_id = str(found[0][1])
        return item_id

    def _ids(self, collection: Collection) -> set[str]:
        ids = set(self.shared_doc.keys(crdt.top(self.shared_doc, collection)))
        ids.update(self.private_doc.keys(crdt.top(self.private_doc, collection)))
        return ids

    def resolve_id(self, collection: Collection, ref: str) -> str:
        """A full id, a unique prefix of at least 4 characters, or an id merged away."""
        ref = (ref or "").strip().lower()
        noun = collection[:-1]
        if len(ref) < 4:
            raise NotFoundError(f"{noun} id {ref!r} is too short: give at least 4 characters")
        if len(ref) == 12 and any(
            crdt.item_obj(doc, collection, ref) is not None
            for doc in (self.shared_doc, self.private_doc)
        ):
            return ref  # a whole id: no need to list every item
        ids = self._ids(collection)
        if ref in ids:
            return ref
        matches = sorted(i for i in ids if i.startswith(ref))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousIdError(
                f"{noun} id {ref!r} matches {len(matches)} items ({', '.join(matches[:5])}); "
                "give more characters"
            )
        target = self._resolve_redirect(ref)
        if target != ref and target in ids:
            return target
        raise NotFoundError(f"no {noun} with id {ref!r} (see: plntui {noun} list)")

    def get(self, collection: Collection, ref: str) -> Record:
        item_id = self.resolve_id(collection, ref)
        return self._read(collection, item_id)

    def _read(self, collection: Collection, item_id: str) -> Record:
        shared_obj = crdt.item_obj(self.shared_doc, collection, item_id)
        private_obj = crdt.item_obj(self.private_doc, collection, item_id)
        if shared_obj is None and private_obj is None:
            raise NotFoundError(f"no {collection[:-1]} with id {item_id!r}")
        return self._assemble(
            collection,
            item_id,
            crdt.read_item(self.shared_doc, shared_obj) if shared_obj else None,
            crdt.read_item(self.private_doc, private_obj) if private_obj else None,
        )

    def list(self, collection: Collection) -> list[Record]:
        shared = crdt.read_collection(self.shared_doc, collection)
        private = crdt.read_collection(self.private_doc, collection)
        records = [
            self._assemble(collection, item_id, shared.get(item_id), private.get(item_id))
            for item_id in shared.keys() | private.keys()
        ]
        key = (
            "date"
            if collection == "interactions"
            else ("name" if collection == "contacts" else "title")
        )
        records.sort(key=lambda r: (str(r.values.get(key, "")).casefold(), r.id))
        return records

    def contacts(self) -> list[Record]:
        return self.list("contacts")

    def notes(self) -> list[Record]:
        return self.list("notes")

    def interactions(self, contact: str | None = None) -> list[Record]:
        items = self.list("interactions")
        if contact is not None:
            contact_id = self.resolve_id("contacts", contact)
            items = [i for i in items if i.values.get("contact") == contact_id]
        return items

    # -- writing --------------------------------------------------------------------------------

    @contextmanager
    def _writing(self, remote: bool = False) -> Iterator[None]:
        """One atomic, durable edit: on error nothing is kept (see ``Profile.writing``). A local
        edit of the shared network also records this device's display name (for attribution)."""
        from .index import SearchIndex

        outermost = not self.profile._write_depth
        if outermost:
            self._touched.clear()
            self._removed.clear()
            self._devices_changed = False
        before: list[Any] = []

        def after_commit() -> None:
            if self._touched or self._removed or self._devices_changed:
                SearchIndex.for_profile(self.profile).apply_write(
                    self, before[0], self._touched, self._removed
                )

        with self.profile.writing(
            after_commit=after_commit if outermost else None,
            token_sink=before if outermost else None,
        ):
            yield
            if outermost and not remote and self.profile.shared.dirty():
                self.register_device()

    def _where(
        self, collection: Collection, item_id: str, spec_name: str, value_private: bool | None
    ) -> str:
        """Which document a field of an item is written to: "shared" or "private"."""
        private_obj = crdt.item_obj(self.private_doc, collection, item_id)
        shared_obj = crdt.item_obj(self.shared_doc, collection, item_id)
        spec = FIELDS[collection][spec_name]
        if spec.private_only:
            return "private"
        if shared_obj is None:
            return "private"
        if value_private is not None:
            return "private" if value_private else "shared"
        if private_obj is not None and self.private_doc.get(private_obj, spec_name) is not None:
            return "private"
        if self.shared_doc.get(shared_obj, spec_name) is not None:
            return "shared"
        return "private" if spec.private_default else "shared"

    def add(
        self,
        collection: Collection,
        values: Mapping[str, Any],
        *,
        private: bool | None = None,
        private_fields: Iterable[str] = (),
        allow_duplicate: bool = True,
    ) -> Record:
        """Add a contact, note or interaction. ``private`` keeps the whole item on this device;
        ``private_fields`` keeps those fields of a shared item on this device."""
        raw = self._check_refs(collection, {k: v for k, v in values.items() if v is not None})
        checked = check_new(collection, raw)
        if private is None:
            private = collection in PRIVATE_BY_DEFAULT_COLLECTIONS
        private_names = set(self._check_field_names(collection, private_fields))
        if collection == "contacts" and not allow_duplicate:
            for email in checked.get("emails", []):
                other = self.find_by_email(email)
                if other is not None:
                    raise ValidationError(
                        f"{other.label} ({other.id}) already has the e-mail {email}; edit that "
                        "contact, or merge later with: plntui contact dupes",
                        "emails",
                    )
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
            # devices that each created it later would each make their own, and one would hide
            # the other's words after a merge.
            for name, spec in FIELDS[collection].items():
                if (
                    spec.kind in ("list", "text")
                    and name not in shared_vals
                    and name not in private_vals
                    and not spec.private_only
                ):
                    shared_vals[name] = [] if spec.kind == "list" else ""
        with self._writing():
            if shared_vals:
                with self.shared_doc.transaction() as tx:
                    obj = crdt.ensure_item(tx, collection, item_id)
                    crdt.write_fields(tx, collection, obj, shared_vals)
            if private_vals or private:
                with self.private_doc.transaction() as tx:
                    obj = crdt.ensure_item(tx, collection, item_id)
                    if private:
                        crdt.put_scalar(tx, obj, crdt.PRIVATE_ITEM_KEY, True)
                    crdt.write_fields(tx, collection, obj, private_vals)
            self._touched.add((collection, item_id))
            if collection == "interactions":
                self._bump_last_contacted(checked["contact"], checked["date"])
        return self._read(collection, item_id)

    def _check_field_names(self, collection: Collection, names: Iterable[str]) -> list[str]:
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
    ) -> Record:
        """Change fields of an item. Fields not named keep their value."""
        item_id = self.resolve_id(collection, ref)
        checked = check_fields(collection, self._check_refs(collection, dict(values or {})))
        for name in checked:
            if FIELDS[collection][name].system:
                raise ValidationError(f"{name} is set by plntui and cannot be edited", name)
            if FIELDS[collection][name].required and not checked[name]:
                raise ValidationError(f"{FIELDS[collection][name].label} is required", name)
        to_private = set(self._check_field_names(collection, make_private))
        to_shared = set(self._check_field_names(collection, make_shared))
        for name in to_shared:
            if FIELDS[collection][name].private_only:
                raise ValidationError(f"{name} is always private and cannot be shared", name)
        if to_private & to_shared:
            raise ValidationError("a field cannot be made private and shared at once")
        with self._writing():
            current = self._read(collection, item_id)
            if item_private is True and not current.private_item:
                self._move_item(collection, item_id, to_private_doc=True)
            elif item_private is False and current.private_item:
                self._move_item(collection, item_id, to_private_doc=False)
                current = self._read(collection, item_id)
            if not self._read(collection, item_id).private_item:
                for name in to_private:
                    self._move_field(collection, item_id, name, to_private_doc=True)
                for name in to_shared:
                    self._move_field(collection, item_id, name, to_private_doc=False)
            shared_vals: dict[str, Any] = {}
            private_vals: dict[str, Any] = {}
            for name, value in checked.items():
                if current.values.get(name) == value and name not in to_private | to_shared:
                    continue
                if self._where(collection, item_id, name, None) == "private":
                    private_vals[name] = value
                else:
                    shared_vals[name] = value
            if shared_vals or private_vals:
                stamp = now_stamp()
                target = (
                    shared_vals
                    if crdt.item_obj(self.shared_doc, collection, item_id)
                    else private_vals
                )
                if "updated" in FIELDS[collection]:
                    target["updated"] = stamp
                    target["changed_by"] = self.device_id
            self._write_split(collection, item_id, shared_vals, private_vals)
            self._touched.add((collection, item_id))
        return self._read(collection, item_id)

    def _write_split(
        self,
        collection: Collection,
        item_id: str,
        shared_vals: Mapping[str, Any],
        private_vals: Mapping[str, Any],
    ) -> None:
        if shared_vals:
            with self.shared_doc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, item_id)
                crdt.write_fields(tx, collection, obj, shared_vals)
        if private_vals:
            with self.private_doc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, item_id)
                crdt.write_fields(tx, collection, obj, private_vals)

    def _move_field(
        self, collection: Collection, item_id: str, name: str, to_private_doc: bool
    ) -> None:
        src, dst = (
            (self.shared_doc, self.private_doc)
            if to_private_doc
            else (self.private_doc, self.shared_doc)
        )
        src_obj = crdt.item_obj(src, collection, item_id)
        if src_obj is None or src.get(src_obj, name) is None:
            if to_private_doc:  # nothing stored yet: mark the field private with an empty value
                with self.private_doc.transaction() as tx:
                    obj = crdt.ensure_item(tx, collection, item_id)
                    spec = FIELDS[collection][name]
                    crdt.write_fields(
                        tx, collection, obj, {name: [] if spec.kind == "list" else ""}
                    )
                    if tx.get(obj, name) is None:
                        crdt.put_scalar(tx, obj, name, "" if spec.kind != "int" else 0)
            return
        value = crdt.read_item(src, src_obj).get(name)
        with dst.transaction() as tx:
            obj = crdt.ensure_item(tx, collection, item_id)
            crdt.write_fields(tx, collection, obj, {name: value})
            if tx.get(obj, name) is None:  # empty values are normally not stored; keep the mark
                crdt.put_list(tx, obj, name, []) if FIELDS[collection][
                    name
                ].kind == "list" else crdt.put_scalar(tx, obj, name, "")
        with src.transaction() as tx:
            crdt.delete_fields(tx, src_obj, [name])

    def _move_item(self, collection: Collection, item_id: str, to_private_doc: bool) -> None:
        current = self._read(collection, item_id)
        values = {k: v for k, v in current.values.items()}
        if to_private_doc:
            with self.private_doc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, item_id)
                crdt.put_scalar(tx, obj, crdt.PRIVATE_ITEM_KEY, True)
                crdt.write_fields(tx, collection, obj, values)
            with self.shared_doc.transaction() as tx:
                crdt.delete_item(tx, collection, item_id)
        else:
            keep_private = {
                n
                for n in current.values
                if FIELDS[collection][n].private_only or FIELDS[collection][n].private_default
            }
            with self.shared_doc.transaction() as tx:
                obj = crdt.ensure_item(tx, collection, item_id)
                crdt.write_fields(
                    tx, collection, obj, {k: v for k, v in values.items() if k not in keep_private}
                )
            with self.private_doc.transaction() as tx:
                pobj = crdt.ensure_item(tx, collection, item_id)
                tx.delete(pobj, crdt.PRIVATE_ITEM_KEY) if tx.get(
                    pobj, crdt.PRIVATE_ITEM_KEY
                ) else None
                crdt.delete_fields(tx, pobj, [k for k in values if k not in keep_private])

    def remove(self, collection: Collection, ref: str) -> Record:
        """Delete an item from both documents. It stays in the documents' history."""
        item_id = self.resolve_id(collection, ref)
        with self._writing():
            record = self._read(collection, item_id)
            for doc in (self.shared_doc, self.private_doc):
                if crdt.item_obj(doc, collection, item_id) is not None:
                    with doc.transaction() as tx:
                        crdt.delete_item(tx, collection, item_id)
            self._removed.add((collection, item_id))
        return record

    def restore(self, record: Record) -> Record:
        """Put back a removed item with its id, values and privacy (the undo of ``remove``)."""
        specs = FIELDS[record.collection]
        values = {k: v for k, v in record.values.items() if k in specs}
        private_vals = {
            k: v for k, v in values.items() if record.private_item or k in record.private
        }
        shared_vals = {k: v for k, v in values.items() if k not in private_vals}
        with self._writing():
            self._write_split(record.collection, record.id, shared_vals, private_vals)
            if record.private_item:
                with self.private_doc.transaction() as tx:
                    obj = crdt.ensure_item(tx, record.collection, record.id)
                    crdt.put_scalar(tx, obj, crdt.PRIVATE_ITEM_KEY, True)
            self._touched.add((record.collection, record.id))
        return self._read(record.collection, record.id)

    def store_remote_changes(self) -> int:
        """Make durable what peers merged into the shared document in memory, and update the
        search index for the items they touched. Returns the number of items touched (-1 when
        the change was too large to list: the index is then rebuilt by its next reader)."""
        from .index import SearchIndex

        store = self.profile.shared
        doc = self.shared_doc
        with self._writing(remote=True):
            before, after = store.saved_heads, doc.get_heads()
            if before == after:
                return 0
            touched = None
            # Listing the touched items diffs the document (its cost grows with the document):
            # worth it only to keep a fresh index fresh, and not for a whole network received
            # at once (a first sync), which the next reader indexes in one pass anyway.
            first_sync = set(before) <= set(GENESIS_HEADS)
            if first_sync:
                store.compact()  # one snapshot, instead of a log record of every change
            elif SearchIndex.for_profile(self.profile).is_fresh():
                touched = crdt.touched_items(doc, before, after)
            if touched is not None:
                self._touched |= touched  # type: ignore[arg-type]
        self.profile.notify_remote()
        return -1 if touched is None else len(touched)

    # -- notes ----------------------------------------------------------------------------------

    def splice_note(self, ref: str, pos: int, delete: int, insert: str) -> Record:
        """Edit a note body in place: character-level, so concurrent edits merge."""
        item_id = self.resolve_id("notes", ref)
        body = self._read("notes", item_id).values.get("body", "")
        if not (0 <= pos <= len(body)) or delete < 0 or pos + delete > len(body):
            raise ValidationError(
                f"splice {pos}+{delete} is outside the body ({len(body)} characters)"
            )
        new_body = check_field("notes", "body", body[:pos] + insert + body[pos + delete :])
        if len(new_body) != len(body) - delete + len(insert):
            insert = new_body[pos : len(new_body) - (len(body) - pos - delete)]
        where = "private" if self._where("notes", item_id, "body", None) == "private" else "shared"
        doc = self.private_doc if where == "private" else self.shared_doc
        with self._writing():
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "notes", item_id)
                text = crdt.text_obj(tx, obj, "body")
                if text is None:
                    crdt.put_text(tx, obj, "body", insert)
                else:
                    crdt.splice_text(tx, text, pos, delete, insert)
                crdt.put_scalar(tx, obj, "updated", now_stamp())
                crdt.put_scalar(tx, obj, "changed_by", self.device_id)
            self._touched.add(("notes", item_id))
        return self._read("notes", item_id)

    def edit_note_body(
        self, ref: str, base: str, body: str, values: Mapping[str, Any] | None = None
    ) -> Record:
        """Save an editor's body: ``base`` is the text the editor started from and ``body`` what
        it holds now. Whatever reached the document since (another process, a peer) is merged
        character by character, in the same locked step as the write, so neither side's words
        are lost. Other ``values`` (title, tags) are saved with it."""
        item_id = self.resolve_id("notes", ref)
        with self._writing():
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
        record = self._read("contacts", contact_id)
        if str(record.values.get("last_contacted") or "") < date:
            vals = {"last_contacted": date}
            if self._where("contacts", contact_id, "last_contacted", None) == "private":
                self._write_split("contacts", contact_id, {}, vals)
            else:
                self._write_split("contacts", contact_id, vals, {})
            self._touched.add(("contacts", contact_id))

    def due(self, within_days: int = 0, on: _dt.date | None = None) -> list[DueItem]:
        """Contacts with a follow-up cadence whose next catch-up falls on or before
        ``on + within_days``. A contact never contacted is due from the day it was added."""
        day = on or today()
        horizon = day + _dt.timedelta(days=within_days)
        items: list[DueItem] = []
        for contact in self.contacts():
            cadence = contact.values.get("cadence_days")
            if not cadence:
                continue
            last = str(contact.values.get("last_contacted") or "")
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
            if due_on <= horizon:
                items.append(DueItem(contact, due_on, (day - due_on).days, last))
        items.sort(key=lambda i: (i.due, i.contact.label.casefold()))
        return items

    # -- duplicates -----------------------------------------------------------------------------

    def with_email(self, email: str) -> list[Record]:
        """The contacts that have this e-mail (any case), found through the search index."""
        wanted = email.lower()
        candidates = self.index().search(email, limit=1000)["contacts"]
        return [
            c for c in candidates if any(e.lower() == wanted for e in c.values.get("emails", []))
        ]

    def find_by_email(self, email: str) -> Record | None:
        found = self.with_email(email)
        return found[0] if found else None

    def duplicates(self) -> list[DuplicatePair]:
        from .dedupe import find_duplicates

        return [DuplicatePair(a, b, why) for a, b, why in find_duplicates(self.contacts())]

    def merge_contacts(self, keep_ref: str, other_ref: str, via: str = "merge") -> Record:
        """Merge ``other`` into ``keep``: empty fields filled, lists united, differing values
        kept under ``sources`` with where they came from; references repointed."""
        keep_id = self.resolve_id("contacts", keep_ref)
        other_id = self.resolve_id("contacts", other_ref)
        if keep_id == other_id:
            raise ValidationError("cannot merge a contact with itself")
        with self._writing():
            keep = self._read("contacts", keep_id)
            other = self._read("contacts", other_id)
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
            self._repoint(other_id, keep_id)
            for doc in (self.shared_doc, self.private_doc):
                if crdt.item_obj(doc, "contacts", other_id) is not None:
                    with doc.transaction() as tx:
                        crdt.delete_item(tx, "contacts", other_id)
            doc = self.private_doc if other.private_item else self.shared_doc
            with doc.transaction() as tx:
                crdt.put_scalar(tx, crdt.top(tx, "redirects"), other_id, keep_id)
            self._removed.add(("contacts", other_id))
        return self._read("contacts", keep_id)

    def _fold_into(
        self,
        keep: Record,
        incoming: Mapping[str, Any],
        source: dict[str, Any],
        extra_sources: list[dict[str, Any]] = (),
    ) -> bool:  # type: ignore[assignment]
        changes, differing = _merge_values("contacts", keep.values, incoming)
        shared_vals: dict[str, Any] = {}
        private_vals: dict[str, Any] = {}
        for name, value in changes.items():
            if self._where("contacts", keep.id, name, None) == "private":
                private_vals[name] = value
            else:
                shared_vals[name] = value
        if changes or differing:
            target = private_vals if keep.private_item else shared_vals
            target["updated"] = now_stamp()
            target["changed_by"] = self.device_id
        self._write_split("contacts", keep.id, shared_vals, private_vals)
        kept_values = {
            k: v for k, v in incoming.items() if k in FIELDS["contacts"] and v not in (None, "", [])
        }
        doc = self.private_doc if keep.private_item else self.shared_doc
        if differing or source.get("merged_id"):
            with doc.transaction() as tx:
                obj = crdt.ensure_item(tx, "contacts", keep.id)
                crdt.append_source(
                    tx,
                    obj,
                    {
                        **source,
                        "values": {
                            k: v
                            for k, v in kept_values.items()
                            if not FIELDS["contacts"][k].private_only
                        },
                        "differing": sorted(differing),
                    },
                )
                for extra in extra_sources:
                    crdt.append_source(tx, obj, extra)
        self._touched.add(("contacts", keep.id))
        return bool(changes or differing)

    def _repoint(self, old: str, new: str) -> None:
        for doc in (self.shared_doc, self.private_doc):
            for collection, key in (
                ("contacts", "introduced_by"),
                ("notes", "contacts"),
                ("interactions", "contact"),
            ):
                items = crdt.read_collection(doc, collection)
                for item_id, values in items.items():
                    value = values.get(key)
                    if value == old or (isinstance(value, list) and old in value):
                        with doc.transaction() as tx:
                            obj = crdt.ensure_item(tx, collection, item_id)
                            if isinstance(value, list):
                                updated = [new if v == old else v for v in value]
                                crdt.put_list(tx, obj, key, list(dict.fromkeys(updated)))
                            else:
                                crdt.put_scalar(tx, obj, key, new)
                        self._touched.add((collection, item_id))

    # -- import ---------------------------------------------------------------------------------

    def import_contacts(
        self, drafts: Iterable[Any], source: str, progress: Progress | None = None
    ) -> ImportSummary:
        """Add drafts (``interop.Draft``). A draft with an e-mail or a profile link already known,
        or the id of a contact already here (a plntui export imported back), is merged into that
        contact. Introductions between contacts of the file are kept, and so is what plntui's
        own files mark private. All of it is one commit: a rejected draft changes nothing."""
        from .dedupe import close_name_match

        drafts = list(drafts)
        summary = ImportSummary()
        by_email: dict[str, str] = {}
        by_link: dict[str, str] = {}
        by_org: dict[str, list[Record]] = {}
        existing = {c.id: c for c in self.contacts()}

        def remember(contact: Record) -> None:
            for email in contact.values.get("emails", []):
                by_email.setdefault(email.lower(), contact.id)
            for link in contact.values.get("links", []):
                by_link.setdefault(link.rstrip("/").lower(), contact.id)

        for contact in existing.values():
            remember(contact)
            org = str(contact.values.get("org", "")).casefold()
            if org:
                by_org.setdefault(org, []).append(contact)
        file_ids: dict[str, str] = {}  # id in the file -> id here
        introductions: list[tuple[str, str]] = []  # (id here, introducer's id in the file)
        with self._writing():
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
                    self._fold_into(keep, checked, {"via": f"import of {draft.source}"})
                    summary.merged.append((self._read("contacts", match), draft.source))
                    record_id = match
                else:
                    record = self.add(
                        "contacts",
                        checked,
                        private=True if draft.values.get("private") else None,
                        private_fields=private_fields,
                    )
                    summary.added.append(record)
                    remember(record)
                    record_id = record.id
                    org = str(record.values.get("org", "")).casefold()
                    if org:
                        for other in by_org.get(org, []):
                            if close_name_match(record.label, other.label):
                                summary.possible_duplicates.append((record, other))
                                break
                        by_org.setdefault(org, []).append(record)
                if own_id:
                    file_ids[own_id] = record_id
                if introducer:
                    introductions.append((record_id, introducer))
            for record_id, introducer in introductions:
                target = file_ids.get(introducer) or (
                    introducer if introducer in existing else None
                )
                if target and target != record_id:
                    self.edit("contacts", record_id, {"introduced_by": target})
        return summary

    # -- search ---------------------------------------------------------------------------------

    def index(self) -> Any:
        from .index import SearchIndex

        return SearchIndex.for_profile(self.profile).ensure_fresh(self)

    def search(self, query: str, limit: int = 50) -> dict[str, list[Record]]:
        return self.index().search(query, limit)

    def who(self, topic: str, limit: int = 50) -> dict[str, list[Record]]:
        if not normalise_topic(topic):
            raise ValidationError("give a topic, e.g. plntui who rust")
        return self.index().who(topic, limit)
