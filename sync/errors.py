"""Provides the errors of the sync layer: one flat tree under ``SyncError``.

Every message is a sentence a user can act on. Anything quoted from a peer is shown with
``repr()`` (escaped, shortened) because the peer controls it.
"""

from __future__ import annotations

from .fingerprint import format_fingerprint

__all__ = [
    "FrameTooLarge",
    "IdentityError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "SyncError",
    "UntrustedPeer",
]


class SyncError(Exception):
    """Base of every sync error; ``message`` (and ``str()``) is meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LocalProtocolError(SyncError):
    """This program used the sync API wrongly (a bug on this side, not in the peer)."""


class RemoteProtocolError(SyncError):
    """The peer broke the protocol: drop the link; the frame that broke it changed nothing."""


class FrameTooLarge(RemoteProtocolError):
    """The peer announced a frame length outside the allowed range (over the limit, or zero)."""


class IdentityError(SyncError):
    """The key or certificate files are missing, unreadable, too open or mismatched."""


class UntrustedPeer(SyncError):
    """The peer proved a certificate whose fingerprint the user has not approved."""

    def __init__(self, fingerprint: bytes, message: str | None = None) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            message
            or f"the peer proved the certificate {format_fingerprint(fingerprint)}, which is not "
            "among the approved peers; pair with it first (compare the code on both devices)"
        )
