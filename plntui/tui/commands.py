"""Provides the command palette provider (placeholder until it is written)."""

from __future__ import annotations

from textual.command import Hits, Provider


class PlntuiCommands(Provider):
    async def search(self, query: str) -> Hits:
        return
        yield
