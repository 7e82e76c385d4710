"""Provides the circle dialogs: pick the circle a list shows, and choose a peer's circles.

``CirclePickerDialog`` (the palette's "Show circle…") lists every circle with how many contacts
and notes it holds, "Private" and "All circles"; it dismisses with the word the list's filter
gets (``circle:WORD``), "" for all, or None. ``PeerCirclesDialog`` (``c`` on the Peers screen)
ticks the circles a trusted colleague is a member of and dismisses with the ids ticked.
Circle and peer names are data (a peer may name a circle anything): every text here is a plain
``Text``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from ...catalog import PRIVATE_CIRCLE, circle_word
from ...model import safe_text

ALL = ""
"""The picker's answer for every circle (the filter loses its ``circle:`` word)."""


@dataclass(frozen=True, slots=True)
class CircleEntry:
    """One circle as the picker lists it."""

    id: str
    name: str
    member: bool
    contacts: int = 0
    notes: int = 0


def circle_entries(index: Any) -> list[CircleEntry]:
    """Every circle the search index knows, by name, with its counts (network lock held)."""
    counts: Mapping[str, Mapping[str, int]] = index.circle_counts()
    return sorted(
        (
            CircleEntry(
                c["id"],
                safe_text(c["name"]),
                bool(c["member"]),
                counts.get(c["id"], {}).get("contacts", 0),
                counts.get(c["id"], {}).get("notes", 0),
            )
            for c in index.circles()
        ),
        key=lambda c: (c.name.casefold(), c.id),
    )


def filter_word(entry: CircleEntry, entries: Sequence[CircleEntry]) -> str:
    """The word ``circle:WORD`` that keeps exactly this circle: its name as one word, or its
    id when another circle has the same word."""
    word = circle_word(entry.name)
    if not word or any(e.id != entry.id and circle_word(e.name) == word for e in entries):
        return entry.id
    return word


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class CirclePickerDialog(ModalScreen[str | None]):
    """Choose the circle the list shows; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    CirclePickerDialog { align: center middle; }
    CirclePickerDialog > Vertical {
        width: 70; max-width: 95%; height: auto; max-height: 90%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    CirclePickerDialog OptionList { height: auto; max-height: 20; margin: 1 0; }
    CirclePickerDialog #keys { color: $text-muted; }
    """

    def __init__(self, entries: Sequence[CircleEntry], current: str | None = None) -> None:
        """``current``: the filter word shown now (highlighted first)."""
        super().__init__()
        self.entries = list(entries)
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option(Text("All circles"), id="all")]
        for entry in self.entries:
            label = Text(entry.name, style="bold")
            label.append(
                f"  {_plural(entry.contacts, 'contact')} · {_plural(entry.notes, 'note')}",
                style="dim",
            )
            if not entry.member:
                label.append("  (you left it)", style="italic dim")
            options.append(Option(label, id=f"c:{filter_word(entry, self.entries)}"))
        options.append(
            Option(Text("Private: what never leaves this device"), id=f"c:{PRIVATE_CIRCLE}")
        )
        with Vertical():
            yield Static(Text("Show circle", style="bold"))
            yield OptionList(*options, id="circles")
            yield Static(Text("Enter shows it · Escape leaves the list as it is"), id="keys")

    def on_mount(self) -> None:
        circles = self.query_one("#circles", OptionList)
        wanted = f"c:{self.current}" if self.current else "all"
        try:
            circles.highlighted = circles.get_option_index(wanted)
        except Exception:  # the filter names no circle of the list
            circles.highlighted = 0
        circles.focus()

    @on(OptionList.OptionSelected, "#circles")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or "all"
        self.dismiss(ALL if option_id == "all" else option_id[2:])

    def action_cancel(self) -> None:
        self.dismiss(None)


class PeerCirclesDialog(ModalScreen[set[str] | None]):
    """Tick the circles a trusted colleague is a member of (Space ticks, Ctrl+S saves, Escape
    cancels); dismisses with the ids ticked, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]
    DEFAULT_CSS = """
    PeerCirclesDialog { align: center middle; }
    PeerCirclesDialog > Vertical {
        width: 70; max-width: 95%; height: auto; max-height: 90%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    PeerCirclesDialog SelectionList { height: auto; max-height: 16; margin: 1 0; }
    PeerCirclesDialog #explain, PeerCirclesDialog #keys { color: $text-muted; }
    PeerCirclesDialog Horizontal { height: auto; align-horizontal: right; }
    PeerCirclesDialog Button { margin-left: 1; }
    """

    def __init__(
        self, peer_name: str, circles: Sequence[tuple[str, str]], members_of: set[str]
    ) -> None:
        """``circles``: (id, name) of the circles this device is a member of; ``members_of``:
        the ids of those the colleague is in now."""
        super().__init__()
        self.peer_name = safe_text(peer_name)
        self.circles = list(circles)
        self.members_of = set(members_of)

    def compose(self) -> ComposeResult:
        name = self.peer_name
        with Vertical():
            yield Static(Text(f"Circles shared with {name}", style="bold"))
            yield Static(Text("Space ticks · Ctrl+S saves · Escape cancels"), id="keys")
            if self.circles:
                ticked = self.members_of
                yield SelectionList[str](
                    *(
                        Selection(Text(safe_text(label)), circle_id, circle_id in ticked)
                        for circle_id, label in self.circles
                    ),
                    id="circles",
                )
            else:
                yield Label(Text("You are in no circle yet."))
            yield Static(
                Text(
                    f"{name} receives the contacts and notes of the circles ticked, and "
                    "may change them; untick one and they no longer sync it with you (what "
                    "they already received stays with them)."
                ),
                id="explain",
            )
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        for circles in self.query("#circles").results(SelectionList):
            circles.focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        ticked: set[str] = set()
        for circles in self.query("#circles").results(SelectionList):
            ticked = {str(value) for value in circles.selected}
        self.dismiss(ticked)

    def action_cancel(self) -> None:
        self.dismiss(None)
