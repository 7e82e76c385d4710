"""Provides the profile folder: where it is, what it holds, and who owns it.

A profile is one folder (``--home DIR``, else ``$PLNTUI_HOME``, else the platform's user data dir)::

    profile.json        display name, device id, default circle, format version
    repo.sqlite3        the repository: every document (circles, contact shards, notes, and the
                        private side), see ``storage`` and ``layout``
    index.sqlite3       a derived search index; safe to delete, rebuilt on demand
    identity/           the device's key and certificate (see ``peersync``), made with the profile
    peers.json          the peers you trust
    settings.json       this device's own settings: the app's theme, the relay (``settings``)
    seen.json           when you last looked at what's new (local, never synced)
    session.lock        held for its lifetime by a long-running process (the app, ``plntui sync``)
    legacy/             the single network document of plntui 0.1, kept after its migration

Any number of processes may read and write: each write is one SQLite transaction, and the
repository of each process notices the others' writes (``refresh``). Only one long-running
process may own a profile at a time (``session.lock``).

Every change is signed, in Automerge terms, by an *actor*: this device's actor id is derived from
its identity and the profile's random ``device_id``,
``SHA-256("plntui-actor-v2" + certificate fingerprint + device_id)[:16]``, and each circle's
device registry maps it to the display name and the fingerprint peers pinned. The ``device_id``
part matters: Automerge refuses two histories of one actor, so a profile created again in a folder
that kept its ``identity/`` must not write as the old one did. ``plntui repair`` may drop changes
peers already hold, so it gives the profile a new ``device_id`` (a new actor); the ids written
with before stay in ``profile.json`` (``former_actors``) and count as this device's own.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ProfileError, ProfileLockedError, ProfileMissingError, StoreCorruptError
from .model import clean_text, now_stamp
from .store import atomic_write

FORMAT_VERSION = 2
"""1: the single network document (plntui 0.1); 2: the repository of documents."""
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
    default_circle: str = ""
    """The circle new contacts and notes go to when none is named."""
    hold_count: int = 20
    hold_percent: float = 10.0
    """A peer's batch that deletes more than ``hold_count`` items and more than
    ``hold_percent`` % of a circle's contacts or notes is held for you (``held``)."""

    @property
    def actor(self) -> bytes:
        return bytes.fromhex(self.device_id)


