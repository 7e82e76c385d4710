"""Provides the peers screen: the colleagues you sync with, those nearby, pairing, introductions,
mass deletions held for your decision and undoing a revoked device.

*Mass deletions held for your decision* comes first when a colleague's device deleted much of a
circle at once (``Network.held``: whose device, how many contacts and notes, the circle, the
peer it came through, the first names): ``d`` applies the deletion, ``b`` refuses it and brings
everything back for everyone, each after a confirmation whose default button is Cancel.
*Revoked devices* (from the trust store) ends the screen: ``u`` asks a date (YYYY-MM-DD, today
by default) and undoes what that device changed since (``Network.undo_device``), then lists
what was restored and what was left as it is. Both are read in a worker, under the network's
lock, whenever the network changes.

Four more tables, refreshed from the app's ``sync_snapshot`` (see ``sync_service``) without moving
the cursor: *Trusted* (state: in sync, syncing, left, offline, revoked you, or failed only for a
real failure, see ``peer_condition``; the link's route: LAN, a direct address or the relay; last
sync, the circles shared with the peer, where it listens, bytes and changes in and out,
introducer role; ``c`` adds the peer to circles or removes it, see ``PeerCirclesDialog``; ``r``
revokes after a confirmation, ``n`` makes the peer an introducer, see ``IntroducerDialog``).
Its columns are as many as fit the width, each shown whole (the least needed go first, see
``TRUSTED_COLUMNS``); under it, the selected peer is described in full: why it is offline or
failed, where it listens, the circles, counters and role.
*Introduced, waiting for your approval* (peers an introducer offered: ``a`` approves after a
confirmation that shows the full fingerprint, ``x`` rejects), *Pairing requests* (nearby devices
announcing an open invite) and *Nearby* (devices seen on the LAN that you do not trust yet; ``p``
or Enter pairs with one). Every name and address came from the network: cells are plain
``Text``, never markup.

Every change of trust goes through the trust store on the engine's thread, which then applies
it (``SyncService.change_trust``). Offline (``--offline``, or the engine could not start), the
screen reads the trust store directly and edits it directly (the next start honours it).
Circle membership is data of the circles (``Network.add_member`` / ``remove_member``), written
under the network's lock in a worker; the engine then syncs the circle with whoever it concerns.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Label, OptionList, Static
from textual.widgets.option_list import Option

from ...cells import cell_len
from ...circles import Circle
from ...errors import PlntuiError
from ...model import safe_text
from .. import sync_service
from ..base import PlntuiScreen
from ..recovery import HeldSummary, when
from ..sync_service import (
    NearbyPeer,
    OfferedPeer,
    SyncSnapshot,
    TrustedPeer,
    ago,
    human_bytes,
    introducer_fields,
    offers_of,
    peer_condition,
)
from ..widgets.mode_bar import ModeBar

ROUTE_LABELS = {"lan": "LAN", "direct": "direct", "relay": "relay"}
"""How a link reaches the peer (``PeerStatus.route``)."""
TONES = {"good": "green", "error": "red", "warning": "yellow"}

TRUSTED_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "Name", 0),
    ("state", "State", 0),
    ("route", "Route", 2),
    ("last", "Last sync", 0),
    ("circles", "Circles", 3),
    ("address", "Address", 1),
    ("bytes", "Bytes in / out", 4),
    ("changes", "Changes in / out", 5),
    ("role", "Introducer", 6),
)
"""The Trusted table's columns (key, header, drop): when they do not all fit, the one with the
highest ``drop`` goes first, and so on (0: always shown); what a column would show is always in
the description of the selected peer under the table."""
CELL_PADDING = 2
"""Cells a DataTable column takes beyond its widest cell (one each side)."""


def _cell(value: Any, style: str = "") -> Text:
    return Text(" ".join(safe_text(value).split()), style=style)


IntroducerMode = Literal["off", "ask", "auto"]


def introducer_mode(peer: TrustedPeer) -> IntroducerMode:
    if not peer.introducer:
        return "off"
    return "auto" if peer.auto_accept else "ask"


def role_text(peer: TrustedPeer) -> str:
    """ "introducer", "introducer, auto-accept", "introduced by Bob", both, or nothing."""
    parts = []
    if peer.introducer:
        parts.append("introducer, auto-accept" if peer.auto_accept else "introducer")
    if peer.introduced_by:
        parts.append(f"introduced by {peer.introduced_by}")
    return " · ".join(parts)


def offered_date(offer: OfferedPeer) -> str:
    return "—" if offer.offered is None else offer.offered.astimezone().strftime("%Y-%m-%d")


def two_lines(fingerprint_text: str) -> str:
    """A full fingerprint on two lines of four groups (it fits a dialog, and reads aloud)."""
    groups = fingerprint_text.split("-")
    return "-".join(groups[:4]) + "\n" + "-".join(groups[4:])


def circles_text(peer: TrustedPeer, circles: tuple[Circle, ...]) -> str:
    """The names of the circles this device shares with ``peer`` (both are members), or "—"."""
    key = peer.fingerprint.hex()
    names = sorted((c.name for c in circles if c.member and key in c.members), key=str.casefold)
    return ", ".join(names) or "—"


def last_sync_text(peer: TrustedPeer) -> str:
    if peer.last_sync is None:
        return "never"
    return ago((sync_service.utcnow() - peer.last_sync).total_seconds())


def trusted_cells(peer: TrustedPeer, circles: tuple[Circle, ...] = ()) -> dict[str, Text]:
    """Every cell of a peer's row in the Trusted table, by column key (``TRUSTED_COLUMNS``)."""
    condition = peer_condition(peer)
    return {
        "name": _cell(peer.name, "bold"),
        "state": _cell(condition.label, TONES.get(condition.tone, "")),
        "route": _cell(ROUTE_LABELS.get(peer.route, peer.route) or "—"),
        "last": _cell(last_sync_text(peer)),
        "circles": _cell(circles_text(peer, circles)),
        "address": _cell(peer.shown_address or "—"),
        "bytes": _cell(f"{human_bytes(peer.bytes_in)} / {human_bytes(peer.bytes_out)}"),
        "changes": _cell(f"{peer.changes_in:,} / {peer.changes_out:,}"),
        "role": _cell(role_text(peer) or "—"),
    }


