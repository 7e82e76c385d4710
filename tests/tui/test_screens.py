"""Pilot tests of who knows, follow-ups, help, the command palette, and import/export dialogs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.command import CommandInput, CommandList, CommandPalette
from textual.widgets import Input, Static

from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.log_interaction import LogInteractionDialog
from plntui.tui.dialogs.transfer import (
    FilePrompt,
    PathSuggester,
    TransferScreen,
    check_path,
    run_export,
    shared_view,
)
from plntui.tui.screens.contacts import ContactsScreen
from plntui.tui.screens.followups import FollowupsScreen, cadence_text, due_text
from plntui.tui.screens.help import HelpScreen
from plntui.tui.screens.who import WhoScreen

SIZE = (100, 30)
VCARDS = """BEGIN:VCARD
VERSION:3.0
FN:Barbara Liskov
ORG:MIT
EMAIL:barbara@mit.example
CATEGORIES:abstraction,rust
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Ada King
EMAIL:ada@example.com
TITLE:Countess
END:VCARD
BEGIN:VCARD
VERSION:3.0
NOTE:no name and no e-mail
END:VCARD
"""


async def wait_for(pilot: Any, condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def labels(screen: Any, catalog: str = "catalog") -> list[str]:
    return [row.record.label for row in getattr(screen, catalog).visible]


def notifications(app: PlntuiApp) -> list[str]:
    return [n.message for n in app._notifications]


def contact_names(app: PlntuiApp) -> list[str]:
    assert app.net is not None
    with app.net_lock:
        return [c.label for c in app.net.index().list("contacts")]


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def palette(pilot: Any, query: str) -> None:
    """Open the palette, type ``query`` and wait for the hits."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: CommandPalette.is_open(app))
    if len(query) <= 8:
        await pilot.press(*query)
    else:  # typing a long query key by key is slow in Pilot; the palette reacts the same
        app.screen.query_one(CommandInput).value = query
    await wait_for(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)
    await pilot.pause(0.3)  # the palette adds hits in batches


async def run_palette(pilot: Any, query: str) -> None:
    await palette(pilot, query)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not CommandPalette.is_open(pilot.app))


async def submit_path(pilot: Any, path: Path | str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, FilePrompt))
    app.screen.query_one("#path", Input).value = str(path)
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


# -- who knows ----------------------------------------------------------------------------------


async def test_who_ranks_people_and_enter_opens_the_contact(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, WhoScreen))
        who = app.screen
        assert "Type a topic" in who.table.empty_text
        await pilot.press(*"rust")
        await wait_for(pilot, lambda: labels(who) == ["Ada Lovelace"])
        row = who.catalog.visible[0]
        assert "topic: rust" in row.cells[1] and row.cells[3] == "2020-01-01"
        assert labels(who, "notes_catalog") == ["Rust notes"]
        assert "Analytical Engines" in text_of(who, "#person")

        who.query_one("#topic", Input).value = "compilers"
        await wait_for(pilot, lambda: labels(who) == ["Grace Hopper"])
        grace = who.catalog.visible[0]
        assert grace.cells[2] == "Ada Lovelace"  # introduced by, as a name
        assert grace.cells[3] == "never"
        await pilot.press("enter")  # from the topic to the list
        assert who.table.has_focus
        await pilot.press("enter")  # open the person
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(
            pilot,
            lambda: (
                app.screen.table.current is not None
                and app.screen.table.current.id == grace.record.id
            ),
        )


async def test_who_with_nobody_says_so(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, WhoScreen))
        who = app.screen
        await pilot.press(*"quantum")
        await wait_for(pilot, lambda: "Nobody" in who.table.empty_text)
        assert labels(who) == [] and "quantum" in who.table.empty_text
        await pilot.press("escape", "right")  # leave the topic; → goes to the notes pane
        assert who.notes_table.has_focus
        await pilot.press("left")
        assert who.table.has_focus


# -- follow-ups ---------------------------------------------------------------------------------


def test_due_text() -> None:
    assert [due_text(n) for n in (12, 1, 0, -1, -3)] == [
        "12 days overdue",
        "1 day overdue",
        "due today",
        "due tomorrow",
        "due in 3 days",
    ]
    assert [cadence_text(n) for n in (1, 21, 120, None)] == ["1 day", "21 days", "120 days", ""]


