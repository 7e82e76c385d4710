"""Provides the what's-new screen: what colleagues added, changed or deleted since you last looked,
the mass deletions held for your decision and the fields with two values.

It lists the contacts and notes whose last change came from another device after the moment
you last looked (``plntui.provenance``), latest first, read from the search index, and the ones
a colleague deleted ("Bob deleted Elif Demir"). Above them, whatever waits for you whenever it
happened: each mass deletion held (``Network.held``: "Bob's device deleted 4,012 contacts") and
each field two devices set at once (``Network.conflicts``). Enter opens the item (a held
deletion opens the Peers screen, where it is decided; a deleted item asks whether to restore it,
as ``r`` does). Pressing ``m`` or leaving the screen marks everything shown as seen. Everything
is read in a worker thread under the network's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, Static

from ...catalog import Catalog, Column, Row, fold
from ...model import Record, now_stamp, safe_text
from ..base import PlntuiScreen
from ..messages import ShowItem
from ..recovery import HeldSummary, field_label, one_line, plural, when
from ..widgets.mode_bar import ModeBar
from ..widgets.record_table import RecordTable

EMPTY = "Nothing new from colleagues since you last looked."
COLUMNS = (
    ("when", "When", 16),
    ("who", "Who", 14),
    ("what", "What", 8),
    ("kind", "Kind", 8),
    ("name", "Name or title", 0),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the screen: an item added, changed or deleted, a held deletion, a conflict."""

    key: str
    """Unique among the lines: ``item:contacts:ID``, ``held:ID``, ``conflict:contacts:ID:FIELD``."""
    when: str
    who: str
    what: str
    """"added", "changed", "deleted", "held" or "conflict"."""
    kind: str
    name: str
    record: Record | None = None
    held: HeldSummary | None = None

    @property
    def cells(self) -> tuple[str, ...]:
        return (when(self.when), one_line(self.who), self.what, self.kind, one_line(self.name))


def kind_of(record: Record) -> str:
    return "contact" if record.collection == "contacts" else "note"


def item_entries(items: list[Any]) -> list[Entry]:
    """``provenance.whats_new`` as lines."""
    return [
        Entry(
            f"item:{i.record.collection}:{i.record.id}",
            i.when,
            i.who,
            i.what,
            kind_of(i.record),
            i.record.label,
            i.record,
        )
        for i in items
    ]


def held_entries(held: list[HeldSummary]) -> list[Entry]:
    return [
        Entry(
            f"held:{h.id}",
            h.at,
            h.author,
            "held",
            "deletion",
            f"{h.author}'s device deleted {h.counts} in {h.circle}: review on the Peers screen",
            held=h,
        )
        for h in held
    ]


def conflict_entries(conflicts: list[dict[str, Any]], records: dict[str, Record]) -> list[Entry]:
    out = []
    for c in conflicts:
        record = records.get(c["id"])
        values = c["values"]
        out.append(
            Entry(
                f"conflict:{c['collection']}:{c['id']}:{c['field']}",
                str(record.values.get("updated", "")) if record else "",
                " · ".join(safe_text(v["by"]) for v in values),
                "conflict",
                "contact" if c["collection"] == "contacts" else "note",
                f"{c['label']}: {len(values)} values for "
                f"{field_label(c['collection'], c['field'])}",
                record,
            )
        )
    return out


class EntryRow(Row):
    """A row of the screen: its cells are the entry's."""

    __slots__ = ("entry",)

    def __init__(self, columns: tuple[Column, ...], entry: Entry) -> None:
        placeholder = Record("contacts", entry.key, {})
        super().__init__(
            columns,
            entry.key,
            fold(" ".join(entry.cells)),
            record=entry.record or placeholder,
        )
        self.entry = entry

    @property
    def cells(self) -> tuple[str, ...]:
        return self.entry.cells


