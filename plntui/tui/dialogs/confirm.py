"""Provides ConfirmDialog: a yes/no question."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask a question; dismisses with True (y, or Enter on the Yes button) or False (n, Escape,
    or Enter on Cancel).

    The focus starts on Cancel (``default="no"``), so that Enter pressed out of habit changes
    nothing: every question asked here is about something hard to take back (deleting,
    revoking, restoring an old version, applying a colleague's mass deletion).
    ``default="yes"`` starts on the Yes button instead."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical {
        width: 60; max-width: 95%; height: auto; border: thick $warning; background: $surface;
        padding: 1 2;
    }
    ConfirmDialog Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmDialog Button { margin-left: 2; }
    """

    def __init__(
        self, question: str, yes: str = "Yes", no: str = "Cancel", default: str = "no"
    ) -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no
        self.default = "no" if default == "no" else "yes"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question))
            with Horizontal():
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one(f"#{self.default}", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