async def test_followups_lists_overdue_and_l_logs_the_catch_up(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        followups = app.screen
        await wait_for(pilot, lambda: labels(followups) == ["Ada Lovelace"])
        cells = followups.catalog.visible[0].cells
        assert cells[1].endswith("days overdue") and cells[2] == "2020-01-01"
        assert "1 overdue" in text_of(followups, "#summary")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogInteractionDialog))
        assert app.screen.query_one("#summary", Input).value == "Caught up"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is followups)
        await wait_for(pilot, lambda: labels(followups) == [])
        assert "Nobody is due" in followups.table.empty_text
        assert app.net is not None
        with app.net_lock:
            logged = app.net.interactions()
        assert [i.values["summary"] for i in logged] == ["Caught up"]


async def test_followups_enter_opens_the_contact(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        await wait_for(pilot, lambda: labels(app.screen) == ["Ada Lovelace"])
        ada = app.screen.catalog.visible[0].record
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(
            pilot,
            lambda: app.screen.table.current is not None and app.screen.table.current.id == ada.id,
        )


# -- help ---------------------------------------------------------------------------------------


async def test_help_lists_every_screen_keys_and_closes(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for closer in ("escape", "f1", "q"):
            await pilot.press("f1")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            text = app.screen.plain_text()
            for expected in (
                "Contacts",
                "Who knows",
                "Follow-ups",
                "Log catch-up",
                "Undo delete",
                "Command palette",
                "Change theme",
                "private",
                "^p",
            ):
                assert expected in text, expected
            await pilot.press(closer)
            await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))


# -- command palette ----------------------------------------------------------------------------


