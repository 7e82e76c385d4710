"""Provides ``plntui id``, ``plntui peer`` (trust, list, revoke, add, introducers) and the entry
of ``plntui pair`` (in ``pair``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PlntuiError, ValidationError
from ..model import safe_text
from .common import fingerprint_arg, open_network
from .output import out, print_json


def cmd_id(args: argparse.Namespace) -> int:
    from ..peersync import load_identity
    from ..profile import Profile, resolve_home

    profile = Profile.open(resolve_home(args.home))
    identity = _identity(load_identity, profile.home)
    if args.json:
        print_json(
            {
                "fingerprint": identity.fingerprint_text,
                "name": profile.meta.name,
                "device": profile.meta.device_id,
            }
        )
        return 0
    out(identity.fingerprint_text)
    out(f"This is {safe_text(profile.meta.name)}'s device. A colleague trusts it with:")
    out(
        f"  plntui peer trust {identity.fingerprint_text} --name "
        f"{json.dumps(profile.meta.name, ensure_ascii=False)}"
    )
    return 0


def _identity(load: Callable[[Path], Any], home: Path) -> Any:
    from sync.errors import SyncError

    try:
        return load(home)
    except SyncError as err:
        raise PlntuiError(str(err)) from None


def cmd_peer(args: argparse.Namespace) -> int:
    from sync.errors import SyncError

    from ..peersync import load_identity, open_trust
    from ..profile import Profile, resolve_home

    profile = Profile.open(resolve_home(args.home))
    try:
        trust = open_trust(profile.home)
    except SyncError as err:
        raise PlntuiError(str(err)) from None
    if args.action == "list":
        peers = trust.peers()
        shared = _circles_of_peers(args, peers)
        if args.json:
            print_json(
                [
                    {
                        "fingerprint": p.fingerprint_text,
                        "name": p.name,
                        "state": p.state,
                        "last_sync": p.last_sync.isoformat() if p.last_sync else None,
                        "addresses": list(p.addresses),
                        "introducer": p.introducer,
                        "auto_accept": p.auto_accept,
                        "introduced_by": _fp_text(p.introduced_by),
                        "circles": shared.get(p.fingerprint, []),
                        "last_error": p.last_error or None,
                    }
                    for p in peers
                ]
            )
            return 0
        if not peers:
            out(
                "No peers yet. Trust a colleague with: plntui peer trust FINGERPRINT --name NAME"
                " (they see their fingerprint with: plntui id)"
            )
        for p in peers:
            last = p.last_sync.strftime("%Y-%m-%d %H:%M") if p.last_sync else "never synced"
            out(
                f"{safe_text(p.display_name):20}  {p.state:8}  {last:16}  {p.fingerprint_text}"
                + _introducer_columns(trust, p)
            )
            circles = shared.get(p.fingerprint, [])
            if p.trusted:
                out(
                    "    circles: "
                    + (", ".join(safe_text(c) for c in circles) if circles else "none shared")
                )
            if p.last_error:
                out(f"    last problem: {safe_text(p.last_error)}")
        return 0
    if args.action == "pending":
        return _peer_pending(trust, args.json)
    if args.action == "undo":
        from .recovery import peer_undo

        return peer_undo(args)
    if args.action == "add":
        import asyncio

        from sync.probe import probe_fingerprint
        from sync.trust import parse_hostport

        try:
            host, port = parse_hostport(args.address)
            fingerprint = asyncio.run(probe_fingerprint(host, port))
        except (ValueError, SyncError) as err:
            raise ValidationError(str(err)) from None
        peer = trust.get(fingerprint)
        if peer is None or not peer.trusted:
            from sync.fingerprint import format_fingerprint

            raise ValidationError(
                f"the device at {args.address} has the fingerprint "
                f"{format_fingerprint(fingerprint)}"
                ", which you do not trust. Compare it with what plntui id shows on your "
                "colleague's machine, then run: plntui peer trust FINGERPRINT"
            )
        trust.add_address(fingerprint, args.address)
        out(f"Will reach {safe_text(peer.display_name)} at {args.address}")
        return 0
    fingerprint = fingerprint_arg(args.fingerprint)
    if args.action in ("introducer", "approve", "reject"):
        return _peer_introductions(args, trust, fingerprint, profile.home)
    if args.action == "trust":
        own = _identity(load_identity, profile.home)
        if fingerprint == own.fingerprint:
            raise ValidationError("that is this device's own fingerprint")
        if args.circle:
            open_network(args)._member_circle(args.circle)  # refuse an unknown circle first
        peer = trust.trust(fingerprint, args.name)
        out(f"Trusted {safe_text(peer.display_name)} ({peer.fingerprint_text})")
        _share_circle(args, peer)
        return 0
    try:
        peer = trust.revoke(fingerprint)
    except (LookupError, SyncError) as err:
        raise ValidationError(str(err)) from None
    out(
        f"Revoked {safe_text(peer.display_name)}: it can no longer read or change your network. "
        "What it already received stays with it."
    )
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    """``plntui pair``: open an invite and wait; ``plntui pair CODE``: join one."""
    from .pair import run_pair

    return run_pair(args)


def _fp_text(fingerprint: bytes | None) -> str | None:
    from sync.fingerprint import format_fingerprint

    return None if fingerprint is None else format_fingerprint(fingerprint)


def _peer_label(trust: Any, fingerprint: bytes) -> str:
    from sync.fingerprint import short_fingerprint

    peer = trust.get(fingerprint)
    name = peer.display_name if peer is not None else short_fingerprint(fingerprint)
    return safe_text(name)


def _introducer_columns(trust: Any, peer: Any) -> str:
    extra = ""
    if peer.introducer:
        extra += "  introducer (auto-accept)" if peer.auto_accept else "  introducer"
    if peer.introduced_by is not None:
        extra += f"  introduced by {_peer_label(trust, peer.introduced_by)}"
    return extra


def _peer_pending(trust: Any, as_json: bool) -> int:
    offers = trust.pending()
    if as_json:
        print_json(
            [
                {
                    "fingerprint": o.fingerprint_text,
                    "name": o.name,
                    "introducer": _fp_text(o.introducer),
                    "addresses": list(o.addresses),
                    "offered": o.offered.isoformat() if o.offered else None,
                }
                for o in offers
            ]
        )
        return 0
    if not offers:
        out(
            "No introductions wait for approval. Mark a trusted colleague an introducer with: "
            "plntui peer introducer FINGERPRINT"
        )
    for o in offers:
        out(
            f"{safe_text(o.display_name):20}  {o.fingerprint_text}  "
            f"offered by {_peer_label(trust, o.introducer)}"
        )
    if offers:
        out("Approve one with: plntui peer approve FINGERPRINT (or refuse it: plntui peer reject)")
    return 0


def _circles_of_peers(args: argparse.Namespace, peers: list[Any]) -> dict[bytes, list[str]]:
    """The names of the circles this device shares with each peer (both members, as seen
    here)."""
    net = open_network(args)
    circles = net.circles()
    out_: dict[bytes, list[str]] = {}
    for peer in peers:
        ids = net.circles_shared_with(peer.fingerprint)
        out_[peer.fingerprint] = sorted((circles[c].name for c in ids), key=str.casefold)
    return out_


def _share_circle(args: argparse.Namespace, peer: Any) -> None:
    """``--circle NAME`` of ``peer trust`` and ``peer approve``: add the peer to that circle."""
    if getattr(args, "circle", None):
        circle = open_network(args).add_member(args.circle, peer.fingerprint, peer.display_name)
        out(f"Added {safe_text(peer.display_name)} to circle {safe_text(circle.name)}")
    else:
        out(
            f"To share a circle with {safe_text(peer.display_name)}: plntui circle add "
            f"CIRCLE {peer.fingerprint_text}"
        )


def _peer_introductions(
    args: argparse.Namespace, trust: Any, fingerprint: bytes, home: Path
) -> int:
    """``peer introducer``, ``peer approve`` and ``peer reject``."""
    from sync.errors import SyncError

    from ..peersync import load_identity

    try:
        if args.action == "introducer":
            on = not args.off
            peer = trust.set_introducer(fingerprint, introducer=on, auto_accept=args.auto)
        elif args.action == "approve":
            peer = trust.approve(fingerprint)
        else:
            peer = trust.reject(fingerprint)
    except (LookupError, ValueError, SyncError) as err:
        raise ValidationError(str(err)) from None
    name = safe_text(peer.display_name)
    if args.action == "introducer" and not peer.introducer:
        out(f"{name} is no longer an introducer; what it offered and you did not approve is gone")
    elif args.action == "introducer":
        out(
            f"{name} is now an introducer: the peers it trusts are offered to you when you next "
            "sync with it (see plntui peer pending)"
        )
        if peer.auto_accept:
            out(
                "Auto-accept: they are trusted without asking you. If this peer is ever "
                "compromised, revoke it and the peers it introduced."
            )
    elif args.action == "approve":
        _share_circle(args, peer)
        own = _identity(load_identity, home)
        out(
            f"Trusted {name} ({peer.fingerprint_text}), introduced by "
            f"{_peer_label(trust, peer.introduced_by)}."
        )
        out(
            f"To sync, {name} must trust this device too: they run plntui peer trust "
            f"{own.fingerprint_text}, or mark {_peer_label(trust, peer.introduced_by)} an "
            "introducer and approve this device when it is offered."
        )
    else:
        out(
            f"Rejected {name}: it will not be offered again (plntui peer trust "
            f"{peer.fingerprint_text} if you change your mind)"
        )
    return 0
