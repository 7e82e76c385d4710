"""Provides the commands on the profile itself: ``init``, ``rename``, ``repair`` and ``compact``."""

from __future__ import annotations

import argparse

from ..model import safe_text
from .common import open_network
from .output import out


def cmd_init(args: argparse.Namespace) -> int:
    from ..network import Network

    net = Network.create(args.home, args.name)
    out(f"Created the profile of {net.profile.meta.name} in {net.profile.home}")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    net = open_network(args)
    old = net.profile.meta.name
    net.rename_device(args.name)
    out(f"Renamed {safe_text(old)} to {safe_text(net.profile.meta.name)}")
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    from ..profile import Profile, resolve_home

    profile = Profile.open(resolve_home(args.home))
    profile.claim_session("plntui repair")
    try:
        found = profile.repair()
    finally:
        profile.release_session()
    if not found:
        out("Nothing damaged; the profile is fine.")
    for line in found:
        out(f"Set aside: {line}")
    if found:
        out(
            "The profile now holds everything that could be read (what was set aside stays in "
            "repo.sqlite3's damaged table); colleagues' copies come back with the next sync."
        )
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    net = open_network(args)
    count = net.profile.compact()
    out(f"Compacted {count} document(s).")
    return 0
