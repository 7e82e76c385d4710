"""Provides the profile folder: where it is, what it holds, and who may write it.

A profile is one folder (``--home DIR``, else ``$PLNTUI_HOME``, else the platform's user data dir)::

    profile.json        display name, device id, format version
    network.snapshot    the shared network document (syncs with trusted peers)
    network.log
    private.snapshot    the private document (never leaves this device)
    private.log
    index.sqlite3       a derived search index; safe to delete, rebuilt on demand
    identity/           the device's key and certificate (see ``peersync``), made with the profile
    seen.json           when you last looked at what's new (local, never synced)
    write.lock          held for the few milliseconds of each commit
    session.lock        held for its lifetime by a long-running process (the app, ``plntui sync``)

Any number of processes may read. Writes are serialised by ``write.lock``: the writer first catches
up with what other processes committed, then applies its change and appends it with fsync, so a
CLI command can add a contact while the app is open and the app sees it appear. Only one
long-running process may own a profile at a time (``session.lock``).

Every change is signed, in Automerge terms, by an *actor*: this device's actor id is derived from
its identity and the profile's random ``device_id``,
``SHA-256("plntui-actor-v2" + certificate fingerprint + device_id)[:16]``, and the shared
document's device registry maps it to the display name and the fingerprint peers pinned. The
``device_id`` part matters: Automerge refuses two histories of one actor, so a profile created
again in a folder that kept its ``identity/`` must not write as the old one did. A profile is
single-writer (``write.lock``), so one actor per profile is safe. A new profile gets its identity
at creation; a profile made by an older plntui keeps its random ``device_id`` as actor until it
has an identity (``plntui id`` or the first sync makes one), and from its next opening on writes
with the derived actor. ``plntui repair`` moves damaged files aside and may drop changes peers
already hold, so it gives the profile a new ``device_id`` (a new actor); the ids written with
before stay in ``profile.json`` (``former_actors``) and count as this device's own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ProfileError, ProfileLockedError, ProfileMissingError, StoreCorruptError
from .model import clean_text, now_stamp
from .store import DocumentStore, atomic_write

FORMAT_VERSION = 1
APP_NAME = "plntui"
ACTOR_CONTEXT = b"plntui-actor-v2"


def actor_from_fingerprint(fingerprint: bytes, device_id: str) -> bytes:
    """The Automerge actor id of the profile ``device_id`` whose certificate has ``fingerprint``."""
    return hashlib.sha256(ACTOR_CONTEXT + fingerprint + bytes.fromhex(device_id)).digest()[:16]


def default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """``home`` if given, else ``$PLNTUI_HOME``, else the platform's user data folder."""
    if home:
        return Path(home).expanduser().absolute()
    env = os.environ.get("PLNTUI_HOME")
    if env:
        return Path(env).expanduser().absolute()
    return default_home()


@dataclass(frozen=True, slots=True)
class ProfileMeta:
    name: str
    device_id: str
    created: str
    format: int = FORMAT_VERSION
    former_actors: tuple[str, ...] = ()
    """Actor ids (hex) this profile wrote with before ``plntui repair`` gave it a new one."""

    @property
    def actor(self) -> bytes:
        return bytes.fromhex(self.device_id)


