"""Tests of dated reminders and snoozing (``plntui.reminders``, ``Network.remind``/``snooze``,
``plntui remind``, ``plntui due``), and the follow-ups wording."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from plntui import layout, provenance
from plntui.cli import main
from plntui.errors import ValidationError
from plntui.network import Network
from plntui.reminders import (
    Reminder,
    cadence_text,
    due_text,
    parse_when,
    read_reminder,
    when_text,
)
from tests.repo_helpers import copy_docs, join

TODAY = dt.date(2026, 3, 11)  # a Wednesday


@pytest.fixture(autouse=True)
def _fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("plntui.network.today", lambda: TODAY)
    monkeypatch.setattr("plntui.model.today", lambda: TODAY)


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


# -- the pure parts -------------------------------------------------------------------------------


def test_a_reminder_is_its_text_with_the_date_in_front() -> None:
    assert read_reminder("2026-03-14 ask about the book") == Reminder(
        "ask about the book", dt.date(2026, 3, 14)
    )
    assert read_reminder("2026-03-14") == Reminder("", dt.date(2026, 3, 14))
    # older reminders, and text that only starts with digits, stay plain text
    assert read_reminder("bring the book back") == Reminder("bring the book back")
    assert read_reminder("2026-13-01 is not a date") == Reminder("2026-13-01 is not a date")
    assert read_reminder("") is None and read_reminder(None) is None
    assert Reminder("call", dt.date(2026, 4, 1)).value() == "2026-04-01 call"
    assert Reminder("", dt.date(2026, 4, 1)).value() == "2026-04-01"
    assert Reminder("just text").value() == "just text"


def test_dates_as_people_type_them() -> None:
    assert parse_when("today", TODAY) == TODAY
    assert parse_when("Tomorrow", TODAY) == days(1)
    assert parse_when("3d", TODAY) == days(3) == parse_when("+3d", TODAY) == parse_when("3", TODAY)
    assert parse_when("2w", TODAY) == days(14) == parse_when("2 weeks", TODAY)
    assert parse_when("1m", TODAY) == dt.date(2026, 4, 11)
    assert parse_when("1m", dt.date(2026, 1, 31)) == dt.date(2026, 2, 28)
    assert parse_when("friday", TODAY) == days(2) == parse_when("fri", TODAY)
    assert parse_when("wednesday", TODAY) == days(7)  # the next one, not today
    assert parse_when("2026-04-01", TODAY) == dt.date(2026, 4, 1)
    for bad in ("someday", "2026-02-30", "-3d", "3x", ""):
        with pytest.raises(ValidationError, match="is not a date"):
            parse_when(bad, TODAY)
    with pytest.raises(ValidationError, match="2026-03-10 is in the past"):
        parse_when("2026-03-10", TODAY)


def test_follow_up_wording_is_in_days_always() -> None:
    assert [due_text(n) for n in (12, 1, 0, -1, -3)] == [
        "12 days overdue",
        "1 day overdue",
        "due today",
        "due tomorrow",
        "due in 3 days",
    ]
    assert [cadence_text(n) for n in (1, 14, 21, 120, 0, "x")] == [
        "1 day",
        "14 days",
        "21 days",
        "120 days",
        "",
        "",
    ]
    assert when_text(days(3), TODAY) == "2026-03-14 (in 3 days)"
    assert when_text(TODAY, TODAY) == "2026-03-11 (today)"


# -- the domain -----------------------------------------------------------------------------------


def test_a_dated_reminder_is_the_next_follow_up_until_it_is_done(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada", "cadence_days": 30, "last_contacted": "2026-01-01"})
    grace = net.add("contacts", {"name": "Grace", "reminder": "bring the book back"})
    assert [(i.contact.label, i.reason, i.days_overdue) for i in net.due()] == [
        ("Ada", "cadence", 39)
    ]
    record, before = net.remind(ada.id, "3d", "ask about the notes")
    assert before is None and record.values["reminder"] == "2026-03-14 ask about the notes"
    assert "reminder" in record.private
    assert net.due() == []  # the reminder is her next follow-up, in 3 days
    (item,) = net.due(within_days=3)
    assert (item.reason, item.due, item.reminder) == (
        "reminder",
        days(3),
        Reminder("ask about the notes", days(3)),
    )
    # an old text reminder is kept, shown, and never due
    assert net.follow_up(net.get("contacts", grace.id)) is None
    record, before = net.remind(grace.id, "today", "  call  ")
    assert before == Reminder("bring the book back") and record.values["reminder"] == (
        "2026-03-11 call"
    )
    assert [i.contact.label for i in net.due()] == ["Grace"]
    # done: the cadence applies again
    record, done = net.reminder_done(ada.id)
    assert done.text == "ask about the notes" and "reminder" not in record.values
    assert [i.contact.label for i in net.due()] == ["Ada", "Grace"]
    with pytest.raises(ValidationError, match="Ada has no reminder"):
        net.reminder_done(ada.id)
    with pytest.raises(ValidationError, match="in the past"):
        net.remind(ada.id, dt.date(2026, 3, 1), "late")


def test_logging_a_catch_up_completes_a_reminder_that_was_due(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada"})
    net.remind(ada.id, "today", "call")
    net.log_interaction(ada.id, "call", "called", "yesterday")  # before its day: still due
    assert net.get("contacts", ada.id).values["reminder"] == "2026-03-11 call"
    net.log_interaction(ada.id, "call", "called", "today")
    assert "reminder" not in net.get("contacts", ada.id).values
    net.remind(ada.id, "2w", "congratulate")  # a later reminder with text waits for its day
    net.log_interaction(ada.id, "coffee", "chat")
    assert net.get("contacts", ada.id).values["reminder"] == "2026-03-25 congratulate"
    net.reminder_done(ada.id)
    net.snooze(ada.id, "1w")  # a snoozed follow-up is done by the next catch-up
    net.log_interaction(ada.id, "coffee", "chat")
    assert "reminder" not in net.get("contacts", ada.id).values


def test_snoozing_moves_the_follow_up_never_earlier(net: Network) -> None:
    ada = net.add("contacts", {"name": "Ada", "cadence_days": 30, "last_contacted": "2026-01-01"})
    record, changed = net.snooze(ada.id, "7d")
    assert changed and record.values["reminder"] == "2026-03-18"
    assert net.due() == [] and [i.due for i in net.due(within_days=7)] == [days(7)]
    net.remind(ada.id, "2d", "ask about the notes")
    record, changed = net.snooze(ada.id, days(9))  # the text stays
    assert changed and record.values["reminder"] == "2026-03-20 ask about the notes"
    record, changed = net.snooze(ada.id, "3d")  # already later: nothing changes
    assert not changed and record.values["reminder"] == "2026-03-20 ask about the notes"
    linus = net.add("contacts", {"name": "Linus", "cadence_days": 90})  # due in 90 days
    assert net.snooze(linus.id, "1w") == (net.get("contacts", linus.id), False)
    with pytest.raises(ValidationError, match="later day than today"):
        net.snooze(ada.id, "today")


def test_reminders_stay_on_this_device(tmp_path: Path) -> None:
    alice = Network.create(tmp_path / "alice", "Alice")
    bob = Network.create(tmp_path / "bob", "Bob")
    join(alice, bob)
    ada = alice.add("contacts", {"name": "Ada", "cadence_days": 30})
    copy_docs(alice, bob)
    seen = provenance.mark_seen(bob.profile)

    def shared_docs() -> dict[str, str]:
        return {
            d: v
            for d, v in alice.repo.storage.manifest().items()
            if d.startswith("s:") and not d.startswith(f"s:{layout.PRIVATE}:")
        }

    shared = shared_docs()
    assert shared
    alice.remind(ada.id, "3d", "ask about the notes")
    alice.snooze(ada.id, "2w")
    # the circle's documents did not change: colleagues get nothing, not even a stamp
    assert shared_docs() == shared
    copy_docs(alice, bob)
    assert "reminder" not in bob.get("contacts", ada.id).values
    assert provenance.whats_new(bob, seen) == []


# -- the command line -----------------------------------------------------------------------------


class Run:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home, self.capsys, self.err = home, capsys, ""

    def __call__(self, *args: str, code: int = 0) -> str:
        status = main(["--home", str(self.home), *args])
        captured = self.capsys.readouterr()
        assert status == code, (status, captured.out, captured.err)
        self.err = captured.err
        return captured.out

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))


@pytest.fixture
def run(net: Network, capsys: pytest.CaptureFixture[str]) -> Run:
    net.add("contacts", {"name": "Ada Lovelace", "cadence_days": 30, "last_contacted": "-40d"})
    net.add("contacts", {"name": "Grace Hopper"})
    net.add("contacts", {"name": "Linus Torvalds", "reminder": "send the patch"})
    return Run(net.profile.home, capsys)


def test_remind_and_due_on_the_command_line(run: Run) -> None:
    out = run("remind", "grace", "3d", "ask", "about", "COBOL")
    assert out.startswith("Reminder for Grace Hopper (") and out.rstrip().endswith(
        "on 2026-03-14 (in 3 days): ask about COBOL"
    )
    found = run.json("remind", "Ada Lovelace", "friday", "call")
    assert found["reminder"] == {"date": "2026-03-13", "text": "call"}
    assert found["replaced"] is None
    assert "(it replaces: 2026-03-13 call)" in run("remind", "ada", "2026-03-12", "call her")
    listed = run.json("remind")
    assert [(r["name"], r["date"], r["text"]) for r in listed] == [
        ("Ada Lovelace", "2026-03-12", "call her"),
        ("Grace Hopper", "2026-03-14", "ask about COBOL"),
        ("Linus Torvalds", None, "send the patch"),
    ]
    due = run.json("due", "--within", "3")
    assert [(d["name"], d["reason"], d["days_overdue"], d["reminder_text"]) for d in due] == [
        ("Ada Lovelace", "reminder", -1, "call her"),
        ("Grace Hopper", "reminder", -3, "ask about COBOL"),
    ]
    assert due[0]["reminder_date"] == due[0]["due"] == "2026-03-12"
    lines = run("due", "--within", "3").splitlines()
    assert "due tomorrow" in lines[0] and "reminder: call her" in lines[0]
    assert "due in 3 days" in lines[1]
    assert "Reminder done for Ada Lovelace" in run("remind", "ada", "--done")
    (ada,) = run.json("due")
    assert (ada["name"], ada["reason"], ada["days_overdue"]) == ("Ada Lovelace", "cadence", 10)
    assert "10 days overdue" in run("due")
    # a catch-up before the reminder's day leaves it; one on or after its day completes it
    assert "reminder done" not in run("log", "grace", "--summary", "COBOL talk")
    run("remind", "grace", "today", "ask about COBOL")
    assert "reminder done: 2026-03-11 ask about COBOL" in run("log", "grace", "--summary", "ok")


def test_snooze_on_the_command_line(run: Run) -> None:
    out = run("due", "snooze", "ada")
    assert "Snoozed Ada Lovelace (" in out and "next follow-up 2026-03-18 (in 7 days)" in out
    assert run.json("due") == []
    snoozed = run.json("due", "snooze", "ada", "2w")
    assert snoozed["changed"] and snoozed["due"] == "2026-03-25"
    again = run.json("due", "snooze", "ada", "3d")
    assert not again["changed"] and again["due"] == "2026-03-25"
    assert "nothing changed" in run("due", "snooze", "ada", "3d")
    assert "Logged" in run("log", "ada", "--summary", "caught up")
    assert run.json("remind")[0]["name"] == "Linus Torvalds"  # the snooze was done by the talk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("remind", "ada", "someday", "x"), "'someday' is not a date"),
        (("remind", "ada", "2026-03-01", "x"), "2026-03-01 is in the past"),
        (("remind", "nobody-here", "3d", "x"), "no contact with the id or name 'nobody-here'"),
        (("remind", "ada"), "give a date"),
        (("remind", "grace", "--done"), "Grace Hopper has no reminder"),
        (("remind", "--done"), "--done needs the contact"),
        (("remind", "ada", "3d", "x" * 600), "too long"),
        (("due", "snooze", "ada", "yesterday"), "is not a date"),
        (("due", "snooze", "ada", "today"), "later day than today"),
        (("due", "snooze", "abcdef"), "no contact with the id or name 'abcdef'"),
        (("due", "--within", "-1"), "--within must be 0 or more days"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    run: Run, args: tuple[str, ...], message: str
) -> None:
    before = run.json("contact", "list")
    run(*args, code=2)
    assert run.err.count("\n") == 1 and run.err.startswith("plntui: error: ")
    assert message in run.err, run.err
    assert run.json("contact", "list") == before


def test_a_snooze_never_erases_an_undated_reminder(run: Run) -> None:
    """Linus's reminder has no date: a snooze would make it a dated one, which the next
    catch-up completes (erases). It is refused, and the reminder stays."""
    run("due", "snooze", "linus", "3d", code=2)
    assert "has no date" in run.err and "send the patch" in run.err
    listed = run.json("remind")
    assert ("Linus Torvalds", None, "send the patch") in [
        (r["name"], r["date"], r["text"]) for r in listed
    ]


def test_json_before_snooze_and_next_weekday_and_an_empty_filter(run: Run) -> None:
    snoozed = json.loads(run("due", "--json", "snooze", "ada", "9d"))
    assert snoozed["name"] == "Ada Lovelace"
    out = run("remind", "grace", "next", "monday", "call", "her")
    assert out.rstrip().endswith("on 2026-03-16 (in 5 days): call her")
    listed = run("contact", "list", "-")  # a lone "-": nothing to filter by, the whole list
    assert all(name in listed for name in ("Ada Lovelace", "Grace Hopper", "Linus Torvalds"))
