"""Provides the relay client: meeting a peer through a Magic Wormhole transit relay.

A team that works beyond one LAN runs a transit relay (``magic-wormhole-transit-relay``, the
relay Magic Wormhole uses: ``twistd transitrelay --port=tcp:4001``). Two devices that cannot
reach each other both connect to it and send one line each::

    please relay TOKEN for side SIDE\\n

``TOKEN`` is 64 hex digits, ``SIDE`` 16 (random per connection). When two connections with the
same token and different sides meet, the relay answers ``ok\\n`` to both and from then on
forwards bytes between them. It answers ``bad handshake\\n`` to a line it cannot parse, and
drops a waiting connection when a third one with the same token is matched instead.

What crosses the relay is the same pinned TLS 1.3 as on the LAN (``tls``), run end to end over
the relayed stream: the relay sees who connects when, and how many bytes, never a byte of a
document, and it cannot pass for a peer (it holds no pinned key). Which side of the TLS
handshake each device takes is fixed by the fingerprints (``tls_client``).

Tokens
------
Only the two peers can compute their token (``peer_token``): an HMAC-SHA256 over both
fingerprints (sorted) and the UTC day, keyed by a secret the two share: the pair secret both
sides derived from the SPAKE2 key when they paired by code (``pairing``), or else a circle
secret both hold in a circle document. Tokens change every day (``day``). Someone who learns a
token can occupy the rendezvous (the relay then matches them instead of the peer): that
disrupts the link, and the TLS handshake that follows fails, since they hold no pinned key.

Pairing across the relay uses ``pairing_token``: derived from the code's nameplate and the day,
it only picks the rendezvous; SPAKE2 still protects the secret, and the invite allows one
attempt, as on the LAN.

Errors are ``RelayError`` with one line that says what went wrong and where.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Final

from .errors import SyncError

__all__ = [
    "RELAY_LINE_LIMIT",
    "RelayAddress",
    "RelayCheck",
    "RelayError",
    "check_relay",
    "day",
    "meet",
    "new_side",
    "pairing_token",
    "parse_relay",
    "peer_token",
    "tls_client",
]

RELAY_LINE_LIMIT: Final = 64
"""The longest answer line read from a relay before it counts as not speaking the protocol."""
CONNECT_TIMEOUT: Final = 10.0
_OK: Final = b"ok\n"
_TOKEN_LABEL: Final = b"plntui relay token v1"
_PAIRING_LABEL: Final = b"plntui relay pairing v1"
_HOST: Final = re.compile(r"^[A-Za-z0-9._-]{1,253}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$")


class RelayError(SyncError):
    """The relay cannot be used: unreachable, not a transit relay, or it hung up."""


@dataclass(frozen=True, slots=True)
class RelayAddress:
    """Where a transit relay listens (``tcp:HOST:PORT``)."""

    host: str
    port: int

    @property
    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"

    def __str__(self) -> str:
        return self.text


def parse_relay(text: str) -> RelayAddress:
    """``tcp:HOST:PORT`` (or ``HOST:PORT``; ``[v6]`` in brackets) -> ``RelayAddress``.

    ``ValueError`` with a one-line reason for anything else."""
    raw = str(text).strip()
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    usage = f"{shown!r} is not a relay address; write tcp:HOST:PORT, e.g. tcp:relay.example:4001"
    body = raw[4:] if raw.lower().startswith("tcp:") else raw
    if not body or any(c.isspace() for c in body):
        raise ValueError(usage)
    if body.startswith("["):
        close = body.find("]")
        if close < 0 or body[close + 1 : close + 2] != ":":
            raise ValueError(usage)
        host, port_text = body[1:close], body[close + 2 :]
    else:
        host, sep, port_text = body.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(usage)
    if not host or not _HOST.match(host) or not port_text.isdigit():
        raise ValueError(usage)
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"{shown!r}: the port must be between 1 and 65535")
    return RelayAddress(host, port)


# -- tokens ------------------------------------------------------------------------------------


def day(now: float | None = None) -> str:
    """The UTC day tokens are made for (``2026-12-05``)."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


def seconds_to_next_day(now: float | None = None) -> float:
    """Seconds until the tokens change (UTC midnight)."""
    t = time.time() if now is None else now
    return 86400.0 - (t % 86400.0)


def peer_token(secret: bytes, fingerprint_a: bytes, fingerprint_b: bytes, on_day: str) -> str:
    """The rendezvous of two peers on one day: 64 hex digits only they can compute."""
    if not secret:
        raise ValueError("a relay token needs a shared secret")
    low, high = sorted((fingerprint_a, fingerprint_b))
    message = _TOKEN_LABEL + b"|" + on_day.encode() + b"|" + low + high
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def pairing_token(nameplate: str, on_day: str) -> str:
    """The rendezvous of an invite: from its nameplate (not secret) and the day."""
    message = _PAIRING_LABEL + b"|" + on_day.encode() + b"|" + nameplate.encode()
    return hashlib.sha256(message).hexdigest()


