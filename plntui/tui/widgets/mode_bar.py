"""Provides ModeBar: the tabs of the app's screens (1-7), clickable, with the active one lit."""

from __future__ import annotations

from textual import on
from textual.widgets import Tab, Tabs

MODES = (
    ("contacts", "1 Contacts"),
    ("notes", "2 Notes"),
    ("who", "3 Who knows"),
    ("followups", "4 Follow-ups"),
    ("whatsnew", "5 What's new"),
    ("peers", "6 Peers"),
    ("trash", "7 Trash"),
)


class ModeBar(Tabs):
    """Shows which screen is open; clicking a tab switches to it."""

    DEFAULT_CSS = """
    ModeBar { height: 2; }
    """

    def __init__(self, active: str) -> None:
        super().__init__(
            *(Tab(label, id=f"mode-{mode}") for mode, label in MODES), active=f"mode-{active}"
        )
        self.mode = active
        self.can_focus = False

    @on(Tabs.TabActivated)
    def _activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        mode = (event.tab.id or "").removeprefix("mode-")
        if mode and mode != self.mode:
            self.active = f"mode-{self.mode}"  # the screen of that mode shows its own bar
            self.app.switch_mode(mode)
