"""Provides pairing by code: the sans-IO exchange of both sides, the code and the safety number.

Two people pair once: one opens an invite and reads out a short code (``plntui pair``), the
other types it (``plntui pair CODE``). The exchange runs on the anonymous TLS path (see ``tls``):
the joining side has no certificate the inviter trusts yet, so it dials without one, and only
this state machine answers it, and only while an invite is open.

The code
--------
``42-7KQM-D3XA``: a two-digit *nameplate* (not secret: it is announced over mDNS while the invite
is open, so the joiner finds the right device, as Magic Wormhole's nameplates do) and eight
Crockford base32 characters, 40 bits of secret from ``secrets``. Typing is forgiving: any case,
spaces or dashes, ``O`` for ``0`` and ``I``/``L`` for ``1``. An invite lives ``INVITE_TTL``
seconds (10 minutes) and allows ONE attempt: the first ``PAIR_START`` that names its nameplate
spends it, whatever happens next.

The exchange (SPAKE2, the ``spake2`` package; inviter = side A, joiner = side B)
---------------------------------------------------------------------------------
Both sides run SPAKE2 with the secret as the password and both certificate fingerprints as the
identities: ``idA`` = the inviter's fingerprint, ``idB`` = the joiner's. Each side takes them
from what it sees: the joiner reads ``idA`` from the server certificate of the TLS handshake,
the inviter computes ``idB`` from the certificate the joiner sends. A man in the middle
terminates TLS with its own certificate, so the joiner's ``idA`` is the attacker's fingerprint,
the two keys differ and key confirmation fails; the attacker's one guess at the code is spent.

1. joiner → inviter ``PAIR_START`` (JSON): protocol version, nameplate, SPAKE2 message B, the
   joiner's DER certificate, its display name and listening port (hints).
2. inviter → joiner ``PAIR_REPLY`` (JSON): SPAKE2 message A, the inviter's confirmation
   ``HMAC(K, "inviter" ‖ transcript)`` and its display name.
3. The joiner checks that confirmation (a wrong code or a man in the middle fails here) and
   answers ``PAIR_CONFIRM`` (JSON): ``HMAC(K, "joiner" ‖ transcript)``.
4. The inviter checks it, pins the joiner's certificate and answers ``PAIR_DONE`` (empty);
   the joiner then pins the inviter's certificate. Both reconnect with mutual TLS.

The transcript binds both fingerprints and both SPAKE2 messages, so a confirmation from one run
never passes in another (a replayed exchange meets a spent invite or fresh SPAKE2 randomness).
Nothing of the document crosses this path.

Both sides also derive a *relay secret*, ``HMAC(K, "relay secret" ‖ transcript)``, and keep
it in the trust store: the two devices' relay tokens are made from it (``relay``), so that only
they can compute where to meet at a relay.

The safety number (``safety_number``) is 30 digits from a SHA-256 of both full fingerprints in
sorted order: both screens show the same number, and anyone who wants to can compare them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from .errors import RemoteProtocolError, SyncError
from .fingerprint import FINGERPRINT_SIZE, fingerprint_of
from .framing import FrameKind
from .text import clean_peer_text

__all__ = [
    "INVITE_TTL",
    "MAX_PAIR_MESSAGE",
    "Invite",
    "InviteState",
    "InviterPairing",
    "JoinerPairing",
    "PairedPeer",
    "PairingCode",
    "PairingFailed",
    "new_invite",
    "parse_code",
    "safety_number",
]

PAIRING_VERSION: Final = 1
INVITE_TTL: Final = 600.0
"""Seconds an invite stays open."""
SECRET_CHARS: Final = 8
"""Crockford base32 characters of secret: 40 bits."""
MAX_CERT: Final = 16 * 1024
"""Largest certificate a joiner may send (as ``trust`` stores)."""
MAX_PAIR_MESSAGE: Final = 24 * 1024
"""Largest pairing frame payload (a certificate is about 350 bytes)."""
_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPO: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})
_LABEL: Final = b"plntui-pair-v1"
_NAME_CHARS: Final = 100


class PairingFailed(SyncError):
    """Pairing did not complete; ``message`` says why in plain words."""


_WRONG_CODE: Final = (
    "the code did not match: either it was mistyped, or another device is in the middle of the "
    "connection. The invite is used up; open a new one with `plntui pair` and try again"
)


# -- the code -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairingCode:
    """A parsed code: the public nameplate and the secret."""

    nameplate: str
    secret: str

    @property
    def text(self) -> str:
        """The code as shown: ``42-7KQM-D3XA``."""
        return f"{self.nameplate}-{self.secret[:4]}-{self.secret[4:]}"

    def __repr__(self) -> str:
        return f"PairingCode(nameplate={self.nameplate!r}, secret=<hidden>)"


def new_code() -> PairingCode:
    """A fresh code: a random nameplate 10–99 and 40 bits of secret."""
    nameplate = str(10 + secrets.randbelow(90))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_CHARS))
    return PairingCode(nameplate, secret)


def parse_code(text: str) -> PairingCode:
    """Read a typed code; ``PairingFailed`` with the expected form when it is not one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -_\t").translate(_TYPO)
    hint = "a pairing code looks like 42-7KQM-D3XA (two digits, then eight letters or digits)"
    if len(cleaned) != 2 + SECRET_CHARS:
        raise PairingFailed(f"{text.strip()[:40]!r} is not a pairing code: {hint}")
    nameplate, secret = cleaned[:2], cleaned[2:]
    if not nameplate.isdigit() or nameplate.startswith("0"):
        raise PairingFailed(f"{text.strip()[:40]!r} is not a pairing code: {hint}")
    bad = sorted({ch for ch in secret if ch not in _ALPHABET})
    if bad:
        raise PairingFailed(
            f"{text.strip()[:40]!r} is not a pairing code: it contains {''.join(bad)!r}; {hint}"
        )
    return PairingCode(nameplate, secret)


