"""Provides the INTRODUCE payload: the peers an introducer offers, encoded and strictly checked.

A peer that the local user marked an introducer is asked for introductions in HELLO
(``"wants_introductions": true``, see ``session``); it answers with one INTRODUCE frame (and
another when its trust changes) whose payload is UTF-8 JSON::

    {"peers": [{"fingerprint": "<64 hex digits>", "name": "Carol",
                "cert": "<DER, base64>" | null, "addresses": ["10.0.0.9:47600"]}, ...]}

Limits: at most ``MAX_ENTRIES`` peers, ``MAX_ADDRESSES`` addresses each, names of at most
``MAX_NAME_WIRE`` characters (shown sanitised), a certificate of at most ``MAX_CERT`` bytes that
must hash to its fingerprint, a payload of at most ``MAX_INTRODUCE`` bytes. Anything else (not
JSON, a wrong type, a bad fingerprint or address, a foreign certificate, a repeated fingerprint)
is a ``RemoteProtocolError``: the link is dropped and nothing is offered. Unknown keys are
ignored, so a later version may add fields.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Final

from .errors import RemoteProtocolError
from .fingerprint import FINGERPRINT_SIZE, fingerprint_of
from .trust import (
    MAX_ADDRESSES,
    MAX_CERT,
    Introduction,
    format_hostport,
    parse_hostport,
    sanitize_name,
)

__all__ = [
    "MAX_ENTRIES",
    "MAX_INTRODUCE",
    "encode_introductions",
    "parse_introductions",
]

MAX_INTRODUCE: Final = 512 * 1024
"""Hard limit of an INTRODUCE payload (the frame decoder refuses a larger one unread)."""
MAX_ENTRIES: Final = 256
MAX_NAME_WIRE: Final = 400
MAX_ADDRESS_WIRE: Final = 300


def _entry_json(entry: Introduction) -> dict[str, object]:
    return {
        "fingerprint": entry.fingerprint.hex(),
        "name": sanitize_name(entry.name),
        "cert": None if entry.cert is None else base64.b64encode(entry.cert).decode("ascii"),
        "addresses": list(entry.addresses[:MAX_ADDRESSES]),
    }


def encode_introductions(
    entries: Iterable[Introduction], *, limit: int = MAX_INTRODUCE
) -> tuple[bytes, int]:
    """The payload for ``entries`` and how many it holds (those past the limits are left out)."""
    parts: list[bytes] = []
    size = len(b'{"peers":[]}')
    for entry in entries:
        if len(parts) >= MAX_ENTRIES:
            break
        part = json.dumps(_entry_json(entry), separators=(",", ":")).encode("utf-8")
        if size + len(part) + 1 > limit:
            continue  # one oversized entry (a huge certificate) does not hide the others
        parts.append(part)
        size += len(part) + 1
    return b'{"peers":[' + b",".join(parts) + b"]}", len(parts)


def parse_introductions(payload: bytes) -> tuple[Introduction, ...]:
    """The entries of an INTRODUCE payload; ``RemoteProtocolError`` for anything malformed."""
    if len(payload) > MAX_INTRODUCE:
        raise RemoteProtocolError(
            f"the peer's introductions take {len(payload):,} bytes (limit {MAX_INTRODUCE:,})"
        )
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RemoteProtocolError("the peer's introductions are not JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("peers"), list):
        raise RemoteProtocolError("the peer's introductions hold no list of peers")
    raw = obj["peers"]
    if len(raw) > MAX_ENTRIES:
        raise RemoteProtocolError(
            f"the peer introduces {len(raw)} peers at once (limit {MAX_ENTRIES})"
        )
    entries: list[Introduction] = []
    seen: set[bytes] = set()
    for item in raw:
        entry = _parse_entry(item)
        if entry.fingerprint in seen:
            raise RemoteProtocolError("the peer introduces the same fingerprint twice")
        seen.add(entry.fingerprint)
        entries.append(entry)
    return tuple(entries)


def _parse_entry(item: object) -> Introduction:
    if not isinstance(item, dict):
        raise RemoteProtocolError("an introduction is not a JSON object")
    text = item.get("fingerprint")
    fp = b""
    if isinstance(text, str) and len(text) == 2 * FINGERPRINT_SIZE:
        try:
            fp = bytes.fromhex(text)
        except ValueError:
            fp = b""
    if len(fp) != FINGERPRINT_SIZE:
        raise RemoteProtocolError("an introduction has no valid fingerprint (64 hex digits)")
    name = item.get("name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME_WIRE:
        raise RemoteProtocolError(f"an introduction's name is not text of at most {MAX_NAME_WIRE}")
    cert = _parse_cert(item.get("cert"), fp)
    addresses = item.get("addresses", [])
    if not isinstance(addresses, list) or len(addresses) > MAX_ADDRESSES:
        raise RemoteProtocolError(
            f"an introduction's addresses are not a list of at most {MAX_ADDRESSES}"
        )
    checked: list[str] = []
    for address in addresses:
        if not isinstance(address, str) or len(address) > MAX_ADDRESS_WIRE:
            raise RemoteProtocolError("an introduction's address is not short text")
        try:
            text_address = format_hostport(*parse_hostport(address))
        except ValueError as exc:
            raise RemoteProtocolError(f"an introduction's address is wrong ({exc})") from None
        if text_address not in checked:
            checked.append(text_address)
    return Introduction(fp, sanitize_name(name), cert, tuple(checked))


def _parse_cert(value: object, fp: bytes) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2 * MAX_CERT:
        raise RemoteProtocolError("an introduction's certificate is not base64 text")
    try:
        cert = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RemoteProtocolError("an introduction's certificate is not base64") from None
    if not 0 < len(cert) <= MAX_CERT:
        raise RemoteProtocolError(f"an introduction's certificate is not 1..{MAX_CERT} bytes")
    if fingerprint_of(cert) != fp:
        raise RemoteProtocolError(
            "an introduction's certificate does not match its fingerprint (its SHA-256 differs)"
        )
    return cert
