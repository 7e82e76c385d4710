"""Provides the glue between a profile and the peer-to-peer layer (``sync``).

``sync`` moves Automerge documents between trusted peers and knows nothing of contacts; this
module hands it the profile's shared network document (never the private one), its identity
and its trust store, and stores what peers send through the domain API, so remote changes are
as durable as local ones and the search index follows them.

Files in the profile folder: ``identity/key.pem`` (mode 0600) and ``identity/cert.pem``, the
device's long-term key and self-signed certificate; ``peers.json``, the peers you trust.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import automerge.core as am

from . import crdt

if TYPE_CHECKING:
    from .network import Network

DOC_ID = "plntui-network-v1"
GENESIS_HEADS: list[bytes] = am.Document.load(crdt.GENESIS).get_heads()


def identity_folder(home: Path) -> Path:
    return home / "identity"


def trust_path(home: Path) -> Path:
    return home / "peers.json"


def load_identity(home: Path) -> Any:
    """The device's identity, made on first use."""
    from sync.identity import Identity

    return Identity.load_or_create(identity_folder(home))


class ProfileHost:
    """The ``sync.engine.DocumentHost`` of a profile: its shared network document."""

    doc_id = DOC_ID
    genesis_heads = GENESIS_HEADS

    def __init__(self, net: Network, lock: threading.RLock | None = None) -> None:
        self.net = net
        self.lock = lock or threading.RLock()

    def document(self) -> am.Document:
        return self.net.shared_doc  # type: ignore[no-any-return]

    def persist(self, origin: str) -> None:
        with self.lock:
            self.net.store_remote_changes()

    def poll_external(self) -> bool:
        with self.lock:
            return self.net.profile.refresh()