def new_side() -> str:
    return secrets.token_hex(8)


def tls_client(mine: bytes, theirs: bytes) -> bool:
    """Whether this device takes the client side of TLS on a relayed link (the smaller
    fingerprint does, as it keeps the link it dialled on the LAN)."""
    return mine < theirs


# -- meeting at the relay ---------------------------------------------------------------------


async def _connect(
    relay: RelayAddress, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that comes as the connection opens, and the caller would then wait on at the relay
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(relay.host, relay.port, limit=2**16)
    except TimeoutError:
        raise RelayError(f"cannot reach the relay at {relay}: no answer in {timeout:g} s") from None
    except ConnectionRefusedError:
        raise RelayError(f"cannot reach the relay at {relay}: connection refused") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RelayError(f"cannot reach the relay at {relay}: {reason.lower()}") from None


async def meet(
    relay: RelayAddress,
    token: str,
    side: str | None = None,
    *,
    wait: float | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``relay`` and wait there (at most ``wait`` seconds, ``None``: as long as it
    takes) for the other side of ``token``; the stream is theirs once this returns.

    ``RelayError`` when the relay cannot be reached, answers something other than the
    protocol, or closes the connection first; ``TimeoutError`` when ``wait`` runs out."""
    if not re.fullmatch(r"[0-9a-f]{64}", token):
        raise ValueError("a relay token is 64 lowercase hex digits")
    side = side or new_side()
    reader, writer = await _connect(relay, connect_timeout)
    try:
        try:
            writer.write(f"please relay {token} for side {side}\n".encode("ascii"))
            await writer.drain()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise RelayError(f"the relay at {relay} broke the connection: {reason}") from None
        async with asyncio.timeout(wait):
            answer = await _answer(reader, relay)
    except BaseException:
        writer.transport.abort()
        raise
    if answer != _OK:
        writer.transport.abort()
        raise RelayError(_not_protocol(relay, answer))
    return reader, writer


async def _answer(reader: asyncio.StreamReader, relay: RelayAddress) -> bytes:
    """The relay's answer line, read byte by byte up to the newline: nothing after it is
    consumed (the peer's first bytes may follow at once)."""
    line = bytearray()
    while len(line) < RELAY_LINE_LIMIT:
        try:
            byte = await reader.read(1)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise RelayError(f"the relay at {relay} broke the connection: {reason}") from None
        if not byte:
            if line:
                raise RelayError(_not_protocol(relay, bytes(line)))
            raise RelayError(f"the relay at {relay} closed the connection before a peer met us")
        line += byte
        if byte == b"\n":
            break
    return bytes(line)


def _not_protocol(relay: RelayAddress, answer: bytes) -> str:
    if answer == b"bad handshake\n":
        return f"the relay at {relay} refused our request (bad handshake)"
    shown = answer[:40].decode("ascii", "replace")
    shown = "".join(c if c.isprintable() else "?" for c in shown)
    return f"{relay} does not speak the transit relay protocol (it answered {shown!r})"


# -- the doctor's check -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelayCheck:
    """What ``check_relay`` found: the relay paired two connections of ours and carried bytes
    both ways."""

    relay: RelayAddress
    connect_seconds: float
    """Until both connections were matched (``ok``)."""
    round_trip_seconds: float
    """One small message there and back through the relay."""


async def check_relay(relay: RelayAddress, timeout: float = 10.0) -> RelayCheck:
    """Meet ourselves at ``relay`` under a random token and send a few bytes across.

    ``RelayError`` with a one-line reason when it does not work."""
    token = secrets.token_hex(32)
    started = time.perf_counter()
    first = asyncio.ensure_future(meet(relay, token, wait=timeout, connect_timeout=timeout))
    await asyncio.sleep(0)
    try:
        second = await meet(relay, token, wait=timeout, connect_timeout=timeout)
        a = await first
    except TimeoutError:
        first.cancel()
        raise RelayError(
            f"the relay at {relay} accepted the request but never matched two connections "
            f"in {timeout:g} s: is it a transit relay?"
        ) from None
    except BaseException:
        first.cancel()
        with contextlib.suppress(BaseException):
            reader, writer = await first
            writer.transport.abort()
        raise
    connected = time.perf_counter() - started
    (a_reader, a_writer), (b_reader, b_writer) = a, second
    try:
        probe = secrets.token_bytes(16)
        t0 = time.perf_counter()
        a_writer.write(probe)
        async with asyncio.timeout(timeout):
            got = await b_reader.readexactly(len(probe))
            b_writer.write(got)
            back = await a_reader.readexactly(len(probe))
        round_trip = time.perf_counter() - t0
    except (TimeoutError, asyncio.IncompleteReadError, OSError):
        raise RelayError(f"the relay at {relay} matched us but did not carry bytes") from None
    finally:
        a_writer.transport.abort()
        b_writer.transport.abort()
    if back != probe:
        raise RelayError(f"the relay at {relay} changed the bytes it carried")
    return RelayCheck(relay, connected, round_trip)
