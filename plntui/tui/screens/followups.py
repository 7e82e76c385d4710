"""Provides the follow-ups screen: contacts due or overdue for a catch-up, logged with one key."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from ...catalog import Catalog, Column
from ...model import Record, display_value, safe_text
from ...network import DueItem
from ..base import PlntuiScreen
from ..messages import ShowItem
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable

WITHIN_DAYS = 7
EMPTY = (
    "Nobody is due for a catch-up in the next 7 days. Set “Follow-up every (days)” on a "
    "contact (1, then e) to be reminded here."
)


def due_text(days_overdue: int) -> str:
    """``12`` -> "12 days overdue", ``0`` -> "due today", ``-3`` -> "in 3 days"."""
    if days_overdue > 1:
        return f"{days_overdue} days overdue"
    if days_overdue == 1:
        return "1 day overdue"
    if days_overdue == 0:
        return "due today"
    if days_overdue == -1:
        return "tomorrow"
    return f"in {-days_overdue} days"


def cadence_text(value: Any) -> str:
    try:
        days = int(value)
    except (TypeError, ValueError):
        return ""
    if days % 7 == 0 and days >= 14:
        return f"{days // 7} weeks"
    return "1 day" if days == 1 else f"{days} days"


def _one_line(value: Any) -> str:
    return " ".join(safe_text(display_value(value)).split())


class FollowupsScreen(PlntuiScreen):
    """Contacts whose next catch-up is due within a week, most overdue first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "l",
            "log",
            "Log catch-up",
            id="log",
            tooltip="Log a catch-up with this contact; they drop off until next due",
        ),
        Binding("o", "open", "Open contact", id="open", tooltip="Show this contact (or Enter)"),
    ]
    DEFAULT_CSS = """
    FollowupsScreen #summary { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._due: dict[str, DueItem] = {}
        self.catalog = Catalog(
            (
                Column("name", "Name", 20, lambda r: _one_line(r.values.get("name"))),
                Column("due", "Due", 16, lambda r: due_text(self._due[r.id].days_overdue)),
                Column(
                    "last_contacted",
                    "Last talked",
                    11,
                    lambda r: _one_line(self._due[r.id].last or "never"),
                ),
                Column(
                    "cadence_days", "Every", 8, lambda r: cadence_text(r.values.get("cadence_days"))
                ),
                Column("org", "Organisation", 0, lambda r: _one_line(r.values.get("org"))),
            )
        )

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("followups")
        yield Static("", id="summary")
        yield RecordTable(self.catalog, "Looking for follow-ups…", id="table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Follow-ups"
        self.table.focus()

    @property
    def table(self) -> RecordTable:
        return self.query_one("#table", RecordTable)

    # -- data -----------------------------------------------------------------------------------

    def reload(self) -> None:
        self._compute()

    @work(thread=True, exclusive=True, group="followups", exit_on_error=False)
    def _compute(self) -> None:
        """``Network.due`` reads every contact from the documents: a thread keeps keys flowing."""
        net = self.papp.net
        if net is None:
            return
        with self.papp.net_lock:
            items = net.due(within_days=WITHIN_DAYS)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, items)

    def _show(self, items: list[DueItem]) -> None:
        self._due = {item.contact.id: item for item in items}
        self.catalog.load([item.contact for item in items])
        self.table.empty_text = EMPTY
        self.table.refresh_rows()
        overdue = sum(1 for item in items if item.days_overdue > 0)
        today = sum(1 for item in items if item.days_overdue == 0)
        soon = len(items) - overdue - today
        summary = Text(
            f"{overdue} overdue · {today} due today · {soon} due within {WITHIN_DAYS} days"
        )
        self.query_one("#summary", Static).update(summary)

    def show_item(self, item_id: str) -> None:
        index = self.catalog.index_of(item_id)
        if index is not None:
            self.table.cursor = index
            self.table.focus()

    @on(RecordTable.SortRequested)
    def _sort(self, event: RecordTable.SortRequested) -> None:
        if event.key == "due":  # the text does not sort; the natural order is by due date
            self.catalog.sort_key, self.catalog.sort_reverse = "", False
            self.catalog.load(
                sorted(
                    (i.contact for i in self._due.values()),
                    key=lambda c: (self._due[c.id].due, c.label.casefold()),
                )
            )
        else:
            self.catalog.sort_by(event.key)
        self.table.refresh_rows()

    # -- actions --------------------------------------------------------------------------------

    @on(RecordTable.Selected)
    def _selected(self, event: RecordTable.Selected) -> None:
        self.post_message(ShowItem("contacts", event.record.id))

    def action_open(self) -> None:
        record = self.table.current
        if record is not None:
            self.post_message(ShowItem("contacts", record.id))

    def action_log(self) -> None:
        from ..dialogs.log_interaction import LogInteractionDialog

        record = self.table.current
        if record is None:
            self.papp.safe_notify("Nobody to log: no follow-up is due.", timeout=3)
            return

        def logged(values: dict[str, Any] | None) -> None:
            net = self.papp.net
            if not values or net is None:
                return
            item = self.papp.run_edit(
                net.log_interaction,
                record.id,
                values["kind"],
                values["summary"],
                values["date"],
                values.get("shared", False),
            )
            if item is not None:
                self._logged(record, item)

        self.app.push_screen(LogInteractionDialog(record, summary="Caught up"), logged)

    def _logged(self, record: Record, item: Record) -> None:
        self.papp.safe_notify(f"Logged {item.values.get('kind')} with {record.label}", timeout=3)
        self.reload()
