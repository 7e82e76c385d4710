"""Pilot tests of the notes screen: list and filter, saving as you type (per-character splices),
title validation, preview, add/delete/undo, linking contacts, live merges from another process
into the open editor, and data shown literally."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import automerge.core as am
import pytest
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Input, Markdown, SelectionList, Static, TextArea

from plntui import crdt
from plntui.model import Record
from plntui.network import Network
from plntui.textdiff import merge_text, text_edits
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.confirm import ConfirmDialog
from plntui.tui.messages import ShowItem
from plntui.tui.screens.notes import (
    LinkContactsDialog,
    NewNoteDialog,
    NotesScreen,
    shift_offset,
)

SIZE = (100, 30)


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], seconds: float = 10.0
) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    assert condition()


async def open_notes(app: PlntuiApp, pilot: Pilot[None]) -> NotesScreen:
    await pilot.pause()
    await pilot.press("2")
    await wait_for(
        pilot, lambda: isinstance(app.screen, NotesScreen) and bool(app.screen.catalog.visible)
    )
    await pilot.pause()
    assert isinstance(app.screen, NotesScreen)
    return app.screen


def current(screen: NotesScreen) -> Record:
    record = screen.table.current
    assert record is not None
    return record


def titles(screen: NotesScreen) -> list[str]:
    return [row.record.label for row in screen.catalog.visible]


def body_of(screen: NotesScreen) -> TextArea:
    return screen.query_one("#body", TextArea)


def stored(home: Path, note_id: str) -> dict:
    """The note as a fresh reader (another process) sees it."""
    return Network.open(home).get("notes", note_id).values


def note_id(home: Path, title: str) -> str:
    return next(n.id for n in Network.open(home).notes() if n.label == title)


@pytest.fixture
def slow_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """No debounced save fires during the test: only the explicit flushes write."""
    monkeypatch.setattr(NotesScreen, "SAVE_DELAY", 60.0)


# -- pure helpers ---------------------------------------------------------------------------------


def test_merge_text_keeps_both_sides() -> None:
    assert merge_text("Ownership.", "Owner42ship.", "Hello Ownership.") == "Hello Owner42ship."
    assert merge_text("abcdef", "af", "abcXdef") == "aXf"  # a deletion keeps a concurrent insert
    assert merge_text("same", "same", "changed") == "changed"
    assert merge_text("same", "mine", "same") == "mine"


def test_shift_offset_follows_the_character() -> None:
    edits = text_edits("Owner42ship.", "Hello Owner42ship.")
    assert shift_offset(7, edits) == 13
    assert shift_offset(0, edits) == 0  # text inserted exactly at the cursor goes after it
    assert shift_offset(5, text_edits("abcdefgh", "abgh")) == 2  # inside a deletion


# -- the screen -----------------------------------------------------------------------------------


async def test_list_and_editor_show_the_sample_notes(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        assert titles(screen) == ["Reading list", "Rust notes"]
        assert screen.query_one("#title", Input).value == "Reading list"
        assert screen.query_one("#tags", Input).value == "books"
        body = body_of(screen)
        assert body.text == "# Books\n\n- SICP\n"
        assert body.soft_wrap and not body.show_line_numbers
        assert "Linked: Ada Lovelace" in str(screen.query_one("#links", Static).render())
        await pilot.press("down")
        await pilot.pause()
        assert screen.query_one("#title", Input).value == "Rust notes"
        assert body.text == "Ownership."
        assert "nobody" in str(screen.query_one("#links", Static).render())


async def test_filter_sort_and_keys(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("slash", *"owner")  # matches the body of "Rust notes"
        await pilot.pause()
        assert titles(screen) == ["Rust notes"]
        assert screen.query_one("#title", Input).value == "Rust notes"
        await pilot.press("escape")
        assert screen.focused is screen.table
        screen.query_one("#filter", Input).value = ""
        await pilot.pause()
        assert titles(screen) == ["Reading list", "Rust notes"]
        await pilot.click("#table", offset=(2, 0))  # the Title header: reverse the sort
        await pilot.pause()
        assert titles(screen) == ["Rust notes", "Reading list"]
        await pilot.press("s")  # next column: tags
        await pilot.pause()
        assert screen.catalog.sort_key == "tags"
        assert titles(screen) == ["Reading list", "Rust notes"]


def note_document(net: Network, note: str) -> am.Document:
    """The Automerge document that holds a shared note (its circle's note document)."""
    from plntui import layout

    record = net.get("notes", note)
    doc = net.repo.get(layout.item_doc(record.circle, "notes", note))
    assert doc is not None
    return doc


async def test_typing_in_the_body_saves_character_splices(app: PlntuiApp, home: Path) -> None:
    reading = note_id(home, "Reading list")
    before = Network.open(home)
    old_doc = note_document(before, reading).fork()  # a colleague's copy before the edit
    old_obj = crdt.item_obj(old_doc, "notes", reading)
    assert old_obj is not None
    text_before = crdt.text_obj(old_doc, old_obj, "body")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("enter")  # Enter on the list: into the body
        await pilot.pause()
        body = body_of(screen)
        assert screen.focused is body
        # keys bound on the screen and the app type into the editor
        await pilot.press(*"Bad 2 u/s", "enter")
        await pilot.pause()
        assert body.text == "Bad 2 u/s\n# Books\n\n- SICP\n"
        assert isinstance(app.screen, NotesScreen)
        await wait_for(pilot, lambda: stored(home, reading)["body"] == body.text)
        await pilot.press("escape")
        assert screen.focused is screen.table
    after = note_document(Network.open(home), reading)
    obj = crdt.item_obj(after, "notes", reading)
    assert obj is not None
    text = crdt.text_obj(after, obj, "body")
    assert text is not None
    assert text == text_before  # the same Automerge Text, spliced, not replaced
    assert after.text(text) == "Bad 2 u/s\n# Books\n\n- SICP\n"
    # a concurrent edit on the old replica merges character by character
    with old_doc.transaction() as tx:
        crdt.splice_text(tx, text, len("# Books\n\n- SICP"), 0, "\n- TAOCP")
    old_doc.merge(after)
    assert old_doc.text(text) == "Bad 2 u/s\n# Books\n\n- SICP\n- TAOCP\n"
    assert old_doc.get(obj, "body")[0] == am.ObjType.Text


async def test_title_and_tags_save_and_an_empty_title_is_refused(
    app: PlntuiApp, home: Path
) -> None:
    reading = note_id(home, "Reading list")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        title = screen.query_one("#title", Input)
        title.focus()
        await pilot.press("end", *(["backspace"] * len("Reading list")))
        await pilot.pause()
        error = screen.query_one("#title-error", Static)
        assert error.display and "Title is required" in str(error.render())
        await pilot.pause(NotesScreen.SAVE_DELAY + 0.3)
        assert stored(home, reading)["title"] == "Reading list"
        await pilot.press(*"Reading queue")
        await pilot.pause()
        assert not error.display
        await wait_for(pilot, lambda: stored(home, reading)["title"] == "Reading queue")
        tags = screen.query_one("#tags", Input)
        tags.focus()
        await pilot.press("end", *", Learning  Rust")
        await wait_for(pilot, lambda: stored(home, reading)["tags"] == ["books", "learning rust"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: tags.value == "books, learning rust")  # normalised on leave
        assert titles(screen) == ["Reading queue", "Rust notes"]


async def test_preview_renders_markdown(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        switcher = screen.query_one(ContentSwitcher)
        await pilot.press("f2")
        await pilot.pause()
        markdown = screen.query_one(Markdown)
        assert switcher.current == "preview" and markdown.display
        assert not body_of(screen).display
        await wait_for(
            pilot, lambda: markdown.source == "# Books\n\n- SICP\n" and markdown.query("MarkdownH1")
        )
        await pilot.press("f2")
        await pilot.pause()
        assert switcher.current == "body" and body_of(screen).display


async def test_add_then_delete_and_undo(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, NewNoteDialog)
        await pilot.press("enter")
        await pilot.pause()
        assert "required" in str(app.screen.query_one("#new-title-error", Static).render())
        await pilot.press(*"Conference ideas", "enter")
        await wait_for(pilot, lambda: app.screen is screen and "Conference ideas" in titles(screen))
        await pilot.pause()
        assert current(screen).label == "Conference ideas"
        assert screen.focused is body_of(screen)
        await pilot.press(*"Talk to Grace")
        new_id = current(screen).id
        await wait_for(pilot, lambda: stored(home, new_id).get("body") == "Talk to Grace")
        await pilot.press("escape", "d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Conference ideas" not in titles(screen))
        assert [n.label for n in Network.open(home).notes()] == ["Reading list", "Rust notes"]
        await pilot.press("u")
        await wait_for(pilot, lambda: "Conference ideas" in titles(screen))
        assert current(screen).label == "Conference ideas"
        assert body_of(screen).text == "Talk to Grace"
    assert stored(home, new_id)["body"] == "Talk to Grace"


async def test_link_contacts(app: PlntuiApp, home: Path) -> None:
    rust = note_id(home, "Rust notes")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("down")
        await wait_for(pilot, lambda: current(screen).label == "Rust notes")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, LinkContactsDialog))
        dialog = app.screen
        assert isinstance(dialog, LinkContactsDialog)
        choices = dialog.query_one(SelectionList)
        await wait_for(pilot, lambda: choices.has_focus and choices.highlighted is not None)
        first = choices.highlighted
        await pilot.press("down", "space")  # Grace Hopper, after Ada Lovelace
        await wait_for(pilot, lambda: len(choices.selected) == 1)
        assert first == 0 and choices.get_option_at_index(1).prompt.plain == "Grace Hopper"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(stored(home, rust)["contacts"]) == 1)
        links = screen.query_one("#links", Static)
        await wait_for(pilot, lambda: "Grace Hopper" in str(links.render()))
        assert current(screen).label == "Rust notes", str(links.render())
    grace = Network.open(home).search("hopper")["contacts"][0]
    assert stored(home, rust)["contacts"] == [grace.id]


