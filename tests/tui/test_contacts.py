"""Pilot tests of the app shell and the contacts screen: first run, filter, sort, form, delete,
undo, logging a talk, live changes from another process, and data shown literally."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.dialogs.confirm import ConfirmDialog
from plntui.tui.dialogs.contact_form import ContactForm
from plntui.tui.dialogs.log_interaction import LogInteractionDialog
from plntui.tui.screens.contacts import ContactsScreen
from tests.tui.colleagues import exchange, share_circle

SIZE = (100, 30)


async def wait_for(pilot, condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def names(app: PlntuiApp) -> list[str]:
    return [row.record.label for row in app.screen.catalog.visible]  # type: ignore[attr-defined]


async def test_first_run_asks_the_name_then_opens(home: Path) -> None:
    app = PlntuiApp(home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert "required" in str(app.screen.query_one("#error", Static).render())
        await pilot.press(*"Zoë Tester", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
    assert Network.open(home).profile.meta.name == "Zoë Tester"


async def test_filter_sort_and_detail(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert names(app) == ["Ada Lovelace", "Grace Hopper", "Linus Torvalds"]
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "Analytical Engines" in detail and "Reading list" in detail
        await pilot.press("slash", *"comp")
        await pilot.pause()
        assert names(app) == ["Grace Hopper"]
        await pilot.press("escape")
        app.screen.query_one("#filter", Input).value = ""
        await pilot.pause()
        await pilot.click("RecordTable", offset=(2, 0))  # the Name header: reverse the sort
        await pilot.pause()
        assert names(app) == ["Linus Torvalds", "Grace Hopper", "Ada Lovelace"]
        assert app.screen.table.current.label == "Grace Hopper"  # the cursor follows its row
        await pilot.pause()
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "Grace Hopper" in detail and "Introduced by: Ada Lovelace" in detail


async def test_add_with_validation_beside_the_field(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ContactForm)
        await pilot.press(*"Barbara Liskov")
        form.query_one("#field-emails", Input).value = "barbara@"
        form.query_one("#field-topics", Input).value = "Abstraction,  Type Theory"
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = form.query_one("#error-emails", Static)
        assert error.display and "not a valid e-mail" in str(error.render())
        assert isinstance(app.screen, ContactForm)
        form.query_one("#field-emails", Input).value = "barbara@mit.example"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        assert app.screen.table.current.label == "Barbara Liskov"
    added = Network.open(home).search("liskov")["contacts"][0]
    assert added.values["topics"] == ["abstraction", "type theory"]
    assert added.values["emails"] == ["barbara@mit.example"]


async def test_the_form_edits_nickname_birthday_and_address(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ContactForm)
        assert form.query_one("#private-birthday").value  # private unless shared
        form.query_one("#field-nickname", Input).value = "Enchantress of Numbers"
        form.query_one("#field-birthday", Input).value = "1815-13-10"
        form.query_one("#field-address", Input).value = "12 St James's Square, London"
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = form.query_one("#error-birthday", Static)
        assert error.display and "is not a birthday" in str(error.render())
        form.query_one("#field-birthday", Input).value = "--12-10"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
    ada = Network.open(home).search("lovelace")["contacts"][0]
    assert ada.values["nickname"] == "Enchantress of Numbers"
    assert ada.values["birthday"] == "--12-10" and ada.is_private("birthday")
    assert ada.values["address"] == "12 St James's Square, London" and ada.is_private("address")


async def test_edit_moves_a_field_to_private(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        form.query_one("#field-role", Input).value = "Analyst"
        form.query_one("#private-org").value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
    ada = Network.open(home).search("lovelace")["contacts"][0]
    assert ada.values["role"] == "Analyst" and ada.is_private("org")


async def test_delete_needs_confirmation_and_can_be_undone(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        assert len(names(app)) == 3
        await pilot.press("d")  # Enter out of habit: the focus is on Cancel
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.focused is not None and app.screen.focused.id == "no"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        assert len(names(app)) == 3
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: names(app) == ["Grace Hopper", "Linus Torvalds"])
        assert [c.label for c in Network.open(home).contacts()] == [
            "Grace Hopper",
            "Linus Torvalds",
        ]
        await pilot.press("u")
        await wait_for(pilot, lambda: len(names(app)) == 3)
        assert app.screen.table.current.label == "Ada Lovelace"
    assert len(Network.open(home).contacts()) == 3


async def test_log_a_talk_with_one_key(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LogInteractionDialog)
        await pilot.press(*"Coffee about engines", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        await wait_for(
            pilot,
            lambda: "Coffee about engines" in str(app.screen.query_one("#detail", Static).render()),
        )
    net = Network.open(home)
    ada = net.search("lovelace")["contacts"][0]
    assert [i.values["summary"] for i in net.interactions(ada.id)] == ["Coffee about engines"]
    assert ada.values["last_contacted"] > "2020-01-01"


async def test_change_from_another_process_appears_without_moving_the_cursor(
    app: PlntuiApp, home: Path
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("down")  # on Grace Hopper
        await pilot.pause()
        other = Network.open(home)  # stands in for the CLI in another process
        other.add("contacts", {"name": "Aaron Swartz", "org": "Demand Progress"})
        await wait_for(pilot, lambda: "Aaron Swartz" in names(app))
        assert app.screen.table.current.label == "Grace Hopper"
        grace = other.search("hopper")["contacts"][0]
        other.edit("contacts", grace.id, {"role": "Rear admiral"})
        await wait_for(
            pilot, lambda: "Rear admiral" in str(app.screen.query_one("#detail", Static).render())
        )


async def test_markup_in_data_is_shown_literally(home: Path) -> None:
    net = Network.create(home, "Alice")
    net.add("contacts", {"name": "[bold red]x[/] \x1b[31mred", "org": "[link=http://e]o[/link]"})
    app = PlntuiApp(home)
    async with app.run_test(size=(140, 30)) as pilot:  # wide enough for the whole name
        await pilot.pause()
        assert names(app) == ["[bold red]x[/] [31mred"]
        detail = app.screen.query_one("#detail", Static).render()
        assert "[bold red]x[/]" in str(detail) and "[link=http://e]o[/link]" in str(detail)
        lines = "\n".join(
            line.text
            for line in app.screen.table.render_lines(app.screen.table.region.reset_offset)
        )
        assert "[bold red]x[/]" in lines and "\x1b" not in lines


async def test_second_app_on_one_profile_is_refused(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        import subprocess
        import sys

        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from plntui.profile import Profile;"
                f"p = Profile.open(Path({str(home)!r}));"
                "p.claim_session('probe')",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert probe.returncode != 0 and "already open in the plntui app" in probe.stderr


async def test_letters_typed_before_the_filter_has_focus_go_into_it(app: PlntuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        box = screen.query_one("#filter", Input)
        screen._filter_pending = True  # "/" was pressed; focus has not moved yet (a busy UI)
        await pilot.press("l", "i", "n", "u")  # l (log) and u (undo) are list shortcuts
        await pilot.pause()
        assert app.screen is screen  # no log dialog opened
        assert box.value == "linu"
        assert names(app) == ["Linus Torvalds"]
        box.focus()
        await pilot.pause()
        assert not screen._filter_pending


# -- saving the form while a colleague's edit of the same contact merges in -------------------


def colleague_edit(home: Path, tmp_path: Path, values: dict[str, object]) -> None:
    """Bob, on his own device, edits Ada Lovelace (in the circle Alice shares with him); the
    change reaches this profile's documents (committed on disk) while the app's form is open."""
    here = Network.open(home)
    bob = Network.create(tmp_path / "bob", "Bob")
    share_circle(here, bob)
    bob.edit("contacts", bob.search("lovelace")["contacts"][0].id, values)
    exchange(bob, here)


async def edit_ada_while_bob_edits(  # type: ignore[no-untyped-def]
    app: PlntuiApp, home: Path, tmp_path: Path, bob: dict[str, object], mine: dict[str, str]
):
    """Open the form on Ada, let Bob's edit merge in, fill ``mine`` and save. Returns Ada as
    stored afterwards and the notifications shown."""
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ContactForm)
        colleague_edit(home, tmp_path, bob)
        for name, text in mine.items():
            form.query_one(f"#field-{name}", Input).value = text
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactsScreen))
        notes = [str(n.message) for n in app._notifications]
    return Network.open(home).search("lovelace")["contacts"][0], notes


async def test_save_keeps_a_colleagues_concurrent_list_addition(
    app: PlntuiApp, home: Path, tmp_path: Path
) -> None:
    ada, notes = await edit_ada_while_bob_edits(
        app,
        home,
        tmp_path,
        {"emails": ["ada@example.com", "bob-added@example.com"]},
        {"emails": "ada@example.com, alice-added@example.com"},
    )
    assert ada.values["emails"] == [
        "ada@example.com",
        "bob-added@example.com",
        "alice-added@example.com",
    ]
    assert not any("also changed" in n for n in notes)


async def test_save_keeps_a_colleagues_removal_and_my_addition(
    app: PlntuiApp, home: Path, tmp_path: Path
) -> None:
    ada, _ = await edit_ada_while_bob_edits(
        app, home, tmp_path, {"topics": ["mathematics"]}, {"topics": "mathematics, rust, poetry"}
    )
    assert ada.values["topics"] == ["mathematics", "poetry"]


async def test_save_keeps_a_colleagues_change_of_another_field(
    app: PlntuiApp, home: Path, tmp_path: Path
) -> None:
    ada, notes = await edit_ada_while_bob_edits(
        app, home, tmp_path, {"role": "Countess"}, {"org": "Babbage & Co"}
    )
    assert ada.values["role"] == "Countess" and ada.values["org"] == "Babbage & Co"
    assert ada.values["topics"] == ["mathematics", "rust"]  # untouched by both
    assert not any("also changed" in n for n in notes)


async def test_both_change_one_short_field_mine_is_kept_and_said(
    app: PlntuiApp, home: Path, tmp_path: Path
) -> None:
    ada, notes = await edit_ada_while_bob_edits(
        app, home, tmp_path, {"role": "Countess"}, {"role": "Programmer"}
    )
    assert ada.values["role"] == "Programmer"
    assert "Bob also changed Role; your value was kept." in notes


async def test_a_field_i_left_alone_keeps_the_colleagues_value(
    app: PlntuiApp, home: Path, tmp_path: Path
) -> None:
    ada, notes = await edit_ada_while_bob_edits(
        app,
        home,
        tmp_path,
        {"org": "Royal Society", "emails": []},
        {"role": "Programmer"},
    )
    assert ada.values["org"] == "Royal Society"
    assert ada.values.get("emails", []) == []  # the removal is not undone by a stale form
    assert ada.values["role"] == "Programmer"
    assert not any("also changed" in n for n in notes)


async def test_long_text_edited_on_both_sides_merges_both(
    app: PlntuiApp, home: Path, tmp_path: Path
) -> None:
    ada_id = Network.open(home).search("lovelace")["contacts"][0].id
    Network.open(home).edit("contacts", ada_id, {"met": "At a salon in London."})
    ada, notes = await edit_ada_while_bob_edits(
        app,
        home,
        tmp_path,
        {"met": "At a salon in London, 1833."},
        {"met": "Through Babbage, at a salon in London."},
    )
    assert ada.values["met"] == "Through Babbage, at a salon in London, 1833."
    assert "Bob also changed How you met; both edits were merged." in notes


async def test_saving_a_contact_deleted_meanwhile_is_refused(app: PlntuiApp, home: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        other = Network.open(home)
        ada = other.search("lovelace")["contacts"][0]
        other.remove("contacts", ada.id)
        form.query_one("#field-role", Input).value = "Programmer"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form  # kept open with the user's values
        error = form.query_one("#error-form", Static)
        assert error.display and "deleted meanwhile" in str(error.render())
        assert any("deleted meanwhile" in str(n.message) for n in app._notifications)
    assert Network.open(home).search("lovelace")["contacts"] == []
