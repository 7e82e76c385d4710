"""Provides the what's-new screen: what colleagues added or changed since you last looked.

It lists the contacts and notes whose last change came from another device after the moment
you last looked (``plntui.provenance``), latest first, read from the search index. Pressing
``m`` or leaving the screen marks everything shown as seen; Enter opens the item.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, Static

from ...catalog import Catalog, Column
from ...model import Record, display_value, now_stamp, safe_text
from ..base import PlntuiScreen
from ..messages import ShowItem
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable

EMPTY = "Nothing new from colleagues since you last looked."


def _one_line(value: Any) -> str:
    return " ".join(safe_text(display_value(value)).split())


class WhatsNewScreen(PlntuiScreen):
    """What colleagues added or changed since you last looked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mark_seen", "Mark seen", id="mark-seen"),
        Binding("a", "show_all", "All", id="all", tooltip="Everything colleagues did, ever"),
    ]
    DEFAULT_CSS = """
    WhatsNewScreen #since { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[str, Any] = {}
        self.catalog = Catalog(
            (
                Column("when", "When", 16, lambda r: self._cell(r, "when")),
                Column("who", "Who", 14, lambda r: self._cell(r, "who")),
                Column("what", "What", 8, lambda r: self._cell(r, "what")),
                Column(
                    "kind", "Kind", 7, lambda r: "contact" if r.collection == "contacts" else "note"
                ),
                Column("name", "Name or title", 0, lambda r: _one_line(r.label)),
            )
        )
        self.since: str | None = None  # the mark in use while the screen is open
        self.loaded_at = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("whatsnew")
        yield Static(id="since")
        yield RecordTable(self.catalog, EMPTY, id="table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "What's new"
        self.table.focus()

    @property
    def table(self) -> RecordTable:
        return self.query_one(RecordTable)

    def _cell(self, record: Record, key: str) -> str:
        item = self._items.get(f"{record.collection}:{record.id}")
        if item is None:
            return ""
        if key == "when":
            return str(item.when)[:16].replace("T", " ")
        return _one_line(getattr(item, key))

    # -- data -----------------------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        self.since = None  # a fresh visit starts from the stored mark
        self.data_version = self.papp.data_version
        self.reload()

    def reload(self) -> None:
        from ...provenance import last_seen, whats_new

        net = self.papp.net
        if net is None:
            return
        with self.papp.net_lock:
            if self.since is None:
                self.since = last_seen(net.profile)
            self.loaded_at = now_stamp()
            items = whats_new(net, self.since)
        self._items = {f"{i.record.collection}:{i.record.id}": i for i in items}
        self.catalog.load([i.record for i in items])
        self.table.refresh_rows()
        since = self.since[:16].replace("T", " ")
        count = f"{len(items)} change{'s' if len(items) != 1 else ''} by colleagues"
        self.query_one("#since", Static).update(
            Text(f"{count} since {since} UTC" if since else f"{count}, ever")
        )

    # -- actions --------------------------------------------------------------------------------

    def action_mark_seen(self) -> None:
        self._mark()
        self.papp.safe_notify("Marked as seen.", timeout=2)

    def action_show_all(self) -> None:
        self.since = ""
        self.reload()

    def _mark(self) -> None:
        from ...provenance import mark_seen

        net = self.papp.net
        if net is None or not self.loaded_at:
            return
        mark_seen(net.profile, self.loaded_at)  # our clock: never a colleague's stamp

    def on_screen_suspend(self) -> None:
        from textual.screen import ModalScreen

        if isinstance(self.app.screen, ModalScreen):
            return  # a dialog or the palette over the list: still looking
        self._mark()  # leaving the screen: what it showed has been seen

    @on(RecordTable.Selected)
    def _open(self, event: RecordTable.Selected) -> None:
        self.post_message(ShowItem(event.record.collection, event.record.id))
