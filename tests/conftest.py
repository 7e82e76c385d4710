"""Shared fixtures: fresh profiles in temporary folders, never the user's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from plntui.network import Network


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