def safety_number(fingerprint_a: bytes, fingerprint_b: bytes) -> str:
    """30 digits in six groups, the same on both devices (the fingerprints in sorted order)."""
    low, high = sorted((fingerprint_a, fingerprint_b))
    digest = hashlib.sha256(b"plntui-safety-number-v1" + low + high).digest()
    number = int.from_bytes(digest, "big") % 10**30
    digits = f"{number:030d}"
    return " ".join(digits[i : i + 5] for i in range(0, 30, 5))


# -- invites ------------------------------------------------------------------------------------


class InviteState(Enum):
    OPEN = "open"
    """Waiting for the one attempt."""
    BUSY = "busy"
    """An attempt is running; the invite is spent whatever its outcome."""
    USED = "used"
    """A colleague paired with it."""
    FAILED = "failed"
    """The attempt failed (wrong code, a man in the middle, or a broken exchange)."""
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Invite:
    """An open invite: the code shown on the inviter's screen and its lifetime."""

    code: PairingCode
    expires_at: float
    """``time.time()`` after which the invite is closed."""
    state: InviteState = InviteState.OPEN
    paired: bytes | None = None
    """The joiner's fingerprint once ``USED``."""
    reason: str = ""
    """Why a ``FAILED`` invite failed."""

    @property
    def nameplate(self) -> str:
        return self.code.nameplate

    @property
    def text(self) -> str:
        return self.code.text

    def is_open(self, now: float | None = None) -> bool:
        """Open for its one attempt: not spent and not past its lifetime."""
        now = time.time() if now is None else now
        if self.state is InviteState.OPEN and now >= self.expires_at:
            self.state = InviteState.EXPIRED
        return self.state is InviteState.OPEN

    def seconds_left(self, now: float | None = None) -> float:
        return max(0.0, self.expires_at - (time.time() if now is None else now))


def new_invite(ttl: float = INVITE_TTL, code: PairingCode | None = None) -> Invite:
    if ttl <= 0:
        raise ValueError("an invite needs a positive lifetime")
    return Invite(code or new_code(), time.time() + ttl)


