"""Provides the length-prefixed frames of the sync link: ``encode_frame`` and ``FrameDecoder``.

A frame on the wire::

    length   4 bytes, big-endian: the size of what follows (type byte + payload), 1..max_frame
    kind     1 byte (``FrameKind``)
    payload  length - 1 bytes

The decoder checks the announced length as soon as the four length bytes arrive, before it
buffers any of the body, so a peer cannot make this side allocate more than ``max_frame`` (plus
the chunk being fed). A per-kind limit, checked once the type byte arrives, keeps small frames
small. Buffering is one ``bytearray`` with a read offset, compacted only when the consumed part
dominates, so feeding a frame byte by byte stays linear.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from .errors import FrameTooLarge, LocalProtocolError

__all__ = ["HEADER_SIZE", "MAX_FRAME", "Frame", "FrameDecoder", "FrameKind", "encode_frame"]

MAX_FRAME: Final = 64 * 1024 * 1024
"""Default hard limit of a frame's length field (type byte + payload)."""
HEADER_SIZE: Final = 5  # length (4) + kind (1)
_LENGTH: Final = struct.Struct(">I")
_HEADER: Final = struct.Struct(">IB")
_MAX_LENGTH_FIELD: Final = 0xFFFFFFFF
_COMPACT_AFTER: Final = 64 * 1024


class FrameKind(IntEnum):
    """Every frame type plntui sends, in one registry.

    The sync link (protocol 2, ``session``): HELLO, PING, BYE, INTRODUCE (only to a peer that
    asked), MANIFEST, WANT, DOCS, DOC_SYNC, HELD. The anonymous path (``tls``, ``pairing``):
    PRESENT, PRESENT_OK, INFO, INFO_OK and the four pairing frames. 2 and 3 were protocol 1's
    SNAPSHOT and SYNC: retired, never reused.
    """

    HELLO = 1
    PING = 4
    BYE = 5
    PRESENT = 6
    PRESENT_OK = 7
    PAIR_START = 8
    PAIR_REPLY = 9
    PAIR_CONFIRM = 10
    PAIR_DONE = 11
    INFO = 12
    INFO_OK = 13
    INTRODUCE = 14
    MANIFEST = 15
    WANT = 16
    DOCS = 17
    DOC_SYNC = 18
    HELD = 19


def kind_name(kind: int) -> str:
    """``"SYNC"`` for a known kind, ``"type 9"`` for an unknown one."""
    try:
        return FrameKind(kind).name
    except ValueError:
        return f"type {kind}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: its type byte and its payload."""

    kind: int
    payload: bytes

    @property
    def wire_size(self) -> int:
        """Bytes this frame took on the wire, header included."""
        return HEADER_SIZE + len(self.payload)


def encode_frame(kind: int, payload: bytes, *, max_frame: int = MAX_FRAME) -> bytes:
    """The wire bytes of one frame; ``LocalProtocolError`` if it cannot be a valid frame."""
    if not 0 <= kind <= 0xFF:
        raise LocalProtocolError(f"frame type {kind} does not fit in one byte")
    length = len(payload) + 1
    if length > max_frame:
        raise LocalProtocolError(
            f"a {kind_name(kind)} frame of {length:,} bytes exceeds the {max_frame:,}-byte limit"
        )
    return b"".join((_HEADER.pack(length, kind), payload))


class FrameDecoder:
    """Splits a byte stream into ``Frame`` objects; raises ``FrameTooLarge`` before buffering."""

    __slots__ = ("_buffer", "_error", "_limits", "_offset", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME, limits: Mapping[int, int] | None = None) -> None:
        """``limits`` caps the payload size of given kinds below ``max_frame``."""
        if not 1 <= max_frame <= _MAX_LENGTH_FIELD:
            raise LocalProtocolError(f"max_frame must be within 1..{_MAX_LENGTH_FIELD}")
        self.max_frame = max_frame
        self._limits: dict[int, int] = dict(limits or {})
        self._buffer = bytearray()
        self._offset = 0
        self._error: FrameTooLarge | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames (a partial frame)."""
        return len(self._buffer) - self._offset

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return every frame they complete, in order.

        After ``FrameTooLarge`` the decoder is poisoned: every later call raises it again.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        offset = self._offset
        frames: list[Frame] = []
        end = len(buffer)
        try:
            while end - offset >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer, offset)
                self._check_length(length)
                if end - offset < HEADER_SIZE:
                    break
                kind = buffer[offset + _LENGTH.size]
                self._check_kind_limit(kind, length - 1)
                stop = offset + _LENGTH.size + length
                if stop > end:
                    break
                with memoryview(buffer) as view:
                    payload = bytes(view[offset + HEADER_SIZE : stop])
                frames.append(Frame(kind, payload))
                offset = stop
        except FrameTooLarge as exc:
            self._error = exc
            buffer.clear()
            self._offset = 0
            raise
        if offset == end:
            buffer.clear()
            offset = 0
        elif offset >= _COMPACT_AFTER and offset * 2 >= end:
            del buffer[:offset]
            offset = 0
        self._offset = offset
        return frames

    def _check_length(self, length: int) -> None:
        if length == 0:
            raise FrameTooLarge(
                "the peer sent a frame of length 0 (every frame holds at least its type byte)"
            )
        if length > self.max_frame:
            raise FrameTooLarge(
                f"the peer announced a {length:,}-byte frame; the limit is {self.max_frame:,} bytes"
            )

    def _check_kind_limit(self, kind: int, payload_size: int) -> None:
        limit = self._limits.get(kind)
        if limit is not None and payload_size > limit:
            raise FrameTooLarge(
                f"the peer announced a {payload_size:,}-byte {kind_name(kind)} payload; the "
                f"limit for that frame type is {limit:,} bytes"
            )
