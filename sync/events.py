"""Provides what the sync engine reports: its events, peer statuses and summaries.

Every text in an event that may quote a peer goes through ``clean_event`` before anyone sees it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from .fingerprint import format_fingerprint, short_fingerprint
from .text import clean_peer_text

PeerStateName: TypeAlias = Literal["connecting", "connected", "in-sync", "offline", "failed"]


@dataclass(frozen=True, slots=True)
class PeerConnected:
    """A link to a trusted peer is up (TLS verified, HELLO exchanged)."""

    fingerprint: bytes
    name: str
    address: str
    outbound: bool


@dataclass(frozen=True, slots=True)
class PeerSynced:
    """Both sides hold the same heads; ``n_changes`` arrived since the previous ``PeerSynced``."""

    fingerprint: bytes
    n_changes: int


@dataclass(frozen=True, slots=True)
class PeerLost:
    """An established link ended; ``reason`` may quote the peer (show it as plain text)."""

    fingerprint: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class PeerRefused:
    """A connection was refused: unknown, revoked or wrong certificate, or a failed handshake."""

    reason: str
    fingerprint: bytes | None = None
    address: str = ""


@dataclass(frozen=True, slots=True)
class ChangesStored:
    """``n`` changes from a peer were checked and stored, in ``documents`` documents."""

    fingerprint: bytes
    n: int
    documents: int = 1


@dataclass(frozen=True, slots=True)
class CertificateLearned:
    """The certificate of a trusted peer was learned (first contact); mutual TLS follows."""

    fingerprint: bytes
    address: str


@dataclass(frozen=True, slots=True)
class StoreFailed:
    """Storing a peer's changes failed (a full disk): the link was dropped unacknowledged, and
    the peer sends them again when it comes back."""

    fingerprint: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class ChangesRefused:
    """The guard refused a peer's batch (nothing stored or relayed); the link ended.

    ``pause``: the peer runs a newer plntui; it is not dialled again until this one is updated
    (or restarted)."""

    fingerprint: bytes
    reason: str
    doc_id: str = ""
    pause: bool = False


@dataclass(frozen=True, slots=True)
class PairingSucceeded:
    """A colleague paired by code and is now trusted; both screens show ``safety_number``."""

    fingerprint: bytes
    name: str
    address: str
    safety_number: str
    role: Literal["inviter", "joiner"]


@dataclass(frozen=True, slots=True)
class PairingRefused:
    """A pairing attempt failed or was refused (no invite open, wrong code, broken exchange).

    ``spent``: the open invite's one attempt failed (its code no longer works). A request
    refused without touching the invite (none open, another nameplate, a stranger knocking while
    an attempt runs) has ``spent=False``: it must not end a dialog waiting for the real attempt.
    """

    reason: str
    address: str = ""
    spent: bool = False


@dataclass(frozen=True, slots=True)
class IntroductionOffered:
    """An introducer offered a peer; it waits for approval (``plntui peer approve``)."""

    introducer: bytes
    fingerprint: bytes
    name: str


@dataclass(frozen=True, slots=True)
class PeerIntroduced:
    """An auto-accept introducer brought a peer: it is trusted now."""

    introducer: bytes
    fingerprint: bytes
    name: str


EngineEvent: TypeAlias = (
    PeerConnected
    | PeerSynced
    | PeerLost
    | PeerRefused
    | ChangesStored
    | ChangesRefused
    | CertificateLearned
    | StoreFailed
    | PairingSucceeded
    | PairingRefused
    | IntroductionOffered
    | PeerIntroduced
)


# -- status and summaries -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One trusted peer as the engine sees it now (counters include what is not yet saved)."""

    fingerprint: bytes
    name: str
    state: PeerStateName
    address: str | None
    outbound: bool | None
    last_sync: _dt.datetime | None
    changes_in: int
    changes_out: int
    bytes_in: int
    bytes_out: int
    last_error: str | None
    route: str | None = None
    """How the link reaches the peer: "lan", "direct" or "relay" (``None``: no link)."""


