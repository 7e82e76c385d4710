"""Provides the peer-to-peer layer of plntui (identity, secure channel, sync session, discovery).

It moves Automerge documents between trusted peers and knows nothing of contacts or of Textual.

Modules:

``errors``       one flat tree under ``SyncError`` (``RemoteProtocolError``: drop the link)
``fingerprint``  the human form of certificate fingerprints (format, parse, shorten)
``identity``     a profile's Ed25519 key and self-signed certificate (``Identity``)
``framing``      length-prefixed frames with a hard size limit (``FrameDecoder``)
``session``      the sans-IO sync session of one document with one peer (``SyncSession``)

Names are exported lazily, so ``import sync`` does not load ``cryptography`` until the identity
is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        FrameTooLarge,
        IdentityError,
        LocalProtocolError,
        RemoteProtocolError,
        SyncError,
        UntrustedPeer,
    )
    from .fingerprint import (
        fingerprint_of,
        format_fingerprint,
        parse_fingerprint,
        short_fingerprint,
    )
    from .framing import MAX_FRAME, Frame, FrameDecoder, FrameKind, encode_frame
    from .identity import Identity
    from .session import (
        ChangesApplied,
        Closed,
        Event,
        InSync,
        PeerHello,
        SessionStats,
        SnapshotReceived,
        SnapshotSent,
        StagingReplica,
        State,
        SyncSession,
    )

_EXPORTS: dict[str, str] = {
    "SyncError": "errors",
    "LocalProtocolError": "errors",
    "RemoteProtocolError": "errors",
    "FrameTooLarge": "errors",
    "IdentityError": "errors",
    "UntrustedPeer": "errors",
    "fingerprint_of": "fingerprint",
    "format_fingerprint": "fingerprint",
    "parse_fingerprint": "fingerprint",
    "short_fingerprint": "fingerprint",
    "MAX_FRAME": "framing",
    "Frame": "framing",
    "FrameDecoder": "framing",
    "FrameKind": "framing",
    "encode_frame": "framing",
    "Identity": "identity",
    "ChangesApplied": "session",
    "Closed": "session",
    "Event": "session",
    "InSync": "session",
    "PeerHello": "session",
    "SessionStats": "session",
    "SnapshotReceived": "session",
    "SnapshotSent": "session",
    "StagingReplica": "session",
    "State": "session",
    "SyncSession": "session",
}

__all__ = [
    "ChangesApplied",
    "Closed",
    "Event",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "FrameTooLarge",
    "Identity",
    "IdentityError",
    "InSync",
    "LocalProtocolError",
    "MAX_FRAME",
    "PeerHello",
    "RemoteProtocolError",
    "SessionStats",
    "SnapshotReceived",
    "SnapshotSent",
    "StagingReplica",
    "State",
    "SyncError",
    "SyncSession",
    "UntrustedPeer",
    "encode_frame",
    "fingerprint_of",
    "format_fingerprint",
    "parse_fingerprint",
    "short_fingerprint",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