# -- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairedPeer:
    """Who paired: the fingerprint proven by the exchange, the certificate, and hints."""

    fingerprint: bytes
    cert: bytes
    name: str
    port: int | None
    safety_number: str
    relay_secret: bytes = b""
    """The secret both sides derived from the exchange's key: their relay tokens (``relay``)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _decode(payload: bytes, what: str) -> dict[str, Any]:
    if len(payload) > MAX_PAIR_MESSAGE:
        raise RemoteProtocolError(f"the {what} is {len(payload):,} bytes, over the limit")
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RemoteProtocolError(f"the {what} is not valid JSON") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"the {what} is not a JSON object")
    return obj


def _bytes_field(obj: dict[str, Any], key: str, what: str, size: int | None = None) -> bytes:
    raw = obj.get(key)
    if not isinstance(raw, str) or len(raw) > MAX_PAIR_MESSAGE:
        raise RemoteProtocolError(f"the {what} lacks {key!r}")
    try:
        data = base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise RemoteProtocolError(f"{key!r} of the {what} is not base64") from None
    if size is not None and len(data) != size:
        raise RemoteProtocolError(f"{key!r} of the {what} has {len(data)} bytes, not {size}")
    if not data:
        raise RemoteProtocolError(f"{key!r} of the {what} is empty")
    return data


def _name_field(obj: dict[str, Any]) -> str:
    raw = obj.get("name")
    if not isinstance(raw, str):
        return ""
    return clean_name(raw)


def clean_name(raw: str) -> str:
    """A peer's display name as data: printable characters only, capped."""
    return clean_peer_text(raw, _NAME_CHARS)


def _transcript(fp_a: bytes, fp_b: bytes, msg_a: bytes, msg_b: bytes) -> bytes:
    parts = (_LABEL, fp_a, fp_b, msg_a, msg_b)
    return b"".join(len(part).to_bytes(2, "big") + part for part in parts)


def _confirm(key: bytes, role: bytes, transcript: bytes) -> bytes:
    return hmac.new(key, role + transcript, hashlib.sha256).digest()


def _relay_secret(key: bytes, transcript: bytes) -> bytes:
    """The pair's relay secret: only the two devices that ran the exchange know ``key``."""
    return hmac.new(key, b"relay secret" + transcript, hashlib.sha256).digest()


def _spake(side: str, secret: str, fp_a: bytes, fp_b: bytes) -> Any:
    from spake2 import SPAKE2_A, SPAKE2_B

    password = _LABEL + b":" + secret.encode("ascii")
    cls = SPAKE2_A if side == "A" else SPAKE2_B
    return cls(password, idA=fp_a, idB=fp_b)


def _spake_finish(spake: Any, message: bytes) -> bytes:
    from spake2.ed25519_basic import NotOnCurve
    from spake2.spake2 import SPAKEError

    try:
        return bytes(spake.finish(message))
    except (SPAKEError, NotOnCurve, ValueError, AssertionError, TypeError):
        raise RemoteProtocolError("the peer's SPAKE2 message is malformed") from None


# -- the inviter ---------------------------------------------------------------------------------


class _Step(Enum):
    START = "start"
    AWAIT_REPLY = "await reply"
    AWAIT_CONFIRM = "await confirm"
    AWAIT_DONE = "await done"
    DONE = "done"
    FAILED = "failed"


PAIRING_TRANSITIONS: Final[dict[tuple[str, _Step, FrameKind], _Step]] = {
    # the inviter receives PAIR_START, answers PAIR_REPLY, receives PAIR_CONFIRM
    ("inviter", _Step.START, FrameKind.PAIR_START): _Step.AWAIT_CONFIRM,
    ("inviter", _Step.AWAIT_CONFIRM, FrameKind.PAIR_CONFIRM): _Step.DONE,
    # the joiner sends PAIR_START, receives PAIR_REPLY, answers PAIR_CONFIRM, receives PAIR_DONE
    ("joiner", _Step.START, FrameKind.PAIR_START): _Step.AWAIT_REPLY,
    ("joiner", _Step.AWAIT_REPLY, FrameKind.PAIR_REPLY): _Step.AWAIT_DONE,
    ("joiner", _Step.AWAIT_DONE, FrameKind.PAIR_DONE): _Step.DONE,
}
"""Every step of both sides of a pairing exchange; anything else is out of order."""


def _next_step(role: str, step: _Step, frame: FrameKind) -> _Step | None:
    return PAIRING_TRANSITIONS.get((role, step, frame))


