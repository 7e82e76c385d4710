"""Circles in the app: the Circle column and the details, the circle select of the contact form
and of the note editor (and of a new note), ``circle:NAME`` in the filters, the circle picker of
the palette, the Peers screen's circles of a colleague, items of a circle this device left, and
circle names shown literally. The pure parts (``circle:`` matching, the haystack marks) first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, OptionList, Select, SelectionList, Static

from plntui.catalog import (
    CIRCLE_MARK,
    PRIVATE_CIRCLE,
    Catalog,
    Row,
    circle_word,
    circles_matching,
    contact_columns,
    haystack,
)
from plntui.model import Record
from plntui.network import Network
from plntui.peersync import open_trust
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.circles import CirclePickerDialog, PeerCirclesDialog
from plntui.tui.dialogs.contact_form import PRIVATE_CHOICE, ContactForm
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.notes import NewNoteDialog, NotesScreen
from plntui.tui.screens.peers import PeersScreen
from plntui.tui.sync_notices import notice
from plntui.tui.sync_service import CIRCLE_JOINED, SyncNotice
from tests.tui.test_screens import run_palette

SIZE = (120, 32)
BOB = bytes([0xB0]) * 32


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], seconds: float = 10.0
) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def labels(app: PlntuiApp) -> list[str]:
    return [row.record.label for row in app.screen.catalog.visible]  # type: ignore[attr-defined]


def circle_cells(app: PlntuiApp) -> dict[str, str]:
    """Label -> the Circle cell of every row shown."""
    screen: Any = app.screen
    index = [c.key for c in screen.catalog.columns].index("circle")
    return {row.record.label: row.cells[index] for row in screen.catalog.visible}


def notifications(app: PlntuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def fresh(home: Path, collection: str, label: str) -> Record:
    """The item as another process reads it now."""
    net = Network.open(home)
    return next(r for r in net.list(collection) if r.label == label)  # type: ignore[arg-type]


@pytest.fixture
def team(sample: Network) -> dict[str, str]:
    """Beside Alice's default circle: "Data team" with Barbara Liskov and the note "Team
    rituals", and a private contact, Secret Agent."""
    with sample.lock:
        circle = sample.create_circle("Data team")
        sample.add("contacts", {"name": "Barbara Liskov", "org": "MIT"}, circle=circle.id)
        sample.add("contacts", {"name": "Secret Agent"}, private=True)
        sample.add("notes", {"title": "Team rituals", "body": "Standups."}, circle=circle.id)
        default = sample.default_circle().id
    sample.index().close()
    return {"team": circle.id, "default": default}


# -- pure parts -----------------------------------------------------------------------------------


def test_circle_words_and_matching() -> None:
    names = {"aaaa111122223333": "Data team", "bbbb111122223333": "Data", "cccc1111": "Zoë's lab"}
    assert circle_word("Data  team") == "data-team" and circle_word("Zoë's lab") == "zoe's-lab"
    assert circles_matching(names, "data-t") == {"aaaa111122223333"}
    assert circles_matching(names, "DA") == {"aaaa111122223333", "bbbb111122223333"}
    assert circles_matching(names, "data") == {"bbbb111122223333"}  # an exact name wins
    assert circles_matching(names, "zoe") == {"cccc1111"}  # accents and case do not matter
    assert circles_matching(names, "priv") == {PRIVATE_CIRCLE}
    assert circles_matching(names, "aaaa") == {"aaaa111122223333"}  # an id prefix
    assert circles_matching(names, "team") == set()  # a prefix of the name, not of a word
    assert circles_matching(names, "") == set()


def test_the_circle_mark_cannot_be_typed_and_old_haystacks_still_filter() -> None:
    shared = Record("contacts", "000000000001", {"name": "Ada"}, circle="abcd", circle_name="X")
    private = Record("contacts", "000000000002", {"name": "Grace"}, private_item=True)
    hay = haystack(shared)
    assert CIRCLE_MARK in hay and "abcd" not in hay  # a typed word never matches the id
    catalog = Catalog(contact_columns())
    catalog.resolve_circle = lambda text: circles_matching({"abcd": "X team"}, text)
    catalog.load([shared, private])
    assert [r.id for r in catalog.apply_filter("circle:x")] == [shared.id]
    assert [r.id for r in catalog.apply_filter("circle:private")] == [private.id]
    assert [r.id for r in catalog.apply_filter("abcd")] == []
    # rows from an index written before circles had marks: the record decides
    columns = contact_columns()
    catalog.rows = [
        Row(columns, shared.id, "ada", record=shared),
        Row(columns, private.id, "grace", record=private),
    ]
    catalog.query = ""
    assert [r.id for r in catalog.apply_filter("circle:x-team")] == [shared.id]
    assert [r.id for r in catalog.apply_filter("circle:private")] == [private.id]


