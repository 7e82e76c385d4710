"""Provides the human form of certificate fingerprints: format, parse and shorten them.

A fingerprint is the SHA-256 of a peer's DER certificate (32 bytes). People read it as Syncthing
shows device IDs: base32 (RFC 4648 alphabet), upper case, no padding, in groups of seven joined by
dashes, e.g. ``MFRGGZD-FMZTQNB-...-XYZ`` (52 characters in 8 groups). ``parse_fingerprint`` also
takes any case, spaces or dashes anywhere, and the 64-digit hex form other tools print.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import string
from typing import Final

__all__ = [
    "FINGERPRINT_SIZE",
    "fingerprint_of",
    "format_fingerprint",
    "parse_fingerprint",
    "short_fingerprint",
]

FINGERPRINT_SIZE: Final = 32
GROUP: Final = 7
_B32_LEN: Final = 52  # ceil(256 / 5)
_HEX_LEN: Final = 64
_B32_ALPHABET: Final = frozenset(string.ascii_uppercase + "234567")
_SEPARATORS: Final = re.compile(r"[\s\-:]+")


def format_fingerprint(fingerprint: bytes) -> str:
    """The grouped base32 form of a fingerprint (``XXXXXXX-XXXXXXX-...``)."""
    text = base64.b32encode(fingerprint).decode("ascii").rstrip("=")
    return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))


def short_fingerprint(fingerprint: bytes) -> str:
    """The first group of the human form: a hint for TXT records and instance names, not proof."""
    return format_fingerprint(fingerprint)[:GROUP]


def parse_fingerprint(text: str) -> bytes:
    """Turn a typed or pasted fingerprint into its 32 bytes; ``ValueError`` says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"a fingerprint is text, not {type(text).__name__}")
    compact = _SEPARATORS.sub("", text).upper()
    if len(compact) == _HEX_LEN and all(c in string.hexdigits for c in compact):
        return bytes.fromhex(compact)
    if len(compact) == _B32_LEN:
        bad = sorted({c for c in compact if c not in _B32_ALPHABET})
        if bad:
            shown = ", ".join(repr(c) for c in bad[:5])
            raise ValueError(
                f"not a fingerprint: {shown} cannot appear in one "
                "(it uses the letters A-Z and the digits 2-7; 0, 1, 8 and 9 never occur)"
            )
        try:
            raw = base64.b32decode(compact + "=" * (-len(compact) % 8))
        except binascii.Error as exc:  # pragma: no cover - the alphabet check catches these
            raise ValueError(f"not a fingerprint: {exc}") from None
        if format_fingerprint(raw).replace("-", "") != compact:
            raise ValueError(
                "not a fingerprint: its last character cannot end one; check it for a typo"
            )
        return raw
    raise ValueError(
        f"not a fingerprint: expected 52 base32 characters (8 groups like "
        f"ABCDEFG-HIJKLMN-...) or 64 hexadecimal digits, got {len(compact)} characters"
    )


def fingerprint_of(cert_der: bytes) -> bytes:
    """The fingerprint of a DER certificate (what ``SSLObject.getpeercert(True)`` returns)."""
    return hashlib.sha256(cert_der).digest()
