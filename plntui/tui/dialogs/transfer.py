"""Provides importing and exporting in the app: a file prompt, a thread worker and its progress.

``start_import`` and ``start_export`` ask for a path (:class:`FilePrompt`, which checks it beside
the input), then run the work in a thread (:class:`TransferScreen`, a modal with a progress bar)
and end with a notification summarising it, as ``plntui import`` / ``plntui export`` print.
Exports leave private items and private fields out unless "Include private data" is ticked.
Errors (a file that is not vCard/CSV/JSON, a folder that cannot be written) are shown in the
dialog; an import is one commit, so a failed one changes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState

from ...errors import PlntuiError, ValidationError
from ...model import safe_text, shared_view

if TYPE_CHECKING:
    from ...network import ImportSummary, Network
    from ..app import PlntuiApp

Tick = Callable[[int, int], None]
TICK_SECONDS = 0.05

# (what, format) -> (format name, default file or folder name, writes a folder)
EXPORTS: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("notes", "md"): ("Markdown", "plntui-notes", True),
    ("notes", "html"): ("HTML", "plntui-notes.html", False),
    ("notes", "json"): ("JSON", "plntui-notes.json", False),
    ("contacts", "vcf"): ("vCard", "plntui-contacts.vcf", False),
    ("contacts", "csv"): ("CSV", "plntui-contacts.csv", False),
    ("contacts", "json"): ("JSON", "plntui-contacts.json", False),
}
_last_import: list[Path] = []  # the folder of the last file imported, offered next time
EXPORT_FOLDER_SETTING = "export_folder"
"""The profile's setting (``settings.json``) that remembers the last export's folder."""


# ------------------------------------------------------------------------------------------------
# checking a path


@dataclass(frozen=True, slots=True)
class PathCheck:
    """A typed path, and what is wrong with it (``error``) or worth knowing (``hint``)."""

    path: Path | None
    error: str = ""
    hint: str = ""


def check_path(text: str, *, must_exist: bool, is_dir: bool) -> PathCheck:
    """Check a path typed for an import (``must_exist``) or an export (file or folder)."""
    raw = text.strip()
    if not raw:
        return PathCheck(None, "Type a path" + (" to a folder" if is_dir else " to a file"))
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        exists, folder = path.exists(), path.is_dir()
        parent_ok = path.parent.is_dir()
    except OSError as err:
        return PathCheck(None, f"Cannot use {path}: {err.strerror or err}")
    if is_dir:
        if exists and not folder:
            return PathCheck(None, f"{path} is a file; give a folder")
        if not exists:
            if must_exist:
                return PathCheck(None, f"The folder {path} does not exist")
            if not parent_ok:
                return PathCheck(None, f"The folder {path.parent} does not exist")
            return PathCheck(path, hint=f"A new folder {path.name} will be created")
        if not must_exist and not os.access(path, os.W_OK):
            return PathCheck(None, f"Cannot write to the folder {path}")
        try:
            empty = next(path.iterdir(), None) is None
        except OSError:
            empty = True
        return PathCheck(
            path,
            hint=""
            if empty
            else "The folder is not empty: files with the same names will be replaced",
        )
    if folder:
        return PathCheck(
            None,
            f"{path} is a folder; give " + ("the file to import" if must_exist else "a file name"),
        )
    if must_exist:
        if not exists:
            return PathCheck(None, f"No such file: {path}")
        if not os.access(path, os.R_OK):
            return PathCheck(None, f"Cannot read {path}: permission denied")
        return PathCheck(path)
    if not parent_ok:
        return PathCheck(None, f"The folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        return PathCheck(None, f"Cannot write to the folder {path.parent}")
    return PathCheck(path, hint="The file exists and will be replaced" if exists else "")


class PathSuggester(Suggester):
    """Completes the last part of a path from the folder's entries (→ accepts)."""

    def __init__(self, folders_only: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.folders_only = folders_only

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        folder, prefix = os.path.split(os.path.expanduser(value))
        try:
            with os.scandir(folder or ".") as entries:
                names = sorted(
                    entry.name + (os.sep if entry.is_dir() else "")
                    for entry in islice(entries, 2000)
                    if entry.name.startswith(prefix)
                    and entry.name != prefix
                    and (prefix.startswith(".") or not entry.name.startswith("."))
                    and (entry.is_dir() or not self.folders_only)
                )
        except OSError:
            return None
        return value + names[0][len(prefix) :] if names else None


class FilePrompt(ModalScreen[Path | None]):
    """Ask for a file or folder; dismisses with the checked absolute path, or None.

    With ``private_choice`` it offers "Include private data" (read ``include_private`` after).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    FilePrompt { align: center middle; }
    FilePrompt > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    FilePrompt #prompt-title { text-style: bold; }
    FilePrompt #prompt-note { color: $text-muted; }
    FilePrompt .error { color: $error; height: auto; }
    FilePrompt #path-hint { color: $text-muted; height: auto; }
    FilePrompt Horizontal { height: auto; align-horizontal: right; }
    FilePrompt Button { margin-left: 1; }
    """

    def __init__(
        self,
        title: str,
        default_path: Path | str,
        must_exist: bool,
        is_dir: bool,
        *,
        note: str = "",
        action: str = "OK",
        private_choice: bool = False,
    ) -> None:
        super().__init__()
        self.prompt_title = title
        self.default_path = str(default_path)
        self.must_exist = must_exist
        self.is_dir = is_dir
        self.note = note
        self.action_label = action
        self.private_choice = private_choice

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.prompt_title), id="prompt-title")
            if self.note:
                yield Static(Text(self.note), id="prompt-note")
            yield Label("Folder" if self.is_dir else "File")
            yield Input(
                value=self.default_path,
                id="path",
                suggester=PathSuggester(folders_only=self.is_dir),
            )
            yield Static("", classes="error", id="path-error")
            yield Static("", id="path-hint")
            if self.private_choice:
                yield Checkbox(
                    "Include private data (default: shared data only)", id="include-private"
                )
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self.action_label, id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()
        self._hint(self.default_path)

    @property
    def include_private(self) -> bool:
        if not self.private_choice:
            return False
        return self.query_one("#include-private", Checkbox).value

    @on(Input.Changed, "#path")
    def _changed(self, event: Input.Changed) -> None:
        self.query_one("#path-error", Static).update("")
        self._hint(event.value)

    def _hint(self, value: str) -> None:
        if not value.strip() or value.endswith(os.sep):
            self.query_one("#path-hint", Static).update("")
            return
        check = check_path(value, must_exist=self.must_exist, is_dir=self.is_dir)
        self.query_one("#path-hint", Static).update(Text(safe_text(check.hint or check.error)))

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        value = self.query_one("#path", Input).value
        check = check_path(value, must_exist=self.must_exist, is_dir=self.is_dir)
        if check.path is None:
            self.query_one("#path-error", Static).update(Text(safe_text(check.error)))
            self.query_one("#path-hint", Static).update("")
            self.query_one("#path", Input).focus()
            return
        self.dismiss(check.path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------------------------------------
# the work, without any UI (tests and the worker share it)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a finished transfer tells the user."""

    message: str
    severity: str = "information"
    title: str = ""


def write_text(path: Path, text: str) -> str:
    """Replace ``path`` with ``text`` atomically; returns the path as shown to the user."""
    from ...store import atomic_write

    if path.is_dir():
        raise ValidationError(f"{path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise ValidationError(f"the folder {path.parent} does not exist")
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as err:
        raise ValidationError(f"cannot write {path}: {err.strerror or err}") from None
    return str(path)


def import_message(name: str, summary: ImportSummary, limit: int = 3) -> Outcome:
    """The summary of an import, as ``plntui import`` prints it (first few details)."""
    lines = [
        f"Imported {name}: {len(summary.added)} added, {len(summary.merged)} merged into "
        f"existing contacts, {len(summary.rejected)} rejected"
    ]
    for source, reason in summary.rejected[:limit]:
        lines.append(f"rejected {source}: {reason}")
    if len(summary.rejected) > limit:
        lines.append(f"… and {len(summary.rejected) - limit} more rejected")
    for a, b in summary.possible_duplicates[:limit]:
        lines.append(f"possible duplicate: {a.label} ~ {b.label}")
    if len(summary.possible_duplicates) > limit:
        lines.append(
            f"… and {len(summary.possible_duplicates) - limit} more possible "
            "duplicates (see: plntui contact dupes)"
        )
    failed = not summary.added and not summary.merged and bool(summary.rejected)
    return Outcome(
        "\n".join(lines),
        "warning" if failed else "information",
        "Nothing imported" if failed else "Import finished",
    )


def run_import(net: Network, lock: Any, path: Path, tick: Tick | None = None) -> Outcome:
    """Read a vCard, CSV or JSON file and add its contacts in one commit."""
    from ...interop import read_contacts_file

    drafts, rejected = read_contacts_file(path)
    with lock:
        summary = net.import_contacts(drafts, path.name, tick)
    summary.rejected[:0] = [(r.source, r.reason) for r in rejected]
    return import_message(path.name, summary)


def run_export(
    net: Network,
    lock: Any,
    what: str,
    fmt: str,
    path: Path,
    include_private: bool = False,
    tick: Tick | None = None,
) -> Outcome:
    """Export notes (md, html, json) or contacts (vcf, csv, json) like ``plntui export``."""
    from ... import interop
    from ...provenance import device_names

    if (what, fmt) not in EXPORTS:
        raise ValidationError(f"cannot export {what} as {fmt}")
    step = tick or (lambda _done, _total: None)
    step(0, 3)
    with lock:
        all_contacts = net.contacts()
        all_notes = net.notes() if what == "notes" else []
        names = device_names(net)  # exports name the devices that added and changed items
    step(1, 3)
    contacts, hidden = shared_view(all_contacts, include_private)
    if what == "notes":
        notes, hidden = shared_view(all_notes, include_private)
        by_id = {c.id: c for c in contacts}
        if fmt == "md":
            paths = interop.export_notes_markdown(notes, by_id, path, names=names)
            where = f"{path} ({len(paths)} files)"
        elif fmt == "html":
            step(2, 3)
            where = write_text(path, interop.notes_to_html(notes, by_id, names=names))
        else:
            step(2, 3)
            where = write_text(path, interop.notes_to_json(notes))
        count = len(notes)
    else:
        if fmt == "vcf":
            text = interop.contacts_to_vcards(contacts, names)
        elif fmt == "csv":
            text = interop.contacts_to_csv(contacts, names)
        else:
            text = interop.contacts_to_json(contacts)  # JSON keeps the device ids
        step(2, 3)
        where = write_text(path, text)
        count = len(contacts)
    step(3, 3)
    noun = what if count != 1 else what[:-1]
    message = f"Exported {count} {noun} to {where}"
    if hidden:
        message += (
            f"; left out private data of {hidden} item{'' if hidden == 1 else 's'} "
            "(tick “Include private data” to keep it)"
        )
    return Outcome(message, title="Export finished")


# ------------------------------------------------------------------------------------------------
# the progress dialog and its worker


class TransferScreen(ModalScreen[None]):
    """Runs ``job(tick)`` in a thread with a progress bar; ends with a notification, or shows
    the error here."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    TransferScreen { align: center middle; }
    TransferScreen > Vertical {
        width: 70; max-width: 100%; height: auto; max-height: 100%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    TransferScreen #transfer-title { text-style: bold; }
    TransferScreen ProgressBar { margin: 1 0; }
    TransferScreen #transfer-status { color: $text-muted; height: auto; }
    TransferScreen .error { color: $error; height: auto; }
    TransferScreen Horizontal { height: auto; align-horizontal: right; }
    """

    @dataclass
    class Progressed(Message):
        """Sent from the worker thread (``post_message`` is thread-safe and never waits)."""

        done: int
        total: int

    def __init__(
        self, title: str, job: Callable[[Tick], Outcome], *, failure_note: str = ""
    ) -> None:
        super().__init__()
        self.transfer_title = title
        self.job = job
        self.failure_note = failure_note
        self.outcome: Outcome | None = None
        self.error: PlntuiError | None = None
        self._last_tick = 0.0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.transfer_title), id="transfer-title")
            yield ProgressBar(total=None, show_eta=False, id="transfer-bar")
            yield Static("", classes="error", id="transfer-error")
            yield Static("Working…", id="transfer-status")
            with Horizontal(id="transfer-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#transfer-error").display = False
        self.query_one("#transfer-buttons").display = False
        self._run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="transfer")
    def _run(self) -> None:
        try:
            outcome = self.job(self._tick)
        except PlntuiError as err:
            self.app.call_from_thread(self._failed, err)
        except OSError as err:
            self.app.call_from_thread(
                self._failed, ValidationError(f"{err.filename or 'file'}: {err.strerror or err}")
            )
        else:
            self.app.call_from_thread(self._done, outcome)

    def _tick(self, done: int, total: int) -> None:
        """Called by the job, maybe under the network lock: post, never wait for the UI."""
        now = time.monotonic()
        if done >= total or now - self._last_tick >= TICK_SECONDS:
            self._last_tick = now
            self.post_message(self.Progressed(done, total))

    @on(Progressed)
    def _progressed(self, event: Progressed) -> None:
        if event.total > 0:
            self.query_one(ProgressBar).update(total=event.total, progress=event.done)
            self.query_one("#transfer-status", Static).update(f"{event.done} of {event.total}")

    def _done(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.dismiss(None)
        self.app.notify(
            safe_text(outcome.message),
            title=outcome.title,
            severity=outcome.severity,  # type: ignore[arg-type]
            timeout=12 if "\n" in outcome.message else 8,
            markup=False,
        )

    def _failed(self, error: PlntuiError) -> None:
        self.error = error
        self.query_one(ProgressBar).display = False
        self.query_one("#transfer-title", Static).update(Text(error.title, style="bold"))
        self.query_one("#transfer-status", Static).update(Text(self.failure_note))
        self.query_one("#transfer-error", Static).update(Text(safe_text(error.message)))
        self.query_one("#transfer-error").display = True
        self.query_one("#transfer-buttons").display = True
        self.query_one("#close", Button).focus()

    @on(Worker.StateChanged)
    def _worker_ended(self, event: Worker.StateChanged) -> None:
        # An unexpected error: the app's handler notifies it; this dialog just goes away.
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED) and self.is_current:
            self.dismiss(None)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        if self.error is not None:
            self.dismiss(None)


