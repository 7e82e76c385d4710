"""Provides PlntuiScreen, the base of the app's mode screens (contacts, notes, who knows...).

The screens import it from here, and the app (``app``) imports the screens when a mode is first
shown: neither needs the other's module to load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from .app import PlntuiApp


class PlntuiScreen(Screen[None]):
    """Base of the mode screens: ``reload()`` is called when the network changed."""

    data_version = -1

    @property
    def papp(self) -> PlntuiApp:
        return self.app  # type: ignore[return-value]

    def reload(self) -> None:  # pragma: no cover - every screen overrides it
        """Re-read what the screen shows, keeping the cursor and any edit in progress."""

    def on_screen_resume(self) -> None:
        if self.data_version != self.papp.data_version:
            self.data_version = self.papp.data_version
            self.reload()

    def show_item(self, item_id: str) -> None:
        """Move the cursor to ``item_id`` (for jumps from the palette or another screen)."""

    def on_mount(self) -> None:
        """Every mode screen shows the sync status in its header (subclasses' on_mount too)."""
        from textual.widgets import Header

        from .widgets.sync_status import SyncStatus

        for header in self.query(Header):
            header.mount(SyncStatus())
