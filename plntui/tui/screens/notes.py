"""Provides the notes screen (placeholder until it is written)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from ..app import PlntuiScreen


class NotesScreen(PlntuiScreen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("notes")
        yield Footer()

    def reload(self) -> None:
        pass