# ------------------------------------------------------------------------------------------------
# entry points for the palette


def import_folder() -> Path:
    """Where an import prompt starts: the last import's folder, else the current folder."""
    return _last_import[0] if _last_import else Path.cwd()


def export_folder(home: Path | None) -> Path:
    """Where an export prompt starts: the folder the profile's last export went to (if it is
    still there), else the home folder; never the folder of an import."""
    if home is not None:
        from ...settings import read_settings

        stored = read_settings(home).get(EXPORT_FOLDER_SETTING)
        if isinstance(stored, str) and stored and Path(stored).is_dir():
            return Path(stored)
    return Path.home()


def remember_export_folder(home: Path | None, path: Path) -> None:
    """Remember where an export went (the folder holding the file, or holding the Markdown
    export's own folder), for this profile's next export."""
    if home is None:
        return
    from ...settings import update_settings

    try:
        update_settings(home, **{EXPORT_FOLDER_SETTING: str(path.parent)})
    except OSError:
        pass


def start_import(app: PlntuiApp) -> None:
    """Ask for a file, then import its contacts with progress and a summary."""
    if app.net is None:
        app.safe_notify("Open a profile first.", severity="warning")
        return
    net, lock = app.net, app.net_lock

    def chosen(path: Path | None) -> None:
        if path is None:
            return
        _last_import[:] = [path.parent]
        app.push_screen(
            TransferScreen(
                f"Importing {path.name}",
                lambda tick: run_import(net, lock, path, tick),
                failure_note="Nothing was imported: your network is unchanged.",
            )
        )

    app.push_screen(
        FilePrompt(
            "Import contacts from a file",
            str(import_folder()) + os.sep,
            must_exist=True,
            is_dir=False,
            note="vCard (.vcf), CSV (LinkedIn, Google, Outlook) or a plntui JSON export. A contact "
            "whose e-mail you already have is merged into that contact.",
            action="Import",
        ),
        chosen,
    )


def start_export(app: PlntuiApp, what: str, fmt: str) -> None:
    """Ask for a file (a folder for Markdown), then export with progress and a summary."""
    if app.net is None:
        app.safe_notify("Open a profile first.", severity="warning")
        return
    name, default, is_dir = EXPORTS[(what, fmt)]
    net, lock = app.net, app.net_lock
    prompt = FilePrompt(
        f"Export {what} as {name}",
        export_folder(app.home) / default,
        must_exist=False,
        is_dir=is_dir,
        note=(
            "One Markdown file per note and an index.md, in this folder."
            if is_dir
            else "The file is replaced if it exists."
        )
        + " Private items and fields are left out unless you include them.",
        action="Export",
        private_choice=True,
    )

    def chosen(path: Path | None) -> None:
        if path is None:
            return
        remember_export_folder(app.home, path)
        include = prompt.include_private
        app.push_screen(
            TransferScreen(
                f"Exporting {what} as {name}",
                lambda tick: run_export(net, lock, what, fmt, path, include, tick),
                failure_note="The export stopped." if is_dir else "No file was written.",
            )
        )

    app.push_screen(prompt, chosen)
