"""Provides SyncStatus: the sync state in the header of every screen, always visible.

"offline", or how many trusted peers are connected and how long ago the last sync was
("2 peers · synced 12 s ago"). It follows the app's ``sync_snapshot`` and ticks every second;
a click opens the peers screen. A warning of a running sync ("discovery off: <reason>") marks
the line "⚠" in the warning colour; the tooltip says it (or why sync failed). The tooltip is a
plain ``Text`` too: an error may quote a peer's or the system's text, never markup.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.events import Click
from textual.widgets import Static

from .. import sync_service
from ..sync_service import SyncSnapshot


class SyncStatus(Static):
    """The sync status line (plain text: it may hold peer data one day, never markup)."""

    DEFAULT_CSS = """
    SyncStatus { dock: right; width: auto; max-width: 40; height: 1; padding: 0 1; }
    SyncStatus.-offline { color: $text-muted; }
    SyncStatus.-failed { color: $error; }
    SyncStatus.-connected { color: $success; }
    SyncStatus.-warning { color: $warning; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "sync_snapshot", self._show, init=True)
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        self._show(getattr(self.app, "sync_snapshot", None))

    def _show(self, snapshot: Any) -> None:
        if not isinstance(snapshot, SyncSnapshot):
            return
        text = sync_service.status_text(snapshot, sync_service.utcnow())
        self.set_class(snapshot.state == "offline", "-offline")
        self.set_class(snapshot.state == "failed", "-failed")
        running = snapshot.state == "running"
        warning = snapshot.warning if running else ""
        self.set_class(running and snapshot.connected > 0 and not warning, "-connected")
        self.set_class(bool(warning), "-warning")
        tip = snapshot.error or warning
        self.tooltip = Text(
            f"{tip}\nPeers and sync: click to open" if tip else "Peers and sync: click to open"
        )
        mark = ("⚠ " if warning else "● ") if running else ""
        self.update(Text(mark + text))

    async def on_click(self, event: Click) -> None:
        event.stop()
        self.app.switch_mode("peers")