@dataclass(frozen=True, slots=True)
class PeerResult:
    """How ``sync_once`` went with one peer."""

    fingerprint: bytes
    name: str
    outcome: Literal["in-sync", "failed", "timeout", "no-address"]
    address: str | None = None
    changes_in: int = 0
    changes_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "in-sync"


@dataclass(frozen=True, slots=True)
class PairingResult:
    """The colleague ``pair`` trusted: its proven fingerprint, its name and the safety number."""

    fingerprint: bytes
    name: str
    safety_number: str
    address: str


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """The per-peer results of ``sync_once``."""

    results: tuple[PeerResult, ...] = ()

    @property
    def ok(self) -> bool:
        """Every trusted peer was reached and is in sync (vacuously true with no peers)."""
        return all(r.ok for r in self.results)

    @property
    def synced(self) -> list[PeerResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[PeerResult]:
        return [r for r in self.results if not r.ok]


def clean_event(event: EngineEvent) -> EngineEvent:
    """The event with every text that may quote a peer cleaned (``clean_peer_text``)."""
    if isinstance(event, PeerLost | PeerRefused | StoreFailed | ChangesRefused | PairingRefused):
        event = dataclasses.replace(event, reason=clean_peer_text(event.reason, ellipsis=True))
    if isinstance(event, PeerConnected | PairingSucceeded | IntroductionOffered | PeerIntroduced):
        event = dataclasses.replace(event, name=clean_peer_text(event.name, 100))
    if isinstance(
        event, PeerConnected | PeerRefused | CertificateLearned | PairingSucceeded | PairingRefused
    ):
        event = dataclasses.replace(event, address=clean_peer_text(event.address, 100))
    return event


def describe(event: EngineEvent, name_of: Callable[[bytes], str]) -> str:
    """One log line for an event: peer names with short fingerprints (plain text)."""

    def who(fp: bytes | None) -> str:
        if fp is None:
            return "an unknown device"
        return f"{name_of(fp)} ({short_fingerprint(fp)})"

    if isinstance(event, PeerConnected):
        how = "dialled" if event.outbound else "accepted"
        return f"connected to {who(event.fingerprint)} at {event.address} ({how})"
    if isinstance(event, PeerSynced):
        return f"in sync with {who(event.fingerprint)}: {event.n_changes} new change(s)"
    if isinstance(event, PeerLost):
        return f"lost {who(event.fingerprint)}: {event.reason}"
    if isinstance(event, PeerRefused):
        return f"refused {who(event.fingerprint)}: {event.reason}"
    if isinstance(event, ChangesStored):
        docs = f" in {event.documents} document(s)" if event.documents > 1 else ""
        return f"stored {event.n} change(s){docs} from {who(event.fingerprint)}"
    if isinstance(event, CertificateLearned):
        return f"learned the certificate of {who(event.fingerprint)} at {event.address}"
    if isinstance(event, PairingSucceeded):
        return (
            f"paired with {who(event.fingerprint)} at {event.address}; safety number "
            f"{event.safety_number}"
        )
    if isinstance(event, PairingRefused):
        where = f" from {event.address}" if event.address else ""
        return f"pairing{where} failed: {event.reason}"
    if isinstance(event, IntroductionOffered):
        return (
            f"{who(event.introducer)} introduces {event.name or 'a device'} "
            f"({short_fingerprint(event.fingerprint)}); approve it with: plntui peer approve "
            f"{format_fingerprint(event.fingerprint)}"
        )
    if isinstance(event, ChangesRefused):
        what = " (update plntui to sync with them)" if event.pause else ""
        return f"refused changes from {who(event.fingerprint)}: {event.reason}{what}"
    if isinstance(event, PeerIntroduced):
        return f"trusted {who(event.fingerprint)}, introduced by {who(event.introducer)}"
    return f"cannot store changes from {who(event.fingerprint)}: {event.reason}"
