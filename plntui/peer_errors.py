"""Provides what a sync error says about its peer: offline (nothing or nobody answers) or
refusing this device, as against a real failure. The app's Peers screen
(``tui.sync_service.peer_condition``) and ``plntui sync --once`` read errors alike."""

from __future__ import annotations

OFFLINE_SIGNS = (
    "connection refused",
    "timed out",
    "no route to host",
    "network is unreachable",
    "host is unreachable",
    "host is down",
    "connection reset",
    "went away without saying goodbye",
    "connection dropped",
    "not known",
    "name resolution",
    "did not say hello",
    "was silent for",
)
"""Parts of a dial's or a link's error meaning nothing (or nobody) answers: the peer quit, or its
host is unreachable. That is being offline, not a failure."""
REFUSED_SIGNS = ("refused this device's certificate", "does not trust this device")
"""Parts of an error meaning the peer refuses this device's certificate (it does not trust it)."""


def offline_error(error: str) -> bool:
    """Whether a dial's or a link's error means the peer is offline (not a failure)."""
    folded = error.casefold()
    return any(sign in folded for sign in OFFLINE_SIGNS)


def refused_error(error: str) -> bool:
    """Whether the peer refused this device's certificate."""
    folded = error.casefold()
    return any(sign in folded for sign in REFUSED_SIGNS)
