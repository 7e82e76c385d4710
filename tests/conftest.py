"""Shared fixtures: fresh profiles in temporary folders, never the user's own, and a real
transit relay on 127.0.0.1 (``transit_relay``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from plntui.network import Network
from sync.relay import RelayAddress

if TYPE_CHECKING:
    from tests.transit_relay import TransitRelay


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the real user data folder."""
    monkeypatch.setenv("PLNTUI_HOME", str(tmp_path / "default-home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "profile"


@pytest.fixture
def net(home: Path) -> Network:
    return Network.create(home, "Alice")


@pytest.fixture
def transit(tmp_path: Path) -> Iterator[TransitRelay]:
    """A real Magic Wormhole transit relay (``twistd transitrelay`` from the test extra) on
    127.0.0.1 at a free port, accepting connections; stopped after the test (a test may stop
    and start it again, on the same port)."""
    from tests.transit_relay import TransitRelay

    relay = TransitRelay(tmp_path / "transit-relay").start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture
def transit_relay(transit: TransitRelay) -> RelayAddress:
    """The address of the ``transit`` relay."""
    return transit.address