async def test_palette_jumps_to_a_contact(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4")  # from another screen
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        await run_palette(pilot, "Grace")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(
            pilot,
            lambda: (
                app.screen.table.current is not None
                and app.screen.table.current.label == "Grace Hopper"
            ),
        )


async def test_palette_actions_open_their_screens(app: PlntuiApp) -> None:
    from plntui.tui.dialogs.contact_form import ContactForm

    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Follow-ups")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        await run_palette(pilot, "Add contact")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await run_palette(pilot, "Help")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_palette_who_knows_a_topic(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_palette(pilot, "who rust")
        await wait_for(pilot, lambda: isinstance(app.screen, WhoScreen))
        await wait_for(pilot, lambda: labels(app.screen) == ["Ada Lovelace"])


async def test_palette_export_notes_as_markdown(app: PlntuiApp, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Export notes as Markdown")
        await submit_path(pilot, out)
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: any("Exported 2 notes" in m for m in notifications(app)))
    names = sorted(p.name for p in out.iterdir())
    assert "index.md" in names and len(names) == 3
    assert any(n.startswith("rust-notes-") for n in names)


async def test_palette_export_contacts_leaves_private_data_out(
    app: PlntuiApp, tmp_path: Path
) -> None:
    out = tmp_path / "contacts.json"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Export contacts as JSON")
        await submit_path(pilot, out)
        await wait_for(pilot, lambda: out.exists() and isinstance(app.screen, ContactsScreen))
        await wait_for(
            pilot, lambda: any("left out private data of 1 item " in m for m in notifications(app))
        )
    text = out.read_text()
    assert "Grace Hopper" in text and "2020-01-01" not in text  # Ada's last talk is private


async def test_import_a_vcard_file_adds_and_summarises(app: PlntuiApp, tmp_path: Path) -> None:
    cards = tmp_path / "team.vcf"
    cards.write_text(VCARDS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Import contacts")
        await submit_path(pilot, cards)
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(pilot, lambda: any("Imported team.vcf" in m for m in notifications(app)))
        message = next(m for m in notifications(app) if "Imported team.vcf" in m)
        assert "1 added, 1 merged into existing contacts, 1 rejected" in message
        assert "no name or e-mail" in message
        assert contact_names(app) == [
            "Ada Lovelace",
            "Barbara Liskov",
            "Grace Hopper",
            "Linus Torvalds",
        ]
        await wait_for(pilot, lambda: "Barbara Liskov" in labels(app.screen))


async def test_bad_import_path_is_shown_beside_the_input(app: PlntuiApp, tmp_path: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Import contacts")
        await submit_path(pilot, tmp_path / "missing.vcf")
        assert isinstance(app.screen, FilePrompt)
        assert "No such file" in text_of(app.screen, "#path-error")
        await submit_path(pilot, tmp_path)
        assert "is a folder" in text_of(app.screen, "#path-error")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        assert len(contact_names(app)) == 3


async def test_unreadable_import_file_changes_nothing(app: PlntuiApp, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("  \n")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await run_palette(pilot, "Import contacts")
        await submit_path(pilot, empty)
        await wait_for(
            pilot, lambda: isinstance(app.screen, TransferScreen) and app.screen.error is not None
        )
        assert "empty" in text_of(app.screen, "#transfer-error")
        assert "unchanged" in text_of(app.screen, "#transfer-status")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        assert len(contact_names(app)) == 3


# -- paths and exports without the UI -----------------------------------------------------------


def test_check_path(tmp_path: Path) -> None:
    existing = tmp_path / "a.vcf"
    existing.write_text("x")
    assert check_path(str(existing), must_exist=True, is_dir=False).path == existing
    assert "No such file" in check_path(str(tmp_path / "b"), must_exist=True, is_dir=False).error
    assert "is a folder" in check_path(str(tmp_path), must_exist=True, is_dir=False).error
    assert (
        "does not exist"
        in check_path(str(tmp_path / "no" / "x.csv"), must_exist=False, is_dir=False).error
    )
    assert "replaced" in check_path(str(existing), must_exist=False, is_dir=False).hint
    assert "is a file" in check_path(str(existing), must_exist=False, is_dir=True).error
    assert "created" in check_path(str(tmp_path / "new"), must_exist=False, is_dir=True).hint
    assert check_path("  ", must_exist=True, is_dir=False).error


async def test_path_suggester_completes_names(tmp_path: Path) -> None:
    (tmp_path / "team.vcf").write_text("x")
    (tmp_path / "teams").mkdir()
    assert await PathSuggester().get_suggestion(str(tmp_path / "tea")) == str(tmp_path / "team.vcf")
    folders = PathSuggester(folders_only=True)
    assert await folders.get_suggestion(str(tmp_path / "tea")) == str(tmp_path / "teams") + "/"
    assert await PathSuggester().get_suggestion(str(tmp_path / "zz")) is None


def test_export_with_private_data(sample: Network, tmp_path: Path) -> None:
    import threading

    lock = threading.RLock()
    out = tmp_path / "c.csv"
    outcome = run_export(sample, lock, "contacts", "csv", out, include_private=True)
    assert "Exported 3 contacts" in outcome.message and "left out" not in outcome.message
    assert "2020-01-01" in out.read_text()
    kept, hidden = shared_view(sample.contacts(), include_private=False)
    assert hidden == 1 and all(not r.private for r in kept)


# -- small terminals ----------------------------------------------------------------------------


async def test_every_screen_opens_at_80x24(app: PlntuiApp, tmp_path: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("3", *"rust")
        await wait_for(pilot, lambda: labels(app.screen) == ["Ada Lovelace"])
        await pilot.press("escape", "4")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        await wait_for(pilot, lambda: labels(app.screen) == ["Ada Lovelace"])
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        box = app.screen.query_one("#help-body").region
        assert box.right <= 80 and box.bottom <= 24
        await pilot.press("pagedown", "pagedown", "escape")
        await run_palette(pilot, "Export notes as HTML")
        await wait_for(pilot, lambda: isinstance(app.screen, FilePrompt))
        prompt = app.screen
        assert prompt.query_one("#ok").region.bottom <= 24
        await submit_path(pilot, tmp_path / "notes.html")
        await wait_for(pilot, lambda: (tmp_path / "notes.html").exists())
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
        await run_palette(pilot, "Import contacts")
        await wait_for(pilot, lambda: isinstance(app.screen, FilePrompt))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, FollowupsScreen))