class InviterPairing:
    """The inviter's side of one attempt on an open invite (bytes in, bytes out).

    ``receive_start`` spends the invite (whatever follows), ``receive_confirm`` returns the
    paired peer; any error is final and marks the invite ``FAILED``.
    """

    def __init__(
        self,
        invite: Invite,
        fingerprint: bytes,
        name: str,
        check_cert: Callable[[bytes], object] | None = None,
    ) -> None:
        """``check_cert`` refuses an unusable certificate (``ValueError``) before it is pinned."""
        self.invite = invite
        self.check_cert = check_cert
        self.fingerprint = fingerprint
        self.name = clean_name(name)
        self._step = _Step.START
        self._key = b""
        self._transcript = b""
        self._peer: tuple[bytes, bytes, str, int | None] | None = None

    def receive_start(self, payload: bytes, now: float | None = None) -> bytes:
        """The joiner's ``PAIR_START``; returns our ``PAIR_REPLY`` payload."""
        following = _next_step("inviter", self._step, FrameKind.PAIR_START)
        if following is None:
            raise self._fail(RemoteProtocolError("a second PAIR_START in one exchange"))
        obj = _decode(payload, "pairing request")
        if obj.get("v") != PAIRING_VERSION:
            raise PairingFailed(
                "the other device speaks another pairing version; update plntui on both"
            )
        if obj.get("nameplate") != self.invite.nameplate:
            raise PairingFailed("the code names another invite (its first two digits differ)")
        if not self.invite.is_open(now):
            raise PairingFailed(f"no invite is open (it is {self.invite.state.value})")
        self.invite.state = InviteState.BUSY  # the one attempt starts: the invite is spent
        try:
            msg_b = _bytes_field(obj, "spake", "pairing request", 33)
            cert = _bytes_field(obj, "cert", "pairing request")
            if len(cert) > MAX_CERT:
                raise RemoteProtocolError(f"the certificate is over {MAX_CERT:,} bytes")
            port = obj.get("port")
            if not (port is None or (type(port) is int and 0 < port < 65536)):
                raise RemoteProtocolError("the pairing request has an impossible port")
            fp_b = fingerprint_of(cert)
            if fp_b == self.fingerprint:
                raise PairingFailed("a device cannot pair with itself")
            if self.check_cert is not None:
                try:
                    self.check_cert(cert)
                except ValueError as exc:
                    message = f"the other device's certificate is unusable: {exc}"
                    raise PairingFailed(message) from None
            spake = _spake("A", self.invite.code.secret, self.fingerprint, fp_b)
            msg_a = bytes(spake.start())
            self._key = _spake_finish(spake, msg_b)
        except SyncError as exc:
            raise self._fail(exc) from None
        self._transcript = _transcript(self.fingerprint, fp_b, msg_a, msg_b)
        self._peer = (fp_b, cert, _name_field(obj), port)
        self._step = following
        return _encode(
            {
                "v": PAIRING_VERSION,
                "spake": _b64(msg_a),
                "confirm": _b64(_confirm(self._key, b"inviter", self._transcript)),
                "name": self.name,
            }
        )

    def receive_confirm(self, payload: bytes) -> PairedPeer:
        """The joiner's ``PAIR_CONFIRM``: the peer to pin, or ``PairingFailed``."""
        following = _next_step("inviter", self._step, FrameKind.PAIR_CONFIRM)
        if following is None or self._peer is None:
            raise self._fail(RemoteProtocolError("PAIR_CONFIRM out of order"))
        try:
            obj = _decode(payload, "pairing confirmation")
            theirs = _bytes_field(obj, "confirm", "pairing confirmation", 32)
        except SyncError as exc:
            raise self._fail(exc) from None
        expected = _confirm(self._key, b"joiner", self._transcript)
        if not hmac.compare_digest(theirs, expected):
            raise self._fail(PairingFailed(_WRONG_CODE))
        if self.invite.state is not InviteState.BUSY:  # cancelled or replaced meanwhile
            raise self._fail(PairingFailed(f"the invite was {self.invite.state.value} meanwhile"))
        fp_b, cert, name, port = self._peer
        self._step = following
        self.invite.state = InviteState.USED
        self.invite.paired = fp_b
        return PairedPeer(
            fp_b,
            cert,
            name,
            port,
            safety_number(self.fingerprint, fp_b),
            _relay_secret(self._key, self._transcript),
        )

    def abandon(self, reason: str) -> None:
        """The link ended before the exchange completed: the invite stays spent.

        A request refused before the attempt started (another nameplate, another version, a
        closed invite, bytes that are not a request) leaves the invite as it was.
        """
        if self._step is _Step.START:
            self._step = _Step.FAILED
        elif self._step is not _Step.DONE:
            self._fail(PairingFailed(reason))

    def _fail(self, exc: SyncError) -> SyncError:
        self._step = _Step.FAILED
        if self.invite.state in (InviteState.OPEN, InviteState.BUSY):
            self.invite.state = InviteState.FAILED
            self.invite.reason = exc.message
        self._key = b""
        return exc


