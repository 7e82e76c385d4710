"""Provides what the app tells the user about sync as notifications (pure functions).

A colleague bringing new contacts, a colleague adding this device to a circle, a colleague asking
to pair (their device announces an open pairing invite), an introducer offering a peer (or, with
auto-accept, bringing one), a store failure, changes refused, a colleague's mass deletion held
for your decision. Names are peer data: the app shows these texts literally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .sync_service import CIRCLE_JOINED, SyncNotice, SyncSnapshot

if TYPE_CHECKING:
    from .recovery import HeldSummary

Shown = tuple[str, str, str]  # text, title, severity


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def notice(message: SyncNotice) -> Shown | None:
    """The notification for an engine event, or None for those the status line shows."""
    if message.kind == "ChangesStored" and message.new_contacts > 0:
        who = message.name or "A colleague"
        return f"{who} brought {plural(message.new_contacts, 'new contact')}", "Sync", "information"
    if message.kind == CIRCLE_JOINED:
        who = message.name or "A colleague"
        return f"{who} added you to circle {message.circle}", "Circles", "information"
    if message.kind == "PairingSucceeded":
        return f"Paired with {message.name or 'a colleague'}", "Pairing", "information"
    if message.kind == "IntroductionOffered":
        who, by = message.name or "a device", message.introducer or "An introducer"
        return f"{by} introduces {who}: approve on the Peers screen", "Introduction", "information"
    if message.kind == "PeerIntroduced":
        who, by = message.name or "A device", message.introducer or "an introducer"
        return f"{who} was trusted (introduced by {by})", "Introduction", "information"
    if message.kind == "StoreFailed":
        return message.text, "Sync: not stored", "error"
    if message.kind == "ChangesRefused":
        return message.text, "Sync: changes refused", "warning"
    return None


def pairing_requests(old: SyncSnapshot, new: SyncSnapshot) -> list[str]:
    """Names of the nearby devices that started announcing a pairing invite since ``old``."""
    before = {p.fingerprint for p in old.nearby if p.pairing}
    return [p.name for p in new.nearby if p.pairing and p.fingerprint not in before]


def held_notice(summary: HeldSummary) -> Shown:
    """``Bob's device deleted 4,012 contacts: review on the Peers screen``."""
    return f"{summary.line()}: review on the Peers screen", "Mass deletion held", "warning"
