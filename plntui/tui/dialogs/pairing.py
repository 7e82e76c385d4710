"""Provides the pairing dialogs: show a code to a colleague, or type the code a colleague shows.

Pairing is the engine's code flow (``sync.pairing``): one side opens an invite and reads out its
code (``InviteDialog``: the code, the time left, and the device's name as colleagues see it
under Nearby); the other side types it (``JoinDialog``, from Nearby or the palette). The code
works once. Both dialogs end the same way: the colleague's name and the safety number (the same
30 digits on both screens), or why pairing failed, with a way to try again.

Pairing also decides what the two share: the invite chooses the circle the colleague joins (the
default circle first; it can change while the code is shown), and the joining side may add the
inviter to one of its own circles too (none by default: the invite decides what the inviter
shares). The circle goes to the engine (``SyncRunner.pair_circle``) through the sync service.

The engine runs on its own thread (``sync_service``): the dialogs wait for its futures in
worker threads, and the inviter learns the outcome from the engine's ``PairingSucceeded`` /
``PairingRefused`` events, which the app hands to the open ``InviteDialog`` (``pairing_event``).
Peer names are data: every text here is a plain ``Text``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...errors import PlntuiError
from ...model import safe_text

if TYPE_CHECKING:
    from ..app import PlntuiApp

WAIT_SECONDS = 60.0
"""How long the joining side waits for the whole exchange (the engine has its own deadlines)."""


def sync_off_reason(service: Any, snapshot: Any) -> str:
    """Why pairing cannot start now, or "" when sync runs: off by choice, starting, failed."""
    if service is None:
        return "Sync is off in this session (started with --offline or --demo)."
    state = getattr(snapshot, "state", "offline")
    if state == "running":
        return ""
    if state == "starting":
        return "Sync is still starting: try again in a moment."
    if state == "failed":
        return f"Sync failed: {safe_text(snapshot.error) or 'it could not start'}."
    return "Sync stopped."


def countdown(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def paired_text(name: str, number: str) -> Text:
    text = Text()
    text.append("Paired with ", style="bold")
    text.append(safe_text(name), style="bold")
    text.append(".\n\nSafety number:\n")
    text.append(number, style="bold")
    text.append(
        "\n\nThe same number shows on both screens: compare them if you want to be sure no one "
        "stood in between. Your networks now sync whenever you are both on the network."
    )
    return text


def failed_text(reason: str) -> Text:
    text = Text("Pairing failed\n\n", style="bold red")
    text.append(safe_text(reason))
    return text


class PairingDialog(ModalScreen[bool]):
    """What both dialogs share: a body, a result, buttons; dismisses True once paired."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    PairingDialog { align: center middle; }
    PairingDialog > Vertical {
        width: 72; max-width: 95%; height: auto; border: thick $primary; background: $surface;
        padding: 1 2;
    }
    PairingDialog #code { text-style: bold; content-align: center middle; height: 3;
        border: round $accent; margin: 1 0; }
    PairingDialog .error { color: $error; height: auto; }
    PairingDialog #result { height: auto; margin: 1 0; }
    PairingDialog Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    PairingDialog Button { margin-left: 2; }
    PairingDialog .circle-row { height: 1; margin-top: 1; }
    PairingDialog .circle-row Label { width: auto; padding-right: 1; }
    PairingDialog .circle-row Select { width: 1fr; }
    """

    paired = False
    busy = False
    """A pairing is in flight (JoinDialog): a second Enter does not start another."""

    @property
    def papp(self) -> PlntuiApp:
        return self.app  # type: ignore[return-value]

    @property
    def service(self) -> Any:
        return self.papp.sync_service

    def _circles(self, none: str | None = None) -> tuple[list[tuple[Text, str]], str | None]:
        """The circles this device is a member of (name, id) and the default one; with
        ``none``, a first choice of that label meaning no circle (value "") chosen first."""
        options: list[tuple[Text, str]] = [(Text(none), "")] if none is not None else []
        net = self.papp.net
        if net is None:
            return options, None
        try:
            with self.papp.net_lock:
                mine = net.my_circles()
                default = net.default_circle().id if none is None else ""
        except PlntuiError:
            return options, None
        options += [(Text(safe_text(c.name)), c.id) for c in mine]
        return options, default

    def chosen_circle(self) -> str | None:
        """The circle id the dialog's select shows, or None (no choice, or none)."""
        for select in self.query("#pair-circle").results(Select):
            value = select.value
            return None if value is Select.NULL or not value else str(value)
        return None

    def show_result(self, text: Text, *, paired: bool) -> None:
        self.paired = self.paired or paired
        self.busy = False
        result = self.query_one("#result", Static)
        result.update(text)
        result.display = True
        for widget in self.query(".asking"):
            widget.display = False
        self.query_one("#again", Button).display = not paired
        self.query_one("#close", Button).label = "Done" if paired else "Close"
        self.query_one("#close", Button).focus()

    def action_close(self) -> None:
        self.dismiss(self.paired)

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.action_close()