def fitting_columns(rows: list[dict[str, Text]], width: int) -> list[str]:
    """The keys of the Trusted columns to show in ``width`` cells: all that fit whole, the
    ones with the highest ``drop`` left out first."""
    need = {
        key: max([cell_len(label), *(cell_len(row[key].plain) for row in rows)]) + CELL_PADDING
        for key, label, _drop in TRUSTED_COLUMNS
    }
    shown = [key for key, _label, _drop in TRUSTED_COLUMNS]
    droppable = sorted((drop, key) for key, _label, drop in TRUSTED_COLUMNS if drop > 0)
    while sum(need[key] for key in shown) > width and droppable:
        shown.remove(droppable.pop()[1])
    return shown


def peer_detail(peer: TrustedPeer, circles: tuple[Circle, ...] = ()) -> Text:
    """The selected peer in full: how it is and why, then its route and address, last sync,
    circles, traffic and role (everything a hidden column would have shown)."""
    condition = peer_condition(peer)
    text = Text()
    text.append(" ".join(peer.name.split()), style="bold")
    text.append(": ")
    text.append(" ".join(safe_text(condition.detail).split()), style=TONES.get(condition.tone, ""))
    lines = (
        [
            ROUTE_LABELS.get(peer.route, peer.route),
            peer.shown_address,
            f"last sync {last_sync_text(peer)}",
            f"circles: {circles_text(peer, circles)}",
        ],
        [
            f"in / out {human_bytes(peer.bytes_in)} / {human_bytes(peer.bytes_out)}, "
            f"{peer.changes_in:,} / {peer.changes_out:,} changes",
            role_text(peer),
        ],
    )
    for facts in lines:
        text.append("\n" + " · ".join(" ".join(safe_text(f).split()) for f in facts if f))
    return text


def nearby_row(peer: NearbyPeer) -> tuple[Text, ...]:
    return (
        _cell(peer.name, "bold"),
        _cell(peer.short),
        _cell(peer.address),
        _cell("wants to pair" if peer.pairing else "not trusted", "yellow" if peer.pairing else ""),
    )


def offered_row(offer: OfferedPeer) -> tuple[Text, ...]:
    return (
        _cell(offer.name, "bold"),
        _cell(offer.short),
        _cell(offer.introducer_name),
        _cell(offered_date(offer)),
    )


def held_row(summary: HeldSummary) -> tuple[Text, ...]:
    shown = ", ".join(summary.names)
    more = summary.total - len(summary.names)
    return (
        _cell(when(summary.at)),
        _cell(summary.author, "bold"),
        _cell(summary.counts, "yellow"),
        _cell(summary.circle),
        _cell(summary.via),
        _cell(shown + (f" and {more:,} more" if more > 0 else "")),
    )


def revoked_row(peer: Any) -> tuple[Text, ...]:
    from sync.fingerprint import short_fingerprint

    last = "never" if peer.last_sync is None else peer.last_sync.strftime("%Y-%m-%d %H:%M")
    return (
        _cell(peer.display_name, "bold"),
        _cell(short_fingerprint(peer.fingerprint)),
        _cell(last),
        _cell("u undoes what it changed since a date"),
    )