class _FileLock:
    """An advisory ``flock`` on a file in the profile; released when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, blocking: bool) -> bool:
        if self._fd is not None:
            return True  # held already: a second descriptor would leak
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:  # interrupted, or the file system refused: never leak the fd
            os.close(fd)
            raise
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
    """An opened profile: its metadata, its repository of documents and its session lock."""

    def __init__(self, home: Path, meta: ProfileMeta) -> None:
        from .peersync import public_fingerprint
        from .repo import Repository
        from .storage import FILE_NAME, Storage

        self.home = home
        self.meta = meta
        self.fingerprint = public_fingerprint(home)
        self.actor = (
            actor_from_fingerprint(self.fingerprint, meta.device_id)
            if self.fingerprint is not None
            else meta.actor
        )
        self.storage = Storage(home / FILE_NAME)
        self.repo = Repository(self.storage, self.actor)
        self._session_lock = _FileLock(home / "session.lock")

    # -- open / create ------------------------------------------------------------------------

    @staticmethod
    def exists(home: Path) -> bool:
        return (home / "profile.json").exists()

    @staticmethod
    def is_legacy(home: Path) -> bool:
        """A profile of plntui 0.1 (one network document) that was not migrated yet."""
        return (home / "profile.json").exists() and not (home / "repo.sqlite3").exists()

    @classmethod
    def create(cls, home: Path, name: str) -> Profile:
        """Create a new profile in ``home`` (which must not hold one already)."""
        from .storage import FILE_NAME, Storage

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
        Storage.create(home / FILE_NAME).close()
        profile = cls(home, meta)
        profile.save_meta()
        return profile

    @classmethod
    def open(cls, home: Path) -> Profile:
        meta = read_meta(home)
        if meta.format > FORMAT_VERSION:
            raise ProfileError(
                f"the profile in {home} was written by a newer plntui (format {meta.format}); "
                "upgrade plntui to open it"
            )
        if not (home / "repo.sqlite3").exists():
            raise StoreCorruptError(
                f"{home / 'repo.sqlite3'} is missing; the profile is incomplete"
            )
        return cls(home, meta)

    def save_meta(self) -> None:
        atomic_write(
            self.home / "profile.json", json.dumps(meta_dict(self.meta), indent=2).encode()
        )

    def rename(self, name: str) -> None:
        display = clean_text(name, "name", 100)
        self.meta = dataclasses.replace(self.meta, name=display)
        self.save_meta()

    def set_default_circle(self, circle: str) -> None:
        self.meta = dataclasses.replace(self.meta, default_circle=circle)
        self.save_meta()

    def close(self) -> None:
        self.repo.close()

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

    # -- the repository -----------------------------------------------------------------------

    def refresh(self) -> bool:
        """Catch up with what another process stored. True if anything changed."""
        return bool(self.repo.poll())

    def compact(self) -> int:
        return self.repo.compact()

    def repair(self) -> list[str]:
        """Set aside what cannot be read and keep the rest (see ``Repository.repair``); a file
        SQLite itself cannot read is rebuilt from the rows it still gives, and kept beside the
        new one. Anything set aside may be changes peers hold: this device then writes with a
        new actor id."""
        from .storage import FILE_NAME, Storage, salvage

        found: list[str] = []
        problem = self.storage.check_file()
        if problem is not None:
            self.repo.close()
            aside, kept, lost = salvage(self.home / FILE_NAME)
            found.append(
                f"{FILE_NAME} was damaged ({problem}): moved aside to {aside.name}; "
                f"{kept} document(s) rebuilt" + (f", {lost} unreadable row(s) lost" if lost else "")
            )
            from .repo import Repository

            self.storage = Storage(self.home / FILE_NAME)
            self.repo = Repository(self.storage, self.actor)
        found += self.repo.repair()
        if found:
            self.new_actor()
        return found

    def generation(self) -> int:
        """Bumped by every write of any process: cheap to poll."""
        return self.storage.generation()

    def new_actor(self) -> None:
        """Write with a new actor id from now on (after a repair dropped changes peers may
        hold); the old ids stay this device's own."""
        former = dict.fromkeys((*self.meta.former_actors, self.actor.hex()))
        self.meta = dataclasses.replace(
            self.meta, device_id=secrets.token_hex(16), former_actors=tuple(former)
        )
        self.save_meta()
        self.actor = (
            actor_from_fingerprint(self.fingerprint, self.meta.device_id)
            if self.fingerprint is not None
            else self.meta.actor
        )
        self.repo.actor = self.actor
        self.repo.drop(self.repo.loaded())

    # -- change notification ------------------------------------------------------------------

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener(origin)`` after every change: ``"local"`` (this process wrote),
        ``"external"`` (another process did; noticed by :meth:`refresh`), ``"remote"`` (a
        peer's changes were stored). Returns a function that unsubscribes."""
        return self.repo.subscribe(lambda origin, _docs: listener(origin))


def read_meta(home: Path) -> ProfileMeta:
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
            format=int(data.get("format", 1)),
            former_actors=tuple(str(a) for a in data.get("former_actors", ())),
            default_circle=str(data.get("default_circle", "")),
            hold_count=int(data.get("hold_count", 20)),
            hold_percent=float(data.get("hold_percent", 10.0)),
        )
        for actor in (meta.device_id, *meta.former_actors):
            bytes.fromhex(actor)
    except (ValueError, KeyError, TypeError):
        raise StoreCorruptError(f"{path} is damaged (not the expected JSON)") from None
    return meta


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
        **({"default_circle": meta.default_circle} if meta.default_circle else {}),
        **(
            {"hold_count": meta.hold_count, "hold_percent": meta.hold_percent}
            if (meta.hold_count, meta.hold_percent) != (20, 10.0)
            else {}
        ),
        **({"former_actors": list(meta.former_actors)} if meta.former_actors else {}),
    }