class _FileLock:
    """An advisory ``flock`` on a file in the profile; released when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, blocking: bool) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def write_owner(self, text: str) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def owner(self) -> str:
        try:
            return self.path.read_text(errors="replace").strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


ChangeListener = Callable[[str], None]


class Profile:
    """An opened profile: its metadata, its two documents and its locks."""

    def __init__(self, home: Path, meta: ProfileMeta) -> None:
        from .peersync import public_fingerprint

        self.home = home
        self.meta = meta
        self.fingerprint = public_fingerprint(home)
        self.actor = (
            actor_from_fingerprint(self.fingerprint, meta.device_id)
            if self.fingerprint is not None
            else meta.actor
        )
        self.shared = DocumentStore(home, "network", self.actor)
        self.private = DocumentStore(home, "private", self.actor)
        self._write_lock = _FileLock(home / "write.lock")
        self._session_lock = _FileLock(home / "session.lock")
        self._write_depth = 0
        self._listeners: list[ChangeListener] = []

    # -- open / create ------------------------------------------------------------------------

    @staticmethod
    def exists(home: Path) -> bool:
        return (home / "profile.json").exists()

    @classmethod
    def create(cls, home: Path, name: str) -> Profile:
        """Create a new profile in ``home`` (which must not hold one already)."""
        display = clean_text(name, "name", 100)
        if not display:
            from .errors import ValidationError

            raise ValidationError("your display name must not be empty", "name")
        if cls.exists(home):
            raise ProfileError(f"a profile already exists in {home}")
        try:
            home.mkdir(parents=True, exist_ok=True)
            os.chmod(home, 0o700)
        except OSError as err:
            raise ProfileError(f"cannot create the profile folder {home}: {err.strerror}") from None
        meta = ProfileMeta(name=display, device_id=secrets.token_hex(16), created=now_stamp())
        _make_identity(home)
        profile = cls(home, meta)
        with profile._write_lock_held():
            profile.shared.create()
            profile.private.create()
            atomic_write(home / "profile.json", json.dumps(meta_dict(meta), indent=2).encode())
        return profile

    @classmethod
    def open(cls, home: Path) -> Profile:
        path = home / "profile.json"
        try:
            raw = path.read_text()
        except FileNotFoundError:
            raise ProfileMissingError(
                f'no profile in {home}. Create one with: plntui init --name "Your Name"'
                + ("" if "PLNTUI_HOME" in os.environ else "  (or pass --home DIR)")
            ) from None
        except OSError as err:
            raise ProfileError(f"cannot read {path}: {err.strerror}") from None
        try:
            data = json.loads(raw)
            meta = ProfileMeta(
                name=str(data["name"]),
                device_id=str(data["device_id"]),
                created=str(data.get("created", "")),
                format=int(data.get("format", FORMAT_VERSION)),
                former_actors=tuple(str(a) for a in data.get("former_actors", ())),
            )
            for actor in (meta.device_id, *meta.former_actors):
                bytes.fromhex(actor)
        except (ValueError, KeyError, TypeError):
            raise StoreCorruptError(f"{path} is damaged (not the expected JSON)") from None
        if meta.format > FORMAT_VERSION:
            raise ProfileError(
                f"the profile in {home} was written by a newer plntui (format {meta.format}); "
                "upgrade plntui to open it"
            )
        return cls(home, meta)

    def rename(self, name: str) -> None:
        display = clean_text(name, "name", 100)
        self.meta = dataclasses.replace(self.meta, name=display)
        atomic_write(
            self.home / "profile.json", json.dumps(meta_dict(self.meta), indent=2).encode()
        )

    # -- locks --------------------------------------------------------------------------------

    def claim_session(self, what: str) -> None:
        """Become the one long-running process on this profile, or raise ProfileLockedError."""
        if self._session_lock.held:
            return
        if not self._session_lock.acquire(blocking=False):
            owner = self._session_lock.owner() or "another plntui process"
            raise ProfileLockedError(
                f"the profile {self.home} is already open in {owner}. Close it first, or use "
                "another profile with --home DIR"
            )
        self._session_lock.write_owner(f"{what} (pid {os.getpid()})")

    def session_owner(self) -> str | None:
        """Who holds ``session.lock`` now ("plntui sync (pid 123)"), ``None`` when nobody does.

        Probes the lock without taking it for longer than the probe; this process's own claim
        counts as held."""
        if self._session_lock.held:
            return self._session_lock.owner() or "this process"
        probe = _FileLock(self._session_lock.path)
        if probe.acquire(blocking=False):
            probe.release()
            return None
        return self._session_lock.owner() or "another plntui process"

    def release_session(self) -> None:
        self._session_lock.release()

    @contextlib.contextmanager
    def _write_lock_held(self) -> Iterator[None]:
        self._write_lock.acquire(blocking=True)
        try:
            yield
        finally:
            self._write_lock.release()

    @contextlib.contextmanager
    def writing(
        self,
        after_commit: Callable[[], None] | None = None,
        token_sink: list[Any] | None = None,
    ) -> Iterator[None]:
        """Hold the write lock, catch up with other processes, and commit on success.

        Nested uses commit once, at the outermost exit. If the body raises, nothing is committed
        and the in-memory documents are reloaded from disk, so a failed edit leaves no trace.
        ``token_sink`` receives the files' token before this edit; ``after_commit`` runs under
        the lock once the edit is durable (the search index uses both to stay fresh).
        """
        if self._write_depth:
            self._write_depth += 1
            try:
                yield
            finally:
                self._write_depth -= 1
            return
        with self._write_lock_held():
            self._write_depth = 1
            try:
                caught_up = self.refresh(locked=True)
                if token_sink is not None:
                    token_sink.append(self.token())
                try:
                    yield
                except BaseException:
                    for store in (self.shared, self.private):
                        if store.loaded and store.dirty():
                            store.load()
                    raise
                changed = False
                for store in (self.shared, self.private):
                    if store.commit():
                        changed = True
                    if store.loaded and store.should_compact():
                        store.compact()
                if after_commit is not None:
                    after_commit()
            finally:
                self._write_depth = 0
        if caught_up:
            self._notify("external")
        if changed:
            self._notify("local")

    def refresh(self, locked: bool = False) -> bool:
        """Catch up with what another process committed. True if anything was read."""
        reloaded = False
        for store in (self.shared, self.private):
            if store.changed_on_disk():
                store.catch_up()
                reloaded = True
        if reloaded and not locked:
            self._notify("external")
        return reloaded

    def compact(self) -> None:
        with self._write_lock_held():
            # Catch up first: the new snapshot is written from memory and replaces the log, so
            # a stale document would drop what other processes committed since it was loaded.
            caught_up = self.refresh(locked=True)
            for store in (self.shared, self.private):
                store.compact()
        if caught_up:
            self._notify("external")

    def repair(self) -> list[Path]:
        with self._write_lock_held():
            moved: list[Path] = []
            for store in (self.shared, self.private):
                moved += store.repair()
            if moved:  # changes peers hold may be gone: never write with that actor again
                former = dict.fromkeys((*self.meta.former_actors, self.actor.hex()))
                self.meta = dataclasses.replace(
                    self.meta, device_id=secrets.token_hex(16), former_actors=tuple(former)
                )
                atomic_write(
                    self.home / "profile.json",
                    json.dumps(meta_dict(self.meta), indent=2).encode(),
                )
        self._notify("external")
        return moved

    def token(self) -> tuple[Any, ...]:
        return (self.shared.token(), self.private.token())

    # -- change notification ------------------------------------------------------------------

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener(origin)`` after every change: ``"local"`` (this process committed),
        ``"external"`` (another process did; call :meth:`refresh` to notice), ``"remote"`` (a
        peer's changes were applied). Returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, origin: str) -> None:
        for listener in list(self._listeners):
            listener(origin)

    def notify_remote(self) -> None:
        self._notify("remote")


def _make_identity(home: Path) -> None:
    """Give a new profile its identity now, so its actor id derives from it from the start."""
    from sync.errors import SyncError

    from .peersync import load_identity

    try:
        load_identity(home)
    except (SyncError, OSError) as err:
        raise ProfileError(f"cannot create this device's identity in {home}: {err}") from None


def meta_dict(meta: ProfileMeta) -> dict[str, Any]:
    return {
        "format": meta.format,
        "name": meta.name,
        "device_id": meta.device_id,
        "created": meta.created,
        **({"former_actors": list(meta.former_actors)} if meta.former_actors else {}),
    }
