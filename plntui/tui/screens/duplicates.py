"""Provides the duplicates screen: contacts that look like one person, side by side, and merging
them after a confirmation.

The pairs come from ``plntui.dedupe`` (the same e-mail, the same phone however written, close
names), best score first, with why and the score. The selected pair is shown field by field: the
contact kept on the left (the older one; ``s`` swaps), the one merged away on the right; what
the merge would fill in is green, what differs yellow (the kept value stays; the other is kept
under "Merged from"), as ``Network.merge_preview`` says. ``m`` (or Enter) merges after a
confirmation whose default button is Cancel (``Network.merge_contacts``, through the app's
``run_edit``). ``x`` marks a pair as two people: this device remembers it in its settings
(``dedupe.mark_not_duplicates``), so it is not listed again here nor by ``plntui contact dupes``;
``u`` takes the last such mark of this visit back.

The pairs are found in a worker thread: the contacts are read under the network's lock, and
compared outside it. The screen is pushed over the contacts screen (``D`` there, or
"Duplicates…" in the palette); Escape goes back.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from ...dedupe import Match, find_duplicates, mark_not_duplicates, not_duplicates, pair_key
from ...model import FIELDS, PROVENANCE_FIELDS, Record, display_value, safe_text
from ..base import PlntuiScreen
from ..recovery import one_line, plural, when

FILLS = "green"
DIFFERS = "bold yellow"
SKIPPED = frozenset({"name", "created", "updated"}) | PROVENANCE_FIELDS


class DuplicatesScreen(PlntuiScreen):
    """Contacts that look like one person: compare them, merge them, or mark them as two."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "m",
            "merge",
            "Merge",
            id="merge",
            tooltip="Merge the right contact into the left one (or Enter), after asking",
        ),
        Binding("s", "swap", "Swap kept", id="swap", tooltip="Keep the other contact of the pair"),
        Binding(
            "x",
            "not_duplicates",
            "Not duplicates",
            id="not-duplicates",
            tooltip="Two people: hide the pair (remembered on this device)",
        ),
        Binding("u", "undo", "Undo not duplicates", id="undo", show=False),
        Binding("escape", "back", "Back", id="back"),
    ]
    DEFAULT_CSS = """
    DuplicatesScreen #dup-summary { height: 1; padding: 0 1; background: $panel; }
    DuplicatesScreen #pairs { height: auto; max-height: 40%; overflow-x: hidden; }
    DuplicatesScreen #comparison-pane { height: 1fr; border-top: hkey $panel; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._generation = 0
        self._pairs: list[Match] = []
        self._names: dict[str, str] = {}  # contact id -> name, for "Introduced by"
        self._contacts = 0
        self._swapped: set[str] = set()  # pair keys whose newer contact is kept
        self._marked: list[str] = []  # pairs marked as two people on this visit, last last
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Looking for duplicates…", style="italic"), id="dup-summary")
        yield DataTable(id="pairs", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="comparison-pane"):
            yield Static(id="comparison")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Duplicates"
        table = self.table
        table.add_column("Score", key="score", width=5)
        table.add_column("Keep", key="keep", width=20)
        table.add_column("Merge away", key="other", width=20)
        table.add_column("Why", key="why")
        table.focus()
        self.reload()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#pairs", DataTable)

    # -- data -----------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.papp.net is None:
            return
        self._generation += 1
        self._read(self._generation)

    @work(thread=True, exclusive=True, group="duplicates", exit_on_error=False)
    def _read(self, generation: int) -> None:
        net = self.papp.net
        if net is None:
            return
        with self.papp.net_lock:
            contacts = net.contacts()
        pairs = find_duplicates(contacts)  # outside the lock: comparing takes a while
        hidden = not_duplicates(self.papp.home)
        pairs = [p for p in pairs if pair_key(p.first.id, p.second.id) not in hidden]
        names = {c.id: c.label for c in contacts}
        self.app.call_from_thread(self._show_pairs, generation, pairs, names, len(contacts))

    def _show_pairs(
        self, generation: int, pairs: list[Match], names: dict[str, str], contacts: int
    ) -> None:
        if generation != self._generation or not self.is_attached:
            return  # read again since, or the screen was closed meanwhile
        table = self.table
        current = self.current
        keep_key = pair_key(current.first.id, current.second.id) if current else None
        row = table.cursor_row
        self._pairs, self._names, self._contacts = pairs, names, contacts
        self._loaded = True
        table.clear()
        for match in pairs:
            key = pair_key(match.first.id, match.second.id)
            keep, other = self._chosen(match)
            table.add_row(
                Text(str(match.score), justify="right"),
                Text(one_line(keep.label)),
                Text(one_line(other.label)),
                Text(one_line(match.reason)),
                key=key,
            )
        keys = [pair_key(m.first.id, m.second.id) for m in pairs]
        if keep_key in keys:
            row = keys.index(keep_key)
        if pairs:
            table.move_cursor(row=min(max(row, 0), len(pairs) - 1))
        self._summarise()
        self._show_pair()
        self.refresh_bindings()

    def _summarise(self) -> None:
        among = f"among {plural(self._contacts, 'contact')}"
        if self._pairs:
            text = f"{plural(len(self._pairs), 'pair')} that may be one person {among}, best first"
        else:
            text = f"No likely duplicates {among}."
        if self._marked:
            text += f" · u: undo “not duplicates” ({len(self._marked)})"
        self.query_one("#dup-summary", Static).update(Text(text))

    # -- the selected pair ----------------------------------------------------------------------

    @property
    def current(self) -> Match | None:
        row = self.table.cursor_row
        return self._pairs[row] if 0 <= row < len(self._pairs) else None

    def _chosen(self, match: Match) -> tuple[Record, Record]:
        """(the contact kept, the one merged into it)."""
        if pair_key(match.first.id, match.second.id) in self._swapped:
            return match.second, match.first
        return match.first, match.second

    @on(DataTable.RowHighlighted, "#pairs")
    def _highlighted(self) -> None:
        self._show_pair()

    def _show_pair(self) -> None:
        detail = self.query_one("#comparison", Static)
        match = self.current
        if match is None:
            detail.update(
                Text(
                    "Contacts that share an e-mail address or a phone number, or have close "
                    "names, appear here."
                    if self._loaded
                    else "",
                    style="dim",
                )
            )
            return
        detail.update(self.comparison(match))

    def comparison(self, match: Match) -> Table:
        """The pair field by field: kept on the left, merged away on the right."""
        from ...network import Network

        keep, other = self._chosen(match)
        fills, differs = Network.merge_preview(keep, other)
        ages = [str(r.values.get("created", "")) for r in (keep, other)]
        age = ("", "") if ages[0] == ages[1] else ("older", "newer")
        if ages[0] > ages[1]:
            age = ("newer", "older")
        table = Table(
            expand=True,
            show_edge=False,
            pad_edge=False,
            title=Text(f"{match.reason} · score {match.score}", style="italic"),
            caption=Text.assemble(
                ("green", FILLS),
                ": the merge adds it · ",
                ("yellow", DIFFERS),
                ": differs; the kept value stays, the other is kept under “Merged from”",
            ),
        )
        table.add_column("", style="bold", width=14)  # "Follow-up every (days)" wraps
        table.add_column(Text(f"Keep ({age[0]})" if age[0] else "Keep", style="bold"), ratio=3)
        table.add_column(Text(f"Merge away ({age[1]})" if age[1] else "Merge away"), ratio=3)
        table.add_row("Name", *self._cells(keep, other, "name", fills, differs))
        table.add_row("Circle", Text(self._circle(keep)), self._circle_cell(keep, other))
        for spec in FIELDS["contacts"].values():
            if spec.name in SKIPPED:
                continue
            if not (keep.get(spec.name) or other.get(spec.name)):
                continue
            table.add_row(spec.label, *self._cells(keep, other, spec.name, fills, differs))
        table.add_row(
            "Created",
            Text(when(keep.values.get("created"))),
            Text(when(other.values.get("created"))),
        )
        table.add_row("Id", Text(keep.id), Text(other.id))
        return table

    def _value(self, record: Record, name: str) -> str:
        value = record.values.get(name)
        if name == "introduced_by" and value:
            value = self._names.get(str(value), value)
        text = safe_text(display_value(value))
        if record.is_private(name) and not record.private_item and value not in (None, "", []):
            text += " (private)"
        return text

    def _cells(
        self,
        keep: Record,
        other: Record,
        name: str,
        fills: dict[str, Any],
        differs: dict[str, Any],
    ) -> tuple[Text, Text]:
        left, right = Text(self._value(keep, name)), Text(self._value(other, name))
        if name in differs:
            left.stylize(DIFFERS)
            right.stylize(DIFFERS)
        elif name in fills:
            right.stylize(FILLS)
        return left, right

    @staticmethod
    def _circle(record: Record) -> str:
        return "private" if record.private_item else safe_text(record.circle_name or "—")

    def _circle_cell(self, keep: Record, other: Record) -> Text:
        text = Text(self._circle(other))
        if self._circle(other) != self._circle(keep):
            text.stylize(DIFFERS)
        return text

    # -- actions --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action in ("merge", "swap", "not_duplicates"):
            return self.current is not None
        if action == "undo":
            return bool(self._marked)
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_swap(self) -> None:
        match = self.current
        if match is None:
            return
        key = pair_key(match.first.id, match.second.id)
        self._swapped ^= {key}
        keep, other = self._chosen(match)
        self.table.update_cell(key, "keep", Text(one_line(keep.label)))
        self.table.update_cell(key, "other", Text(one_line(other.label)))
        self._show_pair()

    @on(DataTable.RowSelected, "#pairs")
    def _selected(self) -> None:
        self.action_merge()

    def action_merge(self) -> None:
        from ..dialogs.confirm import ConfirmDialog

        match = self.current
        if match is None:
            return
        keep, other = self._chosen(match)
        kept, away = safe_text(keep.label), safe_text(other.label)

        def answer(yes: bool | None) -> None:
            net = self.papp.net
            if not yes or net is None:
                return
            merged = self.papp.run_edit(net.merge_contacts, keep.id, other.id)
            if merged is None:
                return
            # at once: no pair with the contact merged away is offered again meanwhile
            self._pairs = [p for p in self._pairs if other.id not in (p.first.id, p.second.id)]
            self._show_pairs(self._generation, self._pairs, self._names, self._contacts - 1)
            self.papp.safe_notify(f"Merged {other.label} into {merged.label}", timeout=4)
            self.reload()

        self.app.push_screen(
            ConfirmDialog(
                f"Merge {away} into {kept}? {kept} stays: its empty fields are filled from "
                f"{away}, lists are united, and values that differ are kept under “Merged "
                f"from”. Notes, talks and introductions follow; {away}'s id then finds {kept}.",
                yes="Merge",
            ),
            answer,
        )

    def action_not_duplicates(self) -> None:
        match = self.current
        if match is None:
            return
        key = pair_key(match.first.id, match.second.id)
        try:
            mark_not_duplicates(self.papp.home, key)
        except OSError as err:
            self.papp.safe_notify(f"Cannot remember it: {err}", severity="error")
            return
        self._marked.append(key)
        self._pairs = [p for p in self._pairs if p is not match]
        self._show_pairs(self._generation, self._pairs, self._names, self._contacts)
        self.papp.safe_notify(
            f"{match.first.label} and {match.second.label}: two people, not listed again "
            "(u takes it back).",
            timeout=4,
        )

    def action_undo(self) -> None:
        if not self._marked:
            return
        try:
            mark_not_duplicates(self.papp.home, self._marked.pop(), marked=False)
        except OSError as err:
            self.papp.safe_notify(f"Cannot change it: {err}", severity="error")
            return
        self.reload()
