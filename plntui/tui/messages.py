"""Provides the app-wide messages."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class DataChanged(Message):
    """The network changed: ``origin`` is "local", "external" (another process) or "remote"."""

    origin: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DataChanged)


@dataclass
class ShowItem(Message):
    """Open a contact or note in its screen."""

    collection: str
    item_id: str
