"""Provides unsigned LEB128: the variable-length integers of the sync frames and of Automerge's
binary format (seven bits a byte, least significant first, the high bit set on all but the
last byte)."""

from __future__ import annotations

MAX_BYTES = 10
"""Enough for any 64-bit value; a longer number is refused."""

_SMALL = [bytes([n]) for n in range(128)]


def read(data: bytes, pos: int) -> tuple[int, int]:
    """The number at ``data[pos:]`` and the position after it. Raises ``ValueError`` when it
    is truncated or longer than ``MAX_BYTES``."""
    value = shift = 0
    for _ in range(MAX_BYTES):
        if pos >= len(data):
            raise ValueError("a truncated LEB128 number")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("LEB128 too long")


def encode(value: int) -> bytes:
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
