"""Provides ``plntui relay``: the transit relay this device, or a circle's members, meet at.

``relay set tcp:HOST:PORT`` chooses it for this device (``--circle NAME``: writes it into the
circle's document, so its members get it); ``relay off`` turns it off on this device even where
a circle names one (``--circle NAME``: the circle names none any more); ``relay unset`` forgets
this device's own choice, so the circles' relay applies again; ``relay show`` says which relay
is used and why (see ``plntui.relay_config``). A running ``plntui sync`` or app follows a change
within a moment.

Setting a relay also gives the circles concerned a secret, if they have none yet: members who
never paired by code meet at the relay under tokens made from it.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ValidationError
from ..model import safe_text
from .common import open_network
from .output import out, print_json


def cmd_relay(args: argparse.Namespace) -> int:
    if args.action == "set":
        return _set(args)
    if args.action == "off":
        return _off(args)
    if args.action == "unset":
        return _unset(args)
    return _show(args)


def _address(text: str) -> Any:
    from sync.relay import parse_relay

    try:
        return parse_relay(text)
    except ValueError as err:
        raise ValidationError(str(err), "relay") from None


def _set(args: argparse.Namespace) -> int:
    from ..circles import RELAY_SETTING
    from ..relay_config import effective_relay, set_profile_relay

    relay = _address(args.address)  # before anything is opened or written
    net = open_network(args)
    if args.circle is not None:
        circle = net.set_circle_setting(args.circle, RELAY_SETTING, relay.text)
        net.ensure_circle_secrets([circle.id])
        out(
            f"Circle {safe_text(circle.name)} now names the relay {relay}: its members use it "
            "once they have synced the circle"
        )
    else:
        set_profile_relay(net.profile.home, relay)
        net.ensure_circle_secrets()
        out(
            f"This device meets colleagues at the relay {relay} when neither the LAN nor a "
            "stored address reaches them"
        )
    _effective_line(effective_relay(net))
    return 0


def _off(args: argparse.Namespace) -> int:
    from ..circles import RELAY_SETTING
    from ..relay_config import OFF, effective_relay, set_profile_relay

    net = open_network(args)
    if args.circle is not None:
        circle = net.set_circle_setting(args.circle, RELAY_SETTING, None)
        out(f"Circle {safe_text(circle.name)} names no relay any more (for all its members)")
    else:
        set_profile_relay(net.profile.home, OFF)
        out(
            "The relay is off on this device, even where a circle names one "
            "(plntui relay unset follows the circles again)"
        )
    _effective_line(effective_relay(net))
    return 0


def _unset(args: argparse.Namespace) -> int:
    from ..relay_config import effective_relay, set_profile_relay

    net = open_network(args)
    set_profile_relay(net.profile.home, None)
    out("This device has no relay setting of its own: a circle's relay applies, if one names it")
    _effective_line(effective_relay(net))
    return 0


def _effective_line(effective: Any) -> None:
    out(f"relay in use: {safe_text(effective.describe())}")


def _show(args: argparse.Namespace) -> int:
    from ..relay_config import circle_relay, parse_or_none, profile_relay, resolve

    net = open_network(args)
    with net.lock:
        circles = sorted(net.circles().values(), key=lambda c: c.id)
    mine = profile_relay(net.profile.home)
    effective = resolve(mine, circles)
    if args.json:
        print_json(
            {
                **effective.as_dict(),
                "profile": mine,
                "profile_valid": mine is None or mine == "off" or parse_or_none(mine) is not None,
                "circles": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "member": c.member,
                        "relay": c.relay_text,
                        "valid": c.relay_text is None or circle_relay(c) is not None,
                        "secret": c.secret is not None,
                    }
                    for c in circles
                ],
            }
        )
        return 0
    out(f"relay in use: {safe_text(effective.describe())}")
    if mine is None:
        profile = "not set (a circle's relay applies)"
    elif mine == "off":
        profile = "off (plntui relay unset follows the circles again)"
    elif parse_or_none(mine) is None:
        profile = f"{mine!r}: not a relay address, ignored (plntui relay set tcp:HOST:PORT)"
    else:
        profile = mine
    out(f"this device: {safe_text(profile)}")
    if circles:
        out("circles:")
    for c in circles:
        if c.relay_text is None:
            setting = "no relay"
        elif circle_relay(c) is None:
            setting = f"{c.relay_text!r} (not a relay address: ignored)"
        else:
            setting = c.relay_text
        notes = []
        if effective.circle is not None and effective.circle.id == c.id:
            notes.append("in use")
        if not c.member:
            notes.append("you left it: ignored")
        if c.secret is None:
            notes.append("no secret yet")
        extra = f"  [{', '.join(notes)}]" if notes else ""
        out(f"  {safe_text(c.name)} ({c.id}): {safe_text(setting)}{extra}")
    return 0
