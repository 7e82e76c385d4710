"""Provides PlntuiCommands: the command palette's jumps to contacts, notes and circles, and the
actions.

Each time the palette opens, the provider reads the labels of every contact and note, and the
circles, once from the search index (in a thread, under the network lock, while the actions are
already listed) and keeps them for the keystrokes that follow. "Show circle…" opens the circle
picker; "Show circle: NAME" shows one circle at once (the list's filter gets ``circle:NAME``).

A search drops the names missing a letter of the query (a set test), puts those where the query
starts a word first, scores at most a few hundred with Textual's fuzzy matcher and hands back the
best few: quick with 10,000 contacts."""

from __future__ import annotations

import asyncio
import heapq
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.style import Style

from .. import collector
from ..errors import PlntuiError
from ..model import safe_text
from .messages import ShowItem

if TYPE_CHECKING:
    from .app import PlntuiApp

RECORD_HITS = 30  # contacts and notes shown at most for one query
MAX_SCORED = 400  # candidates given to the fuzzy matcher for one query
CHUNK = 2000  # candidates looked at between two chances for the palette to cancel a search
MAX_PATHS = 20_000  # the fuzzy matcher tries every way the letters can match: keep that small
TEXT_LIMIT = 100  # characters of a name or title shown and matched


@dataclass(frozen=True, slots=True)
class _Item:
    text: str  # "Contact: Ada Lovelace": what is matched and shown
    folded: str
    letters: frozenset[str]
    extra: str  # shown dim after the text, not matched (an organisation)
    collection: str  # "contacts", "notes", or "circles" (item_id: the filter word)
    item_id: str


def _one_line(value: Any) -> str:
    return " ".join(safe_text(value).split())