def test_a_circle_joined_notice_names_the_colleague_and_the_circle() -> None:
    shown = notice(SyncNotice(CIRCLE_JOINED, "", "Bob", circle="Data team"))
    assert shown is not None and shown[0] == "Bob added you to circle Data team"


# -- the lists ------------------------------------------------------------------------------------


async def test_the_circle_column_the_details_and_the_filter(
    app: PlntuiApp, team: dict[str, str]
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        cells = circle_cells(app)
        assert cells["Barbara Liskov"] == "Data team"
        assert cells["Ada Lovelace"] == "Alice's circle"
        assert cells["Secret Agent"] == "private"
        assert app.screen.table.current.label == "Ada Lovelace"  # type: ignore[attr-defined]
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "Circle: Alice's circle" in detail
        await pilot.press("slash", *"circle:data")
        await wait_for(pilot, lambda: labels(app) == ["Barbara Liskov"])
        assert "Circle: Data team" in str(app.screen.query_one("#detail", Static).render())
        box = app.screen.query_one("#filter", Input)
        box.value = "circle:private"
        await wait_for(pilot, lambda: labels(app) == ["Secret Agent"])
        assert "private contact (never shared)" in str(
            app.screen.query_one("#detail", Static).render()
        )
        box.value = "circle:alice grace"  # with other words
        await wait_for(pilot, lambda: labels(app) == ["Grace Hopper"])
        box.value = "circle:nowhere"
        await wait_for(pilot, lambda: labels(app) == [])
        box.value = "circle:"  # still typing: every row
        await wait_for(pilot, lambda: len(labels(app)) == 5)
        await pilot.press("escape", "2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        assert circle_cells(app)["Team rituals"] == "Data team"
        app.screen.query_one("#filter", Input).value = "circle:DATA-TEAM"
        await wait_for(pilot, lambda: labels(app) == ["Team rituals"])


async def test_the_palette_picks_a_circle_for_the_list(
    app: PlntuiApp, team: dict[str, str]
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        await run_palette(pilot, "Show circle…")
        await wait_for(pilot, lambda: isinstance(app.screen, CirclePickerDialog))
        options = app.screen.query_one(OptionList)
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert shown[0] == "All circles" and shown[-1].startswith("Private")
        assert shown[1].startswith("Alice's circle  3 contacts · 2 notes")
        assert shown[2].startswith("Data team  1 contact · 1 note")
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        box = app.screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: box.value == "circle:data-team")
        await wait_for(pilot, lambda: labels(app) == ["Barbara Liskov"])
        # the picker opens on the circle shown; "All circles" empties the word again
        box.value = "liskov circle:data-team"
        await run_palette(pilot, "Show circle…")
        await wait_for(pilot, lambda: isinstance(app.screen, CirclePickerDialog))
        assert app.screen.query_one(OptionList).highlighted == 2
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: box.value == "liskov")
        # a circle's name in the palette shows it at once, in the notes too
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        await run_palette(pilot, "data team")
        notes_box = app.screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: notes_box.value == "circle:data-team")
        await wait_for(pilot, lambda: labels(app) == ["Team rituals"])


# -- the contact form -----------------------------------------------------------------------------


async def test_the_contact_form_moves_a_contact_and_follows_the_private_switch(
    app: PlntuiApp, home: Path, team: dict[str, str]
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        await pilot.press("e")  # Ada Lovelace, in Alice's circle
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        form = app.screen
        select = form.query_one("#field-circle", Select)
        switch = form.query_one("#private-item", Checkbox)
        assert select.value == team["default"] and not switch.value
        switch.value = True  # the private switch: the select says Private
        await wait_for(pilot, lambda: select.value == PRIVATE_CHOICE)
        switch.value = False  # and back to the circle it showed
        await wait_for(pilot, lambda: select.value == team["default"])
        select.value = team["team"]
        await pilot.pause()
        assert not switch.value
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: circle_cells(app).get("Ada Lovelace") == "Data team")
        assert fresh(home, "contacts", "Ada Lovelace").circle == team["team"]
        # choosing Private in the select ticks the switch, and saving keeps it on this device
        app.screen.show_item(fresh(home, "contacts", "Grace Hopper").id)  # type: ignore[attr-defined]
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        form = app.screen
        form.query_one("#field-circle", Select).value = PRIVATE_CHOICE
        await wait_for(pilot, lambda: form.query_one("#private-item", Checkbox).value)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: circle_cells(app).get("Grace Hopper") == "private")
    grace = fresh(home, "contacts", "Grace Hopper")
    assert grace.private_item and grace.circle == ""


