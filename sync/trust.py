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
          "counters": {"changes_in": 0, "changes_out": 0, "bytes_in": 0, "bytes_out": 0},
          "introducer": false,                # offers its own peers to this device (optional)
          "auto_accept": false,               # ... and they are trusted without asking (optional)
          "introduced_by": null               # fingerprint of the introducer that brought it
        }
      },
      "pending": [                            # peers introducers offered, awaiting approval
        {"fingerprint": "<hex>", "introducer": "<hex>", "name": "Carol", "cert": null,
         "addresses": [], "offered": "2026-01-31T10:00:00+00:00"}
      ]
    }

Introducers (Syncthing's idea): the user may mark a trusted peer an introducer. Over the link
this device then asks it for its trusted peers (``session``), and each one it does not know yet
becomes a pending introduction (at most ``MAX_PENDING``) until the user approves or rejects it,
or is trusted at once if the user chose auto-accept for that introducer. A revoked (or rejected)
peer is never offered again, ourselves never, and an introduction of a peer already trusted only
fills in a certificate that was missing (checked against its fingerprint, like every one). The
fields are optional: a ``peers.json`` written before introducers existed loads unchanged.

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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, TypeVar

from .errors import SyncError, UntrustedPeer
from .fingerprint import FINGERPRINT_SIZE, fingerprint_of, format_fingerprint, short_fingerprint
from .text import clean_peer_text

try:  # POSIX
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: single-writer assumption
    _fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT",
    "MAX_ADDRESSES",
    "MAX_NAME",
    "MAX_PENDING",
    "Introduction",
    "Peer",
    "PendingIntroduction",
    "PeerState",
    "SyncRecord",
    "TrustStore",
    "TrustStoreError",
    "UnknownIntroduction",
    "UnknownPeer",
    "parse_hostport",
    "sanitize_name",
]

FORMAT: Final = 1
MAX_NAME: Final = 100
MAX_ADDRESSES: Final = 16
MAX_CERT: Final = 16 * 1024
MAX_AUTO_ACCEPTED: Final = 256
"""Peers one auto-accept introducer may bring; past that its offers wait for approval."""
MAX_PENDING: Final = 256
"""At most this many introductions wait for approval; later offers are dropped until some go."""
_COUNTERS: Final = ("changes_in", "changes_out", "bytes_in", "bytes_out")
_HOSTNAME: Final = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)

PeerState: TypeAlias = Literal["trusted", "revoked"]
IntroOutcome: TypeAlias = Literal["trusted", "offered", "certificate"]
_T = TypeVar("_T")


class TrustStoreError(SyncError):
    """The trust file cannot be read or written; it is left exactly as it is."""


class UnknownIntroduction(SyncError, LookupError):
    """No introduction of this fingerprint waits for approval."""

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"no introduction of {format_fingerprint(fingerprint)} waits for approval "
            "(see plntui peer pending)"
        )


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
    introducer: bool = False
    auto_accept: bool = False
    introduced_by: bytes | None = None
    last_error: str = ""
    """Why the last sync with it ended badly (a refused batch), for ``plntui peer list``."""
    relay_secret: bytes | None = None
    """The secret shared since pairing by code (``pairing``): where the two meet at a relay."""

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
class Introduction:
    """One peer an introducer offers: its fingerprint, name, certificate and address hints.

    Built by ``introduce.parse_introductions`` (which checked every field) or by the introducer.
    """

    fingerprint: bytes
    name: str = ""
    cert: bytes | None = None
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PendingIntroduction:
    """A peer an introducer offered, waiting for the user's approval."""

    fingerprint: bytes
    introducer: bytes
    name: str = ""
    cert: bytes | None = None
    addresses: tuple[str, ...] = ()
    offered: _dt.datetime | None = None

    @property
    def display_name(self) -> str:
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


def _check_introduction(entry: Introduction) -> Introduction:
    fp = _check_fingerprint(entry.fingerprint)
    if entry.cert is not None:
        if not isinstance(entry.cert, bytes) or not 0 < len(entry.cert) <= MAX_CERT:
            raise ValueError(f"a certificate is 1..{MAX_CERT} bytes of DER")
        if fingerprint_of(entry.cert) != fp:
            raise ValueError(
                f"the certificate offered for {format_fingerprint(fp)} does not belong to it"
            )
    addresses = tuple(format_hostport(*parse_hostport(a)) for a in entry.addresses)
    return replace(entry, name=sanitize_name(entry.name), addresses=addresses[:MAX_ADDRESSES])


