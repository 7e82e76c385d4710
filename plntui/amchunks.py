"""Rewrites Automerge's stored bytes between their compact form and their wire form.

Automerge saves a document as chunks (its binary format: a magic number, a checksum, a type, a
length, then the body). A document chunk holds its changes' metadata and its operations in
columns, and ``save()`` deflates each column over ``THRESHOLD`` bytes on its own; a change record
over that size may be a compressed change chunk. Each of thousands of small documents is thus
compressed alone, and a frame of them compresses no further: the actor ids, the structure and
the words they share stay in every one.

``inflated`` undoes that compression, chunk by chunk, without loading the document: the sync
session sends a document whole in its wire form, and the frame's zlib compresses across the
documents it carries (a new peer at 10,000 contacts receives 1.7 MiB instead of 2.7 MiB).
``deflated`` compresses the columns again the way ``save()`` does, so a received document is
stored as compactly as its sender keeps it. Both keep the meaning: Automerge loads either form
to the same document, and a document chunk's heads are checked against its changes on load.

Bytes that do not parse as chunks raise ``ValueError``; callers then keep the bytes as they are.
"""

from __future__ import annotations

import hashlib
import zlib

from sync import leb128

MAGIC = b"\x85\x6f\x4a\x83"
DOCUMENT, CHANGE, COMPRESSED_CHANGE = 0, 1, 2
DEFLATE = 0x08
"""The bit of a column specification that marks its data as deflated."""
THRESHOLD = 256
"""Automerge deflates a column longer than this when it saves."""


def inflated(data: bytes, limit: int) -> bytes:
    """``data`` (chunks) with every deflated column and compressed change inflated. Raises
    ``ValueError`` when it is not a sequence of chunks or would inflate beyond ``limit``."""
    out: list[bytes] = []
    size = 0
    changed = False
    for kind, body, whole in _chunks(data):
        if kind == DOCUMENT:
            body, did = _document(body, inflate=True, limit=limit)
            piece = _chunk(DOCUMENT, body) if did else whole
        elif kind == COMPRESSED_CHANGE:
            did = True
            piece = _chunk(CHANGE, _inflate(body, limit))
        else:
            did, piece = False, whole
        changed = changed or did
        size += len(piece)
        if size > limit:
            raise ValueError(f"the chunks inflate beyond {limit:,} bytes")
        out.append(piece)
    return b"".join(out) if changed else data


def deflated(data: bytes) -> bytes:
    """``data`` (chunks) with each document chunk's columns over ``THRESHOLD`` bytes deflated,
    as Automerge saves them. Change chunks are kept as they are. Raises ``ValueError`` when
    ``data`` is not a sequence of chunks."""
    out: list[bytes] = []
    changed = False
    for kind, body, whole in _chunks(data):
        if kind == DOCUMENT:
            body, did = _document(body, inflate=False, limit=0)
            if did:
                changed = True
                out.append(_chunk(DOCUMENT, body))
                continue
        out.append(whole)
    return b"".join(out) if changed else data


def _chunks(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """``(type, body, whole chunk)`` of each chunk of ``data``."""
    out = []
    pos = 0
    view = memoryview(data)
    while pos < len(data):
        if data[pos : pos + 4] != MAGIC or pos + 9 > len(data):
            raise ValueError(f"no Automerge chunk at byte {pos}")
        kind = data[pos + 8]
        length, start = leb128.read(data, pos + 9)
        end = start + length
        if end > len(data) or kind not in (DOCUMENT, CHANGE, COMPRESSED_CHANGE):
            raise ValueError(f"a truncated or unknown chunk at byte {pos}")
        out.append((kind, bytes(view[start:end]), bytes(view[pos:end])))
        pos = end
    return out


def _document(body: bytes, *, inflate: bool, limit: int) -> tuple[bytes, bool]:
    """A document chunk's body with its columns inflated (or deflated); ``False`` when no
    column changes."""
    pos = 0
    count, pos = leb128.read(body, pos)
    for _ in range(count):  # actor ids
        size, pos = leb128.read(body, pos)
        pos += size
    count, pos = leb128.read(body, pos)
    pos += 32 * count  # heads
    prefix = pos
    groups: list[list[tuple[int, int]]] = []
    for _ in range(2):  # the change columns, then the operation columns
        count, pos = leb128.read(body, pos)
        columns = []
        for _ in range(count):
            spec, pos = leb128.read(body, pos)
            size, pos = leb128.read(body, pos)
            columns.append((spec, size))
        groups.append(columns)
    data = pos
    if data + sum(size for columns in groups for _spec, size in columns) > len(body):
        raise ValueError("a document chunk's columns run past its end")
    meta: list[bytes] = []
    parts: list[bytes] = []
    changed = False
    for columns in groups:
        meta.append(leb128.encode(len(columns)))
        for spec, size in columns:
            piece = body[data : data + size]
            data += size
            if inflate and spec & DEFLATE:
                piece = _inflate(piece, limit)
                limit -= len(piece)  # the columns together stay within it too
                spec &= ~DEFLATE
                changed = True
            elif not inflate and not spec & DEFLATE and size > THRESHOLD:
                # raw DEFLATE as Automerge writes it; level 1: within 3 % of Automerge's size
                # (level 6) in a third of the time, on the receiver's critical path
                piece = zlib.compress(piece, 1, -15)
                spec |= DEFLATE
                changed = True
            meta.append(leb128.encode(spec))
            meta.append(leb128.encode(len(piece)))
            parts.append(piece)
    if not changed:
        return body, False
    return b"".join([body[:prefix], *meta, *parts, body[data:]]), True


def _inflate(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"a column is not deflated data ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ValueError(f"a column inflates beyond {limit:,} bytes")
    return out


def _chunk(kind: int, body: bytes) -> bytes:
    header = bytes([kind]) + leb128.encode(len(body))
    checksum = hashlib.sha256(header + body).digest()[:4]
    return MAGIC + checksum + header + body
