"""Provides the notes screen: a filtered list beside a Markdown editor that saves as you type.

Each note shows its circle (a column, and a select in the editor that moves the note to another
circle); ``circle:NAME`` in the filter keeps one circle's notes. ``h`` shows the note's history
and restores a version; a field two colleagues set at once shows both values under the editor's
fields, and ``v`` keeps one (``ItemRecovery``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import (
    Button,
    ContentSwitcher,
    Footer,
    Header,
    Input,
    Label,
    Markdown,
    Select,
    SelectionList,
    Static,
    TextArea,
)
from textual.widgets.selection_list import Selection as Choice
from textual.widgets.text_area import Selection

from ...catalog import Catalog, note_columns
from ...errors import NotFoundError, PlntuiError, ValidationError
from ...model import Record, check_field, safe_text
from ...textdiff import Edits, text_edits
from ..base import PlntuiScreen
from ..dialogs.contact_form import PRIVATE_CHOICE
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable
from ._circles import CircleFilter
from ._listread import IndexList, ListRead, swap_rows
from ._recovery import ItemRecovery
from ._typeahead import FilterTypeAhead

# -- text merging (pure functions) ------------------------------------------------------------


def shift_offset(offset: int, edits: Edits, *, before_inserts: bool = False) -> int:
    """Where a cursor at ``offset`` lands after ``edits`` (ascending splices of the old text):
    text inserted before it moves it, text inserted exactly at it goes after it (before it with
    ``before_inserts``: the start of a selection), and a cursor inside deleted text moves to
    where that text was."""
    moved = offset
    for pos, delete, insert in edits:
        if pos > offset or (pos == offset and not (before_inserts and not delete)):
            break
        if pos + delete <= offset:
            moved += len(insert) - delete
        else:
            moved -= offset - pos
            break
    return moved


def apply_text(area: TextArea, new: str) -> None:
    """Turn the text of ``area`` into ``new`` with the smallest replacements, keeping the cursor
    and selection on the same characters."""
    old = area.text
    if old == new:
        return
    edits = text_edits(old, new)
    document: Any = area.document  # a Document: offsets count the newline characters
    start, end = area.selection
    start_offset = document.get_index_from_location(start)
    end_offset = document.get_index_from_location(end)
    area.history.checkpoint()  # a merged edit is an undo step of its own, not part of typing
    for pos, delete, insert in reversed(edits):
        area.replace(
            insert,
            document.get_location_from_index(pos),
            document.get_location_from_index(pos + delete),
        )
    area.history.checkpoint()
    low, high = sorted((start_offset, end_offset))
    moved = {
        low: shift_offset(low, edits, before_inserts=low != high),
        high: shift_offset(high, edits),
    }
    document = area.document
    area.selection = Selection(
        document.get_location_from_index(moved[start_offset]),
        document.get_location_from_index(moved[end_offset]),
    )


def parse_tags(text: str) -> list[str]:
    """Comma-separated tags, normalised (raises ValidationError)."""
    return check_field("notes", "tags", text.split(","))  # type: ignore[no-any-return]


def tags_text(tags: list[str]) -> str:
    return ", ".join(tags)


@dataclass(slots=True)
class PendingSave:
    """Local edits of one note not yet in the document; ``None`` fields did not change."""

    note_id: str
    base_body: str
    body: str | None = None
    title: str | None = None
    tags: list[str] | None = None

    @property
    def empty(self) -> bool:
        return self.body is None and self.title is None and self.tags is None


# -- dialogs ------------------------------------------------------------------------------------


class NewNoteDialog(ModalScreen[tuple[str, str | None] | None]):
    """Ask the title of a new note and its circle; dismisses with both (the circle's id), or
    None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    NewNoteDialog { align: center middle; }
    NewNoteDialog > Vertical {
        width: 60; max-width: 95%; height: auto; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    NewNoteDialog .error { color: $error; height: auto; }
    NewNoteDialog #new-keys { color: $text-muted; margin-top: 1; }
    NewNoteDialog #new-circle-row { height: 1; margin-top: 1; }
    NewNoteDialog #new-circle-row Label { width: 8; }
    NewNoteDialog #new-circle { width: 1fr; }
    """

    def __init__(
        self, circles: list[tuple[Text, str]] | None = None, circle: str | None = None
    ) -> None:
        """``circles``: the choices of circle (name, id), ``circle`` the one chosen first."""
        super().__init__()
        self.circles = circles or []
        self.circle = circle
        self._told = False  # a message about the title is shown

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Title of the new note")
            yield Input(placeholder="e.g. Ideas from the conference", id="new-title")
            yield Static("", classes="error", id="new-title-error")
            if self.circles:
                with Horizontal(id="new-circle-row"):
                    yield Label("Circle")
                    yield Select(
                        self.circles,
                        value=self.circle if self.circle is not None else Select.NULL,
                        allow_blank=False,
                        id="new-circle",
                        compact=True,
                    )
            yield Static("Enter creates the note · Escape cancels", id="new-keys")

    def on_mount(self) -> None:
        self.query_one("#new-title", Input).focus()

    @on(Input.Changed, "#new-title")
    def _typed(self, event: Input.Changed) -> None:
        """A message about the title goes as soon as the title is valid."""
        error = self.query_one("#new-title-error", Static)
        try:
            check_field("notes", "title", event.value)
        except ValidationError as err:
            if self._told:  # a message is shown: it says what is wrong now
                error.update(Text(err.message))
            return
        self._told = False
        error.update("")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            title = check_field("notes", "title", event.value)
        except ValidationError as err:
            self._told = True
            self.query_one("#new-title-error", Static).update(Text(err.message))
            return
        circle: str | None = None
        for select in self.query("#new-circle").results(Select):
            circle = None if select.value is Select.NULL else str(select.value)
        self.dismiss((title, circle))

    def action_cancel(self) -> None:
        self.dismiss(None)


class LinkContactsDialog(ModalScreen[list[str] | None]):
    """Tick the contacts a note is about; dismisses with their ids, or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]
    DEFAULT_CSS = """
    LinkContactsDialog { align: center middle; }
    LinkContactsDialog > Vertical {
        width: 60; max-width: 95%; height: 80%; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    LinkContactsDialog SelectionList { height: 1fr; }
    LinkContactsDialog Horizontal { height: auto; align-horizontal: right; }
    LinkContactsDialog Button { margin-left: 1; }
    """

    def __init__(self, contacts: list[Record], linked: list[str]) -> None:
        super().__init__()
        self.contacts = contacts
        self.linked = set(linked)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Linked contacts (Space ticks, Ctrl+S saves, Escape cancels)")
            yield SelectionList[str](
                *(
                    Choice(Text(safe_text(c.label)), c.id, c.id in self.linked)
                    for c in self.contacts
                ),
                id="choices",
            )
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        self.dismiss(list(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the screen ---------------------------------------------------------------------------------


class NotesScreen(IndexList, ItemRecovery, CircleFilter, FilterTypeAhead, PlntuiScreen):
    """Your notes: filter, read, write; edits are saved as you type and merge with colleagues'.

    Layout: the filter and a table of notes on the left; on the right the highlighted note's
    title, tags, linked contacts and Markdown body (F2 switches the body to a rendered preview).
    There is no save step: a change is written ``SAVE_DELAY`` seconds after the last keystroke,
    and at once when another note is highlighted, the screen is left or the app exits. ``a`` asks
    the title in a small dialog (``NewNoteDialog``), creates the note and puts the cursor in its
    body; ``c`` ticks linked contacts in ``LinkContactsDialog``.

    Concurrent edits: the body is an Automerge Text edited per character, so a colleague's edit
    and ours merge. The editor remembers the body it was last in step with (the *base*). A save
    merges ``base -> editor`` with ``base -> document`` (what other processes or peers wrote
    meanwhile, see ``merge_text``) and hands the result to ``Network.edit``, which writes only
    the differing characters. When the document changed under the open note, ``reload`` first
    saves the local edit that way, then applies the difference between the editor and the merged
    document to the ``TextArea`` as small replacements (``apply_text``), so the cursor stays on
    the character it was on. Title and tags follow the document unless their field has focus.

    The list is read again in a worker thread when the network changes (``IndexList``): a save
    as you type never waits for 2,000 notes to be read. The open note is brought in step on the
    UI thread when the read shows that its document changed.

    The UI thread never waits on ``net_lock`` for long: a background refresh may hold it while
    it waits for the UI thread, so busy saves and reloads are retried a moment later.
    """

    LIST = ("notes", "title")

    SAVE_DELAY: ClassVar[float] = 0.3
    """Seconds after the last keystroke before the note is written."""
    RETRY_DELAY: ClassVar[float] = 0.05
    """Seconds before trying again when a background task holds the network."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="filter"),
        Binding("a", "add", "Add", id="add"),
        Binding("d,delete", "delete", "Delete", id="delete"),
        Binding("u", "undo", "Undo delete", id="undo"),  # shown while there is one to undo
        Binding(
            "f2",
            "toggle_preview",
            "Preview",
            id="preview",
            tooltip="Switch the body between the editor and rendered Markdown",
        ),
        Binding("s", "cycle_sort", "Sort", id="sort", show=False),
        Binding(
            "c",
            "link",
            "Link contacts",
            id="link",
            tooltip="Choose the contacts this note is about",
        ),
        Binding(
            "h",
            "history",
            "History",
            id="history",
            tooltip="Every version of this note: who changed what; restore one",
        ),
        Binding(
            "v",
            "resolve",
            "Resolve conflict",
            id="resolve",
            tooltip="Two colleagues set a field at once: keep one of the values",
        ),
        Binding("escape", "back", "Back to list", show=False),
    ]
    DEFAULT_CSS = """
    NotesScreen #table { width: 1fr; min-width: 20; }
    NotesScreen #editor-pane {
        width: 1fr; min-width: 44; border-left: vkey $panel; padding: 0 0 0 1;
    }
    NotesScreen .field-row { height: 1; }
    NotesScreen .field-label { width: 7; color: $text-muted; }
    NotesScreen .field-row Input { width: 1fr; }
    NotesScreen .field-row Select { width: 1fr; }
    NotesScreen .field-error { color: $error; height: auto; display: none; }
    NotesScreen .field-error.-shown { display: block; }
    NotesScreen #links { height: auto; max-height: 6; color: $text-muted; }
    NotesScreen #body-switcher { height: 1fr; }
    NotesScreen #body { height: 1fr; }
    NotesScreen #preview { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.catalog = Catalog(note_columns())
        self.catalog.resolve_by = self._actors_named
        self.catalog.resolve_circle = self.circles_named
        self.catalog.sort_key = "title"
        self._note_id: str | None = None
        self._base_body = ""
        self._base_title = ""
        self._base_tags: list[str] = []
        self._orphans: list[PendingSave] = []  # edits of notes no longer open, not yet written
        self._timer: Timer | None = None
        self._drain_timer: Timer | None = None
        self._reload_timer: Timer | None = None
        self._names: dict[str, str] = {}  # contact id -> name, for the "Linked:" line
        self._device_names: dict[str, str] = {}  # actor id -> name, read with the list
        self._note_circle = ""  # the open note's circle (id; PRIVATE_CHOICE: private)
        self._shown_circles: list[tuple[str, str]] = []  # the choices the select shows

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("notes")
        yield Input(
            placeholder="Filter notes: title, tag, text, by:colleague, circle:name…  ( / )",
            id="filter",
            classes="filter-bar",
        )
        with Horizontal():
            yield RecordTable(self.catalog, "No notes match. Press a to add one.", id="table")
            with Vertical(id="editor-pane"):
                with Horizontal(classes="field-row"):
                    yield Label("Title", classes="field-label")
                    yield Input(id="title", compact=True, placeholder="Title (required)")
                yield Static("", id="title-error", classes="field-error")
                with Horizontal(classes="field-row"):
                    yield Label("Tags", classes="field-label")
                    yield Input(id="tags", compact=True, placeholder="comma, separated")
                yield Static("", id="tags-error", classes="field-error")
                with Horizontal(classes="field-row"):
                    yield Label("Circle", classes="field-label")
                    yield Select[str]([], prompt="—", id="circle", compact=True)
                yield Static("", id="circle-error", classes="field-error")
                yield Static("", id="links")
                with ContentSwitcher(initial="body", id="body-switcher"):
                    yield TextArea(id="body", soft_wrap=True, show_line_numbers=False)
                    with VerticalScroll(id="preview"):
                        yield Markdown("", id="preview-md")
                yield Static("", id="body-error", classes="field-error")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Notes"
        # Kept as attributes: the pending edit is still readable while the screen unmounts.
        self.table = self.query_one(RecordTable)
        self.title_input = self.query_one("#title", Input)
        self.tags_input = self.query_one("#tags", Input)
        self.body_area = self.query_one("#body", TextArea)
        self.switcher = self.query_one(ContentSwitcher)
        self.preview_md = self.query_one(Markdown)
        self.links = self.query_one("#links", Static)
        self.circle_select: Select[str] = self.query_one("#circle", Select)
        self.errors = {
            name: self.query_one(f"#{name}-error", Static)
            for name in ("title", "tags", "circle", "body")
        }
        self._show_note(None)
        self.table.focus()

    # -- the network lock -------------------------------------------------------------------------

    def _acquire(self, wait: float = 0.0) -> bool:
        """Take the network lock without blocking the UI behind a background task (which may be
        waiting for the UI thread itself)."""
        lock = self.papp.net_lock
        return lock.acquire(timeout=wait) if wait else lock.acquire(blocking=False)

    # -- data -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Write the edits of notes no longer open, then read the list again (``IndexList``)."""
        if self._orphans:
            self._write_orphans_soon()
        super().reload()

    def read_extra(self, net: Any, index: Any) -> dict[str, Any]:
        """The open note as the index has it, and the names of its linked contacts (read here,
        with the list, rather than on the UI thread, where the lock may be busy)."""
        note_id = self._note_id
        fresh = index.get("notes", note_id) if note_id else None
        names: dict[str, str] = {}
        for contact_id in fresh.values.get("contacts", []) if fresh is not None else []:
            contact = index.get("contacts", contact_id)
            names[contact_id] = contact.label if contact else "(removed contact)"
        return {"open": note_id, "fresh": fresh, "names": names}

    def list_arrived(self, read: ListRead) -> None:
        """The list read again (see ``IndexList``): bring the open note in step with its
        document if it changed, swap the rows in keeping the cursor and the filter."""
        self._names.clear()
        self._names.update(read.extra.get("names", {}))
        self._device_names = read.device_names
        self.set_circles(read.circles)
        self.set_conflicted(read.conflicted)
        if self._note_id is not None and read.extra.get("open") == self._note_id:
            self._catch_up(read.extra.get("fresh"))
        swap_rows(self.catalog, read.rows)
        wanted = self.take_wanted(read)
        if wanted is not None:
            self.show_item(*wanted)
        else:
            self.table.refresh_rows()
            self._follow_cursor()
        self.follow_bindings()

    def _catch_up(self, fresh: Record | None) -> None:
        """The open note as the index has it now: deleted elsewhere, or changed (by another
        process or a peer), or as the editor has it."""
        changed = fresh is None or (
            fresh.values.get("body", "") != self._base_body
            or fresh.values.get("title", "") != self._base_title
            or fresh.values.get("tags", []) != self._base_tags
        )
        if changed:
            if not self._acquire():
                if self._reload_timer is None:  # a background task holds the network
                    self._reload_timer = self.set_timer(self.RETRY_DELAY, self._reload_retry)
                return
            try:
                if fresh is None:
                    self._note_gone()
                    return
                self._sync_open(always=True)
            finally:
                self.papp.net_lock.release()
        if fresh is not None:
            self._show_links(fresh)
            self._show_circle(fresh)

    def _reload_retry(self) -> None:
        self._reload_timer = None
        self.reload()

    def _follow_cursor(self) -> None:
        current = self.table.current
        if (current.id if current else None) != self._note_id:
            self._open(current)

    def _note_gone(self) -> None:
        """The open note was deleted by another process or a peer (lock held). Unsaved typing
        is not thrown away: it is kept in a new note."""
        pending = self._capture()
        title = self._base_title or "Untitled"
        self._cancel_timer()
        self._show_note(None)
        net = self.papp.net
        if pending is not None and pending.body is not None and net is not None:
            try:
                kept = net.add(
                    "notes",
                    {
                        "title": f"{pending.title or title} (recovered)",
                        "body": pending.body,
                        "tags": pending.tags or [],
                    },
                )
            except PlntuiError as err:
                self.papp.report(err)
                return
            self.want(kept.id)
            self.papp.safe_notify(
                f"“{title}” was deleted elsewhere while you were editing it; your text is kept "
                f"in the note “{kept.label}”.",
                severity="warning",
                timeout=10,
            )
            return
        self.papp.safe_notify(
            f"“{title}”, the note you had open, was deleted elsewhere.",
            severity="warning",
            timeout=8,
        )

    def show_item(self, item_id: str, focus: bool = True) -> None:
        if self.catalog.index_of(item_id) is None:
            self.query_one("#filter", Input).value = ""
            self.catalog.apply_filter("")
        index = self.catalog.index_of(item_id)
        if index is None:  # created a moment ago: jump when the list read again has it
            self.want(item_id, focus)
            return
        self._wanted = None
        self.table.refresh_rows(keep_id=item_id)
        self.table.cursor = index
        self._open(self.table.current)
        if focus:
            self.table.focus()

    # -- the open note --------------------------------------------------------------------------

    @on(RecordTable.Highlighted)
    def _highlighted(self, event: RecordTable.Highlighted) -> None:
        self._open(event.record)
        self.follow_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action == "undo":
            return self.can_undo()
        applies = self.check_recovery(action)
        return True if applies is None else applies

    def before_recovery(self) -> None:
        self.flush(wait=2.0)  # the history and the conflicts include what was just typed

    def _open(self, record: Record | None) -> None:
        """Show ``record`` in the editor, first putting aside the edits of the note open now."""
        if record is not None and record.id == self._note_id:
            return
        self._cancel_timer()
        pending = self._capture()
        if pending is not None:
            self._orphans.append(pending)
            self._write_orphans_soon()
        invalid = [
            name
            for name, value in (("title", self._checked_title()), ("tags", self._checked_tags()))
            if value is None
        ]
        if self._note_id is not None and invalid:
            self.papp.safe_notify(
                f"The {' and '.join(invalid)} of the note you left were not "
                "valid and were not saved.",
                severity="warning",
                timeout=6,
            )
        self._show_note(record)

    def _show_note(self, record: Record | None) -> None:
        self._note_id = record.id if record else None
        values = record.values if record else {}
        self._base_body = str(values.get("body", ""))
        self._base_title = str(values.get("title", ""))
        self._base_tags = list(values.get("tags", []))
        self.title_input.value = self._base_title
        self.tags_input.value = tags_text(self._base_tags)
        self.body_area.load_text(self._base_body)
        self._show_error("title", None)
        self._show_error("tags", None)
        self._show_error("circle", None)
        self._show_error("body", None)
        if self.switcher.current == "preview":
            self.preview_md.update(self._base_body)
        self.query_one("#editor-pane").disabled = record is None
        self._show_links(record)
        self._show_circle(record)

    # -- the open note's circle -----------------------------------------------------------------

    def _circle_options(self, record: Record) -> tuple[list[tuple[Text, str]], str, bool]:
        """The choices of circle for ``record`` (the circles this device is a member of, and
        its own circle if this device left it, or "Private" if it is private), its value, and
        whether it is read-only (its circle was left)."""
        names = self._circle_names
        mine = sorted(self._circle_members, key=lambda c: (names.get(c, c).casefold(), c))
        options = [(Text(safe_text(names.get(c, c[:8]))), c) for c in mine]
        if record.private_item or not record.circle:
            options.append((Text("Private: this device only"), PRIVATE_CHOICE))
            return options, PRIVATE_CHOICE, False
        left = record.circle not in self._circle_members
        if left:
            name = safe_text(record.circle_name or names.get(record.circle, record.circle[:8]))
            options.append((Text(f"{name} (you left it: read-only)"), record.circle))
        return options, record.circle, left

    def _show_circle(self, record: Record | None) -> None:
        """Show the open note's circle in the select (without moving anything), and make the
        note read-only when its circle was left."""
        select = self.circle_select
        left = False
        with select.prevent(Select.Changed):
            if record is None:
                self._note_circle = ""
                self._shown_circles = []
                select.set_options([])
            else:
                options, value, left = self._circle_options(record)
                self._note_circle = value
                shown = [(str(label), v) for label, v in options]
                if shown != self._shown_circles:
                    self._shown_circles = shown
                    select.set_options(options)
                if select.value != value:
                    select.value = value
        select.disabled = left
        self.body_area.read_only = left
        self.title_input.disabled = left
        self.tags_input.disabled = left

    @on(Select.Changed, "#circle")
    def _circle_chosen(self, event: Select.Changed) -> None:
        value = event.value
        if (
            self._note_id is None
            or value is Select.NULL
            or value == self._note_circle
            or value != self.circle_select.value  # a stale message: the note changed since
        ):
            return
        self.move_note(str(value))

    def move_note(self, circle: str) -> None:
        """Move the open note to ``circle`` (an id): its edits are saved first."""
        net = self.papp.net
        note_id = self._note_id
        if net is None or note_id is None:
            return
        self.flush(wait=2.0)
        if not self._acquire(wait=2.0):
            self.papp.safe_notify("Busy reading changes; try again in a moment.", timeout=3)
            self._show_circle(self.table.current)
            return
        try:
            record = net.move("notes", note_id, circle)
        except PlntuiError as err:
            self._show_error("circle", err.message)
            self.papp.report(err)
            record = None
        finally:
            self.papp.net_lock.release()
        if record is None:
            with self.circle_select.prevent(Select.Changed):
                if self._note_circle:
                    self.circle_select.value = self._note_circle
            return
        self._show_error("circle", None)
        self._note_circle = record.circle or PRIVATE_CHOICE
        self.papp.safe_notify(
            f"Moved “{record.label}” to circle {record.circle_name or record.circle[:8]}.",
            timeout=4,
        )
        self.reload()

    def _show_links(self, record: Record | None) -> None:
        links = self.links
        if record is None:
            links.update(Text("No note selected. Press a to add one.", style="italic"))
            return
        names = [self._contact_name(c) for c in record.values.get("contacts", [])]
        text = Text()
        text.append("Linked: ", style="bold")
        text.append(safe_text(", ".join(names)) if names else "nobody (c to link)")
        kind = record.values.get("kind")
        if kind:
            text.append("   Kind: ", style="bold")
            text.append(safe_text(kind))
        net = self.papp.net
        if net is not None:
            from ...provenance import provenance

            who = provenance(net, record, self._device_names).line()
            if who:
                text.append("\n" + who, style="dim")
        conflicts = self.conflict_lines(record)
        if conflicts:
            text.append("\n")
            text.append_text(conflicts)
            text.rstrip()
        links.update(text)

    def _actors_named(self, text: str) -> set[str]:
        from ...provenance import actors_named

        net = self.papp.net
        return actors_named(net, text, self._device_names) if net is not None else set()

    def _contact_name(self, contact_id: str) -> str:
        name = self._names.get(contact_id)
        net = self.papp.net
        if name is None and net is not None and self._acquire():
            try:
                contact = net.index().get("contacts", contact_id)
            finally:
                self.papp.net_lock.release()
            name = self._names[contact_id] = contact.label if contact else "(removed contact)"
        return name if name is not None else contact_id[:8]

    def _show_error(self, name: str, message: str | None) -> None:
        error = self.errors[name]
        error.update(Text(message or ""))
        error.set_class(bool(message), "-shown")

    def _checked_title(self) -> str | None:
        try:
            return check_field("notes", "title", self.title_input.value)  # type: ignore[no-any-return]
        except ValidationError:
            return None

    def _checked_tags(self) -> list[str] | None:
        try:
            return parse_tags(self.tags_input.value)
        except ValidationError:
            return None

    def _capture(self) -> PendingSave | None:
        """The open note's local edits not yet saved (invalid fields left out), or None."""
        if self._note_id is None:
            return None
        pending = PendingSave(self._note_id, self._base_body)
        body = self.body_area.text
        if body != self._base_body:
            pending.body = body
        title = self._checked_title()
        if title is not None and title != self._base_title:
            pending.title = title
        tags = self._checked_tags()
        if tags is not None and tags != self._base_tags:
            pending.tags = tags
        return None if pending.empty else pending

    def _write(self, pending: PendingSave) -> Record:
        """Write local edits, merged with what reached the document since (lock held)."""
        net = self.papp.net
        assert net is not None
        values: dict[str, Any] = {}
        if pending.title is not None:
            values["title"] = pending.title
        if pending.tags is not None:
            values["tags"] = pending.tags
        if pending.body is None:
            return net.edit("notes", pending.note_id, values)
        return net.edit_note_body(pending.note_id, pending.base_body, pending.body, values)

    def _sync_open(self, always: bool = False) -> None:
        """Save the open note's edits and bring the editor in step with the document (lock
        held). Without ``always`` nothing is read when there is nothing to save."""
        net = self.papp.net
        assert net is not None
        assert self._note_id is not None
        pending = self._capture()
        if pending is None and not always:
            return
        try:
            if pending is not None:
                record = self._write(pending)
            else:
                record = net.get("notes", self._note_id)
        except ValidationError as err:
            self._show_error(err.field if err.field in ("title", "tags") else "body", err.message)
            return
        except NotFoundError:
            self._note_gone()
            return
        except PlntuiError as err:
            self.papp.report(err)
            return
        self._apply_record(record, pending)

    def _apply_record(self, record: Record, saved: PendingSave | None) -> None:
        """Show the document's version of the open note without disturbing the user."""
        body = str(record.values.get("body", ""))
        apply_text(self.body_area, body)
        self._base_body = body
        if self.switcher.current == "preview":
            self.preview_md.update(body)
        self._show_error("body", None)
        title = str(record.values.get("title", ""))
        self._base_title = self._sync_input(
            self.title_input,
            self._base_title,
            self._checked_title(),
            title,
            title,
            saved is not None and saved.title is not None,
        )
        tags = list(record.values.get("tags", []))
        self._base_tags = self._sync_input(
            self.tags_input,
            self._base_tags,
            self._checked_tags(),
            tags,
            tags_text(tags),
            saved is not None and saved.tags is not None,
        )

    @staticmethod
    def _sync_input(
        field: Input, base: Any, local: Any, stored: Any, shown: str, saved: bool
    ) -> Any:
        """Update a title or tags Input to the stored value unless the user is typing in it or
        it holds an edit not saved (invalid); returns the new base."""
        if saved:
            if not field.has_focus:
                field.value = shown
            return stored
        if local == base and not field.has_focus:
            if field.value != shown:
                field.value = shown
            return stored
        return base

    # -- saving as you type ---------------------------------------------------------------------

    @on(TextArea.Changed, "#body")
    def _body_changed(self) -> None:
        self._schedule_save()

    @on(Input.Changed, "#title")
    def _title_changed(self, event: Input.Changed) -> None:
        if self._note_id is None:
            return
        try:
            check_field("notes", "title", event.value)
            self._show_error("title", None)
        except ValidationError as err:
            self._show_error("title", err.message + " (not saved)")
        self._schedule_save()

    @on(Input.Changed, "#tags")
    def _tags_changed(self, event: Input.Changed) -> None:
        if self._note_id is None:
            return
        try:
            parse_tags(event.value)
            self._show_error("tags", None)
        except ValidationError as err:
            self._show_error("tags", err.message + " (not saved)")
        self._schedule_save()

    @on(Input.Blurred, "#title, #tags")
    def _field_left(self) -> None:
        self.flush(always=True)

    def _schedule_save(self) -> None:
        if self._note_id is None:
            return
        self._cancel_timer()
        self._timer = self.set_timer(self.SAVE_DELAY, self.flush)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def flush(self, always: bool = False, wait: float = 0.0) -> bool:
        """Save the open note's edits now. Returns False when the network was busy (a retry is
        scheduled)."""
        self._cancel_timer()
        if self._note_id is None or self.papp.net is None:
            return True
        if not self._acquire(wait):
            self._timer = self.set_timer(self.RETRY_DELAY, self.flush)
            return False
        try:
            self._sync_open(always=always)
        finally:
            self.papp.net_lock.release()
        return True

    def _write_orphans_soon(self) -> None:
        if self._acquire():
            try:
                self._write_orphans()
            finally:
                self.papp.net_lock.release()
        elif self._drain_timer is None:
            self._drain_timer = self.set_timer(self.RETRY_DELAY, self._drain_retry)

    def _drain_retry(self) -> None:
        self._drain_timer = None
        self._write_orphans_soon()

    def _write_orphans(self) -> None:
        """Write the edits of notes no longer open (lock held)."""
        while self._orphans:
            pending = self._orphans.pop(0)
            try:
                self._write(pending)
            except PlntuiError as err:
                self.papp.report(err)

    def on_screen_suspend(self) -> None:
        self.flush()

    def on_unmount(self) -> None:
        """The app is closing: write what is left, waiting a little for a background task."""
        if self.papp.net is None:
            return
        self._cancel_timer()
        pending = self._capture()
        if pending is not None:
            self._orphans.append(pending)
        if self._orphans and self._acquire(wait=5.0):
            try:
                self._write_orphans()
            finally:
                self.papp.net_lock.release()

    # -- filter and sort ------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.catalog.apply_filter(event.value)
        self.table.refresh_rows()
        self._follow_cursor()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        self.start_filter()

    def action_back(self) -> None:
        focused = self.focused
        if focused is not None and focused is not self.table:
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

    @on(RecordTable.Selected)
    def _selected(self, event: RecordTable.Selected) -> None:
        self._open(event.record)
        self.switcher.current = "body"
        self.body_area.focus()

    def action_toggle_preview(self) -> None:
        switcher = self.switcher
        if switcher.current == "body":
            self.preview_md.update(self.body_area.text)
            switcher.current = "preview"
            if self.body_area.has_focus:
                self.query_one("#preview", VerticalScroll).focus()
        else:
            switcher.current = "body"
            if self.focused is None or self.focused.id == "preview":
                self.body_area.focus()

    # -- add, delete, undo, link ----------------------------------------------------------------

    def action_add(self) -> None:
        from ..dialogs.contact_form import circle_choices

        net = self.papp.net
        if net is None:
            return
        if not self._acquire(wait=2.0):
            self.papp.safe_notify("Busy reading changes; try again in a moment.", timeout=3)
            return
        try:
            circles, default, _left = circle_choices(net, None, private_choice=False)
        except PlntuiError as err:
            self.papp.report(err)
            return
        finally:
            self.papp.net_lock.release()

        def created(answer: tuple[str, str | None] | None) -> None:
            if not answer:
                return
            title, circle = answer
            # body "" creates the Text object now, so every replica edits the same one
            record = self.papp.run_edit(
                net.add, "notes", {"title": title, "body": ""}, circle=circle
            )
            if record is None:
                return
            self._open(record)  # at once; the cursor follows when the list has it
            self.want(record.id, focus=False)
            self.switcher.current = "body"
            self.body_area.focus()

        self.app.push_screen(NewNoteDialog(circles, default), created)

    def action_delete(self) -> None:
        from ..dialogs.confirm import ConfirmDialog

        record = self.table.current
        if record is None:
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            if record.id == self._note_id:
                self.flush(wait=5.0)  # so that undo brings back the latest text
                self._cancel_timer()
                self._show_note(None)
            net = self.papp.net
            if net is None:
                return
            removed = self.papp.run_edit(net.remove, "notes", record.id)
            if removed is not None:
                self.deleted_here(removed)
            self.reload()

        self.app.push_screen(
            ConfirmDialog(
                f"Delete the note {safe_text(record.label)}? Press u afterwards to undo.",
                yes="Delete",
            ),
            answer,
        )

    def action_link(self) -> None:
        net = self.papp.net
        record = self.table.current
        if net is None or record is None:
            return
        if not self._acquire(wait=2.0):
            self.papp.safe_notify("Busy reading changes; try again in a moment.", timeout=3)
            return
        try:
            contacts = net.index().list("contacts")
        finally:
            self.papp.net_lock.release()
        linked = list(record.values.get("contacts", []))

        def chosen(ids: list[str] | None) -> None:
            if ids is None or sorted(ids) == sorted(linked):
                return
            keep = [i for i in linked if i in ids] + [i for i in ids if i not in linked]
            if self.papp.run_edit(net.edit, "notes", record.id, {"contacts": keep}) is not None:
                self.reload()

        self.app.push_screen(LinkContactsDialog(contacts, linked), chosen)
