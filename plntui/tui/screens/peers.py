"""Provides the peers screen: the colleagues you sync with, those nearby, and pairing.

Three tables, refreshed from the app's ``sync_snapshot`` (see ``sync_service``) without moving
the cursor: *Trusted* (state, last sync, changes and bytes in and out, address; ``r`` revokes
after a confirmation), *Nearby* (devices seen on the LAN that you do not trust yet; ``p`` or
Enter pairs with one), and *Pairing requests* (nearby devices announcing an open invite). Every
name and address came from the network: cells are plain ``Text``, never markup.

Offline (``--offline``, or the engine could not start), the trusted peers are read from the
trust store and shown as offline; revoking still works (the next start honours it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Label, Static

from ...model import safe_text
from .. import sync_service
from ..app import PlntuiScreen
from ..sync_service import NearbyPeer, SyncSnapshot, TrustedPeer, ago, human_bytes
from ..widgets.mode_bar import ModeBar

STATE_LABELS = {
    "connecting": "connecting…",
    "connected": "connected, syncing",
    "in-sync": "in sync",
    "offline": "not connected",
    "failed": "failed",
}


def _cell(value: Any, style: str = "") -> Text:
    return Text(" ".join(safe_text(value).split()), style=style)


def trusted_row(peer: TrustedPeer) -> tuple[Text, ...]:
    state = STATE_LABELS.get(peer.state, peer.state)
    style = "green" if peer.connected else ("red" if peer.state == "failed" else "")
    last = (
        "never"
        if peer.last_sync is None
        else ago((sync_service.utcnow() - peer.last_sync).total_seconds())
    )
    return (
        _cell(peer.name, "bold"),
        _cell(state, style),
        _cell(last),
        _cell(f"{peer.changes_in:,} / {peer.changes_out:,}"),
        _cell(f"{human_bytes(peer.bytes_in)} / {human_bytes(peer.bytes_out)}"),
        _cell(peer.address or peer.last_error or "—"),
    )


def nearby_row(peer: NearbyPeer) -> tuple[Text, ...]:
    return (
        _cell(peer.name, "bold"),
        _cell(peer.short),
        _cell(peer.address),
        _cell("wants to pair" if peer.pairing else "not trusted", "yellow" if peer.pairing else ""),
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
    ]
    DEFAULT_CSS = """
    PeersScreen #identity { height: auto; padding: 0 1; color: $text-muted; }
    PeersScreen .section { margin-top: 1; padding: 0 1; text-style: bold; }
    PeersScreen DataTable { height: auto; max-height: 12; margin: 0 1; }
    PeersScreen .empty { padding: 0 2; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._offline_trusted: tuple[TrustedPeer, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        yield ModeBar("peers")
        yield Static("", id="identity")
        with VerticalScroll():
            yield Label("Trusted colleagues", classes="section")
            yield DataTable(id="trusted", cursor_type="row", zebra_stripes=True)
            yield Static("", id="trusted-empty", classes="empty")
            yield Label("Pairing requests", classes="section")
            yield DataTable(id="pending", cursor_type="row")
            yield Static("", id="pending-empty", classes="empty")
            yield Label("Nearby, not trusted", classes="section")
            yield DataTable(id="nearby", cursor_type="row")
            yield Static("", id="nearby-empty", classes="empty")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Peers"
        self.table("trusted").add_columns(
            "Name", "State", "Last sync", "Changes in / out", "Bytes in / out", "Address"
        )
        self.table("pending").add_columns("Name", "Fingerprint", "Request")
        self.table("nearby").add_columns("Name", "Fingerprint", "Address", "")
        self.watch(self.app, "sync_snapshot", self._show, init=True)
        self.set_interval(1.0, self._tick)  # "synced 12 s ago" keeps counting
        self.table("trusted").focus()

    def table(self, name: str) -> DataTable[Any]:
        return self.query_one(f"#{name}", DataTable)

    # -- data -----------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.papp.sync_snapshot.state != "running":
            self._read_offline()

    @work(thread=True, exclusive=True, group="peers", exit_on_error=False)
    def _read_offline(self) -> None:
        from ...peersync import open_trust

        trust = open_trust(self.papp.home)
        peers = tuple(
            TrustedPeer(
                fingerprint=p.fingerprint,
                name=safe_text(p.display_name),
                state="offline",
                address=", ".join(p.addresses),
                last_sync=p.last_sync,
                changes_in=p.changes_in,
                changes_out=p.changes_out,
                bytes_in=p.bytes_in,
                bytes_out=p.bytes_out,
                last_error="",
            )
            for p in trust.peers()
            if p.trusted
        )
        self.app.call_from_thread(self._set_offline, peers)

    def _set_offline(self, peers: tuple[TrustedPeer, ...]) -> None:
        self._offline_trusted = peers
        self._show(self.papp.sync_snapshot)

    def _tick(self) -> None:
        self._show(self.papp.sync_snapshot)

    def _trusted(self, snapshot: SyncSnapshot) -> tuple[TrustedPeer, ...]:
        return snapshot.trusted if snapshot.state == "running" else self._offline_trusted

    def _show(self, snapshot: SyncSnapshot) -> None:
        self.query_one("#identity", Static).update(identity_text(snapshot))
        trusted = self._trusted(snapshot)
        self._fill("trusted", [(p.fingerprint.hex(), trusted_row(p)) for p in trusted])
        pending = [p for p in snapshot.nearby if p.pairing]
        self._fill("pending", [(p.fingerprint.hex(), pending_row(p)) for p in pending])
        self._fill("nearby", [(p.fingerprint.hex(), nearby_row(p)) for p in snapshot.nearby])
        running = snapshot.state == "running"
        self._empty(
            "trusted",
            not trusted,
            "Nobody yet. Pair with a colleague: select them under Nearby and press p.",
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
                        table.update_cell(key, column, cell)
            return
        selected = current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if selected in keys:
            table.move_cursor(row=keys.index(selected), animate=False)

    def _selected(self, name: str) -> bytes | None:
        table = self.table(name)
        if not table.display or table.row_count == 0:
            return None
        row = table.ordered_rows[table.cursor_row]
        value = row.key.value
        return bytes.fromhex(value) if value else None

    # -- actions --------------------------------------------------------------------------------

    def action_revoke(self) -> None:
        fingerprint = self._selected("trusted")
        peer = next(
            (p for p in self._trusted(self.papp.sync_snapshot) if p.fingerprint == fingerprint),
            None,
        )
        if peer is None:
            self.papp.safe_notify("Select a trusted colleague first.", severity="warning")
            return
        from ..dialogs.confirm import ConfirmDialog

        def answer(yes: bool | None) -> None:
            if yes:
                self._revoke(peer.fingerprint, peer.name)

        self.app.push_screen(
            ConfirmDialog(
                f"Stop syncing with {peer.name}? They can no longer read or change your "
                "network; what they already received stays with them.",
                yes="Revoke",
            ),
            answer,
        )

    @work(thread=True, group="peers-revoke", exit_on_error=False)
    def _revoke(self, fingerprint: bytes, name: str) -> None:
        service = self.papp.sync_service
        if service is not None and self.papp.sync_snapshot.state == "running":
            service.revoke(fingerprint).result(timeout=10)
        else:
            from ...peersync import open_trust

            open_trust(self.papp.home).revoke(fingerprint)
            self.app.call_from_thread(self.reload)
        self.app.call_from_thread(
            self.papp.safe_notify, f"Revoked {name}: you no longer sync with them."
        )

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


def identity_text(snapshot: SyncSnapshot) -> Text:
    if snapshot.state == "offline":
        return Text(
            "Offline: sync is off in this session (started with --offline). Restart plntui "
            "without it to sync with your colleagues."
        )
    if snapshot.state == "starting":
        return Text("Starting sync…")
    if snapshot.state == "failed":
        return Text(snapshot.error or "Sync could not start.", style="red")
    how = "LAN discovery on" if snapshot.discovery else "LAN discovery off"
    return Text(
        f"You are {safe_text(snapshot.name)} · {snapshot.fingerprint} · listening on "
        f"{snapshot.listen} · {how}"
    )
