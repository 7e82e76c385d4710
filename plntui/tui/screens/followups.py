"""Provides the follow-ups screen: contacts due or overdue for a catch-up (their cadence ran out,
or a dated reminder is due; see ``reminders``), logged with one key, snoozed (``z``) or their
reminder done (``x``). Every distance is in days ("21 days", never "3 weeks" beside "120 days")."""

from __future__ import annotations

import datetime as _dt
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
from ...reminders import cadence_text, due_text
from ...settings import list_sort, save_list_sort
from ..base import PlntuiScreen
from ..messages import ShowItem
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable

WITHIN_DAYS = 7
"""The screen lists what is due in the next 7 days: today and the 6 after it, so that a
follow-up snoozed for a week (``z``, Enter) leaves the list."""
EMPTY = (
    "Nobody is due for a catch-up in the next 7 days. Set “Follow-up every (days)” on a "
    "contact (1, then e), or a dated reminder (plntui remind), to be reminded here."
)
__all__ = ["FollowupsScreen", "cadence_text", "due_text"]


def _one_line(value: Any) -> str:
    return " ".join(safe_text(display_value(value)).split())


def _org(record: Record) -> str:
    return _one_line(record.values.get("org"))


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
        Binding(
            "z",
            "snooze",
            "Snooze",
            id="snooze",
            tooltip="Postpone this follow-up (7 days unless you say otherwise)",
        ),
        Binding(
            "x",
            "done",
            "Reminder done",
            id="done",
            tooltip="Forget this contact's reminder: the follow-up cadence applies again",
        ),
        Binding("o", "open", "Open contact", id="open", tooltip="Show this contact (or Enter)"),
    ]
    DEFAULT_CSS = """
    FollowupsScreen #summary { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._due: dict[str, DueItem] = {}
        self._done_shown = False  # "x Reminder done" is in the footer
        common = (
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
        )
        # the Reminder column is shown when a contact listed has a reminder
        self._plain = (*common, Column("org", "Organisation", 0, _org))
        self._with_reminders = (
            *common,
            Column("reminder", "Reminder", 0, self._reminder_cell, min_width=14),
            Column("org", "Organisation", 14, _org, drop=1),
        )
        self.catalog = Catalog(self._plain)

    def _reminder_cell(self, record: Record) -> str:
        """The reminder's text (its date is the Due column's when it has one)."""
        item = self._due.get(record.id)
        reminder = item.reminder if item is not None else None
        return _one_line(reminder.text) if reminder is not None else ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("followups")
        yield Static("", id="summary")
        yield RecordTable(self.catalog, "Looking for follow-ups…", id="table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Follow-ups"
        self._restore_sort()
        self.table.focus()

    # -- the sort, remembered per profile (``settings.json``) -----------------------------------

    def _restore_sort(self) -> None:
        found = list_sort(self.papp.home, "followups")
        keys = {c.key for c in self._with_reminders}
        if found is not None and found[0] in keys:
            self.catalog.sort_key, self.catalog.sort_reverse = found
            if found[0] == "due":  # the natural order (by due date)
                self.catalog.sort_key, self.catalog.sort_reverse = "", False

    def _remember_sort(self) -> None:
        try:
            save_list_sort(
                self.papp.home,
                "followups",
                self.catalog.sort_key or "due",
                self.catalog.sort_reverse,
            )
        except OSError:  # a read-only profile: the sort is only forgotten
            pass

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
            items = net.due(within_days=WITHIN_DAYS - 1)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, items)

    def _show(self, items: list[DueItem]) -> None:
        self._due = {item.contact.id: item for item in items}
        reminders = any(item.reminder is not None for item in items)
        self.catalog.columns = self._with_reminders if reminders else self._plain
        if self.catalog.sort_key not in {c.key for c in self.catalog.columns}:
            self.catalog.sort_key, self.catalog.sort_reverse = "", False
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
        self._done_shown = self._current_reminder()
        self.refresh_bindings()

    def _current_reminder(self) -> bool:
        record = self.table.current
        item = self._due.get(record.id) if record is not None else None
        return item is not None and item.reminder is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action == "done":
            return self._current_reminder()
        return True

    @on(RecordTable.Highlighted)
    def _highlighted(self, event: RecordTable.Highlighted) -> None:
        if self._current_reminder() != self._done_shown:
            self._done_shown = not self._done_shown
            self.refresh_bindings()

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
        self._remember_sort()

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
        due = self._due.get(record.id)
        done = ""
        if due is not None and due.reason == "reminder" and self.papp.net is not None:
            with self.papp.net_lock:
                now = self.papp.net.get("contacts", record.id)
            if not now.values.get("reminder"):
                done = "; reminder done"
        self.papp.safe_notify(
            f"Logged {item.values.get('kind')} with {record.label}{done}", timeout=3
        )
        self.reload()

    def action_snooze(self) -> None:
        from ..dialogs.snooze import SnoozeDialog

        record = self.table.current
        if record is None:
            self.papp.safe_notify("Nothing to snooze: no follow-up is due.", timeout=3)
            return

        def chosen(day: _dt.date | None) -> None:
            net = self.papp.net
            if day is None or net is None:
                return
            done = self.papp.run_edit(net.snooze, record.id, day)
            if done is None:
                return
            contact, changed = done
            if changed:
                message = f"Snoozed {contact.label} until {day.isoformat()}"
            else:
                message = f"{contact.label} is not due before {day.isoformat()}: nothing changed"
            self.papp.safe_notify(message, timeout=4)
            self.reload()

        self.app.push_screen(SnoozeDialog(record), chosen)

    def action_done(self) -> None:
        net = self.papp.net
        record = self.table.current
        if net is None or record is None or not self._current_reminder():
            return
        done = self.papp.run_edit(net.reminder_done, record.id)
        if done is not None:
            contact, reminder = done
            what = f": {reminder.text}" if reminder.text else ""
            self.papp.safe_notify(f"Reminder done for {contact.label}{what}", timeout=4)
            self.reload()
