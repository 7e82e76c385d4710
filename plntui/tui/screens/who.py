"""Provides the who screen (placeholder until it is written)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from ..app import PlntuiScreen


class WhoScreen(PlntuiScreen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("who")
        yield Footer()

    def reload(self) -> None:
        pass
