"""Provides the who-knows screen: type a topic, see who in your network knows it, best first.

The list has the focus when the screen opens, so the screen numbers switch screens at once, as
everywhere (``3`` then ``4`` goes on to Follow-ups). A letter typed on the list starts a new
topic: it goes into the topic box, which takes the focus, and what follows (digits too) is typed
there. ``/`` moves to the topic box keeping its text, so a topic that starts with a digit
("3d printing") is typed after ``/``. Enter or Escape goes back to the list; → moves to the
notes on the topic, ← back to the people.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from ...catalog import Catalog, Column
from ...model import Record, display_value, normalise_topic, safe_text
from ..base import PlntuiScreen
from ..messages import ShowItem
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable

DEBOUNCE_SECONDS = 0.15
PEOPLE_LIMIT = 200
NOTES_LIMIT = 50
PROMPT = "Type a topic above (e.g. rust, hiring, grant writing) to see who knows it."


def _one_line(value: Any) -> str:
    return " ".join(safe_text(display_value(value)).split())


class WhoScreen(PlntuiScreen):
    """Who in your network knows a topic: ranked people, why, and notes on the topic."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "focus_topic",
            "Topic",
            id="topic",
            tooltip="Edit the topic (or just type a topic on the list; after / it may start "
            "with a digit)",
        ),
        # priority: before the list's own (idle) arrow keys; only on a list (check_action), so
        # that in the topic box the arrows move the cursor
        Binding(
            "right",
            "focus_notes",
            "Notes",
            id="notes",
            key_display="→",
            priority=True,
            tooltip="Move to the notes on the topic",
        ),
        Binding(
            "left",
            "focus_people",
            "People",
            id="people",
            key_display="←",
            priority=True,
            tooltip="Back to the people who know the topic",
        ),
        Binding("escape", "leave_topic", "Back to list", show=False),
    ]
    AUTO_FOCUS = "#table"  # the screen numbers work at once; a letter starts the topic
    DEFAULT_CSS = """
    WhoScreen #who-side { width: 1fr; min-width: 30; border-left: vkey $panel; }
    WhoScreen #person { height: auto; max-height: 50%; padding: 0 1; }
    WhoScreen #notes-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    WhoScreen #notes { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._reasons: dict[str, str] = {}
        self._intros: dict[str, str] = {}
        self.catalog = Catalog(
            (
                Column("name", "Name", 14, lambda r: _one_line(r.values.get("name"))),
                Column("why", "Why", 0, lambda r: _one_line(self._reasons.get(r.id, ""))),
                Column(
                    "introduced_by",
                    "Introduced by",
                    11,
                    lambda r: _one_line(self._intros.get(r.values.get("introduced_by") or "", "")),
                ),
                Column(
                    "last_contacted",
                    "Last talked",
                    10,
                    lambda r: _one_line(r.values.get("last_contacted") or "never"),
                ),
            )
        )
        self.notes_catalog = Catalog(
            (
                Column("title", "Title", 0, lambda r: _one_line(r.values.get("title"))),
                Column("tags", "Tags", 12, lambda r: _one_line(r.values.get("tags", []))),
            )
        )
        self.topic = ""
        self._timer: Timer | None = None
        self._topic_pending = False  # a letter went to the topic box, which takes the focus

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("who")
        yield Input(
            placeholder="Who knows… (type a topic)",
            id="topic",
            classes="filter-bar",
            select_on_focus=False,  # a letter typed on the list is in it when it takes the focus
        )
        with Horizontal():
            yield RecordTable(self.catalog, PROMPT, id="table", classes="list-pane")
            with Vertical(id="who-side"):
                yield Static(id="person")
                yield Static("Notes on the topic", id="notes-title")
                yield RecordTable(self.notes_catalog, "No notes on this topic.", id="notes")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Who knows"
        self._show_person(None)

    def on_screen_suspend(self) -> None:
        """Leaving the screen: coming back, the list has the focus (a digit switches screens),
        not a topic box left half-typed."""
        self._topic_pending = False
        self.set_focus(self.table, scroll_visible=False)

    # -- typing a topic from the list ---------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """A letter typed on the list starts a new topic in the topic box (see the module
        docstring); digits and the keys of the screen keep their meaning there."""
        box = self.query_one("#topic", Input)
        char = event.character
        if self.focused is box or not char or not event.is_printable:
            return
        if not self._topic_pending:
            if not char.isalpha():
                return
            box.value = ""
            self._topic_pending = True
            self.set_focus(box)
        box.insert_text_at_cursor(char)
        event.stop()
        event.prevent_default()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if event.widget is self.query_one("#topic", Input):
            self._topic_pending = False
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self._topic_pending:  # keys typed before the box has the focus are text
            return False
        if action == "focus_notes":
            return self.focused is self.table
        if action == "focus_people":
            return self.focused is self.notes_table
        return True

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()  # → Notes and ← People follow the focus

    @property
    def table(self) -> RecordTable:
        return self.query_one("#table", RecordTable)

    @property
    def notes_table(self) -> RecordTable:
        return self.query_one("#notes", RecordTable)

    # -- searching ------------------------------------------------------------------------------

    @on(Input.Changed, "#topic")
    def _typed(self, event: Input.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_SECONDS, self.reload)

    @on(Input.Submitted, "#topic")
    def _submitted(self) -> None:
        if self._timer is not None:  # Enter before the pause: look up now
            self._timer.stop()
            self._timer = None
            self.reload()
        self.table.cursor = 0
        self.set_focus(self.table)  # at once: the next key finds it there

    def set_topic(self, topic: str) -> None:
        """Look up ``topic`` now (used by the command palette)."""
        self.query_one("#topic", Input).value = topic
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.reload()

    def reload(self) -> None:
        topic = self.query_one("#topic", Input).value
        if not normalise_topic(topic):
            self.topic = ""
            self._show([], [], {}, {}, "")
            return
        self._lookup(topic)

    @work(thread=True, exclusive=True, group="who", exit_on_error=False)
    def _lookup(self, topic: str) -> None:
        """Rank the people in a thread: a short topic over 10,000 contacts takes a moment."""
        net = self.papp.net
        if net is None:
            return
        with self.papp.net_lock:
            index = net.index()
            ranked = index.who_ranked(topic, PEOPLE_LIMIT)
            notes = index.search(normalise_topic(topic), NOTES_LIMIT)["notes"]
            intros: dict[str, str] = {}
            for item in ranked:
                intro = item.record.values.get("introduced_by")
                if intro and intro not in intros:
                    other = index.get("contacts", intro)
                    intros[intro] = other.label if other is not None else "(removed)"
        if get_current_worker().is_cancelled:
            return
        records = [item.record for item in ranked]
        reasons = {item.record.id: item.reason for item in ranked}
        self.app.call_from_thread(self._show, records, notes, reasons, intros, topic)

    def _show(
        self,
        people: list[Record],
        notes: list[Record],
        reasons: dict[str, str],
        intros: dict[str, str],
        topic: str,
    ) -> None:
        if topic != self.query_one("#topic", Input).value and topic:
            return  # typed on since: a newer lookup is on its way
        new_topic = topic != self.topic
        self.topic = topic
        self._reasons, self._intros = reasons, intros
        shown = safe_text(" ".join(topic.split()))
        if not topic:
            self.table.empty_text = PROMPT
        else:
            self.table.empty_text = (
                f"Nobody in your network knows “{shown}” yet. Add it as a "
                "topic to a contact (1, then e), or try a broader word."
            )
        self.catalog.load(people)
        self.notes_catalog.load(notes)
        self.table.refresh_rows()
        self.notes_table.refresh_rows()
        if new_topic:  # another ranking: start from the best, not where the cursor was
            self.table.cursor = 0
            self.notes_table.cursor = 0
        title = f"Notes on “{shown}” ({len(notes)})" if topic else "Notes on the topic"
        self.query_one("#notes-title", Static).update(Text(title))
        self._show_person(self.table.current)

    # -- detail ---------------------------------------------------------------------------------

    @on(RecordTable.Highlighted, "#table")
    def _highlighted(self, event: RecordTable.Highlighted) -> None:
        self._show_person(event.record)

    def _show_person(self, record: Record | None) -> None:
        person = self.query_one("#person", Static)
        if record is None:
            hint = (
                "Who knows a topic: people with it as a topic come first, then those "
                "who mention it, then those linked to notes on it; ties go to whom you "
                "talked to last."
                if not self.topic
                else ""
            )
            person.update(Text(hint, style="dim"))
            return
        text = Text()
        text.append(safe_text(record.label) + "\n", style="bold")
        for label, value in (
            ("Organisation", record.values.get("org")),
            ("Role", record.values.get("role")),
            ("Topics", record.values.get("topics")),
            ("Why", self._reasons.get(record.id)),
            ("Introduced by", self._intros.get(record.values.get("introduced_by") or "")),
            ("Last talked", record.values.get("last_contacted") or "never"),
        ):
            if value in (None, "", []):
                continue
            text.append(f"{label}: ", style="bold")
            text.append(_one_line(value) + "\n")
        text.append("Enter opens this contact", style="dim italic")
        person.update(text)

    # -- actions --------------------------------------------------------------------------------

    @on(RecordTable.Selected, "#table")
    def _open_person(self, event: RecordTable.Selected) -> None:
        self.post_message(ShowItem("contacts", event.record.id))

    @on(RecordTable.Selected, "#notes")
    def _open_note(self, event: RecordTable.Selected) -> None:
        self.post_message(ShowItem("notes", event.record.id))

    def action_focus_topic(self) -> None:
        self.set_focus(self.query_one("#topic", Input))

    def action_focus_notes(self) -> None:
        self.set_focus(self.notes_table)

    def action_focus_people(self) -> None:
        self.set_focus(self.table)

    def action_leave_topic(self) -> None:
        if self.focused is self.query_one("#topic", Input):
            self.set_focus(self.table)