class WhatsNewScreen(PlntuiScreen):
    """What colleagues added, changed or deleted since you last looked; what waits for you."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mark_seen", "Mark seen", id="mark-seen"),
        Binding("a", "show_all", "All", id="all", tooltip="Everything colleagues did, ever"),
        Binding(
            "r",
            "restore",
            "Restore",
            id="restore",
            tooltip="Bring back the deleted contact or note under the cursor",
        ),
    ]
    DEFAULT_CSS = """
    WhatsNewScreen #since { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.catalog = Catalog(
            tuple(Column(key, label, width, lambda r: "") for key, label, width in COLUMNS)
        )
        self.since: str | None = None  # the mark in use while the screen is open
        self.loaded_at = ""
        self._generation = 0
        self._restore_shown = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("whatsnew")
        yield Static(id="since")
        yield RecordTable(self.catalog, EMPTY, id="table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "What's new"
        self.table.focus()

    @property
    def table(self) -> RecordTable:
        return self.query_one(RecordTable)

    def current_entry(self) -> Entry | None:
        rows = self.table.rows
        cursor = self.table.cursor
        if 0 <= cursor < len(rows) and isinstance(rows[cursor], EntryRow):
            return rows[cursor].entry  # type: ignore[attr-defined,no-any-return]
        return None

    # -- data -----------------------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        self.since = None  # a fresh visit starts from the stored mark
        self.data_version = self.papp.data_version
        self.reload()

    def reload(self) -> None:
        if self.papp.net is None:
            return
        self._generation += 1
        self._read(self._generation, self.since)

    @work(thread=True, exclusive=True, group="whatsnew", exit_on_error=False)
    def _read(self, generation: int, since: str | None) -> None:
        from ...peersync import open_trust
        from ...provenance import device_names, last_seen, whats_new
        from ..recovery import held_summary

        net = self.papp.net
        if net is None:
            return
        try:
            trust: Any = open_trust(self.papp.home)
        except Exception:  # an unreadable trust store: the fingerprint still says who
            trust = None
        with self.papp.net_lock:
            if since is None:
                since = last_seen(net.profile)
            loaded_at = now_stamp()
            items = whats_new(net, since)
            names = device_names(net)
            held = [held_summary(net, b, names, trust) for b in net.held()]
            conflicts = net.conflicts()
            index = net.index()
            records: dict[str, Record] = {}
            for collection in ("contacts", "notes"):
                ids = [c["id"] for c in conflicts if c["collection"] == collection]
                records.update((r.id, r) for r in index.records(collection, ids))
        entries = held_entries(held) + conflict_entries(conflicts, records) + item_entries(items)
        counts = (len(items), len(held), len(conflicts))
        self.app.call_from_thread(self._show, generation, since, loaded_at, entries, counts)

    def _show(
        self,
        generation: int,
        since: str,
        loaded_at: str,
        entries: list[Entry],
        counts: tuple[int, int, int],
    ) -> None:
        if generation != self._generation:
            return
        self.since, self.loaded_at = since, loaded_at
        self.catalog.rows = [EntryRow(self.catalog.columns, e) for e in entries]
        self.catalog.query = ""
        self.catalog.apply_filter("")
        self.table.refresh_rows()
        items, held, conflicts = counts
        shown = since[:16].replace("T", " ")
        text = f"{items} change{'s' if items != 1 else ''} by colleagues"
        text = f"{text} since {shown} UTC" if shown else f"{text}, ever"
        if held:
            text += f" · {plural(held, 'mass deletion')} held for you"
        if conflicts:
            text += f" · {plural(conflicts, 'field')} with two values"
        self.query_one("#since", Static).update(Text(text))
        self._follow_bindings()

    # -- actions --------------------------------------------------------------------------------

    def action_mark_seen(self) -> None:
        self._mark()
        self.papp.safe_notify("Marked as seen.", timeout=2)

    def action_show_all(self) -> None:
        self.since = ""
        self.reload()

    def _mark(self) -> None:
        from ...provenance import mark_seen

        net = self.papp.net
        if net is None or not self.loaded_at:
            return
        mark_seen(net.profile, self.loaded_at)  # our clock: never a colleague's stamp

    def on_screen_suspend(self) -> None:
        from textual.screen import ModalScreen

        if isinstance(self.app.screen, ModalScreen):
            return  # a dialog or the palette over the list: still looking
        self._mark()  # leaving the screen: what it showed has been seen

    @on(RecordTable.Highlighted)
    def _highlighted(self) -> None:
        self._follow_bindings()

    def _follow_bindings(self) -> None:
        entry = self.current_entry()
        shown = entry is not None and entry.what == "deleted"
        if shown != self._restore_shown:
            self._restore_shown = shown
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore":
            entry = self.current_entry()
            return entry is not None and entry.what == "deleted"
        return True

    @on(RecordTable.Selected)
    def _open(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        if entry.what == "held":
            self._open_peers()
        elif entry.what == "deleted":
            self.action_restore()
        elif entry.record is not None:
            self.post_message(ShowItem(entry.record.collection, entry.record.id))

    def _open_peers(self) -> None:
        app = self.app
        app.switch_mode("peers")

        def focus_held() -> None:
            for table in app.screen.query("#held"):
                table.focus()

        app.call_after_refresh(focus_held)

    def action_restore(self) -> None:
        from ..dialogs.confirm import ConfirmDialog
        from .trash import noun, restore_from_trash

        entry = self.current_entry()
        if entry is None or entry.what != "deleted" or entry.record is None:
            return
        record = entry.record

        def answer(yes: bool | None) -> None:
            if yes and restore_from_trash(self.papp, record) is not None:
                self.reload()

        self.app.push_screen(
            ConfirmDialog(
                f"{safe_text(entry.who)} deleted the {noun(record)} {safe_text(record.label)}. "
                "Restore it? It comes back as it was, for your colleagues too.",
                yes="Restore",
                no="Cancel",
                default="no",
            ),
            answer,
        )