def pending_row(peer: NearbyPeer) -> tuple[Text, ...]:
    return (
        _cell(peer.name, "bold"),
        _cell(peer.short),
        _cell("asks to pair: press Enter and type the code they read out"),
    )


class PeersScreen(PlntuiScreen):
    """The colleagues you sync with, devices nearby, pairing; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "i", "invite", "Pair a colleague", id="invite", tooltip="Show a code to a colleague"
        ),
        Binding("p", "pair", "Enter code", id="pair", tooltip="Type the code a colleague shows"),
        Binding("r", "revoke", "Revoke", id="revoke", tooltip="Stop syncing with this peer"),
        Binding(
            "c",
            "circles",
            "Circles",
            id="circles",
            tooltip="Add this trusted colleague to your circles, or remove it",
        ),
        Binding(
            "n",
            "introducer",
            "Introducer",
            id="introducer",
            tooltip="Let this trusted colleague offer you the peers they trust",
        ),
        Binding(
            "a",
            "approve",
            "Approve",
            id="approve",
            tooltip="Trust the introduced peer selected under Introduced",
        ),
        Binding(
            "x",
            "reject",
            "Reject",
            id="reject",
            tooltip="Refuse the introduced peer selected under Introduced (never offered again)",
        ),
        Binding(
            "d",
            "accept_held",
            "Apply deletion",
            id="accept-held",
            tooltip="Apply the mass deletion selected under Held (each item stays in the trash)",
        ),
        Binding(
            "b",
            "refuse_held",
            "Bring back",
            id="refuse-held",
            tooltip="Refuse the mass deletion selected under Held: everything comes back, for "
            "everyone",
        ),
        Binding(
            "u",
            "undo_device",
            "Undo device…",
            id="undo-device",
            tooltip="Undo what the device selected under Revoked changed since a date",
        ),
    ]
    DEFAULT_CSS = """
    PeersScreen #identity { height: auto; padding: 0 1; color: $text-muted; }
    PeersScreen .section { margin-top: 1; padding: 0 1; text-style: bold; }
    PeersScreen DataTable { height: auto; max-height: 12; margin: 0 1; }
    PeersScreen .empty { padding: 0 2; color: $text-muted; }
    PeersScreen #trusted-detail { height: auto; padding: 0 2; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._offline_trusted: tuple[TrustedPeer, ...] = ()
        self._offline_offers: tuple[OfferedPeer, ...] = ()
        self._shown_counts = (-1, -1)
        self._circles: tuple[Circle, ...] = ()  # every circle this device holds
        self._held: tuple[HeldSummary, ...] = ()  # mass deletions waiting for a decision
        self._revoked: tuple[Any, ...] = ()  # revoked peers (sync.trust.Peer)
        self._trusted_columns: list[str] = []  # the keys of the Trusted columns shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("peers")
        yield Static("", id="identity")
        with VerticalScroll():
            yield Label("Mass deletions held for your decision", classes="section", id="held-title")
            yield DataTable(id="held", cursor_type="row")
            yield Label("Trusted colleagues", classes="section")
            yield DataTable(id="trusted", cursor_type="row", zebra_stripes=True)
            yield Static("", id="trusted-detail")
            yield Static("", id="trusted-empty", classes="empty")
            yield Label("Introduced, waiting for your approval", classes="section")
            yield DataTable(id="introduced", cursor_type="row")
            yield Static("", id="introduced-empty", classes="empty")
            yield Label("Pairing requests", classes="section")
            yield DataTable(id="pending", cursor_type="row")
            yield Static("", id="pending-empty", classes="empty")
            yield Label("Nearby, not trusted", classes="section")
            yield DataTable(id="nearby", cursor_type="row")
            yield Static("", id="nearby-empty", classes="empty")
            yield Label("Revoked devices", classes="section", id="revoked-title")
            yield DataTable(id="revoked", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Peers"
        self.table("introduced").add_columns("Name", "Fingerprint", "Introduced by", "Offered")
        self.table("pending").add_columns("Name", "Fingerprint", "Request")
        self.table("nearby").add_columns("Name", "Fingerprint", "Address", "")
        self.table("held").add_columns(
            "When (UTC)", "Whose device", "Deleted", "Circle", "Through", "What"
        )
        self.table("revoked").add_columns("Name", "Fingerprint", "Last sync", "")
        self._show_recovery()
        self.watch(self.app, "sync_snapshot", self._show, init=True)
        self.set_interval(1.0, self._tick)  # "synced 12 s ago" keeps counting
        self.table("trusted").focus()

    def table(self, name: str) -> DataTable[Any]:
        return self.query_one(f"#{name}", DataTable)

    # -- data -----------------------------------------------------------------------------------

    def reload(self) -> None:
        self._read_circles()
        self._read_recovery()
        if self.papp.sync_snapshot.state != "running":
            self._read_offline()

    @work(thread=True, exclusive=True, group="peers-recovery", exit_on_error=False)
    def _read_recovery(self) -> None:
        """The held mass deletions (names read under the network's lock) and the revoked
        devices (from the trust store)."""
        from ...peersync import open_trust
        from ...provenance import device_names
        from ..recovery import held_summary

        net = self.papp.net
        if net is None:
            return
        try:
            trust: Any = open_trust(self.papp.home)
            revoked = tuple(p for p in trust.peers() if not p.trusted)
        except Exception:  # an unreadable trust store: held batches still show
            trust, revoked = None, ()
        with self.papp.net_lock:
            names = device_names(net)
            held = tuple(held_summary(net, b, names, trust) for b in net.held())
        self.app.call_from_thread(self._set_recovery, held, revoked)

    def _set_recovery(self, held: tuple[HeldSummary, ...], revoked: tuple[Any, ...]) -> None:
        self._held, self._revoked = held, revoked
        self._show_recovery()
        self.refresh_bindings()

    def _show_recovery(self) -> None:
        held = self._held
        self._fill("held", [(h.id, held_row(h)) for h in held])
        self.table("held").display = bool(held)
        self.query_one("#held-title", Label).display = bool(held)
        revoked = self._revoked
        self._fill("revoked", [(p.fingerprint.hex(), revoked_row(p)) for p in revoked])
        self.table("revoked").display = bool(revoked)
        self.query_one("#revoked-title", Label).display = bool(revoked)

    @work(thread=True, exclusive=True, group="peers-circles", exit_on_error=False)
    def _read_circles(self) -> None:
        net = self.papp.net
        if net is None:
            return
        with self.papp.net_lock:
            circles = tuple(net.circles().values())
        self.app.call_from_thread(self._set_circles, circles)

    def _set_circles(self, circles: tuple[Circle, ...]) -> None:
        self._circles = circles
        self._show(self.papp.sync_snapshot)

    @work(thread=True, exclusive=True, group="peers", exit_on_error=False)
    def _read_offline(self) -> None:
        from ...peersync import open_trust

        trust = open_trust(self.papp.home)
        offers = offers_of(trust)
        peers = tuple(
            TrustedPeer(
                fingerprint=p.fingerprint,
                name=safe_text(p.display_name),
                state="offline",
                address="",
                known_address=safe_text(", ".join(p.addresses)),
                last_sync=p.last_sync,
                changes_in=p.changes_in,
                changes_out=p.changes_out,
                bytes_in=p.bytes_in,
                bytes_out=p.bytes_out,
                last_error="",
                **introducer_fields(trust, p.fingerprint),
            )
            for p in trust.peers()
            if p.trusted
        )
        self.app.call_from_thread(self._set_offline, peers, offers)

    def _set_offline(
        self, peers: tuple[TrustedPeer, ...], offers: tuple[OfferedPeer, ...] = ()
    ) -> None:
        self._offline_trusted = peers
        self._offline_offers = offers
        self._show(self.papp.sync_snapshot)

    def _tick(self) -> None:
        self._show(self.papp.sync_snapshot)

    def _trusted(self, snapshot: SyncSnapshot) -> tuple[TrustedPeer, ...]:
        return snapshot.trusted if snapshot.state == "running" else self._offline_trusted

    def _offers(self, snapshot: SyncSnapshot) -> tuple[OfferedPeer, ...]:
        return snapshot.introductions if snapshot.state == "running" else self._offline_offers

    def on_resize(self) -> None:
        self._show(self.papp.sync_snapshot)

    def _show(self, snapshot: SyncSnapshot) -> None:
        self.query_one("#identity", Static).update(identity_text(snapshot))
        trusted = self._trusted(snapshot)
        circles = self._circles
        self._fill_trusted(trusted, circles)
        offers = self._offers(snapshot)
        self._fill("introduced", [(o.fingerprint.hex(), offered_row(o)) for o in offers])
        pending = [p for p in snapshot.nearby if p.pairing]
        self._fill("pending", [(p.fingerprint.hex(), pending_row(p)) for p in pending])
        self._fill("nearby", [(p.fingerprint.hex(), nearby_row(p)) for p in snapshot.nearby])
        running = snapshot.state == "running"
        self._empty(
            "trusted",
            not trusted,
            "Nobody yet. Pair with a colleague: select them under Nearby and press p.",
        )
        self._empty(
            "introduced",
            not offers,
            "None. Make a trusted colleague an introducer (select them, press n): the peers "
            "they trust are then offered here.",
        )
        self._empty("pending", not pending, "None.")
        self._empty(
            "nearby",
            not snapshot.nearby,
            (
                "No other plntui seen on this network."
                if running and snapshot.discovery
                else "LAN discovery is off."
            ),
        )
        self._show_detail()
        counts = (len(trusted), len(offers))
        if counts != self._shown_counts:  # the footer shows only the keys that apply
            self._shown_counts = counts
            self.refresh_bindings()

    def _fill_trusted(self, trusted: tuple[TrustedPeer, ...], circles: tuple[Circle, ...]) -> None:
        """The Trusted table with the columns that fit whole (see ``fitting_columns``), and the
        description of the selected peer under it."""
        table = self.table("trusted")
        cells = [trusted_cells(p, circles) for p in trusted]
        scroller = self.query_one(VerticalScroll)
        # room for a vertical scroll bar, shown or not (it comes and goes with the content)
        width = (
            scroller.size.width or self.app.size.width
        ) - scroller.styles.scrollbar_size_vertical
        shown = fitting_columns(cells, width - 2)  # the table's margin
        selected = None
        if shown != self._trusted_columns:
            selected = self._key("trusted")
            self._trusted_columns = shown
            labels = {key: label for key, label, _drop in TRUSTED_COLUMNS}
            table.clear(columns=True)
            for key in shown:
                table.add_column(labels[key], key=key)
        rows = [
            (p.fingerprint.hex(), tuple(row[key] for key in shown))
            for p, row in zip(trusted, cells, strict=True)
        ]
        self._fill("trusted", rows)
        keys = [key for key, _cells in rows]
        if selected in keys:  # the columns changed: the cursor stays on the same peer
            table.move_cursor(row=keys.index(selected), animate=False)

    def _show_detail(self) -> None:
        detail = self.query_one("#trusted-detail", Static)
        peer = self._selected_trusted()
        detail.display = peer is not None
        if peer is not None:
            detail.update(peer_detail(peer, self._circles))

    @on(DataTable.RowHighlighted, "#trusted")
    def _trusted_highlighted(self) -> None:
        self._show_detail()

    def _empty(self, name: str, empty: bool, text: str) -> None:
        self.table(name).display = not empty
        note = self.query_one(f"#{name}-empty", Static)
        note.display = empty
        note.update(Text(text))

    def _fill(self, name: str, rows: list[tuple[str, tuple[Text, ...]]]) -> None:
        """Show ``rows`` (key, cells) keeping the cursor on the same peer."""
        table = self.table(name)
        keys = [key for key, _ in rows]
        current = [row.key.value for row in table.ordered_rows]
        if keys == current:
            columns = list(table.columns)
            for key, cells in rows:
                for column, cell in zip(columns, cells, strict=True):
                    if table.get_cell(key, column) != cell:
                        table.update_cell(key, column, cell, update_width=True)
            return
        selected = current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if selected in keys:
            table.move_cursor(row=keys.index(selected), animate=False)

    def _key(self, name: str) -> str | None:
        """The key of the row under the cursor of table ``name``, or None."""
        table = self.table(name)
        if not table.display or table.row_count == 0:
            return None
        value = table.ordered_rows[table.cursor_row].key.value
        return str(value) if value else None

    def _selected(self, name: str) -> bytes | None:
        table = self.table(name)
        if not table.display or table.row_count == 0:
            return None
        row = table.ordered_rows[table.cursor_row]
        value = row.key.value
        return bytes.fromhex(value) if value else None

    def _selected_trusted(self) -> TrustedPeer | None:
        fingerprint = self._selected("trusted")
        trusted = self._trusted(self.papp.sync_snapshot)
        return next((p for p in trusted if p.fingerprint == fingerprint), None)

    def _selected_offer(self) -> OfferedPeer | None:
        fingerprint = self._selected("introduced")
        offers = self._offers(self.papp.sync_snapshot)
        return next((o for o in offers if o.fingerprint == fingerprint), None)

    # -- actions --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        snapshot = self.papp.sync_snapshot
        if action in ("approve", "reject"):
            return bool(self._offers(snapshot))
        if action in ("introducer", "revoke", "circles"):
            return bool(self._trusted(snapshot))
        if action in ("accept_held", "refuse_held"):
            return bool(self._held)
        if action == "undo_device":
            return bool(self._revoked)
        return True

    def action_revoke(self) -> None:
        peer = self._selected_trusted()
        if peer is None:
            self.papp.safe_notify("Select a trusted colleague first.", severity="warning")
            return
        from ..dialogs.confirm import ConfirmDialog

        def answer(yes: bool | None) -> None:
            if yes:
                self._change_trust(
                    "revoke",
                    peer.fingerprint,
                    lambda _: (
                        f"Revoked {peer.name}: you no longer sync with them. To undo what "
                        f"{peer.name} changed, select them under Revoked devices and press u."
                    ),
                )

        self.app.push_screen(
            ConfirmDialog(
                f"Stop syncing with {peer.name}? They can no longer read or change your "
                "network; what they already received stays with them.",
                yes="Revoke",
            ),
            answer,
        )

    def action_approve(self) -> None:
        offer = self._selected_offer()
        if offer is None:
            self.papp.safe_notify("No introduced peer waits for approval.", severity="warning")
            return
        from ..dialogs.confirm import ConfirmDialog

        name, by = offer.name, offer.introducer_name

        def answer(yes: bool | None) -> None:
            if yes:
                self._change_trust(
                    "approve",
                    offer.fingerprint,
                    lambda peer: (
                        f"Trusted {peer.display_name}, introduced by {by}. To sync, "
                        f"{peer.display_name} must trust this device too."
                    ),
                )

        self.app.push_screen(
            ConfirmDialog(
                f"Trust {name}, introduced by {by}?\n\n"
                f"Fingerprint of {name}:\n{two_lines(offer.fingerprint_text)}\n"
                f"Offered on {offered_date(offer)}.\n\n"
                f"If you can, compare it with the one at the top of {name}'s Peers screen. "
                f"To sync, the other side must trust you too: {name} pairs with you, or marks "
                f"{by} an introducer and approves you.",
                yes="Approve",
            ),
            answer,
        )

    def action_reject(self) -> None:
        offer = self._selected_offer()
        if offer is None:
            self.papp.safe_notify("No introduced peer waits for approval.", severity="warning")
            return
        from ..dialogs.confirm import ConfirmDialog

        def answer(yes: bool | None) -> None:
            if yes:
                self._change_trust(
                    "reject",
                    offer.fingerprint,
                    lambda peer: f"Rejected {peer.display_name}: it will not be offered again.",
                )

        self.app.push_screen(
            ConfirmDialog(
                f"Reject {offer.name} ({offer.short}), introduced by "
                f"{offer.introducer_name}? It stays refused and is never offered again; you can "
                "still pair with them later.",
                yes="Reject",
            ),
            answer,
        )

    def action_introducer(self) -> None:
        peer = self._selected_trusted()
        if peer is None:
            self.papp.safe_notify("Select a trusted colleague first.", severity="warning")
            return
        current = introducer_mode(peer)

        def answer(mode: IntroducerMode | None) -> None:
            if mode is None or mode == current:
                return
            self._change_trust(
                "set_introducer",
                peer.fingerprint,
                lambda changed: introducer_done(changed.display_name, mode),
                introducer=mode != "off",
                auto_accept=mode == "auto",
            )

        self.app.push_screen(IntroducerDialog(peer.name, current), answer)

    def action_circles(self) -> None:
        from ..dialogs.circles import PeerCirclesDialog

        peer = self._selected_trusted()
        if peer is None:
            self.papp.safe_notify("Select a trusted colleague first.", severity="warning")
            return
        mine = sorted(
            (c for c in self._circles if c.member), key=lambda c: (c.name.casefold(), c.id)
        )
        key = peer.fingerprint.hex()
        now = {c.id for c in mine if key in c.members}

        def answer(ticked: set[str] | None) -> None:
            if ticked is None or ticked == now:
                return
            self._change_circles(peer, sorted(ticked - now), sorted(now - ticked))

        self.app.push_screen(
            PeerCirclesDialog(peer.name, [(c.id, c.name) for c in mine], now), answer
        )

    @work(thread=True, group="peers-circles-change", exit_on_error=False)
    def _change_circles(self, peer: TrustedPeer, add: list[str], remove: list[str]) -> None:
        """Add ``peer`` to the circles ``add`` and remove it from ``remove`` (ids); each
        failure is a notification, the others still happen."""
        net = self.papp.net
        if net is None:
            return
        names = {c.id: c.name for c in self._circles}
        done: list[str] = []
        for circle_id in add + remove:
            name = safe_text(names.get(circle_id, circle_id[:8]))
            try:
                with self.papp.net_lock:
                    if circle_id in add:
                        net.add_member(circle_id, peer.fingerprint, peer.name or None)
                        done.append(f"added {peer.name} to {name}")
                    else:
                        net.remove_member(circle_id, peer.fingerprint)
                        done.append(f"removed {peer.name} from {name}")
            except PlntuiError as err:
                self.app.call_from_thread(
                    self.papp.safe_notify, err.message, title=err.title, severity="error"
                )
        if done:
            text = "; ".join(done)
            self.app.call_from_thread(self.papp.safe_notify, text[0].upper() + text[1:] + ".")
        self.app.call_from_thread(self.reload)

    @work(thread=True, group="peers-trust", exit_on_error=False)
    def _change_trust(
        self, method: str, fingerprint: bytes, done: Callable[[Any], str], **options: Any
    ) -> None:
        """``TrustStore.<method>(fingerprint, **options)``: through the engine when it runs
        (it applies the change at once), else on the trust store directly."""
        from sync.errors import SyncError

        from ...peersync import open_trust

        service = self.papp.sync_service
        try:
            if service is not None and self.papp.sync_snapshot.state == "running":
                peer = getattr(service, method)(fingerprint, **options).result(timeout=10)
            else:
                peer = getattr(open_trust(self.papp.home), method)(fingerprint, **options)
                self.app.call_from_thread(self.reload)
        except (LookupError, ValueError, SyncError, RuntimeError) as exc:
            self.app.call_from_thread(self.papp.safe_notify, str(exc), severity="error")
            return
        except concurrent.futures.TimeoutError:
            late = "The sync engine did not answer; try again."
            self.app.call_from_thread(self.papp.safe_notify, late, severity="error")
            return
        self.app.call_from_thread(self.papp.safe_notify, done(peer))
        self.app.call_from_thread(self._read_recovery)

    # -- mass deletions held, undoing a device --------------------------------------------------

    def _selected_held(self) -> HeldSummary | None:
        key = self._key("held")
        return next((h for h in self._held if h.id == key), None)

    def action_accept_held(self) -> None:
        self._decide_held(accept=True)

    def action_refuse_held(self) -> None:
        self._decide_held(accept=False)

    def _decide_held(self, accept: bool) -> None:
        from ..dialogs.confirm import ConfirmDialog

        held = self._selected_held()
        if held is None:
            self.papp.safe_notify("No mass deletion waits for your decision.", severity="warning")
            return
        what = f"{held.author}'s device deleted {held.counts} in circle {held.circle}"
        if accept:
            question = (
                f"{what}. Apply the deletion here too? Each item stays in the trash (7), from "
                "where it can be restored."
            )
            yes = "Apply deletion"
        else:
            question = (
                f"{what}. Refuse it? Everything it deleted comes back, here and, as a new "
                "change, for every colleague."
            )
            yes = "Bring back"

        def answer(confirmed: bool | None) -> None:
            if confirmed:
                self._held_decided(held, accept)

        self.app.push_screen(ConfirmDialog(question, yes=yes, no="Cancel", default="no"), answer)

    @work(thread=True, group="peers-held", exit_on_error=False)
    def _held_decided(self, held: HeldSummary, accept: bool) -> None:
        """Accept or refuse a held batch (the domain takes the lock for each write: a refusal
        of thousands of items does not keep the screen waiting)."""
        net = self.papp.net
        if net is None:
            return
        try:
            if accept:
                net.accept_held(held.id)
                text = f"Applied: the deletion of {held.counts} by {held.author}'s device."
            else:
                net.refuse_held(held.id)
                text = (
                    f"Refused: the {held.counts} {held.author}'s device deleted are back, here "
                    "and for every colleague."
                )
        except PlntuiError as err:
            self.app.call_from_thread(self.papp.report, err)
            return
        self.app.call_from_thread(self.papp.safe_notify, text, timeout=8)
        self.app.call_from_thread(self._read_recovery)

    def action_undo_device(self) -> None:
        from ..dialogs.undo import UndoDeviceDialog

        key = self._key("revoked")
        peer = next((p for p in self._revoked if p.fingerprint.hex() == key), None)
        if peer is None:
            trusted = self._selected_trusted()
            hint = (
                f"Revoke {trusted.name} first (r), then select them under Revoked devices."
                if trusted is not None and self.table("trusted").has_focus
                else "Select a device under Revoked devices first."
            )
            self.papp.safe_notify(hint, severity="warning")
            return
        name = safe_text(peer.display_name)

        def answer(since: str | None) -> None:
            if since:
                self._undo_device(peer.fingerprint, name, since)

        self.app.push_screen(UndoDeviceDialog(name), answer)

    @work(thread=True, group="peers-undo", exit_on_error=False)
    def _undo_device(self, fingerprint: bytes, name: str, since: str) -> None:
        from ..dialogs.undo import UndoReportDialog
        from ..recovery import undo_report

        net = self.papp.net
        if net is None:
            return
        try:
            result = net.undo_device(fingerprint, since)
        except PlntuiError as err:
            self.app.call_from_thread(self.papp.report, err)
            return
        report = undo_report(name, since, result)
        self.app.call_from_thread(self.app.push_screen, UndoReportDialog(report))

    def action_pair(self) -> None:
        fingerprint = self._selected("pending") if self.table("pending").has_focus else None
        fingerprint = fingerprint or self._selected("nearby")
        self.pair_with(fingerprint)

    def action_invite(self) -> None:
        from ..dialogs.pairing import InviteDialog

        self.app.push_screen(InviteDialog())

    def pair_with(self, fingerprint: bytes | None) -> None:
        """Type the code a nearby colleague shows (any device when ``fingerprint`` is None)."""
        from ..dialogs.pairing import JoinDialog

        nearby = self.papp.sync_snapshot.nearby
        peer = next((p for p in nearby if p.fingerprint == fingerprint), None)
        self.app.push_screen(JoinDialog(peer.name if peer else "", fingerprint if peer else None))

    @on(DataTable.RowSelected, "#nearby, #pending")
    def _nearby_selected(self, event: DataTable.RowSelected) -> None:
        value = event.row_key.value
        self.pair_with(bytes.fromhex(value) if value else None)


def introducer_done(name: str, mode: IntroducerMode) -> str:
    if mode == "off":
        return (
            f"{name} is no longer an introducer; what it offered and you did not approve is gone."
        )
    text = (
        f"{name} is now an introducer: the peers it trusts are offered to you when you next sync "
        "with it"
    )
    return text + (", and trusted without asking." if mode == "auto" else ".")


INTRODUCER_CHOICES: tuple[tuple[IntroducerMode, str], ...] = (
    ("off", "Off: not an introducer"),
    ("ask", "Ask me each time: its peers wait here for your approval"),
    ("auto", "Accept automatically: its peers are trusted without asking"),
)


class IntroducerDialog(ModalScreen[IntroducerMode | None]):
    """Whether a trusted colleague is an introducer: off, ask each time, accept automatically.

    Dismisses with the chosen mode (Enter, or a click), or None (Escape).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    IntroducerDialog { align: center middle; }
    IntroducerDialog > Vertical {
        width: 70; max-width: 95%; height: auto; border: thick $primary; background: $surface;
        padding: 1 2;
    }
    IntroducerDialog OptionList { height: auto; margin: 1 0; }
    IntroducerDialog #warning { color: $warning; }
    IntroducerDialog #keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, name: str, current: IntroducerMode) -> None:
        super().__init__()
        self.peer_name = safe_text(name)
        self.current = current

    def compose(self) -> ComposeResult:
        name = self.peer_name
        with Vertical():
            yield Static(Text(f"{name} as an introducer", style="bold"))
            yield Static(
                Text(
                    f"An introducer offers you the peers it trusts each time you sync with it. "
                    f"Both sides must still trust each other: the peers {name} introduces "
                    "must trust you too."
                )
            )
            yield OptionList(
                *(Option(Text(label), id=mode) for mode, label in INTRODUCER_CHOICES),
                id="modes",
            )
            yield Static(
                Text(
                    "Accept automatically lets "
                    f"{name} add devices to your network: if that device is ever compromised, "
                    "so is your network. Use it only for someone you would let vouch for "
                    f"anyone; if it goes wrong, revoke {name} and the peers it introduced."
                ),
                id="warning",
            )
            yield Static(Text("Enter chooses · Escape leaves it as it is"), id="keys")

    def on_mount(self) -> None:
        modes = self.query_one("#modes", OptionList)
        modes.highlighted = [mode for mode, _ in INTRODUCER_CHOICES].index(self.current)
        modes.focus()

    @on(OptionList.OptionSelected, "#modes")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)  # type: ignore[arg-type]

    def action_cancel(self) -> None:
        self.dismiss(None)


def identity_text(snapshot: SyncSnapshot) -> Text:
    if snapshot.state == "offline":
        return Text(
            "Offline: sync is off in this session (started with --offline or --demo). Restart "
            "plntui without it to sync with your colleagues."
        )
    if snapshot.state == "starting":
        return Text("Starting sync…")
    if snapshot.state == "failed":
        return Text(snapshot.error or "Sync could not start.", style="red")
    how = "LAN discovery on" if snapshot.discovery else "LAN discovery off"
    text = Text(
        f"You are {safe_text(snapshot.name)} · {snapshot.fingerprint} · listening on "
        f"{snapshot.listen} · {how}"
    )
    warning = safe_text(getattr(snapshot, "warning", ""))
    if warning.startswith("discovery off"):
        text.append(f"\n⚠ {warning}: colleagues added by address still sync", "yellow")
    elif warning:
        text.append(f"\n⚠ {warning}", "yellow")
    return text