def _introduction_counts(
    data: _Data, introducer: bytes, entries: list[Introduction], own: bytes
) -> bool:
    """Whether any entry would change the store (checked before taking the file lock)."""
    source = data.peers.get(introducer)
    if source is None or not source.trusted or not source.introducer:
        return False
    for entry in entries:
        if entry.fingerprint in (own, introducer):
            continue
        peer = data.peers.get(entry.fingerprint)
        if peer is None:
            if entry.fingerprint not in data.pending or source.auto_accept:
                return True
        elif peer.trusted and peer.cert is None and entry.cert is not None:
            return True
    return False


def _introduce(data: _Data, source: Peer, entry: Introduction, own: bytes) -> IntroOutcome | None:
    fp = entry.fingerprint
    if fp in (own, source.fingerprint):
        return None
    peer = data.peers.get(fp)
    if peer is not None:
        if peer.trusted and peer.cert is None and entry.cert is not None:
            data.peers[fp] = replace(peer, cert=entry.cert)
            return "certificate"
        return None  # revoked (or rejected) stays so; a trusted peer keeps what it has
    offer = data.pending.get(fp)
    if source.auto_accept and _introduced_by(data, source.fingerprint) < MAX_AUTO_ACCEPTED:
        if offer is None or offer.introducer != source.fingerprint:
            offer = PendingIntroduction(
                fp, source.fingerprint, entry.name, entry.cert, entry.addresses, _now()
            )
        data.pending.pop(fp, None)
        _trust_offer(data, offer)
        return "trusted"
    if offer is not None or len(data.pending) >= MAX_PENDING:
        return None
    data.pending[fp] = PendingIntroduction(
        fp, source.fingerprint, entry.name, entry.cert, entry.addresses, _now()
    )
    return "offered"


def _introduced_by(data: _Data, introducer: bytes) -> int:
    return sum(1 for peer in data.peers.values() if peer.introduced_by == introducer)


def _trust_offer(data: _Data, offer: PendingIntroduction) -> Peer:
    peer = data.peers.get(offer.fingerprint)
    if peer is None:
        peer = Peer(
            offer.fingerprint,
            offer.name,
            "trusted",
            cert=offer.cert,
            addresses=offer.addresses[:MAX_ADDRESSES],
            added=_now(),
            introduced_by=offer.introducer,
        )
    else:  # known meanwhile (e.g. revoked by hand): approving trusts it again
        peer = replace(
            peer,
            state="trusted",
            cert=peer.cert or offer.cert,
            introduced_by=peer.introduced_by or offer.introducer,
        )
    data.peers[offer.fingerprint] = peer
    return peer


def _drop_offers_of(data: _Data, introducer: bytes) -> None:
    for fp in [fp for fp, offer in data.pending.items() if offer.introducer == introducer]:
        del data.pending[fp]


