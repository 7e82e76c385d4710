"""Provides the trust store: the peers a user approved or revoked, in one JSON file per profile.

A peer is known by its fingerprint (SHA-256 of its DER certificate). The user pins it
(``plntui peer trust FINGERPRINT``, later pairing by code); its certificate is learned on first
contact (see ``tls``) and stored only when it hashes to the pinned fingerprint. Revoking keeps the
entry (so the peer stays refused and its history stays visible); trusting it again is allowed.

The file (``peers.json``, mode 0600)::

    {
      "format": 1,
      "generation": 7,
      "peers": {
        "<64 hex digits>": {
          "name": "Bob",                      # sanitised: no control characters, <= 100 chars
          "state": "trusted",                 # or "revoked"
          "cert": "<DER, base64>",            # null until learned
          "addresses": ["10.0.0.7:22000"],    # manual host:port list (plntui peer add)
          "added": "2026-01-31T10:00:00+00:00",
          "last_sync": "2026-01-31T10:05:00+00:00",   # null before the first sync
          "counters": {"changes_in": 0, "changes_out": 0, "bytes_in": 0, "bytes_out": 0}
        }
      }
    }

Every write is atomic (temporary file, fsync, rename, fsync of the folder) and happens under an
exclusive lock on ``peers.json.lock`` after re-reading the file, so the daemon and the CLI (two
processes) never lose each other's updates. ``generation`` grows with every change of trust
(trust, revoke, a learned certificate, an address), never with sync counters: ``version`` exposes
it, and ``refresh()`` tells a long-running process that another one changed trust. A file that
does not parse or holds impossible values raises ``TrustStoreError`` and is never overwritten.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as _dt
import ipaddress
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, TypeVar

from .errors import SyncError, UntrustedPeer
from .fingerprint import FINGERPRINT_SIZE, fingerprint_of, format_fingerprint, short_fingerprint
from .identity import check_peer_certificate
from .text import clean_peer_text

try:  # POSIX
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: single-writer assumption
    _fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT",
    "MAX_ADDRESSES",
    "MAX_NAME",
    "Peer",
    "PeerState",
    "SyncRecord",
    "TrustStore",
    "TrustStoreError",
    "UnknownPeer",
    "parse_hostport",
    "sanitize_name",
]

FORMAT: Final = 1
MAX_NAME: Final = 100
MAX_ADDRESSES: Final = 16
MAX_CERT: Final = 16 * 1024
_COUNTERS: Final = ("changes_in", "changes_out", "bytes_in", "bytes_out")
_HOSTNAME: Final = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)

PeerState: TypeAlias = Literal["trusted", "revoked"]
_T = TypeVar("_T")


class TrustStoreError(SyncError):
    """The trust file cannot be read or written; it is left exactly as it is."""


class UnknownPeer(SyncError, LookupError):
    """No peer with this fingerprint is in the trust store."""

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"no peer {format_fingerprint(fingerprint)} is known; trust it first "
            "(plntui peer trust FINGERPRINT)"
        )


@dataclass(frozen=True, slots=True)
class Peer:
    """One peer as the trust store holds it."""

    fingerprint: bytes
    name: str
    state: PeerState
    cert: bytes | None = None
    addresses: tuple[str, ...] = ()
    added: _dt.datetime | None = None
    last_sync: _dt.datetime | None = None
    changes_in: int = 0
    changes_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def trusted(self) -> bool:
        return self.state == "trusted"

    @property
    def display_name(self) -> str:
        """The name, or the first group of the fingerprint when the peer has none."""
        return self.name or short_fingerprint(self.fingerprint)

    @property
    def fingerprint_text(self) -> str:
        return format_fingerprint(self.fingerprint)


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """What one or more syncs with a peer added: counters, and the time of the last success."""

    changes_in: int = 0
    changes_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    synced_at: _dt.datetime | None = None

    def __add__(self, other: SyncRecord) -> SyncRecord:
        return SyncRecord(
            self.changes_in + other.changes_in,
            self.changes_out + other.changes_out,
            self.bytes_in + other.bytes_in,
            self.bytes_out + other.bytes_out,
            max((t for t in (self.synced_at, other.synced_at) if t is not None), default=None),
        )

    @property
    def empty(self) -> bool:
        return self == SyncRecord()


# -- validation helpers -------------------------------------------------------------------------


def sanitize_name(name: str) -> str:
    """A peer name fit to show (``text.clean_peer_text``): no control or format characters,
    spaces collapsed, at most 100 characters."""
    if not isinstance(name, str):
        raise ValueError(f"a peer name is text, not {type(name).__name__}")
    return clean_peer_text(name, MAX_NAME)


def parse_hostport(text: str) -> tuple[str, int]:
    """``("host", port)`` from ``host:port`` or ``[v6]:port``; ``ValueError`` says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"an address is text, not {type(text).__name__}")
    raw = text.strip()
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or raw[end + 1 : end + 2] != ":":
            raise ValueError(f"not an address: {raw[:60]!r}; write an IPv6 address as [ADDR]:PORT")
        host, port_text = raw[1:end], raw[end + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"not an IPv6 address: {host[:60]!r}") from None
    else:
        host, sep, port_text = raw.rpartition(":")
        if not sep or not host:
            raise ValueError(
                f"not an address: {raw[:60]!r}; expected HOST:PORT, e.g. 192.168.1.20:22000"
            )
        if ":" in host:
            raise ValueError(f"not an address: {raw[:60]!r}; write an IPv6 address as [ADDR]:PORT")
        if not _is_ipv4(host) and not _HOSTNAME.match(host):
            raise ValueError(f"not a host name or IP address: {host[:60]!r}")
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"not a port number: {port_text[:20]!r} (expected 1-65535)")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range (expected 1-65535)")
    return host, port


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _check_fingerprint(fingerprint: bytes) -> bytes:
    if not isinstance(fingerprint, bytes) or len(fingerprint) != FINGERPRINT_SIZE:
        raise ValueError(
            f"a fingerprint is {FINGERPRINT_SIZE} bytes (use sync.parse_fingerprint on text)"
        )
    return fingerprint


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


