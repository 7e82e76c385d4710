"""Provides the limits of the sync engine: deadlines, budgets, and the token bucket behind them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .session import BATCH_BYTES, MAX_IN_FLIGHT
from .tls import HANDSHAKE_TIMEOUT

CONNECT_TIMEOUT: Final = 10.0
PARTIAL_FRAME_TIMEOUT: Final = 30.0
IDLE_TIMEOUT: Final = 90.0
PING_INTERVAL: Final = 30.0
BACKOFF_START: Final = 0.5
BACKOFF_MAX: Final = 30.0
RECONNECT_DELAY: Final = 0.5
STABLE_LINK: Final = 10.0
"""A link that lived this long resets the backoff when it drops."""
MAX_PENDING_HANDSHAKES: Final = 32
MAX_PENDING_PER_ADDRESS: Final = 8
PEER_BYTES_PER_WINDOW: Final = 256 * 1024 * 1024
PEER_BYTE_WINDOW: Final = 60.0
PEER_FRAMES_PER_SECOND: Final = 2000.0
PEER_FRAME_BURST: Final = 4000
STATS_FLUSH_INTERVAL: Final = 5.0
MAX_DOCS_IN_FLIGHT: Final = MAX_IN_FLIGHT


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The link deadlines, in seconds (tests shrink them)."""

    handshake: float = HANDSHAKE_TIMEOUT
    """TLS handshake, the anonymous exchange, and the peer's HELLO after TLS."""
    partial_frame: float = PARTIAL_FRAME_TIMEOUT
    """Silence inside a started frame."""
    idle: float = IDLE_TIMEOUT
    """Silence on an established link (the peer pings every ``ping``)."""
    ping: float = PING_INTERVAL
    connect: float = CONNECT_TIMEOUT


@dataclass(frozen=True, slots=True)
class Limits:
    """What one host or one peer may cost this engine (tests shrink them); see the docstring."""

    max_pending_handshakes: int = MAX_PENDING_HANDSHAKES
    """Connections not yet past TLS and ``verify_peer`` (and the anonymous exchange), in all."""
    max_pending_per_address: int = MAX_PENDING_PER_ADDRESS
    """The same, from one source IP address: one host cannot take every slot."""
    peer_bytes_per_window: int = PEER_BYTES_PER_WINDOW
    """Bytes a trusted peer may send per ``peer_byte_window`` seconds (a token bucket)."""
    peer_byte_window: float = PEER_BYTE_WINDOW
    peer_frames_per_second: float = PEER_FRAMES_PER_SECOND
    """Frames a trusted peer may send per second, on average..."""
    peer_frame_burst: int = PEER_FRAME_BURST
    """...and at once (the bucket's size)."""
    max_docs_in_flight: int = MAX_DOCS_IN_FLIGHT
    """Documents whose sync waits for the peer's answer at once, per link."""
    batch_bytes: int = BATCH_BYTES
    """Bytes of whole documents per DOCS frame, as the host gives them (plntui: their wire
    form, ``amchunks.inflated``); the link's drain paces the frames."""


class _TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        """Spend ``amount`` tokens; ``False`` (and nothing spent) if there are not enough."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        """Spend ``amount`` tokens; ``False`` (and nothing spent) if there are not enough."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True
