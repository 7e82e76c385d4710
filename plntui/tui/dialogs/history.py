"""Provides HistoryDialog: every version of a contact or note, and restoring one.

The versions (``Network.history``: newest first, each with when, which device and what changed)
fill a table on the left; the selected version is shown on the right as it was, followed by what
restoring it would change in the item as it is now (``recovery.restore_changes``). Enter (or
``r``) restores the selected version after a confirmation whose default button is Cancel: the
restoration is a new change (``Network.restore_version``) that every colleague receives, and
the versions in between stay in the history. A refusal (a circle this device left) is a
notification, and nothing changes.

The history is read in a worker thread under the network's lock: a document with a long history
takes a moment, and the screen beneath keeps drawing meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ...errors import NotFoundError, PlntuiError
from ...model import Record, safe_text
from ..recovery import one_line, restore_changes, version_text, when

if TYPE_CHECKING:
    from ..app import PlntuiApp


@dataclass(frozen=True, slots=True)
class History:
    """What the dialog shows: the versions, the device names, the item now (None: deleted)."""

    versions: list[Any]
    by: dict[str, str]
    """Version id -> the name of the device that made it."""
    now: Record | None
    contact_names: dict[str, str]


def read_history(net: Any, collection: str, item_id: str) -> History:
    """Read an item's history (network lock held)."""
    from ...provenance import device_label, device_names

    versions = net.history(collection, item_id)
    names = device_names(net)
    try:
        now = net.get(collection, item_id)
    except NotFoundError:
        now = None
    wanted: set[str] = set()
    for version in versions:
        values = version.values or {}
        if values.get("introduced_by"):
            wanted.add(str(values["introduced_by"]))
        wanted.update(str(c) for c in values.get("contacts") or [])
    contacts = net.index().records("contacts", wanted) if wanted else []
    return History(
        versions,
        {v.version: safe_text(device_label(net, v.actor, names)) for v in versions},
        now,
        {c.id: c.label for c in contacts},
    )


class HistoryDialog(ModalScreen[Record | None]):
    """Dismisses with the record as restored, or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("r", "restore", "Restore this version"),
    ]
    DEFAULT_CSS = """
    HistoryDialog { align: center middle; }
    HistoryDialog > Vertical {
        width: 95%; max-width: 140; height: 90%; border: thick $primary; background: $surface;
    }
    HistoryDialog #history-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    HistoryDialog Horizontal { height: 1fr; }
    HistoryDialog #versions { width: 3fr; height: 1fr; }
    HistoryDialog #version-pane { width: 2fr; border-left: vkey $panel; padding: 0 1; }
    HistoryDialog #history-keys { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, papp: PlntuiApp, record: Record) -> None:
        super().__init__()
        self.papp = papp
        self.record = record
        self.history: History | None = None

    @property
    def noun(self) -> str:
        return "contact" if self.record.collection == "contacts" else "note"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"History of the {self.noun} {safe_text(self.record.label)}"),
                id="history-title",
            )
            with Horizontal():
                yield DataTable(id="versions", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="version-pane"):
                    yield Static(Text("Reading the history…", style="italic"), id="version")
            yield Static(
                "↑ ↓ choose a version · Enter restores it (you confirm first) · Escape closes",
                id="history-keys",
            )

    def on_mount(self) -> None:
        table = self.query_one("#versions", DataTable)
        table.add_columns("When (UTC)", "By", "What changed")
        table.focus()
        self._read()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _read(self) -> None:
        net = self.papp.net
        if net is None:
            return
        try:
            with self.papp.net_lock:
                found = read_history(net, self.record.collection, self.record.id)
        except PlntuiError as err:
            self.app.call_from_thread(self._failed, err)
            return
        self.app.call_from_thread(self._show_history, found)

    def _failed(self, error: PlntuiError) -> None:
        self.papp.report(error)
        self.dismiss(None)

    def _show_history(self, history: History) -> None:
        self.history = history
        table = self.query_one("#versions", DataTable)
        table.clear()
        for version in history.versions:
            table.add_row(
                Text(when(version.at)),
                Text(one_line(history.by.get(version.version, ""))),
                Text(one_line(version.summary)),
                key=version.version,
            )
        if not history.versions:
            self.query_one("#version", Static).update(
                Text(f"No versions of this {self.noun} yet.", style="italic")
            )
            return
        table.move_cursor(row=0)
        self._show(0)

    def selected(self) -> Any:
        """The version under the cursor, or None."""
        table = self.query_one("#versions", DataTable)
        if self.history is None or not 0 <= table.cursor_row < len(self.history.versions):
            return None
        return self.history.versions[table.cursor_row]

    @on(DataTable.RowHighlighted, "#versions")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _show(self, row: int) -> None:
        history = self.history
        if history is None or not 0 <= row < len(history.versions):
            return
        version = history.versions[row]
        collection = self.record.collection
        text = Text()
        by = history.by.get(version.version, "")
        text.append(f"Version {version.version}", style="bold")
        text.append(f" · {when(version.at)} · {by}\n", style="dim")
        text.append(one_line(version.summary) + "\n\n", style="italic")
        text.append_text(version_text(collection, version.values, history.contact_names))
        text.append("\nRestoring it changes\n", style="bold underline")
        text.append_text(
            restore_changes(collection, version.values, history.now, history.contact_names)
        )
        self.query_one("#version", Static).update(text)
        self.query_one("#version-pane", VerticalScroll).scroll_home(animate=False)

    @on(DataTable.RowSelected, "#versions")
    def _selected(self) -> None:
        self.action_restore()

    def action_restore(self) -> None:
        from .confirm import ConfirmDialog

        version = self.selected()
        if version is None:
            return
        if version.values is None:
            self.papp.safe_notify(
                "This version is the deletion: pick an earlier one.", severity="warning"
            )
            return
        label = safe_text(self.record.label)
        by = self.history.by.get(version.version, "") if self.history else ""

        def answer(yes: bool | None) -> None:
            if yes:
                self._restore(version)

        self.app.push_screen(
            ConfirmDialog(
                f"Restore the {self.noun} {label} as it was on {when(version.at)} ({by}, version "
                f"{version.version})?\n\nThe restoration is a new change, which your colleagues "
                "receive too; every version stays in the history.",
                yes="Restore",
                no="Cancel",
                default="no",
            ),
            answer,
        )

    def _restore(self, version: Any) -> None:
        net = self.papp.net
        if net is None:
            return
        record = self.papp.run_edit(
            net.restore_version, self.record.collection, self.record.id, version.version
        )
        if record is not None:
            by = self.history.by.get(version.version, "") if self.history else ""
            self.papp.safe_notify(
                f"Restored {record.label} as it was on {when(version.at)} ({by}); your "
                "colleagues receive the change.",
                timeout=6,
            )
            self.dismiss(record)

    def action_close(self) -> None:
        self.dismiss(None)
