"""Provides SnoozeDialog: until when to postpone a contact's follow-up (7 days unless changed)."""

from __future__ import annotations

import datetime as _dt

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ... import model
from ...errors import ValidationError
from ...model import Record, safe_text
from ...reminders import WHEN_HELP, parse_when, when_text

DEFAULT = "7d"


class SnoozeDialog(ModalScreen[_dt.date | None]):
    """Ask until when; dismisses with the day (later than today), or None (Escape, Cancel).
    The answer starts as ``7d``: Enter alone snoozes for a week."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    SnoozeDialog { align: center middle; }
    SnoozeDialog > Vertical {
        width: 64; max-width: 98%; height: auto; max-height: 98%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    SnoozeDialog #when-hint { color: $text-muted; height: auto; }
    SnoozeDialog .error { color: $error; height: auto; }
    SnoozeDialog Horizontal { height: auto; align-horizontal: right; }
    SnoozeDialog Button { margin-left: 1; }
    """

    def __init__(self, contact: Record) -> None:
        super().__init__()
        self.contact = contact

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Snooze the follow-up with " + safe_text(self.contact.label)))
            yield Label("Until")
            yield Input(value=DEFAULT, id="when")
            yield Static(self._hint(DEFAULT), id="when-hint")
            yield Static("", classes="error", id="when-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Snooze", id="snooze", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#when", Input).focus()

    @staticmethod
    def _day(text: str) -> _dt.date:
        today = model.today()
        day = parse_when(text, today)
        if day <= today:
            raise ValidationError("snooze until a later day than today")
        return day

    def _hint(self, text: str) -> Text:
        try:
            return Text(when_text(self._day(text), model.today()))
        except ValidationError:
            return Text(WHEN_HELP)

    @on(Input.Changed, "#when")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#when-hint", Static).update(self._hint(event.value))
        self.query_one("#when-error", Static).update("")

    @on(Input.Submitted)
    @on(Button.Pressed, "#snooze")
    def action_snooze(self) -> None:
        try:
            day = self._day(self.query_one("#when", Input).value)
        except ValidationError as err:
            self.query_one("#when-error", Static).update(Text(err.message))
            return
        self.dismiss(day)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