async def test_pending_edit_is_saved_when_leaving_the_note_and_on_exit(
    app: PlntuiApp, home: Path, slow_save: None
) -> None:
    reading, rust = note_id(home, "Reading list"), note_id(home, "Rust notes")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("enter", *"One ")
        await pilot.press("escape", "down")  # another note: the edit is written at once
        await pilot.pause()
        assert stored(home, reading)["body"] == "One # Books\n\n- SICP\n"
        assert body_of(screen).text == "Ownership."
        await pilot.press("enter", "end", *" Borrowing.")
        await pilot.pause()
        assert stored(home, rust)["body"] == "Ownership."
    assert stored(home, rust)["body"] == "Ownership. Borrowing."


async def test_change_from_another_process_merges_into_the_open_editor(
    app: PlntuiApp, home: Path, slow_save: None
) -> None:
    rust = note_id(home, "Rust notes")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        body = body_of(screen)
        await pilot.press(*(["right"] * 5), "4", "2")  # "Owner42|ship.", not saved yet
        await pilot.pause()
        assert body.text == "Owner42ship." and body.cursor_location == (0, 7)
        assert stored(home, rust)["body"] == "Ownership."
        Network.open(home).splice_note(rust, 0, 0, "Hello ")  # a colleague, another process
        await wait_for(pilot, lambda: body.text == "Hello Owner42ship.")
        assert body.cursor_location == (0, 13)  # still just before "ship."
        assert screen.focused is body
        assert stored(home, rust)["body"] == "Hello Owner42ship."  # both edits in the document
        await pilot.press("!")
        await pilot.pause()
        assert body.text == "Hello Owner42!ship."
        # title changes from elsewhere show while the title field is not being edited
        Network.open(home).edit("notes", rust, {"title": "Rust ownership"})
        await wait_for(pilot, lambda: screen.query_one("#title", Input).value == "Rust ownership")
        assert body.text == "Hello Owner42!ship." and body.cursor_location == (0, 14)
        await wait_for(pilot, lambda: "Rust ownership" in titles(screen))
        assert current(screen).id == rust


