"""Provides FirstRunDialog: asks the user's display name when the profile does not exist yet."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...errors import ValidationError
from ...model import clean_text


class FirstRunDialog(ModalScreen[str | None]):
    """Welcome: create the profile with a display name (as ``plntui init --name``)."""

    BINDINGS = [Binding("escape", "cancel", "Quit")]
    DEFAULT_CSS = """
    FirstRunDialog { align: center middle; }
    FirstRunDialog > Vertical {
        width: 70; max-width: 95%; height: auto; border: thick $primary; background: $surface;
        padding: 1 2;
    }
    FirstRunDialog .error { color: $error; height: auto; }
    FirstRunDialog Button { margin-top: 1; }
    """

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home = home

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Welcome to plntui", style="bold"))
            yield Static(
                Text(
                    f"A new profile will be created in {self.home}.\n"
                    "Your display name tells colleagues who added or changed what."
                )
            )
            yield Label("Your name")
            yield Input(placeholder="e.g. Alice Example", id="name")
            yield Static("", classes="error", id="error")
            yield Button("Create profile", id="create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        value = self.query_one("#name", Input).value
        try:
            name = clean_text(value, "Your name", 100)
            if not name:
                raise ValidationError("Your name is required")
        except ValidationError as err:
            self.query_one("#error", Static).update(Text(err.message))
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
