"""Provides the dialogs of undoing a device: the date to undo from, and what was done.

After revoking a colleague's device (a stolen laptop, a script gone wrong), ``UndoDeviceDialog``
asks from which day its changes should be undone (YYYY-MM-DD, today by default); the Peers
screen then runs ``Network.undo_device`` and ``UndoReportDialog`` lists what was restored and
what was left as it is, with the reason (someone else changed it afterwards).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ...errors import ValidationError
from ...model import parse_date, safe_text, today


class UndoDeviceDialog(ModalScreen[str | None]):
    """Dismisses with the date (ISO) to undo the device's changes from, or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    UndoDeviceDialog { align: center middle; }
    UndoDeviceDialog > Vertical {
        width: 72; max-width: 95%; height: auto; border: thick $warning; background: $surface;
        padding: 1 2;
    }
    UndoDeviceDialog Input { margin-top: 1; }
    UndoDeviceDialog .error { color: $error; height: auto; }
    UndoDeviceDialog #undo-keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.device = safe_text(name)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Undo what {self.device} changed", style="bold"))
            yield Static(
                Text(
                    f"Every contact and note {self.device}'s device added, changed or deleted "
                    "since the day you give goes back to how it was before, as a new change your "
                    "colleagues receive. What someone else changed afterwards is left as it is, "
                    "and listed."
                )
            )
            yield Label("Since (YYYY-MM-DD)")
            yield Input(today().isoformat(), placeholder="YYYY-MM-DD", id="since")
            yield Static("", classes="error", id="since-error")
            yield Static("Enter undoes · Escape cancels", id="undo-keys")

    def on_mount(self) -> None:
        self.query_one("#since", Input).focus()

    @on(Input.Submitted, "#since")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            day = parse_date(event.value.strip(), "since")
        except ValidationError as err:
            self.query_one("#since-error", Static).update(Text(err.message))
            return
        if not day:
            self.query_one("#since-error", Static).update(Text("Give a date: YYYY-MM-DD."))
            return
        self.dismiss(day)

    def action_cancel(self) -> None:
        self.dismiss(None)


class UndoReportDialog(ModalScreen[None]):
    """Shows what undoing a device did; Escape or Enter closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "close", "Close")]
    DEFAULT_CSS = """
    UndoReportDialog { align: center middle; }
    UndoReportDialog > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 90%; border: thick $primary;
        background: $surface; padding: 1 2;
    }
    UndoReportDialog VerticalScroll { height: auto; max-height: 30; }
    UndoReportDialog #report-keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, report: Text) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll(id="report-scroll"):
                yield Static(self.report, id="report")
            yield Static("Enter or Escape closes", id="report-keys")

    def on_mount(self) -> None:
        self.query_one("#report-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
