"""Provides ``clean_peer_text``: text a peer controls, made safe to log, store or show.

Everything a peer says (its display name in discovery or pairing, the reason in its BYE, an
Automerge error that quotes its bytes, a document id) is data, never terminal input. Before such
text reaches ``log.*``, an event (``PeerLost.reason``...), an exception message or a screen it
goes through this one function:

* control characters (C0, DEL, C1: escape sequences, bells, carriage returns) and line or
  paragraph separators become spaces;
* other invisible format characters (bidi embeddings, overrides and isolates U+202A–U+202E,
  U+2066–U+2069, marks U+200E/U+200F, the BOM, tags) and surrogates, private-use and unassigned
  code points are removed; the zero-width (non-)joiner U+200C/U+200D stay (scripts and emoji
  need them);
* runs of white space collapse to one space, the ends are trimmed;
* the result is at most ``limit`` characters (and ``max_bytes`` UTF-8 bytes when given); only
  a bounded prefix of a huge input is ever looked at.

It never raises on ``str`` or ``bytes`` input (bytes are decoded as UTF-8 with replacement).
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["TEXT_LIMIT", "clean_peer_text"]

TEXT_LIMIT: Final = 300
"""Default cap, in characters, of a peer's text in a log line or a reason."""
_KEPT_FORMAT: Final = frozenset("\u200c\u200d")
_SPACE_CATEGORIES: Final = frozenset(("Cc", "Zl", "Zp", "Zs"))


def clean_peer_text(
    text: str | bytes | bytearray | memoryview,
    limit: int = TEXT_LIMIT,
    *,
    max_bytes: int | None = None,
    ellipsis: bool = False,
) -> str:
    """``text`` without control or format characters, spaces collapsed, at most ``limit`` chars.

    ``ellipsis`` ends a shortened text with "…" (within ``limit``), for reasons and log lines.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text[: limit * 4 + 64]).decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = str(text)
    window = limit * 4 + 64  # enough for ``limit`` visible characters among spaces and marks
    cut = len(text) > window
    text = unicodedata.normalize("NFC", text[:window])
    kept: list[str] = []
    for ch in text:
        if ch.isprintable() or ch in _KEPT_FORMAT:
            kept.append(ch)
            continue
        if ch in "\t\n\r\v\f" or unicodedata.category(ch) in _SPACE_CATEGORIES:
            kept.append(" ")
        # Cf (bidi, BOM, tags), Cs, Co, Cn: dropped
    clean = " ".join("".join(kept).split())
    if len(clean) > limit or cut:
        clean = clean[: limit - 1].rstrip() + "…" if ellipsis else clean[:limit].rstrip()
    if max_bytes is not None:
        while len(clean.encode("utf-8")) > max_bytes:
            clean = clean[:-1].rstrip()
    return clean