class InviteDialog(PairingDialog):
    """Pair a colleague: open an invite and show its code with the time left; the colleague
    joins the circle chosen in the dialog."""

    def compose(self) -> ComposeResult:
        options, default = self._circles()
        with Vertical():
            yield Static(Text("Pair a colleague", style="bold"))
            yield Static(Text("Opening an invite…"), id="intro", classes="asking")
            if options:
                with Horizontal(classes="circle-row asking"):
                    yield Label("They join your circle")
                    yield Select(
                        options,
                        value=default if default is not None else Select.NULL,
                        allow_blank=False,
                        id="pair-circle",
                        compact=True,
                    )
            yield Static("", id="code", classes="asking")
            yield Static("", id="left", classes="asking")
            yield Static("", id="result")
            with Horizontal():
                yield Button("New code", id="again")
                yield Button("Cancel", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#result").display = False
        self.query_one("#again", Button).display = False
        self.query_one("#code").display = False
        self._expires = 0.0
        self.set_interval(1.0, self._tick)
        self._open()

    @work(thread=True, exclusive=True, group="invite", exit_on_error=False)
    def _open(self) -> None:
        from ..sync_service import SyncStopped

        service = self.service
        off = sync_off_reason(service, self.papp.sync_snapshot)
        if off:
            self.app.call_from_thread(self.show_result, failed_text(off), paired=False)
            return
        try:
            invite = service.open_invite(circle=self.chosen_circle()).result(timeout=10)
        except SyncStopped:  # the app quits
            return
        except Exception as exc:  # shown in the dialog
            reason = getattr(exc, "message", None) or str(exc)
            self.app.call_from_thread(self.show_result, failed_text(reason), paired=False)
            return
        self.app.call_from_thread(self._show_invite, invite.text, invite.expires_at)

    def _show_invite(self, code: str, expires_at: float) -> None:
        self._expires = expires_at
        name = safe_text(self.papp.sync_snapshot.name) or "you"
        self.query_one("#intro", Static).update(
            Text(
                "Read this code to your colleague. In their plntui they open Peers, select "
                f"{name} under Nearby and type it (or use “Enter a pairing code” in the palette). "
                "It works once."
            )
        )
        code_box = self.query_one("#code", Static)
        code_box.update(Text(code))
        code_box.display = True
        self._tick()

    def _tick(self) -> None:
        if not self._expires or self.paired:
            return
        left = self._expires - time.time()
        if left <= 0:
            self.show_result(
                failed_text("the code expired with no colleague joining; ask for a new code"),
                paired=False,
            )
            self._expires = 0.0
            return
        self.query_one("#left", Static).update(Text(f"Expires in {countdown(left)}"))

    @on(Select.Changed, "#pair-circle")
    def _circle_changed(self, event: Select.Changed) -> None:
        """Another circle while the code is shown: the colleague joins that one."""
        service = self.service
        if self._expires and service is not None and event.value is not Select.NULL:
            service.set_pair_circle(str(event.value))

    def pairing_event(self, kind: str, event: Any) -> None:
        """The engine's PairingSucceeded / PairingRefused, handed over by the app."""
        if not self._expires:
            return
        if kind == "PairingSucceeded" and getattr(event, "role", "") == "inviter":
            self._expires = 0.0
            self.show_result(paired_text(event.name, event.safety_number), paired=True)
        elif kind == "PairingRefused" and getattr(event, "spent", False):
            self._expires = 0.0  # the one attempt was spent (a stranger's knock is not)
            self.show_result(failed_text(event.reason), paired=False)

    @on(Button.Pressed, "#again")
    def _again(self) -> None:
        self.query_one("#result").display = False
        self.query_one("#again", Button).display = False
        self.query_one("#close", Button).label = "Cancel"
        for widget in self.query(".asking"):
            widget.display = True
        self._open()

    def action_close(self) -> None:
        service = self.service
        if service is not None and self.papp.sync_snapshot.state == "running":
            if self._expires:
                service.close_invite()  # the code stops working, and joins no circle
            else:
                service.set_pair_circle(None)  # a later pairing joins no circle of ours
        super().action_close()


class JoinDialog(PairingDialog):
    """Enter code: join the invite a colleague opened (found on the LAN, or at an address);
    optionally add the colleague to one of this device's circles too."""

    def __init__(self, name: str = "", fingerprint: bytes | None = None) -> None:
        super().__init__()
        self.peer_name = name
        self.fingerprint = fingerprint

    def compose(self) -> ComposeResult:
        who = f" with {safe_text(self.peer_name)}" if self.peer_name else ""
        with Vertical():
            yield Static(Text(f"Pair{who}", style="bold"))
            yield Static(
                Text(
                    "Ask your colleague to open “Pair a colleague” in their plntui (or run "
                    "plntui pair) and type the code it shows."
                ),
                classes="asking",
            )
            yield Label("Code", classes="asking")
            yield Input(placeholder="42-7KQM-D3XA", id="code-input", classes="asking")
            yield Label("Their address, only if they are not found nearby", classes="asking")
            yield Input(placeholder="HOST:PORT (optional)", id="address", classes="asking")
            options, _default = self._circles(none="none: you join their circle only")
            if len(options) > 1:
                with Horizontal(classes="circle-row asking"):
                    yield Label("They also join your circle")
                    yield Select(
                        options, value="", allow_blank=False, id="pair-circle", compact=True
                    )
            yield Static("", classes="error asking", id="error")
            yield Static("", id="result")
            with Horizontal():
                yield Button("Try again", id="again")
                yield Button("Cancel", id="close")
                yield Button("Pair", id="pair", variant="primary", classes="asking")

    def on_mount(self) -> None:
        self.query_one("#result").display = False
        self.query_one("#again", Button).display = False
        self.query_one("#code-input", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#pair")
    def _submit(self) -> None:
        from sync.errors import SyncError
        from sync.pairing import parse_code
        from sync.trust import parse_hostport

        if self.busy:  # Enter in an input while the first attempt runs
            return
        error = self.query_one("#error", Static)
        off = sync_off_reason(self.service, self.papp.sync_snapshot)
        if off:
            error.update(Text(off))
            return
        try:
            code = parse_code(self.query_one("#code-input", Input).value).text
            raw = self.query_one("#address", Input).value.strip()
            address = parse_hostport(raw) if raw else None
        except (SyncError, ValueError) as exc:
            error.update(Text(getattr(exc, "message", None) or str(exc)))
            return
        error.update(Text("Pairing…"))
        self.busy = True
        self.query_one("#pair", Button).disabled = True
        self._pair(self.service, code, address, self.chosen_circle())

    @work(thread=True, exclusive=True, group="join", exit_on_error=False)
    def _pair(
        self, service: Any, code: str, address: tuple[str, int] | None, circle: str | None
    ) -> None:
        from ..sync_service import SyncStopped

        try:
            result = service.pair(
                code, fingerprint=self.fingerprint, address=address, circle=circle
            ).result(timeout=WAIT_SECONDS)
        except SyncStopped:  # the app quits: nobody to tell
            return
        except Exception as exc:  # PairingFailed, a timeout: shown in the dialog
            reason = getattr(exc, "message", None) or str(exc) or "no answer in time"
            self.app.call_from_thread(self.show_result, failed_text(reason), paired=False)
            return
        self.app.call_from_thread(
            self.show_result, paired_text(result.name, result.safety_number), paired=True
        )

    @on(Button.Pressed, "#again")
    def _again(self) -> None:
        self.query_one("#result").display = False
        self.query_one("#again", Button).display = False
        self.query_one("#close", Button).label = "Cancel"
        for widget in self.query(".asking"):
            widget.display = True
        self.query_one("#pair", Button).disabled = False
        self.query_one("#error", Static).update("")
        code = self.query_one("#code-input", Input)
        code.value = ""
        code.focus()
