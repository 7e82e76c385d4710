"""Provides the trash screen: the contacts and notes deleted here or by colleagues, and restoring
one.

The search index keeps every deleted contact and note with its last values, the device that
deleted it and when this device learned of it (``Network.trash``, latest first). The list shows
when, who, what and its circle, filtered as you type; the detail pane shows the item as it was.
Enter (or ``r``) restores the selected one after a confirmation whose default button is Cancel
(``Network.restore_from_trash``: a new change, so colleagues get it back too). The trash is read
in a worker thread: after a large deletion it holds thousands of items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from ...catalog import Catalog, Column, circle_label
from ...errors import PlntuiError
from ...model import Record, safe_text
from ..base import PlntuiScreen
from ..recovery import one_line, plural, version_text, when
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable
from ._typeahead import FilterTypeAhead

if TYPE_CHECKING:
    from ..app import PlntuiApp

EMPTY = "The trash is empty: nothing was deleted here, nor by a colleague."


def noun(record: Record) -> str:
    return "contact" if record.collection == "contacts" else "note"


class TrashScreen(FilterTypeAhead, PlntuiScreen):
    """Deleted contacts and notes: who deleted them and when; restore one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="filter"),
        Binding(
            "r",
            "restore",
            "Restore",
            id="restore",
            tooltip="Bring the selected item back (or Enter), for your colleagues too",
        ),
        Binding("escape", "leave_filter", "Back to list", show=False),
    ]
    DEFAULT_CSS = """
    TrashScreen #trash-summary { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        self._generation = 0
        self.catalog = Catalog(
            (
                Column("when", "Deleted (UTC)", 16, lambda r: self._cell(r, "when")),
                Column("by", "By", 14, lambda r: self._cell(r, "by")),
                Column("kind", "Kind", 7, noun),
                Column("name", "Name or title", 0, lambda r: one_line(r.label), min_width=16),
                Column("circle", "Circle", 12, circle_label, drop=1),
            )
        )

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("trash")
        yield Input(
            placeholder="Filter the trash: name, title, org, topic, tag…  ( / )",
            id="filter",
            classes="filter-bar",
        )
        yield Static(id="trash-summary")
        with Horizontal():
            yield RecordTable(
                self.catalog,
                "Nothing in the trash matches the filter.",
                EMPTY,
                id="table",
                classes="list-pane",
            )
            with VerticalScroll(classes="detail", id="detail-pane"):
                yield Static(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Trash"
        self.table.focus()

    @property
    def table(self) -> RecordTable:
        return self.query_one(RecordTable)

    def _cell(self, record: Record, key: str) -> str:
        entry = self._entries.get((record.collection, record.id))
        if entry is None:
            return ""
        if key == "when":
            return when(entry["deleted_at"])
        return one_line(entry["deleted_by"] or "someone")

    # -- data -----------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.papp.net is None:
            return
        self._generation += 1
        self._read(self._generation)

    @work(thread=True, exclusive=True, group="trash", exit_on_error=False)
    def _read(self, generation: int) -> None:
        net = self.papp.net
        if net is None:
            return
        with self.papp.net_lock:
            entries = [e for e in net.trash() if e["record"].collection in ("contacts", "notes")]
        self.app.call_from_thread(self._show_entries, generation, entries)

    def _show_entries(self, generation: int, entries: list[dict[str, Any]]) -> None:
        if generation != self._generation:
            return
        self._entries = {(e["record"].collection, e["record"].id): e for e in entries}
        query = self.catalog.query
        self.catalog.query = ""  # the rows changed: filter them afresh
        self.catalog.load([e["record"] for e in entries])
        self.catalog.apply_filter(query)
        self.table.refresh_rows()
        contacts = sum(1 for e in entries if e["record"].collection == "contacts")
        counts = [plural(contacts, "contact"), plural(len(entries) - contacts, "note")]
        shown = " and ".join(c for c in counts if not c.startswith("0 "))
        self.query_one("#trash-summary", Static).update(
            Text(
                f"{shown} deleted, latest first · Enter restores one"
                if entries
                else "Deleted contacts and notes appear here, and can be brought back."
            )
        )
        self._show_detail(self.table.current)
        self.refresh_bindings()  # r applies when something is listed

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        return action != "restore" or bool(self.catalog.visible)

    # -- filter ---------------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        listed = bool(self.catalog.visible)
        self.catalog.apply_filter(event.value)
        self.table.refresh_rows()
        if listed != bool(self.catalog.visible):
            self.refresh_bindings()  # r applies when something is listed

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        self.start_filter()

    def action_leave_filter(self) -> None:
        if self.query_one("#filter", Input).has_focus:
            self.table.focus()

    # -- detail ---------------------------------------------------------------------------------

    @on(RecordTable.Highlighted)
    def _highlighted(self, event: RecordTable.Highlighted) -> None:
        self._show_detail(event.record)

    def _show_detail(self, record: Record | None) -> None:
        detail = self.query_one("#detail", Static)
        entry = self._entries.get((record.collection, record.id)) if record else None
        if record is None or entry is None:
            detail.update(Text("Select a deleted contact or note to see it.", style="dim"))
            return
        text = Text()
        text.append(safe_text(record.label) + "\n", style="bold")
        text.append(
            f"{noun(record).capitalize()} deleted by {one_line(entry['deleted_by'] or 'someone')}"
            f" on {when(entry['deleted_at'])} (UTC)\n",
            style="italic",
        )
        if record.private_item:
            text.append("Private (never shared)\n")
        else:
            text.append("Circle: ", style="bold")
            text.append(safe_text(record.circle_name or record.circle[:8]) + "\n")
        text.append("\n")
        text.append_text(version_text(record.collection, record.values))
        text.append("\nPress Enter or r to restore it.", style="dim")
        detail.update(text)

    # -- restore --------------------------------------------------------------------------------

    @on(RecordTable.Selected)
    def _selected(self) -> None:
        self.action_restore()

    def action_restore(self) -> None:
        from ..dialogs.confirm import ConfirmDialog

        record = self.table.current
        net = self.papp.net
        if record is None or net is None:
            return

        def answer(yes: bool | None) -> None:
            if yes and restore_from_trash(self.papp, record) is not None:
                self.reload()

        self.app.push_screen(
            ConfirmDialog(
                f"Restore the {noun(record)} {safe_text(record.label)}? It comes back as it was "
                "before it was deleted, for your colleagues too.",
                yes="Restore",
                no="Cancel",
                default="no",
            ),
            answer,
        )


def restore_from_trash(papp: PlntuiApp, record: Record) -> Record | None:
    """Bring ``record`` back from the trash now, and say so (a refusal is a notification)."""
    net = papp.net
    if net is None:
        return None
    try:
        with papp.net_lock:
            restored: Record = net.restore_from_trash(record.id)
    except PlntuiError as err:
        papp.report(err)
        return None
    papp.safe_notify(
        f"Restored {noun(restored)} {restored.label}; colleagues get it back too.", timeout=5
    )
    return restored
