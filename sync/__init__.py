"""Provides the peer-to-peer layer of plntui (identity, secure channel, sync session, discovery).

It moves Automerge documents between trusted peers and knows nothing of contacts or of Textual.

Modules:

``errors``       one flat tree under ``SyncError`` (``RemoteProtocolError``: drop the link)
``fingerprint``  the human form of certificate fingerprints (format, parse, shorten)
``identity``     a profile's Ed25519 key and self-signed certificate (``Identity``)
``framing``      length-prefixed frames with a hard size limit (``FrameDecoder``)
``session``      the sans-IO sync session: one peer, many documents (``SyncSession``)
``tls``          TLS 1.3 contexts, the fingerprint check, certificate learning (``verify_peer``)
``trust``        the approved and revoked peers, in ``peers.json`` (``TrustStore``)
``introduce``    the INTRODUCE payload: the peers an introducer offers, strictly checked
``engine``       the asyncio engine: one link per trusted peer (``SyncEngine``), put together
                 from ``admission``, ``dialer``, ``link``, ``synchronizer``, ``events``, ``limits``

Names are exported lazily, so ``import sync`` does not load ``cryptography`` until the identity
is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import (
        SyncEngine,
    )
    from .errors import (
        FrameTooLarge,
        IdentityError,
        LocalProtocolError,
        RemoteProtocolError,
        SyncError,
        UntrustedPeer,
    )
    from .events import (
        CertificateLearned,
        ChangesRefused,
        ChangesStored,
        EngineEvent,
        IntroductionOffered,
        PeerConnected,
        PeerIntroduced,
        PeerLost,
        PeerRefused,
        PeerResult,
        PeerStatus,
        PeerSynced,
        StoreFailed,
        SyncSummary,
    )
    from .fingerprint import (
        fingerprint_of,
        format_fingerprint,
        parse_fingerprint,
        short_fingerprint,
    )
    from .framing import (
        MAX_FRAME,
        Frame,
        FrameDecoder,
        FrameKind,
        encode_frame,
    )
    from .identity import (
        Identity,
    )
    from .limits import (
        Limits,
        Timeouts,
    )
    from .session import (
        Closed,
        DocsReceived,
        DocumentHost,
        Event,
        Ignored,
        InSync,
        IntroductionsReceived,
        PeerHello,
        Received,
        Refused,
        SessionStats,
        State,
        SyncSession,
    )
    from .tls import (
        AnonymousPeer,
        WrongPeer,
        verify_peer,
    )
    from .trust import (
        Introduction,
        Peer,
        PendingIntroduction,
        TrustStore,
        TrustStoreError,
        UnknownPeer,
        parse_hostport,
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
    "Closed": "session",
    "DocsReceived": "session",
    "DocumentHost": "session",
    "Event": "session",
    "Ignored": "session",
    "InSync": "session",
    "IntroductionsReceived": "session",
    "PeerHello": "session",
    "Received": "session",
    "Refused": "session",
    "SessionStats": "session",
    "State": "session",
    "SyncSession": "session",
    "AnonymousPeer": "tls",
    "WrongPeer": "tls",
    "verify_peer": "tls",
    "Introduction": "trust",
    "Peer": "trust",
    "PendingIntroduction": "trust",
    "TrustStore": "trust",
    "TrustStoreError": "trust",
    "UnknownPeer": "trust",
    "parse_hostport": "trust",
    "CertificateLearned": "events",
    "ChangesRefused": "events",
    "ChangesStored": "events",
    "EngineEvent": "events",
    "IntroductionOffered": "events",
    "PeerConnected": "events",
    "PeerIntroduced": "events",
    "PeerLost": "events",
    "PeerRefused": "events",
    "PeerResult": "events",
    "PeerStatus": "events",
    "PeerSynced": "events",
    "StoreFailed": "events",
    "SyncSummary": "events",
    "Limits": "limits",
    "Timeouts": "limits",
    "SyncEngine": "engine",
}

__all__ = [
    "AnonymousPeer",
    "CertificateLearned",
    "ChangesRefused",
    "ChangesStored",
    "Closed",
    "DocsReceived",
    "DocumentHost",
    "EngineEvent",
    "Event",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "FrameTooLarge",
    "Identity",
    "IdentityError",
    "Ignored",
    "InSync",
    "Introduction",
    "IntroductionOffered",
    "IntroductionsReceived",
    "Limits",
    "LocalProtocolError",
    "MAX_FRAME",
    "Peer",
    "PeerConnected",
    "PeerHello",
    "PeerIntroduced",
    "PeerLost",
    "PeerRefused",
    "PeerResult",
    "PeerStatus",
    "PeerSynced",
    "PendingIntroduction",
    "Received",
    "Refused",
    "RemoteProtocolError",
    "SessionStats",
    "State",
    "StoreFailed",
    "SyncEngine",
    "SyncError",
    "SyncSession",
    "SyncSummary",
    "Timeouts",
    "TrustStore",
    "TrustStoreError",
    "UnknownPeer",
    "UntrustedPeer",
    "WrongPeer",
    "encode_frame",
    "fingerprint_of",
    "format_fingerprint",
    "parse_fingerprint",
    "parse_hostport",
    "short_fingerprint",
    "verify_peer",
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
