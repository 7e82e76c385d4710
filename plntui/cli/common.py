"""Provides what several commands share: opening the profile's network, the ``--circle`` and
``--added-by`` filters, and reading a fingerprint given on the command line."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ValidationError
from ..model import Record


def open_network(args: argparse.Namespace) -> Any:
    """The network of the profile ``--home`` names (``Network.open``)."""
    from ..network import Network

    return Network.open(args.home)


def added_by(net: Any, collection: str, name: str | None) -> list[Record]:
    """Every record of ``collection`` (from the index), or those added by devices named so."""
    if name is None:
        return net.index().list(collection)  # type: ignore[no-any-return]
    from ..provenance import actors_named, device_names

    names = device_names(net)
    actors = actors_named(net, name, names)
    if not actors:
        known = ", ".join(sorted(set(names.values()), key=str.casefold)) or "none yet"
        raise ValidationError(f"no device is named {name!r} (devices: {known})", "added-by")
    return net.index().created_by(collection, actors)  # type: ignore[no-any-return]


def in_circle(net: Any, records: list[Record], circle: str | None) -> list[Record]:
    """Only the records of one circle (``--circle NAME``), or all of them."""
    if not circle:
        return records
    wanted = net.circle(circle).id
    return [r for r in records if r.circle == wanted and not r.private_item]


def fingerprint_arg(text: str) -> bytes:
    """A fingerprint given on the command line; a malformed one is a ``ValidationError``."""
    from sync.fingerprint import parse_fingerprint

    try:
        return parse_fingerprint(text)
    except ValueError as err:
        raise ValidationError(str(err)) from None