# -- the joiner ----------------------------------------------------------------------------------


class JoinerPairing:
    """The joiner's side: ``start`` → ``receive_reply`` → ``receive_done`` (bytes in, bytes out).

    ``server_fingerprint`` is the fingerprint of the certificate the TLS handshake showed.
    """

    def __init__(
        self,
        code: PairingCode,
        cert_der: bytes,
        server_fingerprint: bytes,
        name: str,
        port: int | None = None,
    ) -> None:
        if len(server_fingerprint) != FINGERPRINT_SIZE:
            raise ValueError("the server fingerprint must be a SHA-256")
        self.code = code
        self.cert = cert_der
        self.fingerprint = fingerprint_of(cert_der)
        self.server_fingerprint = server_fingerprint
        self.name = clean_name(name)
        self.port = port
        self._spake = _spake("B", code.secret, server_fingerprint, self.fingerprint)
        self._msg_b = b""
        self._step = _Step.START
        self._peer_name = ""
        self.relay_secret = b""
        """Set once the inviter's confirmation checked: the pair's relay secret."""

    def start(self) -> bytes:
        """Our ``PAIR_START`` payload."""
        following = _next_step("joiner", self._step, FrameKind.PAIR_START)
        if following is None:
            raise PairingFailed("this pairing attempt has already started")
        self._msg_b = bytes(self._spake.start())
        self._step = following
        return _encode(
            {
                "v": PAIRING_VERSION,
                "nameplate": self.code.nameplate,
                "spake": _b64(self._msg_b),
                "cert": _b64(self.cert),
                "name": self.name,
                "port": self.port,
            }
        )

    def receive_reply(self, payload: bytes) -> bytes:
        """The inviter's ``PAIR_REPLY``; returns our ``PAIR_CONFIRM`` payload."""
        following = _next_step("joiner", self._step, FrameKind.PAIR_REPLY)
        if following is None:
            raise self._fail(RemoteProtocolError("PAIR_REPLY out of order"))
        try:
            obj = _decode(payload, "pairing reply")
            msg_a = _bytes_field(obj, "spake", "pairing reply", 33)
            theirs = _bytes_field(obj, "confirm", "pairing reply", 32)
            key = _spake_finish(self._spake, msg_a)
        except SyncError as exc:
            raise self._fail(exc) from None
        transcript = _transcript(self.server_fingerprint, self.fingerprint, msg_a, self._msg_b)
        if not hmac.compare_digest(theirs, _confirm(key, b"inviter", transcript)):
            raise self._fail(PairingFailed(_WRONG_CODE))
        self._peer_name = _name_field(obj)
        self._step = following
        self.relay_secret = _relay_secret(key, transcript)
        mine = _confirm(key, b"joiner", transcript)
        return _encode({"v": PAIRING_VERSION, "confirm": _b64(mine)})

    def receive_done(self, payload: bytes) -> tuple[str, str]:
        """The inviter's ``PAIR_DONE``: returns (its display name, the safety number)."""
        following = _next_step("joiner", self._step, FrameKind.PAIR_DONE)
        if following is None:
            raise self._fail(RemoteProtocolError("PAIR_DONE out of order"))
        if payload:
            raise self._fail(RemoteProtocolError("PAIR_DONE carries no payload"))
        self._step = following
        return self._peer_name, safety_number(self.server_fingerprint, self.fingerprint)

    def _fail(self, exc: SyncError) -> SyncError:
        self._step = _Step.FAILED
        return exc


# -- frame types on the anonymous path (all in ``framing.FrameKind``) ---------------------------

PAIR_START: Final = FrameKind.PAIR_START
PAIR_REPLY: Final = FrameKind.PAIR_REPLY
PAIR_CONFIRM: Final = FrameKind.PAIR_CONFIRM
PAIR_DONE: Final = FrameKind.PAIR_DONE
