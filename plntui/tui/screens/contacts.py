"""Provides the contacts screen: a table filtered as you type, a detail pane, add/edit/delete.

Each contact shows its circle (a column, and a line of the details); ``circle:NAME`` in the
filter keeps one circle's contacts (``circle:private`` the private ones). ``h`` shows the
contact's history and restores a version; a field two colleagues set at once shows both values
in the details, and ``v`` keeps one (``ItemRecovery``). The list is read again off the UI thread
when the network changes (``IndexList``)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from ...catalog import Catalog, contact_columns
from ...model import FIELDS, PROVENANCE_FIELDS, Record, display_value, safe_text
from ..base import PlntuiScreen
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable
from ._circles import CircleFilter
from ._listread import IndexList, ListRead, swap_rows
from ._recovery import ItemRecovery
from ._typeahead import FilterTypeAhead


class ContactsScreen(IndexList, ItemRecovery, CircleFilter, FilterTypeAhead, PlntuiScreen):
    """Everyone in your network."""

    LIST = ("contacts", "name")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="filter"),
        Binding("a", "add", "Add", id="add"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("l", "log", "Log talk", id="log", tooltip="Log an interaction with this contact"),
        Binding("d,delete", "delete", "Delete", id="delete"),
        Binding("u", "undo", "Undo delete", id="undo"),  # shown while there is one to undo
        Binding(
            "h",
            "history",
            "History",
            id="history",
            tooltip="Every version of this contact: who changed what; restore one",
        ),
        Binding(
            "v",
            "resolve",
            "Resolve conflict",
            id="resolve",
            tooltip="Two colleagues set a field at once: keep one of the values",
        ),
        Binding("s", "cycle_sort", "Sort", id="sort", show=False),
        Binding(
            "D",
            "duplicates",
            "Duplicates",
            id="duplicates",
            show=False,
            tooltip="Contacts that look like one person: side by side; merge them",
        ),
        Binding("escape", "leave_filter", "Back to list", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.catalog = Catalog(contact_columns())
        self.catalog.sort_key = "name"
        self.catalog.resolve_by = self._actors_named
        self.catalog.resolve_circle = self.circles_named
        self._device_names: dict[str, str] = {}  # actor id -> name, read with the list
        self._index: Any = None  # the search index the list was read from

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("contacts")
        yield Input(
            placeholder=("Filter contacts: name, org, topic, by:colleague, circle:name…  ( / )"),
            id="filter",
            classes="filter-bar",
        )
        with Horizontal():
            yield RecordTable(
                self.catalog,
                "No contacts match the filter.",
                "No contacts yet. Press a to add one, or ctrl+p to import a file.",
                id="table",
                classes="list-pane",
            )
            with VerticalScroll(classes="detail", id="detail-pane"):
                yield Static(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Contacts"
        self.query_one(RecordTable).focus()

    @property
    def table(self) -> RecordTable:
        return self.query_one(RecordTable)

    # -- data -----------------------------------------------------------------------------------

    def list_arrived(self, read: ListRead) -> None:
        """The list read again (see ``IndexList``): swap it in, keeping the cursor on the same
        contact and the filter."""
        self._index = read.index
        self._device_names = read.device_names
        self.set_circles(read.circles)
        self.set_conflicted(read.conflicted)
        swap_rows(self.catalog, read.rows)
        wanted = self.take_wanted(read)
        if wanted is not None:
            self.show_item(*wanted)
        else:
            self.table.refresh_rows()
        self._show_detail(self.table.current)
        self.follow_bindings()

    def show_item(self, item_id: str, focus: bool = True) -> None:
        if self.catalog.index_of(item_id) is None:
            self.query_one("#filter", Input).value = ""
            self.catalog.apply_filter("")
        index = self.catalog.index_of(item_id)
        if index is None:  # added a moment ago: the list on screen does not have it yet
            self.want(item_id, focus)
            return
        self.table.refresh_rows(keep_id=item_id)
        self.table.cursor = index
        if focus:
            self.table.focus()

    # -- filter and sort ------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.catalog.apply_filter(event.value)
        self.table.refresh_rows()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        self.start_filter()

    def _actors_named(self, text: str) -> set[str]:
        from ...provenance import actors_named

        net = self.papp.net
        return actors_named(net, text, self._device_names) if net is not None else set()

    def action_leave_filter(self) -> None:
        if self.query_one("#filter", Input).has_focus:
            self.table.focus()

    @on(RecordTable.SortRequested)
    def _sort(self, event: RecordTable.SortRequested) -> None:
        self.catalog.sort_by(event.key)
        self.table.refresh_rows()
        self.remember_sort()

    def action_cycle_sort(self) -> None:
        column = self.catalog.cycle_sort()
        self.table.refresh_rows()
        self.remember_sort()
        self.papp.safe_notify(f"Sorted by {column.label}", timeout=2)

    # -- detail ---------------------------------------------------------------------------------

    @on(RecordTable.Highlighted)
    def _highlighted(self, event: RecordTable.Highlighted) -> None:
        self._show_detail(event.record)
        self.follow_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action == "undo":
            return self.can_undo()
        applies = self.check_recovery(action)
        return True if applies is None else applies

    @on(RecordTable.Selected)
    def _selected(self, event: RecordTable.Selected) -> None:
        self.action_edit()

    def _show_detail(self, record: Record | None) -> None:
        detail = self.query_one("#detail", Static)
        if record is None:
            detail.update(Text("Select a contact to see its details.", style="dim"))
            return
        detail.update(self.render_contact(record))

    def render_contact(self, record: Record) -> Text:
        net = self.papp.net
        text = Text()
        text.append(safe_text(record.label) + "\n", style="bold")
        if record.private_item:
            text.append("private contact (never shared)\n", style="italic")
        else:
            text.append("Circle: ", style="bold")
            text.append(safe_text(record.circle_name or record.circle[:8]))
            if self.circle_left(record.circle):
                text.append("  (you left it: read-only)", style="italic dim")
            text.append("\n")
        text.append_text(self.conflict_lines(record))
        for spec in FIELDS["contacts"].values():
            value = record.values.get(spec.name)
            if spec.name == "name" or spec.name in PROVENANCE_FIELDS or value in (None, "", []):
                continue
            if spec.name == "introduced_by" and self._index is not None:
                other = self._index.get("contacts", str(value))
                value = other.label if other else value
            text.append(f"{spec.label}: ", style="bold")
            text.append(safe_text(display_value(value)))
            if record.is_private(spec.name) and not record.private_item:
                text.append("  (private)", style="italic dim")
            text.append("\n")
        if net is not None:
            from ...provenance import provenance

            who = provenance(net, record, self._device_names).line()
            if who:
                text.append(who + "\n", style="dim")
        for source in record.sources:
            values = source.get("values") or {}
            differing = source.get("differing") or []
            text.append("Merged from ", style="bold")
            text.append(safe_text(source.get("via", "")))
            if differing:
                text.append(
                    ": "
                    + "; ".join(f"{k}={safe_text(display_value(values.get(k)))}" for k in differing)
                )
            text.append("\n")
        if self._index is None:
            return text
        talks = self._index.linked_to("interactions", record.id)
        if talks:
            text.append("\nInteractions\n", style="bold")
            for item in sorted(talks, key=lambda i: str(i.values.get("date")), reverse=True)[:8]:
                text.append(f"{item.values.get('date')} {item.values.get('kind', '')}: ")
                text.append(safe_text(item.values.get("summary", "")) + "\n")
        notes = self._index.linked_to("notes", record.id)
        if notes:
            text.append("\nNotes\n", style="bold")
            for note in notes:
                text.append("• " + safe_text(note.label) + "\n")
        return text

    # -- actions --------------------------------------------------------------------------------

    def action_add(self) -> None:
        from ..dialogs.contact_form import ContactForm

        self.app.push_screen(ContactForm(self.papp, None), self._saved)

    def action_edit(self) -> None:
        from ..dialogs.contact_form import ContactForm

        record = self.table.current
        if record is None:
            return
        self.app.push_screen(ContactForm(self.papp, record), self._saved)

    def _saved(self, record: Record | None) -> None:
        if record is not None:
            self._show_detail(record)  # at once; the list follows when it was read again
            self.want(record.id)
            self.papp.safe_notify(f"Saved {record.label}", timeout=3)

    def item_restored(self, record: Record) -> None:
        self._show_detail(record)
        self.want(record.id)

    def action_delete(self) -> None:
        from ..dialogs.confirm import ConfirmDialog

        record = self.table.current
        if record is None:
            return

        def answer(yes: bool | None) -> None:
            net = self.papp.net
            if yes and net is not None:
                removed = self.papp.run_edit(net.remove, "contacts", record.id)
                if removed is not None:
                    self.deleted_here(removed)

        self.app.push_screen(
            ConfirmDialog(
                f"Delete {safe_text(record.label)}? Press u afterwards to undo.", yes="Delete"
            ),
            answer,
        )

    def action_log(self) -> None:
        from ..dialogs.log_interaction import LogInteractionDialog

        record = self.table.current
        if record is None:
            return

        def logged(values: dict[str, Any] | None) -> None:
            net = self.papp.net
            if values and net is not None:
                item = self.papp.run_edit(
                    net.log_interaction,
                    record.id,
                    values["kind"],
                    values["summary"],
                    values["date"],
                    values.get("shared", False),
                )
                if item is not None:
                    self.papp.safe_notify(
                        f"Logged {item.values.get('kind')} with {record.label}", timeout=3
                    )

        self.app.push_screen(LogInteractionDialog(record), logged)

    def action_duplicates(self) -> None:
        from .duplicates import DuplicatesScreen

        self.app.push_screen(DuplicatesScreen())