async def test_a_move_made_elsewhere_while_the_form_is_open_is_kept(
    app: PlntuiApp, home: Path, team: dict[str, str]
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        await pilot.press("e")  # Ada Lovelace, in Alice's circle
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        form = app.screen
        ada = fresh(home, "contacts", "Ada Lovelace")
        Network.open(home).move("contacts", ada.id, team["team"])  # another window moves her
        form.query_one("#field-role", Input).value = "Analyst"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
    ada = fresh(home, "contacts", "Ada Lovelace")
    assert ada.circle == team["team"] and ada.values["role"] == "Analyst"


async def test_a_new_contact_goes_to_the_circle_chosen(
    app: PlntuiApp, home: Path, team: dict[str, str]
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        form = app.screen
        select = form.query_one("#field-circle", Select)
        assert select.value == team["default"]  # new contacts go to the default circle
        await pilot.press(*"Edsger Dijkstra")
        select.value = team["team"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: circle_cells(app).get("Edsger Dijkstra") == "Data team")
    edsger = fresh(home, "contacts", "Edsger Dijkstra")
    assert edsger.circle == team["team"] and not edsger.private_item


# -- the notes ------------------------------------------------------------------------------------


async def test_the_note_editor_moves_the_note_with_its_unsaved_typing(
    app: PlntuiApp, home: Path, team: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NotesScreen, "SAVE_DELAY", 60.0)  # the typing is not saved by itself
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        assert screen.table.current is not None and screen.table.current.label == "Reading list"
        select = screen.query_one("#circle", Select)
        assert select.value == team["default"] and not select.disabled
        await pilot.press("enter", *"Read: ")  # into the body, typed and not saved
        select.value = team["team"]
        await wait_for(pilot, lambda: circle_cells(app).get("Reading list") == "Data team")
        moved = fresh(home, "notes", "Reading list")
        assert moved.circle == team["team"]
        assert moved.values["body"] == "Read: # Books\n\n- SICP\n"
        assert any("Moved “Reading list” to circle Data team" in n for n in notifications(app))
        assert select.value == team["team"]
        await pilot.press("escape", "down")  # another note, another circle: nothing moves
        await wait_for(pilot, lambda: select.value == team["default"])
        await pilot.pause(0.2)
        assert fresh(home, "notes", "Rust notes").circle == team["default"]
        assert fresh(home, "notes", "Reading list").circle == team["team"]


async def test_a_new_note_goes_to_the_circle_chosen(
    app: PlntuiApp, home: Path, team: dict[str, str]
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, NewNoteDialog))
        select = app.screen.query_one("#new-circle", Select)
        assert select.value == team["default"]
        select.value = team["team"]
        await pilot.press(*"Sprint review", "enter")
        await wait_for(pilot, lambda: circle_cells(app).get("Sprint review") == "Data team")
    assert fresh(home, "notes", "Sprint review").circle == team["team"]


async def test_a_private_note_can_be_shared_to_a_circle(
    app: PlntuiApp, home: Path, sample: Network, team: dict[str, str]
) -> None:
    with sample.lock:
        sample.add("notes", {"title": "Diary", "body": "Mine."}, private=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(
            pilot, lambda: isinstance(app.screen, NotesScreen) and "Diary" in labels(app)
        )
        screen = app.screen
        assert isinstance(screen, NotesScreen)
        screen.show_item(fresh(home, "notes", "Diary").id)
        select = screen.query_one("#circle", Select)
        await wait_for(pilot, lambda: select.value == PRIVATE_CHOICE)
        assert circle_cells(app)["Diary"] == "private"
        select.value = team["team"]
        await wait_for(pilot, lambda: circle_cells(app).get("Diary") == "Data team")
    diary = fresh(home, "notes", "Diary")
    assert not diary.private_item and diary.circle == team["team"]


# -- a circle this device left --------------------------------------------------------------------


async def test_items_of_a_circle_left_are_read_only(app: PlntuiApp, sample: Network) -> None:
    with sample.lock:
        old = sample.create_circle("Old team")
        sample.add("contacts", {"name": "Olga Old"}, circle=old.id)
        sample.add("notes", {"title": "Old plans", "body": "Gone."}, circle=old.id)
        sample.leave_circle(old.id)
    sample.index().close()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        screen: Any = app.screen
        screen.query_one("#filter", Input).value = "circle:old"
        await wait_for(pilot, lambda: labels(app) == ["Olga Old"])
        detail = str(screen.query_one("#detail", Static).render())
        assert "Circle: Old team  (you left it: read-only)" in detail
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        select = app.screen.query_one("#field-circle", Select)
        assert select.disabled and select.value == old.id
        await pilot.press("escape", "2")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and labels(app))
        notes: Any = app.screen
        notes.show_item(next(r.id for r in notes.catalog.rows if r.record.label == "Old plans"))
        select = notes.query_one("#circle", Select)
        await wait_for(pilot, lambda: select.value == old.id)
        assert select.disabled and notes.body_area.read_only and notes.title_input.disabled
        notes.show_item(next(r.id for r in notes.catalog.rows if r.record.label == "Rust notes"))
        await wait_for(pilot, lambda: not select.disabled)
        assert not notes.body_area.read_only and not notes.title_input.disabled


async def test_circle_names_are_shown_literally(app: PlntuiApp, sample: Network) -> None:
    with sample.lock:
        odd = sample.create_circle("[bold red]Team[/] \x1b[31m")
        sample.add("contacts", {"name": "Mallory"}, circle=odd.id)
    sample.index().close()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen) and labels(app))
        screen: Any = app.screen
        screen.query_one("#filter", Input).value = "mallory"
        await wait_for(pilot, lambda: labels(app) == ["Mallory"])
        assert circle_cells(app)["Mallory"] == "[bold red]Team[/] [31m"
        assert "Circle: [bold red]Team[/]" in str(screen.query_one("#detail", Static).render())
        lines = "\n".join(
            line.text for line in screen.table.render_lines(screen.table.region.reset_offset)
        )
        assert "[bold red…" in lines and "\x1b" not in lines  # cut to the column, not parsed
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        current = app.screen.query_one("#field-circle SelectCurrent #label", Static)
        assert "[bold red]Team[/]" in str(current.render())


