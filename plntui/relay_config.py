"""Provides the relay configuration: which transit relay this device uses, and the secrets it
shares with each peer to meet there.

Two places may name a relay (``tcp:HOST:PORT``, see ``sync.relay``):

* the profile (``settings.json``, ``plntui relay set`` / ``relay off``): this device's own
  choice, an address or ``off``;
* a circle's document (``settings.relay``, ``plntui relay set --circle NAME``): its members get
  the setting with the circle.

The effective relay (``resolve``): the profile's ``off`` turns the relay off, even when a circle
names one; else the profile's address; else the relay of the first circle (by id) this device is
a member of that names a valid one; else none. A setting that does not parse is ignored (and
shown as such by ``plntui relay show``).

Two peers meet at the relay under a token only they can compute (``sync.relay.peer_token``),
from a secret they share: the pair secret of pairing by code (kept in the trust store), else
the secret of a circle both are members of (``relay_secrets``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sync.relay import RelayAddress, parse_relay

from .circles import Circle
from .settings import read_settings, update_settings

if TYPE_CHECKING:
    from .network import Network

OFF: Final = "off"
SETTING: Final = "relay"
Source = Literal["profile", "circle", "off", "none"]


def profile_relay(home: Path) -> str | None:
    """The profile's setting as stored: ``None`` (unset), ``"off"``, or an address text (which
    may not parse, if the file was edited by hand)."""
    value = read_settings(home).get(SETTING)
    if not isinstance(value, str) or not value.strip():
        return None
    return OFF if value.strip().lower() == OFF else value.strip()


def set_profile_relay(home: Path, value: RelayAddress | Literal["off"] | None) -> None:
    """Store the profile's setting: an address, ``"off"``, or ``None`` to unset it."""
    text = value.text if isinstance(value, RelayAddress) else value
    update_settings(home, **{SETTING: text})


def parse_or_none(text: str | None) -> RelayAddress | None:
    if text is None:
        return None
    try:
        return parse_relay(text)
    except ValueError:
        return None


def circle_relay(circle: Circle) -> RelayAddress | None:
    """The circle's relay, ``None`` when it names none or one that does not parse."""
    return parse_or_none(circle.relay_text)


@dataclass(frozen=True, slots=True)
class EffectiveRelay:
    """The relay this device uses, and where that comes from."""

    relay: RelayAddress | None
    source: Source
    circle: Circle | None = None
    """The circle whose setting it is (``source == "circle"``)."""

    @property
    def origin(self) -> str:
        """Where it comes from, in words: "your profile", "circle Data team"..."""
        if self.source == "profile":
            return "your profile"
        if self.source == "circle" and self.circle is not None:
            return f"circle {self.circle.name}"
        if self.source == "off":
            return "your profile (relay off)"
        return "no setting"

    def describe(self) -> str:
        """One line: "tcp:relay.example:4001 (from circle Data team)", "off (your profile)"."""
        if self.relay is not None:
            return f"{self.relay} (from {self.origin})"
        if self.source == "off":
            return "off (your profile turns the relay off)"
        return "none (no relay is configured)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "relay": None if self.relay is None else self.relay.text,
            "source": self.source,
            "circle": (
                None if self.circle is None else {"id": self.circle.id, "name": self.circle.name}
            ),
        }


def resolve(profile_value: str | None, circles: Iterable[Circle]) -> EffectiveRelay:
    """The effective relay (see the module docstring); pure."""
    if profile_value == OFF:
        return EffectiveRelay(None, "off")
    mine = parse_or_none(profile_value)
    if mine is not None:
        return EffectiveRelay(mine, "profile")
    for circle in sorted(circles, key=lambda c: c.id):
        relay = circle_relay(circle) if circle.member else None
        if relay is not None:
            return EffectiveRelay(relay, "circle", circle)
    return EffectiveRelay(None, "none")


def effective_relay(net: Network) -> EffectiveRelay:
    """The effective relay of ``net``'s profile (reads the circles under the network's lock)."""
    with net.lock:
        circles = list(net.circles().values())
    return resolve(profile_relay(net.profile.home), circles)


def shared_secrets(circles: Iterable[Circle], peer_fingerprint: bytes) -> list[bytes]:
    """The secrets of the circles this device and the peer are both members of, sorted by
    circle id (a circle without a secret yet has none to give); pure."""
    key = peer_fingerprint.hex()
    return [
        c.secret
        for c in sorted(circles, key=lambda c: c.id)
        if c.member and key in c.members and c.secret is not None
    ]


def relay_secrets(net: Network, peer_fingerprint: bytes) -> list[bytes]:
    """``shared_secrets`` over ``net``'s circles, read under the network's lock (the sync
    engine calls it from its own thread)."""
    with net.lock:
        circles = list(net.circles().values())
    return shared_secrets(circles, peer_fingerprint)
