"""The recovery commands as a user runs them: ``history``, ``show --at``, ``restore``, ``trash``,
``held`` and ``conflicts``, their JSON shapes and their refusals (one line, exit 2, nothing
changed)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.processes import cli


def as_json(home: Path, *args: str) -> Any:
    return json.loads(cli(home, *args, "--json").stdout)


def digests(home: Path) -> dict[str, str]:
    db = sqlite3.connect(f"file:{home / 'repo.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return dict(db.execute("SELECT id, digest FROM docs"))
    finally:
        db.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "me"
    cli(home, "init", "--name", "Alice")
    return home


def refused(home: Path, *args: str) -> str:
    """Run a command that must fail: exit 2, one line on stderr, nothing stored changed."""
    before = digests(home)
    result = cli(home, *args, check=False)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert result.stderr.startswith("plntui: error: ") and result.stderr.count("\n") == 1
    assert digests(home) == before
    return result.stderr


def test_history_lists_versions_newest_first_and_restore_brings_one_back(home: Path) -> None:
    ada = cli(home, "contact", "add", "--name", "Ada", "--role", "Engineer").stdout
    ada_id = ada.rsplit("(", 1)[1].rstrip(")\n")
    cli(home, "contact", "edit", ada_id, "--role", "Staff engineer")
    versions = as_json(home, "history", "contact", ada_id)
    assert [set(v) >= {"version", "at", "by", "summary"} for v in versions] == [True, True]
    assert versions[0]["summary"] == "role: 'Engineer' → 'Staff engineer'"
    assert versions[1]["summary"] == "added" and versions[1]["by"] == "Alice"
    first = versions[1]["version"]
    shown = as_json(home, "show", "contact", ada_id, "--at", first)
    assert shown["role"] == "Engineer" and shown["version"] == first
    assert "Staff engineer" in cli(home, "history", "contact", ada_id).stdout
    cli(home, "restore", "contact", ada_id, first)
    assert as_json(home, "contact", "show", ada_id)["role"] == "Engineer"
    assert len(as_json(home, "history", "contact", ada_id)) == 3  # the restore is a version


def test_a_note_body_history_summarises_characters(home: Path) -> None:
    out = cli(home, "note", "add", "--title", "Plan", "--body", "alpha beta").stdout
    note = out.rsplit("(", 1)[1].rstrip(")\n")
    cli(home, "note", "edit", note, "--body", "alpha beta gamma")
    latest = as_json(home, "history", "note", note)[0]
    assert "body" in latest["summary"] and "+6" in latest["summary"]


def test_the_trash_lists_deleted_items_and_restores_them(home: Path) -> None:
    out = cli(home, "contact", "add", "--name", "Elif Demir", "--org", "Acme").stdout
    elif_id = out.rsplit("(", 1)[1].rstrip(")\n")
    cli(home, "contact", "rm", elif_id)
    trash = as_json(home, "trash")
    assert len(trash) == 1
    entry = trash[0]
    assert (entry["id"], entry["kind"], entry["name"], entry["deleted_by"]) == (
        elif_id,
        "contact",
        "Elif Demir",
        "Alice",
    )
    assert entry["deleted_at"]
    # history keeps the deleted contact's versions
    assert as_json(home, "history", "contact", elif_id)[0]["summary"] == "deleted"
    cli(home, "trash", "restore", elif_id[:6])
    assert as_json(home, "contact", "show", elif_id)["org"] == "Acme"
    assert as_json(home, "trash") == []


def test_recovery_refuses_bad_input_with_one_line_and_changes_nothing(
    home: Path, tmp_path: Path
) -> None:
    ada_id = cli(home, "contact", "add", "--name", "Ada").stdout.rsplit("(", 1)[1].rstrip(")\n")
    grace = cli(home, "contact", "add", "--name", "Grace").stdout.rsplit("(", 1)[1].rstrip(")\n")
    grace_version = as_json(home, "history", "contact", grace)[0]["version"]
    assert "no version" in refused(home, "restore", "contact", ada_id, "0123456789")
    assert "no version" in refused(home, "restore", "contact", ada_id, grace_version)
    assert "no version" in refused(home, "show", "contact", ada_id, "--at", grace_version)
    refused(home, "restore", "note", ada_id, grace_version)  # not a note
    refused(home, "history", "contact", "zzzz")
    assert "--count" in refused(home, "held", "threshold", "--count", "0")
    assert "--percent" in refused(home, "held", "threshold", "--percent", "101")
    refused(home, "held", "accept", "nope")
    refused(home, "held", "refuse", "nope")
    refused(home, "trash", "restore", "abcd")
    refused(home, "conflicts", "resolve", ada_id, "role", "--pick", "1")
    # a contact of a circle this device left can be read but not restored
    cli(home, "circle", "create", "Side")
    side = cli(home, "contact", "add", "--name", "Side person", "--circle", "Side").stdout
    side_id = side.rsplit("(", 1)[1].rstrip(")\n")
    cli(home, "contact", "edit", side_id, "--role", "Later")
    first = as_json(home, "history", "contact", side_id)[-1]["version"]
    cli(home, "circle", "leave", "Side")
    assert "no longer a member" in refused(home, "restore", "contact", side_id, first)


def test_held_and_conflicts_start_empty_and_say_so(home: Path) -> None:
    assert as_json(home, "held") == []
    assert as_json(home, "conflicts") == []
    assert "No mass deletion" in cli(home, "held").stdout
    assert "No conflicts" in cli(home, "conflicts").stdout
    shown = cli(home, "held", "threshold", "--count", "50", "--percent", "5").stdout
    assert "more than 50 items and more than 5 %" in shown
    assert "more than 50 items" in cli(home, "held", "threshold").stdout  # kept