# -- the store ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Data:
    generation: int = 0
    peers: dict[bytes, Peer] = field(default_factory=dict)


class TrustStore:
    """The peers a profile trusts, in ``path`` (JSON, mode 0600, atomic writes).

    Thread-safe; several processes may share one file (each change re-reads it under a lock).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._stat: tuple[int, int, int] | None = None
        self._data = self._read()

    # -- reading ------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Grows with every change of trust (never with sync counters)."""
        return self._data.generation

    def refresh(self) -> bool:
        """Re-read the file if another process changed it; ``True`` if trust changed.

        Raises ``TrustStoreError`` (and keeps the previous view) if the file became unreadable.
        """
        with self._lock:
            if self._file_stat() == self._stat:
                return False
            before = self._data.generation
            self._data = self._read()
            return self._data.generation != before

    def get(self, fingerprint: bytes) -> Peer | None:
        return self._data.peers.get(fingerprint)

    def peers(self) -> list[Peer]:
        """Every known peer (trusted and revoked), by name."""
        return sorted(
            self._data.peers.values(), key=lambda p: (p.display_name.casefold(), p.fingerprint)
        )

    def is_trusted(self, fingerprint: bytes) -> bool:
        peer = self._data.peers.get(fingerprint)
        return peer is not None and peer.trusted

    def trusted_fingerprints(self) -> frozenset[bytes]:
        return frozenset(fp for fp, peer in self._data.peers.items() if peer.trusted)

    def trusted_certs(self) -> list[bytes]:
        """The DER certificates of trusted peers whose certificate is known (server ``cadata``)."""
        return [p.cert for p in self._data.peers.values() if p.trusted and p.cert is not None]

    # -- changes ------------------------------------------------------------------------------

    def trust(self, fingerprint: bytes, name: str | None = None) -> Peer:
        """Trust a peer (again, if it was revoked); ``name`` replaces the name when given."""
        fingerprint = _check_fingerprint(fingerprint)
        clean = None if name is None else sanitize_name(name)

        def change(data: _Data) -> Peer:
            peer = data.peers.get(fingerprint)
            if peer is None:
                peer = Peer(fingerprint, clean or "", "trusted", added=_now())
            else:
                peer = replace(peer, state="trusted", name=peer.name if clean is None else clean)
            data.peers[fingerprint] = peer
            return peer

        return self._update(change, bump=True)

    def rename(self, fingerprint: bytes, name: str) -> Peer:
        """Give a known peer another name."""
        clean = sanitize_name(name)
        return self._update(lambda data: self._put(data, fingerprint, name=clean), bump=True)

    def revoke(self, fingerprint: bytes) -> Peer:
        """Stop trusting a peer: refused from now on; ``UnknownPeer`` if it was never known."""
        fingerprint = _check_fingerprint(fingerprint)
        return self._update(lambda data: self._put(data, fingerprint, state="revoked"), bump=True)

    def forget(self, fingerprint: bytes) -> None:
        """Remove a peer entirely (it is then unknown, hence refused, like a revoked one)."""

        def change(data: _Data) -> None:
            if data.peers.pop(fingerprint, None) is None:
                raise UnknownPeer(fingerprint)

        self._update(change, bump=True)

    def add_address(self, fingerprint: bytes, hostport: str) -> Peer:
        """Remember a manual ``host:port`` for a known peer (``ValueError`` for a bad address)."""
        host, port = parse_hostport(hostport)
        text = format_hostport(host, port)

        def change(data: _Data) -> Peer:
            peer = self._need(data, fingerprint)
            if text in peer.addresses:
                return peer
            if len(peer.addresses) >= MAX_ADDRESSES:
                raise ValueError(
                    f"{peer.display_name} already has {MAX_ADDRESSES} addresses; remove one first"
                )
            return self._put(data, fingerprint, addresses=(*peer.addresses, text))

        return self._update(change, bump=True)

    def remove_address(self, fingerprint: bytes, hostport: str) -> Peer:
        host, port = parse_hostport(hostport)
        text = format_hostport(host, port)

        def change(data: _Data) -> Peer:
            peer = self._need(data, fingerprint)
            return self._put(
                data, fingerprint, addresses=tuple(a for a in peer.addresses if a != text)
            )

        return self._update(change, bump=True)

    def learn_cert(self, fingerprint: bytes, cert_der: bytes) -> bool:
        """Store a trusted peer's certificate; ``True`` if it was not known yet.

        ``ValueError`` if the certificate does not hash to ``fingerprint`` or is unusable
        (``identity.check_peer_certificate``: malformed, not yet valid, expired);
        ``UntrustedPeer`` if the peer is not trusted (a certificate is learned only for an
        approved fingerprint).
        """
        if not isinstance(cert_der, bytes) or not 0 < len(cert_der) <= MAX_CERT:
            raise ValueError(f"a certificate is 1..{MAX_CERT} bytes of DER")
        if fingerprint_of(cert_der) != fingerprint:
            raise ValueError(
                f"this certificate does not belong to {format_fingerprint(fingerprint)} "
                "(its SHA-256 differs)"
            )
        check_peer_certificate(cert_der)
        current = self.get(fingerprint)
        if current is not None and current.trusted and current.cert == cert_der:
            return False

        def change(data: _Data) -> bool:
            peer = data.peers.get(fingerprint)
            if peer is None or not peer.trusted:
                raise UntrustedPeer(fingerprint)
            if peer.cert == cert_der:
                return False
            data.peers[fingerprint] = replace(peer, cert=cert_der)
            return True

        return self._update(change, bump=True)

    def record_sync(
        self,
        fingerprint: bytes,
        *,
        changes_in: int = 0,
        changes_out: int = 0,
        bytes_in: int = 0,
        bytes_out: int = 0,
        synced_at: _dt.datetime | None = None,
    ) -> None:
        """Add to a peer's counters, and set its last sync time when ``synced_at`` is given."""
        self.record_syncs(
            {fingerprint: SyncRecord(changes_in, changes_out, bytes_in, bytes_out, synced_at)}
        )

    def record_syncs(self, records: Mapping[bytes, SyncRecord]) -> None:
        """``record_sync`` for several peers in one write; unknown peers are skipped."""
        records = {fp: rec for fp, rec in records.items() if not rec.empty}
        if not records:
            return

        def change(data: _Data) -> None:
            for fp, rec in records.items():
                peer = data.peers.get(fp)
                if peer is None:
                    continue
                last = peer.last_sync
                if rec.synced_at is not None and (last is None or rec.synced_at > last):
                    last = rec.synced_at.astimezone(_dt.UTC).replace(microsecond=0)
                data.peers[fp] = replace(
                    peer,
                    last_sync=last,
                    changes_in=peer.changes_in + rec.changes_in,
                    changes_out=peer.changes_out + rec.changes_out,
                    bytes_in=peer.bytes_in + rec.bytes_in,
                    bytes_out=peer.bytes_out + rec.bytes_out,
                )

        self._update(change, bump=False)

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _need(data: _Data, fingerprint: bytes) -> Peer:
        peer = data.peers.get(fingerprint)
        if peer is None:
            raise UnknownPeer(fingerprint)
        return peer

    def _put(self, data: _Data, fingerprint: bytes, **changes: Any) -> Peer:
        peer = replace(self._need(data, fingerprint), **changes)
        data.peers[fingerprint] = peer
        return peer

    def _update(self, change: Callable[[_Data], _T], *, bump: bool) -> _T:
        with self._lock, self._file_lock():
            data = self._read()  # another process may have written since we last looked
            result = change(data)
            if bump:
                data.generation += 1
            self._write(data)
            self._data = data
            return result

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self._ensure_folder()
        if _fcntl is None:  # pragma: no cover
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise TrustStoreError(
                f"cannot lock {lock_path}: {exc.strerror or exc}; check the folder's permissions"
            ) from None
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _ensure_folder(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise TrustStoreError(
                f"cannot create {self.path.parent}: {exc.strerror or exc}"
            ) from None

    def _file_stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TrustStoreError(f"cannot inspect {self.path}: {exc.strerror or exc}") from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read(self) -> _Data:
        stat = self._file_stat()
        if stat is None:
            self._stat = None
            return _Data()
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise TrustStoreError(
                f"cannot read {self.path}: {exc.strerror or exc}; check the file's permissions"
            ) from None
        data = _parse(raw, self.path)
        self._stat = stat
        return data

    def _write(self, data: _Data) -> None:
        text = json.dumps(_dump(data), indent=2, sort_keys=True).encode("utf-8") + b"\n"
        folder = self.path.parent
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise TrustStoreError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        tmp = Path(tmp_name)
        try:
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(text)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise TrustStoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        _fsync_dir(folder)
        self._stat = self._file_stat()


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# -- the file format ------------------------------------------------------------------------------


def _iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dump(data: _Data) -> dict[str, Any]:
    peers: dict[str, Any] = {}
    for fp, peer in data.peers.items():
        peers[fp.hex()] = {
            "name": peer.name,
            "state": peer.state,
            "cert": None if peer.cert is None else base64.b64encode(peer.cert).decode("ascii"),
            "addresses": list(peer.addresses),
            "added": _iso(peer.added),
            "last_sync": _iso(peer.last_sync),
            "counters": {name: getattr(peer, name) for name in _COUNTERS},
        }
    return {"format": FORMAT, "generation": data.generation, "peers": peers}


class _Damaged(Exception):
    pass


def _parse(raw: bytes, path: Path) -> _Data:
    hint = (
        f"fix it by hand or move it away (plntui then starts with no trusted peers; "
        f"it never overwrites {path.name} itself)"
    )
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TrustStoreError(f"{path} is damaged: not JSON ({exc}); {hint}") from None
    try:
        return _parse_obj(obj)
    except _Damaged as exc:
        raise TrustStoreError(f"{path} is damaged: {exc}; {hint}") from None


def _parse_obj(obj: object) -> _Data:
    if not isinstance(obj, dict):
        raise _Damaged("the top level is not an object")
    fmt = obj.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
            raise _Damaged(f"it has format {fmt}, written by a newer plntui; upgrade plntui")
        raise _Damaged("it has no known format number")
    generation = obj.get("generation", 0)
    if not _is_count(generation):
        raise _Damaged("its generation is not a count")
    raw_peers = obj.get("peers", {})
    if not isinstance(raw_peers, dict):
        raise _Damaged("'peers' is not an object")
    peers: dict[bytes, Peer] = {}
    for key, entry in raw_peers.items():
        try:
            fp = bytes.fromhex(key)
        except ValueError:
            fp = b""
        if len(fp) != FINGERPRINT_SIZE:
            raise _Damaged(f"{str(key)[:70]!r} is not a fingerprint (64 hex digits)")
        peers[fp] = _parse_peer(fp, entry)
    return _Data(generation, peers)


def _parse_peer(fp: bytes, entry: object) -> Peer:
    who = format_fingerprint(fp)
    if not isinstance(entry, dict):
        raise _Damaged(f"the entry of {who} is not an object")
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise _Damaged(f"the name of {who} is not text")
    state = entry.get("state")
    if state not in ("trusted", "revoked"):
        raise _Damaged(f"the state of {who} is {state!r}, not 'trusted' or 'revoked'")
    cert_text = entry.get("cert")
    cert: bytes | None = None
    if cert_text is not None:
        if not isinstance(cert_text, str):
            raise _Damaged(f"the certificate of {who} is not base64 text")
        try:
            cert = base64.b64decode(cert_text, validate=True)
        except (binascii.Error, ValueError):
            raise _Damaged(f"the certificate of {who} is not base64") from None
        if fingerprint_of(cert) != fp:
            raise _Damaged(f"the certificate stored for {who} does not match its fingerprint")
    addresses = entry.get("addresses", [])
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise _Damaged(f"the addresses of {who} are not a list of text")
    checked: list[str] = []
    for address in addresses:
        try:
            checked.append(format_hostport(*parse_hostport(address)))
        except ValueError as exc:
            raise _Damaged(f"an address of {who} is wrong ({exc})") from None
    counters = entry.get("counters", {})
    if not isinstance(counters, dict):
        raise _Damaged(f"the counters of {who} are not an object")
    values: dict[str, int] = {}
    for name_ in _COUNTERS:
        value = counters.get(name_, 0)
        if not _is_count(value):
            raise _Damaged(f"the counter {name_} of {who} is not a count")
        values[name_] = value
    return Peer(
        fp,
        sanitize_name(name),
        state,
        cert,
        tuple(checked),
        _parse_time(entry.get("added"), who, "added"),
        _parse_time(entry.get("last_sync"), who, "last_sync"),
        **values,
    )


def _parse_time(value: object, who: str, what: str) -> _dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Damaged(f"{what} of {who} is not a time")
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Damaged(f"{what} of {who} is not an ISO time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return parsed


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
