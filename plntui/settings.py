"""Provides the profile's local settings: what this device alone prefers, never synced.

``settings.json`` in the profile folder holds one JSON object::

    theme   str: the app's colour theme
    relay   str: the transit relay to use (``tcp:HOST:PORT``), or ``off`` (see ``relay_config``)

A missing or unreadable file reads as no settings. Every write replaces the file atomically and
keeps the keys it does not change, so the app saving its theme never drops the relay that
``plntui relay set`` wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .store import atomic_write

FILE_NAME = "settings.json"
Stamp = tuple[int, int, int] | None
"""What ``stamp`` tells of the file: changes whenever it is written (``None``: no file)."""


def settings_path(home: Path) -> Path:
    return home / FILE_NAME


def read_settings(home: Path) -> dict[str, Any]:
    """The settings as stored; ``{}`` when the file is missing or not a JSON object."""
    try:
        data = json.loads(settings_path(home).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_settings(home: Path, **changes: Any) -> dict[str, Any]:
    """Set the given keys (``None`` removes one), keep the others; returns what is stored."""
    settings = read_settings(home)
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    atomic_write(settings_path(home), json.dumps(settings, indent=2).encode())
    return settings


def stamp(home: Path) -> Stamp:
    """Cheap to poll: the file's inode, size and modification time (an atomic write always
    makes a new inode)."""
    try:
        found = os.stat(settings_path(home))
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)