# -- the store ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Data:
    generation: int = 0
    peers: dict[bytes, Peer] = field(default_factory=dict)
    pending: dict[bytes, PendingIntroduction] = field(default_factory=dict)


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
            data.pending.pop(fingerprint, None)  # trusted by hand: no longer an open offer
            return peer

        return self._update(change, bump=True)

    def rename(self, fingerprint: bytes, name: str) -> Peer:
        """Give a known peer another name."""
        clean = sanitize_name(name)
        return self._update(lambda data: self._put(data, fingerprint, name=clean), bump=True)

    def revoke(self, fingerprint: bytes) -> Peer:
        """Stop trusting a peer: refused from now on; ``UnknownPeer`` if it was never known.

        Revoking an introducer also ends its role (trusting it again does not restore it) and
        drops the introductions it offered that still wait for approval.
        """
        fingerprint = _check_fingerprint(fingerprint)

        def change(data: _Data) -> Peer:
            _drop_offers_of(data, fingerprint)
            data.pending.pop(fingerprint, None)
            return self._put(
                data, fingerprint, state="revoked", introducer=False, auto_accept=False
            )

        return self._update(change, bump=True)

    # -- introducers --------------------------------------------------------------------------

    def set_introducer(
        self, fingerprint: bytes, *, introducer: bool, auto_accept: bool = False
    ) -> Peer:
        """Make a trusted peer an introducer (``auto_accept``: trust what it offers unasked).

        ``introducer=False`` ends the role and drops its offers still waiting for approval.
        ``UnknownPeer`` if the peer is not known, ``ValueError`` if it is revoked.
        """
        fingerprint = _check_fingerprint(fingerprint)

        def change(data: _Data) -> Peer:
            peer = self._need(data, fingerprint)
            if introducer and not peer.trusted:
                raise ValueError(
                    f"{peer.display_name} is revoked; trust it again before making it an introducer"
                )
            if not introducer:
                _drop_offers_of(data, fingerprint)
            return self._put(
                data, fingerprint, introducer=introducer, auto_accept=introducer and auto_accept
            )

        return self._update(change, bump=True)

    def pending(self) -> list[PendingIntroduction]:
        """The introductions waiting for approval, oldest first."""
        return list(self._data.pending.values())

    def receive_introductions(
        self, introducer: bytes, entries: Iterable[Introduction], *, own: bytes
    ) -> list[tuple[Introduction, IntroOutcome]]:
        """Take the peers ``introducer`` offers; returns what became of each one that counted.

        Nothing happens unless ``introducer`` is a trusted introducer. For each entry: ourselves
        (``own``), a revoked peer, and an offer already pending are skipped; a trusted peer only
        gets a missing certificate (``"certificate"``); an unknown peer is trusted at once when
        the introducer has auto-accept (``"trusted"``), else it waits for approval
        (``"offered"``, while fewer than ``MAX_PENDING`` wait). Certificates must hash to
        their fingerprint (``ValueError`` otherwise; nothing is stored then).
        """
        entries = [_check_introduction(entry) for entry in entries]
        with contextlib.suppress(TrustStoreError):
            self.refresh()  # the user may just have marked the introducer in another process
        current = self._data
        if not _introduction_counts(current, introducer, entries, own):
            return []  # the usual case on every reconnection: no write at all

        def change(data: _Data) -> list[tuple[Introduction, IntroOutcome]]:
            source = data.peers.get(introducer)
            if source is None or not source.trusted or not source.introducer:
                return []
            outcomes: list[tuple[Introduction, IntroOutcome]] = []
            for entry in entries:
                outcome = _introduce(data, source, entry, own)
                if outcome is not None:
                    outcomes.append((entry, outcome))
            return outcomes

        return self._update(change, bump=True)

    def approve(self, fingerprint: bytes) -> Peer:
        """Trust a peer an introducer offered (its name, certificate and addresses with it)."""
        fingerprint = _check_fingerprint(fingerprint)

        def change(data: _Data) -> Peer:
            offer = data.pending.pop(fingerprint, None)
            if offer is None:
                raise UnknownIntroduction(fingerprint)
            return _trust_offer(data, offer)

        return self._update(change, bump=True)

    def reject(self, fingerprint: bytes) -> Peer:
        """Refuse a peer an introducer offered: it is kept as revoked, so never offered again."""
        fingerprint = _check_fingerprint(fingerprint)

        def change(data: _Data) -> Peer:
            offer = data.pending.pop(fingerprint, None)
            if offer is None:
                raise UnknownIntroduction(fingerprint)
            peer = Peer(
                fingerprint,
                offer.name,
                "revoked",
                added=_now(),
                introduced_by=offer.introducer,
            )
            data.peers[fingerprint] = peer
            return peer

        return self._update(change, bump=True)

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

    def set_relay_secret(self, fingerprint: bytes, secret: bytes) -> None:
        """Keep the relay secret pairing by code derived with a trusted peer (32 bytes)."""
        if not isinstance(secret, bytes) or len(secret) != 32:
            raise ValueError("a relay secret is 32 bytes")

        def change(data: _Data) -> None:
            peer = self._need(data, fingerprint)
            if peer.relay_secret != secret:
                data.peers[fingerprint] = replace(peer, relay_secret=secret)

        self._update(change, bump=False)

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
        from .identity import check_peer_certificate  # loads cryptography: only when needed

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

    def record_error(self, fingerprint: bytes, text: str) -> None:
        """Remember why the last sync with a peer ended badly ("" clears it)."""
        clean = clean_peer_text(text, 300, ellipsis=True)

        def change(data: _Data) -> None:
            if fingerprint in data.peers:
                self._put(data, fingerprint, last_error=clean)

        self._update(change, bump=False)

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
                    last_error="" if rec.synced_at is not None else peer.last_error,
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
            "cert": _b64(peer.cert),
            "addresses": list(peer.addresses),
            "added": _iso(peer.added),
            "last_sync": _iso(peer.last_sync),
            "counters": {name: getattr(peer, name) for name in _COUNTERS},
            "introducer": peer.introducer,
            "auto_accept": peer.auto_accept,
            "introduced_by": None if peer.introduced_by is None else peer.introduced_by.hex(),
            **({"last_error": peer.last_error} if peer.last_error else {}),
            **({"relay_secret": peer.relay_secret.hex()} if peer.relay_secret else {}),
        }
    pending = [
        {
            "fingerprint": offer.fingerprint.hex(),
            "introducer": offer.introducer.hex(),
            "name": offer.name,
            "cert": _b64(offer.cert),
            "addresses": list(offer.addresses),
            "offered": _iso(offer.offered),
        }
        for offer in data.pending.values()
    ]
    return {"format": FORMAT, "generation": data.generation, "peers": peers, "pending": pending}


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


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
    raw_pending = obj.get("pending", [])
    if not isinstance(raw_pending, list):
        raise _Damaged("'pending' is not a list")
    pending: dict[bytes, PendingIntroduction] = {}
    for entry in raw_pending[:MAX_PENDING]:
        offer = _parse_pending(entry)
        if offer.fingerprint not in peers:
            pending.setdefault(offer.fingerprint, offer)
    return _Data(generation, peers, pending)