async def test_markup_in_data_is_shown_literally(home: Path) -> None:
    net = Network.create(home, "Alice")
    net.add(
        "notes",
        {"title": "[bold red]x[/] \x1b[31mred", "tags": ["[i]tag[/i]"], "body": "[b]not bold[/b]"},
    )
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=(140, 30)) as pilot:  # wide enough for the whole title
        screen = await open_notes(app, pilot)
        assert titles(screen) == ["[bold red]x[/] [31mred"]
        lines = "\n".join(
            line.text for line in screen.table.render_lines(screen.table.region.reset_offset)
        )
        assert "[bold red]x[/]" in lines and "[i]tag[/i]" in lines and "\x1b" not in lines
        assert screen.query_one("#title", Input).value == "[bold red]x[/] [31mred"
        assert screen.query_one("#tags", Input).value == "[i]tag[/i]"
        assert body_of(screen).text == "[b]not bold[/b]"


async def test_fits_80_by_24(app: PlntuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_notes(app, pilot)
        editor = screen.query_one("#editor-pane")
        assert editor.outer_size.width >= 44
        assert screen.table.size.width >= 20
        assert body_of(screen).size.height >= 8
        assert editor.region.right <= 80


async def test_show_item_jumps_to_a_note_from_another_screen(app: PlntuiApp, home: Path) -> None:
    rust = note_id(home, "Rust notes")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.post_message(ShowItem("notes", rust))
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, NotesScreen)
                and app.screen.table.current is not None
                and app.screen.table.current.id == rust
            ),
        )
        await pilot.pause()
        assert app.screen.query_one("#title", Input).value == "Rust notes"