# -- the peers screen -----------------------------------------------------------------------------


async def test_the_peers_screen_adds_and_removes_a_colleague_from_circles(
    app: PlntuiApp, home: Path, team: dict[str, str]
) -> None:
    open_trust(home).trust(BOB, "Bob")
    async with app.run_test(size=SIZE) as pilot:  # offline: the trust store is read directly
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        trusted = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: trusted.row_count == 1)
        assert [str(c) for c in trusted.get_row_at(0)][:5] == [
            "Bob",
            "offline",
            "—",
            "never",
            "—",
        ]
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PeerCirclesDialog))
        ticks = app.screen.query_one(SelectionList)
        assert ticks.option_count == 2 and ticks.selected == []
        await pilot.press("down", "space", "ctrl+s")  # Data team
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        await wait_for(pilot, lambda: str(trusted.get_row_at(0)[4]) == "Data team")
        assert "Added Bob to Data team." in notifications(app)
        assert Network.open(home).circles_shared_with(BOB) == {team["team"]}
        # again: Alice's circle in, Data team out
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PeerCirclesDialog))
        assert app.screen.query_one(SelectionList).selected == [team["team"]]
        await pilot.press("space", "down", "space", "ctrl+s")
        await wait_for(pilot, lambda: str(trusted.get_row_at(0)[4]) == "Alice's circle")
        assert "Added Bob to Alice's circle; removed Bob from Data team." in notifications(app)
        assert Network.open(home).circles_shared_with(BOB) == {team["default"]}
        # Escape changes nothing
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PeerCirclesDialog))
        await pilot.press("down", "space", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        assert Network.open(home).circles_shared_with(BOB) == {team["default"]}


async def test_adding_a_colleague_no_longer_trusted_says_why(
    app: PlntuiApp, home: Path, team: dict[str, str]
) -> None:
    open_trust(home).trust(BOB, "Bob")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, PeersScreen))
        trusted = app.screen.query_one("#trusted", DataTable)
        await wait_for(pilot, lambda: trusted.row_count == 1)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PeerCirclesDialog))
        open_trust(home).revoke(BOB)  # meanwhile, in another window
        await pilot.press("down", "space", "ctrl+s")
        await wait_for(pilot, lambda: any("not a peer you trust" in n for n in notifications(app)))
        await wait_for(pilot, lambda: not trusted.display)  # and Bob is gone from the list
    assert Network.open(home).circles_shared_with(BOB) == set()
