"""Fixtures for the app's Pilot tests: profiles with a few known items, and a quiet app."""

from __future__ import annotations

from pathlib import Path

import pytest

from plntui.network import Network
from plntui.tui.app import PlntuiApp


@pytest.fixture
def sample(home: Path) -> Network:
    """A profile with three contacts and two notes whose names the tests rely on."""
    net = Network.create(home, "Alice")
    ada = net.add(
        "contacts",
        {
            "name": "Ada Lovelace",
            "org": "Analytical Engines",
            "topics": ["mathematics", "rust"],
            "relationship": "mentor",
            "emails": ["ada@example.com"],
            "cadence_days": 30,
            "last_contacted": "2020-01-01",
        },
    )
    net.add(
        "contacts",
        {
            "name": "Grace Hopper",
            "org": "Navy",
            "topics": ["compilers", "cobol"],
            "introduced_by": ada.id,
        },
    )
    net.add(
        "contacts",
        {"name": "Linus Torvalds", "org": "Linux Foundation", "topics": ["kernels", "git"]},
    )
    net.add(
        "notes",
        {
            "title": "Reading list",
            "body": "# Books\n\n- SICP\n",
            "tags": ["books"],
            "contacts": [ada.id],
        },
    )
    net.add("notes", {"title": "Rust notes", "body": "Ownership.", "tags": ["rust"]})
    net.index().close()
    return net


@pytest.fixture
def app(sample: Network, home: Path) -> PlntuiApp:
    return PlntuiApp(home, watch_interval=0.1)