def _parse_fp(value: object, what: str) -> bytes:
    fp = b""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            fp = bytes.fromhex(value)
    if len(fp) != FINGERPRINT_SIZE:
        raise _Damaged(f"{what} is not a fingerprint (64 hex digits)")
    return fp


def _parse_cert(value: object, fp: bytes, who: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Damaged(f"the certificate of {who} is not base64 text")
    try:
        cert = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Damaged(f"the certificate of {who} is not base64") from None
    if fingerprint_of(cert) != fp:
        raise _Damaged(f"the certificate stored for {who} does not match its fingerprint")
    return cert


def _parse_addresses(value: object, who: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise _Damaged(f"the addresses of {who} are not a list of text")
    checked: list[str] = []
    for address in value:
        try:
            checked.append(format_hostport(*parse_hostport(address)))
        except ValueError as exc:
            raise _Damaged(f"an address of {who} is wrong ({exc})") from None
    return tuple(checked)


def _parse_pending(entry: object) -> PendingIntroduction:
    if not isinstance(entry, dict):
        raise _Damaged("an entry of 'pending' is not an object")
    fp = _parse_fp(entry.get("fingerprint"), "a pending introduction's fingerprint")
    who = f"the introduction of {format_fingerprint(fp)}"
    introducer = _parse_fp(entry.get("introducer"), f"the introducer in {who}")
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise _Damaged(f"the name in {who} is not text")
    return PendingIntroduction(
        fp,
        introducer,
        sanitize_name(name),
        _parse_cert(entry.get("cert"), fp, who),
        _parse_addresses(entry.get("addresses", []), who)[:MAX_ADDRESSES],
        _parse_time(entry.get("offered"), who, "offered"),
    )


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
    cert = _parse_cert(entry.get("cert"), fp, who)
    checked = _parse_addresses(entry.get("addresses", []), who)
    counters = entry.get("counters", {})
    if not isinstance(counters, dict):
        raise _Damaged(f"the counters of {who} are not an object")
    values: dict[str, int] = {}
    for name_ in _COUNTERS:
        value = counters.get(name_, 0)
        if not _is_count(value):
            raise _Damaged(f"the counter {name_} of {who} is not a count")
        values[name_] = value
    introducer = entry.get("introducer", False)
    auto_accept = entry.get("auto_accept", False)
    if not isinstance(introducer, bool) or not isinstance(auto_accept, bool):
        raise _Damaged(f"the introducer settings of {who} are not true or false")
    by = entry.get("introduced_by")
    last_error = entry.get("last_error", "")
    if not isinstance(last_error, str):
        raise _Damaged(f"the last error of {who} is not text")
    relay_secret = entry.get("relay_secret")
    if relay_secret is not None and not (
        isinstance(relay_secret, str) and re.fullmatch(r"[0-9a-f]{64}", relay_secret)
    ):
        raise _Damaged(f"the relay secret of {who} is not 64 hex digits")
    return Peer(
        fp,
        sanitize_name(name),
        state,
        cert,
        checked,
        _parse_time(entry.get("added"), who, "added"),
        _parse_time(entry.get("last_sync"), who, "last_sync"),
        **values,
        introducer=introducer,
        auto_accept=introducer and auto_accept,
        introduced_by=None if by is None else _parse_fp(by, f"introduced_by of {who}"),
        last_error=clean_peer_text(last_error, 300, ellipsis=True),
        relay_secret=None if relay_secret is None else bytes.fromhex(relay_secret),
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