async def test_no_notes_disables_the_editor(home: Path) -> None:
    Network.create(home, "Alice")
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        assert screen.query_one("#editor-pane").disabled
        assert "No note selected" in str(screen.query_one("#links", Static).render())
        assert not screen.query_one("#title-error", Static).display
        await pilot.press("a", *"First", "enter")
        await wait_for(pilot, lambda: titles(screen) == ["First"])
        await pilot.pause()
        assert not screen.query_one("#editor-pane").disabled
        assert screen.focused is body_of(screen)


async def test_leaving_the_screen_saves(app: PlntuiApp, home: Path, slow_save: None) -> None:
    rust = note_id(home, "Rust notes")
    async with app.run_test(size=SIZE) as pilot:
        await open_notes(app, pilot)
        await pilot.press("down", "enter", "end", *" Lifetimes.", "escape", "1")
        await wait_for(pilot, lambda: not isinstance(app.screen, NotesScreen))
        assert stored(home, rust)["body"] == "Ownership. Lifetimes."


async def test_a_busy_network_delays_the_save_without_freezing(app: PlntuiApp, home: Path) -> None:
    rust = note_id(home, "Rust notes")
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # stands in for a background refresh
        with app.net_lock:
            held.set()
            release.wait(10)

    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        try:
            assert held.wait(5)
            await pilot.press("end", *" Traits.")
            await pilot.pause(NotesScreen.SAVE_DELAY + 0.3)
            assert body_of(screen).text == "Ownership. Traits."  # the UI kept going
            assert stored(home, rust)["body"] == "Ownership."
        finally:
            release.set()
            holder.join()
        await wait_for(pilot, lambda: stored(home, rust)["body"] == "Ownership. Traits.")


async def test_typing_in_a_note_deleted_elsewhere_is_kept(
    app: PlntuiApp, home: Path, slow_save: None
) -> None:
    rust = note_id(home, "Rust notes")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_notes(app, pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        body = body_of(screen)
        await pilot.press("end", *" Borrowing too.")  # typed, not saved yet
        await pilot.pause()
        Network.open(home).remove("notes", rust)  # a colleague deletes it meanwhile
        await wait_for(pilot, lambda: "Rust notes (recovered)" in titles(screen))
        assert body is not None
    kept = [n for n in Network.open(home).notes() if n.label == "Rust notes (recovered)"]
    assert kept[0].values["body"] == "Ownership. Borrowing too."
