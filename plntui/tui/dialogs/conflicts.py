"""Provides ConflictDialog: choose which value a field keeps when two devices set it at once.

Automerge keeps every value set concurrently and shows one; ``Network.conflicts_of`` lists them,
the one shown first. The dialog lists the values of each conflicted field of one contact or
note, with the device that set each; Enter keeps the highlighted one (``Network
.resolve_conflict``, written for everyone), Escape leaves the field as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...model import Record, safe_text
from ..recovery import conflict_choice

SEPARATOR = "\x00"


class ConflictDialog(ModalScreen[tuple[str, int] | None]):
    """Dismisses with ``(field, pick)`` (pick: 1-based, as listed), or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ConflictDialog { align: center middle; }
    ConflictDialog > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 90%; border: thick $warning;
        background: $surface; padding: 1 2;
    }
    ConflictDialog OptionList { height: auto; max-height: 20; margin: 1 0; }
    ConflictDialog #conflict-keys { color: $text-muted; }
    """

    def __init__(self, record: Record, conflicts: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        self.record = record
        self.conflicts = list(conflicts)

    def compose(self) -> ComposeResult:
        options: list[Option | None] = []
        for conflict in self.conflicts:
            if options:
                options.append(None)
            for n, value in enumerate(conflict["values"], 1):
                text = conflict_choice(self.record.collection, conflict["field"], value, n == 1)
                options.append(Option(Text(text), id=f"{conflict['field']}{SEPARATOR}{n}"))
        with Vertical():
            yield Static(Text(safe_text(self.record.label), style="bold"))
            yield Static(
                Text(
                    "Colleagues set these fields at the same time, to different values. Keep "
                    "one: the others go, for everyone."
                )
            )
            yield OptionList(*options, id="values")
            yield Static(
                "Enter keeps the highlighted value · Escape decides later", id="conflict-keys"
            )

    def on_mount(self) -> None:
        self.query_one("#values", OptionList).focus()

    @on(OptionList.OptionSelected, "#values")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        field, _sep, pick = (event.option.id or "").partition(SEPARATOR)
        if field and pick.isdigit():
            self.dismiss((field, int(pick)))

    def action_cancel(self) -> None:
        self.dismiss(None)
