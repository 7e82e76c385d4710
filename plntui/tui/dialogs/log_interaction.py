"""Provides LogInteractionDialog: log a catch-up with a contact in one go."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ...errors import ValidationError
from ...model import INTERACTION_KINDS, Record, check_field, safe_text


class LogInteractionDialog(ModalScreen[dict[str, Any] | None]):
    """Ask kind, date and summary; dismisses with the values for ``Network.log_interaction``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    DEFAULT_CSS = """
    LogInteractionDialog { align: center middle; }
    LogInteractionDialog > Vertical {
        width: 70; max-width: 98%; height: auto; max-height: 98%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    LogInteractionDialog .error { color: $error; height: auto; }
    LogInteractionDialog Horizontal { height: auto; align-horizontal: right; }
    LogInteractionDialog Button { margin-left: 1; }
    """

    def __init__(self, contact: Record, summary: str = "") -> None:
        super().__init__()
        self.contact = contact
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text("Log an interaction with " + safe_text(self.contact.label), style="bold")
            )
            yield Label("Kind")
            yield Select(
                [(k, k) for k in INTERACTION_KINDS], value="meeting", allow_blank=False, id="kind"
            )
            yield Label("Date (YYYY-MM-DD, today, yesterday, -Nd)")
            yield Input(value="today", id="date")
            yield Static("", classes="error", id="date-error")
            yield Label("Summary")
            yield Input(value=self.summary, placeholder="What did you talk about?", id="summary")
            yield Static("", classes="error", id="summary-error")
            yield Checkbox("Share with trusted colleagues (default: private)", id="shared")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Log", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#summary", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        date = self.query_one("#date", Input).value
        summary = self.query_one("#summary", Input).value
        ok = True
        for field, value, error_id in (
            ("date", date, "#date-error"),
            ("summary", summary, "#summary-error"),
        ):
            try:
                checked = check_field("interactions", field, value)
                if field == "summary" and not checked.strip():
                    raise ValidationError("Summary is required")
                self.query_one(error_id, Static).update("")
            except ValidationError as err:
                self.query_one(error_id, Static).update(Text(err.message))
                ok = False
        if ok:
            kind = self.query_one("#kind", Select).value
            self.dismiss(
                {
                    "kind": str(kind),
                    "date": date,
                    "summary": summary,
                    "shared": self.query_one("#shared", Checkbox).value,
                }
            )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
