"""Provides HelpScreen: the keys of every screen, read from their bindings, and the concepts."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, ClassVar

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_WIDTH = 16
CONCEPTS = (
    (
        "Circles",
        "Every contact and note belongs to a circle (a group of colleagues) or is private. A "
        "circle's items go only to its members. The Circle column says where each item is; the "
        "contact form and the note editor choose it (moving an item to another circle shares it "
        "there). Type circle:NAME in a filter, or use “Show circle…” in the palette, to keep one "
        "circle (circle:private: the private items). On the Peers screen, c adds a colleague to "
        "your circles or removes them; a pairing code chooses the circle the colleague joins.",
    ),
    (
        "Shared and private",
        "Contacts and notes are shared with the members of their circle, except private "
        "items and private fields, which never leave this device. Last talked, follow-up cadence, "
        "remarks, ratings, reminders and your interaction log are private by default; the contact "
        "form marks which fields are private. Exports leave private data out unless you tick "
        "“Include private data”.",
    ),
    (
        "Filters",
        "Type in a screen's filter bar ( / ) to narrow the list: every word must appear somewhere "
        "(name, organisation, topics, tags, your remark…), in any order, ignoring case and "
        'accents; "two words" as a phrase. org:WORD and topic:WORD (tag:WORD) look in that '
        "field only; by:NAME and circle:NAME keep what a colleague added or what a circle "
        "holds; -WORD (or -by:NAME…) leaves out what matches. plntui search on the command line "
        "takes the same words. Escape goes back to the list; click a column header to sort. "
        "Single-key commands (the screen numbers too) work when a list has the focus, not "
        "while you type in a bar.",
    ),
    (
        "Who knows",
        "Type a topic: people with that topic come first, then topics containing it, then people "
        "who mention it or are linked to notes on it. Enter opens the person. The list has the "
        "focus, so the screen numbers still switch screens; a letter typed on the list starts a "
        "new topic in the topic box, where digits are typed too. For a topic that starts with a "
        "digit (3d printing), press / first. → moves to the notes on the topic, ← back.",
    ),
    (
        "Follow-ups",
        "Give a contact “Follow-up every (days)” and they appear under Follow-ups when a catch-up "
        "is due. Logging a talk moves their last-talked date and they drop off until next time. "
        "A dated reminder (plntui remind, or a Reminder that starts with YYYY-MM-DD) makes them "
        "due on its day instead; it is private to this device. z snoozes a follow-up (7 days "
        "unless you type another: 2w, friday, 2026-04-01), x says a reminder is done, and "
        "logging a talk on or after its day does too.",
    ),
    (
        "Who changed what",
        "Each contact and note says which device added it and which last changed it. Type "
        "by:NAME in a filter to keep what a colleague added. What's new (5) lists what "
        "colleagues added, changed or deleted since you last looked (r restores a deleted "
        "one), and what waits for you: held mass deletions, fields with two values; m or "
        "leaving it marks it seen.",
    ),
    (
        "History and recovery",
        "Nothing is lost for good. h on a contact or note shows every version (when, which "
        "device, what changed) and what restoring one would change; Enter restores it as a new "
        "change your colleagues receive. Deleted contacts and notes wait in the Trash (7) with "
        "who deleted them; Enter brings one back. When two colleagues set a field at once, the "
        "details show both values and v keeps one. When a colleague's device deletes much of a "
        "circle at once, the deletion is held: the Peers screen lists it, d applies it and b "
        "brings everything back. If a device went wrong, revoke it (r) and press u under "
        "Revoked devices to undo what it changed since a date.",
    ),
    (
        "Syncing with colleagues",
        "The app syncs by itself with the colleagues you paired with, whenever you are on the "
        "same network (not when started with --offline). The top right says how many are "
        "connected and when you last synced; click it for the Peers screen. There, press i to "
        "show a pairing code to a colleague, or select them under Nearby and press p to type "
        "theirs; both screens then show the same safety number. r revokes a colleague; n makes "
        "one an introducer, and a / x approve or reject the peers it introduces. Their "
        "edits appear as you work, and a note you both edit keeps both sets of words.",
    ),
    (
        "Command palette",
        "{palette} opens the palette: jump to any contact or note by typing its name, add a "
        "contact or note, import contacts (vCard, CSV, JSON), export notes or contacts.",
    ),
    (
        "Themes",
        "Open the palette ({palette}) and choose “Change theme…”; your choice is remembered for "
        "this profile.",
    ),
)


def _bindings(classes: Iterable[type[Any]]) -> list[Binding]:
    """The bindings declared by these classes themselves (not inherited from Textual)."""
    found: list[Binding] = []
    for cls in classes:
        declared: list[BindingType] = list(vars(cls).get("BINDINGS", []))
        found.extend(Binding.make_bindings(declared))
    return found


def _screen_classes(screen: type[Any]) -> list[type[Any]]:
    """A mode screen and its plntui base classes, base first."""
    from ..base import PlntuiScreen

    return [
        cls
        for cls in reversed(screen.__mro__)
        if isinstance(cls, type) and issubclass(cls, PlntuiScreen)
    ]


class HelpScreen(ModalScreen[None]):
    """Keys and concepts; Escape, F1 or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "close", "Close help"),
        Binding("up", "scroll(-1)", "Scroll up", show=False),
        Binding("down", "scroll(1)", "Scroll down", show=False),
        Binding("pageup", "scroll(-10)", "Page up", show=False),
        Binding("pagedown,space", "scroll(10)", "Page down", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 88; max-width: 100%; height: 90%; max-height: 100%;
        border: thick $primary; background: $surface;
    }
    HelpScreen #help-title { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    HelpScreen #help-body { height: 1fr; padding: 0 1; }
    HelpScreen #help-close { height: 1; padding: 0 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("plntui: keys and concepts", id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(self.help_content(), id="help-text")
            yield Static("Escape, F1 or q closes · ↑ ↓ PgUp PgDn scroll", id="help-close")

    def on_mount(self) -> None:
        self.query_one("#help-body", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, lines: int) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        body.scroll_to(y=body.scroll_y + lines, animate=False)

    # -- content --------------------------------------------------------------------------------

    def _key(self, binding: Binding) -> str:
        try:
            return self.app.get_key_display(binding)
        except Exception:  # a key Textual cannot format: show it as written
            return binding.key

    def _section(self, parts: list[RenderableType], title: str, bindings: list[Binding]) -> None:
        """One heading and a row per action, keys for the same action joined."""
        rows: dict[tuple[str, str], list[str]] = {}
        tips: dict[tuple[str, str], str] = {}
        for binding in bindings:
            if not binding.description:
                continue
            key = (binding.action, binding.description)
            shown = self._key(binding)
            if shown not in rows.setdefault(key, []):
                rows[key].append(shown)
            if binding.tooltip:
                tips[key] = binding.tooltip
        if not rows:
            return
        parts.append(Text(f"\n{title}", style="bold underline"))
        table = Table(box=None, show_header=False, padding=(0, 1, 0, 0), expand=True)
        table.add_column(width=KEY_WIDTH - 1, no_wrap=True, style="bold")
        table.add_column(ratio=1)
        for key, keys in rows.items():
            description = Text(key[1])
            if key in tips:
                description.append(f": {tips[key]}", style="dim")
            table.add_row(" / ".join(keys), description)
        parts.append(table)

    def help_content(self) -> Group:
        """Built from the bindings of the app, its mode screens and the lists, so it never goes
        stale when a key changes."""
        from ..app import PlntuiApp
        from ..widgets.record_table import RecordTable

        app = self.app
        palette = Binding(
            app.COMMAND_PALETTE_BINDING,
            "command_palette",
            "Command palette",
            key_display=app.COMMAND_PALETTE_DISPLAY,
            tooltip="Jump to a contact or note; add, import, export, themes",
        )
        parts: list[RenderableType] = []
        app_bindings = _bindings(
            c
            for c in reversed(type(app).__mro__)
            if isinstance(c, type) and issubclass(c, PlntuiApp)
        )
        self._section(
            parts,
            "Everywhere",
            [
                palette,
                *app_bindings,
                Binding("tab", "focus_next", "Next field or pane"),
                Binding("shift+tab", "focus_previous", "Previous field or pane"),
            ],
        )
        titles = {b.action: b.description for b in app_bindings}
        modes: dict[str, Any] = (
            {m: app.mode_class(m) for m in app.MODE_SCREENS} if isinstance(app, PlntuiApp) else {}
        )
        for name, screen in modes.items():
            title = titles.get(f"switch_mode('{name}')", name.title())
            self._section(parts, title, _bindings(_screen_classes(screen)))
        self._section(parts, "In a list", _bindings([RecordTable]))
        for title, body in CONCEPTS:
            parts.append(Text(f"\n{title}", style="bold underline"))
            parts.append(Text(body.format(palette=self._key(palette))))
        return Group(*parts)

    def plain_text(self) -> str:
        """The help as plain text (for tests and for reading it outside the app)."""
        console = Console(width=100, file=io.StringIO(), color_system=None, legacy_windows=False)
        with console.capture() as capture:
            console.print(self.help_content())
        return capture.get()
