"""Provides PlntuiApp: the Textual app over one profile's learning network.

Screens are modes (contacts, notes, who knows, follow-ups...). Every screen reads through the
domain API (``plntui.network``) and never touches Automerge or files. The app owns the
``Network``; its lock (``net_lock``, the network's own ``Network.lock``, which the sync engine
holds too) is held around every use of it: quick edits run on the UI thread (a commit is a few
milliseconds), slow work (catching up with what another process wrote, imports and exports)
runs in worker threads under the same lock.

Other processes' writes are noticed by polling the profile's generation (one cheap query,
every ``POLL_SECONDS``); when it moved, a worker catches up (``Profile.refresh``) and the
screens reload.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ..errors import PlntuiError
from ..model import safe_text
from ..network import Network
from ..profile import Profile
from .base import PlntuiScreen
from .messages import DataChanged, ShowItem
from .sync_service import (
    MASS_DELETION_HELD,
    OFFLINE,
    SyncNotice,
    SyncOptions,
    SyncSnapshot,
    SyncUpdated,
)

POLL_SECONDS = 0.5


def _commands() -> Any:
    from .commands import PlntuiCommands

    return PlntuiCommands


SYNC_START_DELAY = 0.4
"""Seconds after opening the profile before sync starts (the first frame comes first)."""


class PlntuiApp(App[None]):
    """Browse, edit and search your learning network."""

    TITLE = "plntui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {_commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="help", tooltip="Keys and concepts"),
        Binding("1", "switch_mode('contacts')", "Contacts", id="mode-contacts", show=False),
        Binding("2", "switch_mode('notes')", "Notes", id="mode-notes", show=False),
        Binding("3", "switch_mode('who')", "Who knows", id="mode-who", show=False),
        Binding("4", "switch_mode('followups')", "Follow-ups", id="mode-followups", show=False),
        Binding("5", "switch_mode('whatsnew')", "What's new", id="mode-whatsnew", show=False),
        Binding("6", "switch_mode('peers')", "Peers", id="mode-peers", show=False),
        Binding("7", "switch_mode('trash')", "Trash", id="mode-trash", show=False),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    sync_snapshot: var[SyncSnapshot] = var(OFFLINE)
    """What the sync engine reports (peers, counters); ``OFFLINE`` when it does not run."""

    def __init__(
        self,
        home: Path,
        *,
        watch_interval: float = POLL_SECONDS,
        sync: SyncOptions | None = None,
    ) -> None:
        """``sync``: run the sync engine in the app with these options (None: offline)."""
        super().__init__()
        self.sync_options = sync
        self.sync_service: Any = None
        self.home = home
        self.net: Network | None = None
        self._no_lock = threading.RLock()  # before a profile is open
        self.data_version = 0
        self.watch_interval = watch_interval
        self._seen_generation = -1
        self._unsubscribe: Any = None

    @property
    def net_lock(self) -> Any:
        """The network's lock (``Network.lock``): held around every use of ``net``."""
        return self.net.lock if self.net is not None else self._no_lock

    # -- modes ----------------------------------------------------------------------------------

    MODE_SCREENS: ClassVar[dict[str, str]] = {
        "contacts": "contacts:ContactsScreen",
        "notes": "notes:NotesScreen",
        "who": "who:WhoScreen",
        "followups": "followups:FollowupsScreen",
        "whatsnew": "whatsnew:WhatsNewScreen",
        "peers": "peers:PeersScreen",
        "trash": "trash:TrashScreen",
    }

    @classmethod
    def mode_class(cls, mode: str) -> type[Screen[None]]:
        import importlib

        module, name = cls.MODE_SCREENS[mode].split(":")
        found: type[Screen[None]] = getattr(
            importlib.import_module(f"{__package__}.screens.{module}"), name
        )
        return found

    def get_modes(self) -> dict[str, Any]:
        """Each mode's screen, imported when first shown (start-up pays for contacts only)."""
        return {
            mode: functools.partial(lambda m: self.mode_class(m)(), mode)
            for mode in self.MODE_SCREENS
        }

    def on_mount(self) -> None:
        for name, screen in self.get_modes().items():
            self.add_mode(name, screen)
        if Profile.exists(self.home):
            self._open()
        else:
            from .dialogs.first_run import FirstRunDialog

            self.push_screen(FirstRunDialog(self.home), self._created)

    def _created(self, name: str | None) -> None:
        if not name:
            self.exit()
            return
        try:
            Network.create(self.home, name)
        except PlntuiError as err:
            self.notify(err.message, title=err.title, severity="error", markup=False)
            self.exit()
            return
        self._open()

    def _open(self) -> None:
        try:
            self.net = Network.open(self.home)
            self.net.profile.claim_session("the plntui app")
        except PlntuiError as err:
            self.net = None
            self.exit(return_code=err.exit_code, message=f"plntui: error: {err.message}")
            return
        self._apply_settings()
        self._seen_generation = self.net.profile.generation()
        self._unsubscribe = self.net.profile.subscribe(self._on_profile_change)
        self.switch_mode("contacts")
        self.set_interval(self.watch_interval, self._poll_external)
        if self.sync_options is not None:
            # after the first rows are on screen: the engine's thread imports and starts while
            # the user already reads the list
            self.sync_snapshot = SyncSnapshot(state="starting", name=self.net.profile.meta.name)
            self.set_timer(SYNC_START_DELAY, self._start_sync)
        # The Automerge documents load on the first edit: browsing reads the search index
        # only, which keeps start-up and memory small on a large network.

    def _on_profile_change(self, origin: str) -> None:
        # post_message is thread-safe, and never waits for the UI (which may wait for the lock)
        self.post_message(DataChanged(origin))

    def _poll_external(self) -> None:
        if self.net is None:
            return
        try:
            generation = self.net.profile.generation()
        except PlntuiError:  # the storage is busy or damaged: the next poll tries again
            return
        if generation != self._seen_generation:
            self._seen_generation = generation
            self._refresh_external()

    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False)
    def _refresh_external(self) -> None:
        """Catch up with what other processes stored; listeners hear "external" (the sync
        engine may have caught up first: then nothing is new here)."""
        with self.net_lock:
            assert self.net is not None
            if self.net.profile.refresh():
                self.net.index()  # bring the index up to date here, not on the UI thread

    @on(DataChanged)
    def _data_changed(self, message: DataChanged) -> None:
        self.data_version += 1
        screen = self.screen
        if isinstance(screen, PlntuiScreen):
            screen.data_version = self.data_version
            screen.reload()
        else:  # a dialog is open: reload the screen beneath it
            for below in reversed(self.screen_stack):
                if isinstance(below, PlntuiScreen):
                    below.data_version = self.data_version
                    below.reload()
                    break

    @on(ShowItem)
    def _show_item(self, message: ShowItem) -> None:
        mode = "contacts" if message.collection == "contacts" else "notes"
        self.switch_mode(mode)
        self.call_after_refresh(self._focus_item, message.item_id)

    def _focus_item(self, item_id: str) -> None:
        if isinstance(self.screen, PlntuiScreen):
            self.screen.show_item(item_id)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            title = getattr(error, "title", "Error")
            self.notify(
                safe_text(str(error)), title=title, severity="error", markup=False, timeout=10
            )

    # -- helpers for screens --------------------------------------------------------------------

    def safe_notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: str = "information",
        timeout: float | None = None,
    ) -> None:
        """A notification whose text is shown literally (data may contain markup)."""
        self.notify(
            safe_text(message),
            title=title,
            severity=severity,  # type: ignore[arg-type]
            timeout=timeout,
            markup=False,
        )

    def report(self, error: PlntuiError) -> None:
        self.safe_notify(error.message, title=error.title, severity="error", timeout=8)

    def run_edit(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a domain-API call under the lock; a PlntuiError becomes a notification and None."""
        try:
            with self.net_lock:
                return func(*args, **kwargs)
        except PlntuiError as err:
            self.report(err)
            return None

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen())

    # -- settings (theme; see plntui.settings) -----------------------------------------------------

    def _apply_settings(self) -> None:
        from ..settings import read_settings

        theme = read_settings(self.home).get("theme")
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's palette commands but its "Theme": "Change theme…" (``commands``) does
        the same and says the choice is remembered."""
        for command in super().get_system_commands(screen):
            if command.callback != self.action_change_theme:
                yield command

    def watch_theme(self, theme: str) -> None:
        if self.net is None:
            return
        from ..settings import update_settings

        try:
            update_settings(self.home, theme=theme)  # keeps the other settings (the relay)
        except OSError:
            pass

    # -- sync with colleagues (sync_service runs the engine on its own thread) -----------------

    def _start_sync(self) -> None:
        if self.sync_options is None or self.net is None or self.sync_service is not None:
            return
        from .sync_service import SyncService

        self.sync_service = SyncService(self.net, self.sync_options, self.post_message)
        self.sync_snapshot = self.sync_service.snapshot
        self.sync_service.start()

    @on(SyncUpdated)
    def _sync_updated(self, message: SyncUpdated) -> None:
        from .sync_notices import pairing_requests

        for name in pairing_requests(self.sync_snapshot, message.snapshot):
            self.safe_notify(
                f"{name} wants to pair: open Peers and type the code {name} reads out.",
                title="Pairing request",
                timeout=12,
            )
        if message.snapshot.state == "failed" and self.sync_snapshot.state != "failed":
            self.safe_notify(message.snapshot.error, title="Sync", severity="error", timeout=10)
        self.sync_snapshot = message.snapshot

    @on(SyncNotice)
    def _sync_notice(self, message: SyncNotice) -> None:
        from .dialogs.pairing import InviteDialog
        from .sync_notices import notice

        if message.kind == MASS_DELETION_HELD:
            self._announce_held(message.event)
            return
        if message.kind.startswith("Pairing"):
            for screen in self.screen_stack:
                if isinstance(screen, InviteDialog):
                    screen.pairing_event(message.kind, message.event)
                    return
        shown = notice(message)
        if shown is not None:
            text, title, severity = shown
            self.safe_notify(text, title=title, severity=severity, timeout=8)

    @work(thread=True, group="held", exit_on_error=False)
    def _announce_held(self, batch: Any) -> None:
        """A peer's mass deletion is held: say whose device deleted what (names read under the
        lock, in this worker), and let the Peers and What's new screens list it."""
        from ..peersync import open_trust
        from ..provenance import device_names
        from .recovery import held_summary
        from .sync_notices import held_notice

        net = self.net
        if net is None or batch is None:
            return
        try:
            trust = open_trust(self.home)
        except Exception:  # an unreadable trust store: the fingerprint still says who
            trust = None
        with self.net_lock:
            summary = held_summary(net, batch, device_names(net), trust)
        text, title, severity = held_notice(summary)
        self.call_from_thread(self.safe_notify, text, title=title, severity=severity, timeout=20)
        self.post_message(DataChanged("remote"))

    def on_unmount(self) -> None:
        if self.sync_service is not None:
            self.sync_service.stop()
            self.sync_service = None
        if self.net is not None:
            self.net.profile.release_session()


def literal(value: Any) -> Text:
    """Data as a Rich Text that is never parsed as markup, control characters removed."""
    return Text(safe_text(value))