class PlntuiCommands(Provider):
    """Jump to any contact or note; add, who knows, follow-ups, import, export, help."""

    _loading: asyncio.Task[list[_Item]] | None = None

    @property
    def papp(self) -> PlntuiApp:
        return self.app  # type: ignore[return-value]

    async def startup(self) -> None:
        # Read the names in a thread while the palette shows the actions.
        self._loading = asyncio.ensure_future(asyncio.to_thread(self._load))

    async def shutdown(self) -> None:
        if self._loading is not None:
            self._loading.cancel()

    async def _items(self) -> list[_Item]:
        if self._loading is None:
            return []
        return await asyncio.shield(self._loading)

    def _load(self) -> list[_Item]:
        net = getattr(self.app, "net", None)
        if net is None:
            return []
        from .dialogs.circles import circle_entries, filter_word

        try:
            with self.papp.net_lock:
                index = net.index()
                contacts = index.list("contacts")
                notes = index.list("notes")
                circles = circle_entries(index)
        except (PlntuiError, sqlite3.Error) as err:  # the actions still work without the names
            self.app.log.error(f"palette: cannot read contacts and notes: {err}")
            return []
        items = []
        for circle in circles:
            text = f"Show circle: {_one_line(circle.name)[:TEXT_LIMIT]}"
            folded = text.lower()
            extra = f"{circle.contacts:,} contacts · {circle.notes:,} notes"
            word = filter_word(circle, circles)
            items.append(_Item(text, folded, frozenset(folded), extra, "circles", word))
        with collector.paused():  # a contact's organisation decodes its record (``listed``)
            for collection, noun, records in (
                ("contacts", "Contact", contacts),
                ("notes", "Note", notes),
            ):
                for record in records:
                    label = _one_line(record.label) or "(untitled)"
                    if len(label) > TEXT_LIMIT:
                        label = label[: TEXT_LIMIT - 1] + "…"
                    text = f"{noun}: {label}"
                    org = (
                        _one_line(record.values.get("org", "")) if collection == "contacts" else ""
                    )
                    folded = text.lower()
                    items.append(_Item(text, folded, frozenset(folded), org, collection, record.id))
        return items

    # -- actions --------------------------------------------------------------------------------

    def _actions(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from .dialogs.transfer import start_export, start_import

        app = self.papp
        actions: list[tuple[str, str, Callable[[], Any]]] = [
            ("Add contact", "Open an empty contact form", lambda: _in_mode(app, "contacts", "add")),
            ("Add note", "Write a new note", lambda: _in_mode(app, "notes", "add")),
            (
                "Who knows…",
                "Find who in your network knows a topic",
                lambda: _in_mode(app, "who", "focus_topic"),
            ),
            (
                "Follow-ups",
                "Contacts due or overdue for a catch-up",
                lambda: _in_mode(app, "followups", None),
            ),
            (
                "What's new",
                "What colleagues added or changed since you last looked",
                lambda: _in_mode(app, "whatsnew", None),
            ),
            (
                "Peers",
                "Colleagues you sync with, and those nearby",
                lambda: _in_mode(app, "peers", None),
            ),
            (
                "Duplicates…",
                "Contacts that look like one person: compare them side by side, merge them",
                lambda: _in_mode(app, "contacts", "duplicates"),
            ),
            (
                "Trash",
                "Deleted contacts and notes: who deleted them and when; restore one",
                lambda: _in_mode(app, "trash", None),
            ),
            (
                "Pair a colleague (show a code)",
                "Open an invite: your colleague types its code",
                lambda: _in_mode(app, "peers", "invite"),
            ),
            (
                "Enter a pairing code",
                "Join the invite a colleague opened",
                lambda: _in_mode(app, "peers", "pair"),
            ),
            (
                "Show circle…",
                "Keep the contacts or notes list to one circle",
                lambda: show_circle_picker(app),
            ),
            (
                "Import contacts from a file…",
                "vCard, CSV (LinkedIn, Google) or plntui JSON",
                lambda: start_import(app),
            ),
        ]
        for what, formats in (
            (
                "notes",
                (
                    ("md", "Markdown", "A folder of .md files and an index"),
                    ("html", "HTML", "One self-contained web page"),
                    ("json", "JSON", "For scripts and backups"),
                ),
            ),
            (
                "contacts",
                (
                    ("vcf", "vCard", "For address books and phones"),
                    ("csv", "CSV", "For spreadsheets"),
                    ("json", "JSON", "For scripts; importable again"),
                ),
            ),
        ):
            for fmt, name, help_text in formats:
                actions.append(
                    (
                        f"Export {what} as {name}…",
                        help_text,
                        _bind_export(app, what, fmt, start_export),
                    )
                )
        actions.append(
            (
                "Change theme…",
                "Pick the colours; remembered for this profile",
                app.action_change_theme,
            )
        )
        actions.append(("Help", "Keys and concepts (F1)", app.action_help))
        return actions

    async def discover(self) -> Hits:
        for text, help_text, callback in self._actions():
            yield DiscoveryHit(text, callback, text=text, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, callback in self._actions():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)
        topic = _who_topic(query)
        if topic:
            app = self.papp
            text = f"Who knows {topic}?"
            yield Hit(
                100.0,
                Content(text),
                lambda: _who(app, topic),
                text=text,
                help="Open the who-knows screen for this topic",
            )
        for score, item in await self._best(query):
            yield Hit(
                score,
                self._display(matcher.fuzzy_search.match(query, item.text)[1], item),
                self._jump(item),
                text=item.text,
            )

    async def _best(self, query: str) -> list[tuple[float, _Item]]:
        """The best ``RECORD_HITS`` contacts and notes for ``query``, best first.

        Candidates missing a letter of the query are dropped; of the rest, those where the query
        starts a word come first, then those containing it, then fuzzy ones; only the first
        ``MAX_SCORED`` are scored, so a one-letter query over 10,000 names stays quick.
        """
        items = await self._items()
        folded = query.lower()
        needed = frozenset(folded)
        word = " " + folded
        starts: list[_Item] = []
        inside: list[_Item] = []
        fuzzy: list[_Item] = []
        for start in range(0, len(items), CHUNK):
            for item in items[start : start + CHUNK]:
                if not needed <= item.letters:
                    continue
                if word in item.folded or item.folded.startswith(folded):
                    starts.append(item)
                elif folded in item.folded:
                    inside.append(item)
                elif len(starts) + len(inside) < MAX_SCORED and _few_paths(folded, item.folded):
                    fuzzy.append(item)
            await asyncio.sleep(0)  # let a new keystroke cancel this search
        matcher = self.matcher(query)
        scored: list[tuple[float, int, _Item]] = []
        for n, item in enumerate((starts + inside + fuzzy)[:MAX_SCORED]):
            score = matcher.match(item.text)
            if score > 0:
                scored.append((score, -n, item))
        return [(score, item) for score, _n, item in heapq.nlargest(RECORD_HITS, scored)]

    def _display(self, offsets: Any, item: _Item) -> Content:
        """The text with the matched letters marked: built from plain text, never markup."""
        content = Content(item.text)
        style = self.match_style or Style(reverse=True)
        for offset in offsets:
            if 0 <= offset < len(item.text) and not item.text[offset].isspace():
                content = content.stylize(style, offset, offset + 1)
        if item.extra:
            content = content + Content.styled(f"  · {item.extra}", "dim")
        return content

    def _jump(self, item: _Item) -> Callable[[], None]:
        app = self.papp

        def jump() -> None:
            if item.collection == "circles":
                show_circle(app, item.item_id)
            else:
                app.post_message(ShowItem(item.collection, item.item_id))

        return jump


def _few_paths(query: str, text: str) -> bool:
    """Whether fuzzy matching ``query`` in ``text`` has few enough letter combinations to try
    (a query like "eeeeee" against a long title would otherwise take seconds)."""
    paths = 1
    for letter in query:
        paths *= max(text.count(letter), 1)
        if paths > MAX_PATHS:
            return False
    return True


def _bind_export(
    app: PlntuiApp, what: str, fmt: str, start: Callable[..., None]
) -> Callable[[], None]:
    return lambda: start(app, what, fmt)


def _who_topic(query: str) -> str:
    """``"who rust"`` / ``"who knows rust"`` -> ``"rust"``."""
    words = query.split()
    if len(words) < 2 or words[0].lower() != "who":
        return ""
    rest = words[2:] if words[1].lower().rstrip("?…") == "knows" else words[1:]
    return " ".join(rest).strip(" ?…")


def _in_mode(app: PlntuiApp, mode: str, action: str | None) -> None:
    """Switch to a mode screen, then run one of its actions (if it has it)."""
    app.switch_mode(mode)
    if action is None:
        return

    def run() -> None:
        method = getattr(app.screen, f"action_{action}", None)
        if callable(method):
            method()

    app.call_after_refresh(run)


def _who(app: PlntuiApp, topic: str) -> None:
    app.switch_mode("who")

    def run() -> None:
        set_topic = getattr(app.screen, "set_topic", None)
        if callable(set_topic):
            set_topic(topic)

    app.call_after_refresh(run)


def _filter_screen(app: PlntuiApp) -> Any:
    """The list with a circle filter (contacts, notes) shown now, under any dialog, or None."""
    from .screens._circles import CircleFilter

    for screen in reversed(app.screen_stack):
        if isinstance(screen, CircleFilter):
            return screen
    return None


def show_circle(app: PlntuiApp, word: str) -> None:
    """Keep the list shown (contacts, unless notes are) to the circle ``word`` ("": all)."""
    screen = _filter_screen(app)
    if screen is not None:
        screen.show_circle(word or None)
        return
    app.switch_mode("contacts")

    def run() -> None:
        shown = _filter_screen(app)
        if shown is not None:
            shown.show_circle(word or None)

    app.call_after_refresh(run)


def show_circle_picker(app: PlntuiApp) -> None:
    """Open the circle picker; the list then shows the circle chosen."""
    from .dialogs.circles import CirclePickerDialog, circle_entries

    net = app.net
    if net is None:
        return
    try:
        with app.net_lock:
            entries = circle_entries(net.index())
    except (PlntuiError, sqlite3.Error) as err:
        app.safe_notify(f"Cannot read the circles: {err}", severity="error")
        return
    current = None
    screen = _filter_screen(app)
    if screen is not None:
        from ..catalog import CIRCLE_PREFIX, fold

        words = fold(screen.query_one("#filter").value).split()
        current = next(
            (w[len(CIRCLE_PREFIX) :] for w in words if w.startswith(CIRCLE_PREFIX)), None
        )

    def chosen(word: str | None) -> None:
        if word is not None:
            show_circle(app, word)

    app.push_screen(CirclePickerDialog(entries, current), chosen)
