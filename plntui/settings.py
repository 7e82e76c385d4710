"""Provides the profile's local settings: what this device alone prefers, never synced.

``settings.json`` in the profile folder holds one JSON object::

    theme          str: the app's colour theme
    relay          str: the transit relay to use (``tcp:HOST:PORT``), or ``off`` (see
                   ``relay_config``)
    sort           object: each list's sort, by list name ("contacts", "notes"):
                   ``{"column": KEY, "reverse": BOOL}`` (see ``list_sort``)
    export_folder  str: the folder the app's last export went to (offered next time)
    not_duplicates list of "ID:ID": contact pairs marked as two people (see ``dedupe``)

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


SORT = "sort"


def list_sort(home: Path, name: str) -> tuple[str, bool] | None:
    """The sort stored for the list ``name``: (column key, reversed), or None."""
    found = read_settings(home).get(SORT)
    entry = found.get(name) if isinstance(found, dict) else None
    if not isinstance(entry, dict):
        return None
    column, reverse = entry.get("column"), entry.get("reverse", False)
    if not isinstance(column, str) or not column or not isinstance(reverse, bool):
        return None
    return column, reverse


def save_list_sort(home: Path, name: str, column: str, reverse: bool) -> None:
    """Remember the sort of the list ``name``, keeping the other lists' and settings."""
    found = read_settings(home).get(SORT)
    sorts = dict(found) if isinstance(found, dict) else {}
    sorts[name] = {"column": column, "reverse": reverse}
    update_settings(home, **{SORT: sorts})
