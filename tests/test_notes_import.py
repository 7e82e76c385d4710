"""Tests for plntui.interop.notes_import: Markdown folders (Obsidian, Joplin, plntui's own
export), single Markdown files and plntui's notes JSON, in-process and through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plntui.errors import ImportFormatError
from plntui.interop import contacts_to_json, export_notes_markdown, notes_import, notes_to_json
from plntui.interop.notes_export import yaml_string
from plntui.interop.notes_import import (
    MAX_NOTE_BYTES,
    NoteDraft,
    NotesFound,
    is_notes_source,
    parse_markdown_note,
    read_notes,
    split_front_matter,
)
from plntui.model import shared_view
from plntui.network import Network
from tests.processes import cli

MTIME = 1_760_000_000  # 2025-10-09T08:53:20Z
MTIME_STAMP = "2025-10-09T08:53:20Z"

WELCOME = """---
title: Welcome to the vault
tags:
  - onboarding
  - Team Notes
created: 2024-01-05T10:00:00+01:00
aliases: [Start]
---
Say hello to [[Ada Lovelace]] and read [[Project plan|the plan]].

Tagged inline: #mentoring and #career/growth, not #42 nor `#code`.
"""
WELCOME_BODY = WELCOME.split("---\n", 2)[2]

PLAN = """---
tags: [planning, "Q3"]
contacts: ["[[Ada Lovelace]]"]
---

# Project plan

```python
# not a heading
x = "#notatag"
```
Milestones for #q3.
"""
PLAN_BODY = PLAN.split("---\n\n", 1)[1]

RETRO = "What went well.\nWhat did not.\n"
SECRET = b"secret words that must never be echoed"


def write(path: Path, data: str | bytes, mtime: int | None = MTIME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_bytes(data.encode("utf-8"))
    else:
        path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def make_vault(root: Path, bad_files: bool = True) -> Path:
    """An Obsidian-style vault: front matter, wiki links, nested folders, app folders, and
    (with ``bad_files``) a binary, a non-UTF-8 and an oversized file."""
    write(root / "Welcome.md", WELCOME)
    write(root / "projects" / "Project plan.md", PLAN)
    write(root / "projects" / "2024" / "Retro.md", RETRO)
    write(root / "Daily.markdown", b"# Daily log\r\nline two\r\n")
    write(root / ".obsidian" / "workspace.md", "# not a note")
    write(root / ".obsidian" / "app.json", '[{"title": "not a note"}]')
    write(root / ".trash" / "old.md", "# deleted note")
    write(root / ".git" / "HEAD.md", "# git")
    write(root / ".hidden.md", "# hidden file")
    write(root / "attachments" / "diagram.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    if bad_files:
        write(root / "broken.md", b"\x89PNG\r\n\x1a\n\x00\x00" + SECRET)
        write(root / "latin1.md", b"caf\xe9 cr\xe8me " + SECRET)
        write(root / "huge.md", b"a" * (MAX_NOTE_BYTES + 1))
    return root


def by_source(found: NotesFound) -> dict[str, dict[str, Any]]:
    return {draft.source: draft.values for draft in found.drafts}


def single_line(message: str) -> bool:
    return "\n" not in message and bool(message.strip())


# ---------------------------------------------------------------------------------------------
# an Obsidian vault


def test_vault_reads_notes_folders_and_front_matter(tmp_path: Path) -> None:
    vault = make_vault(tmp_path / "vault", bad_files=False)
    assert is_notes_source(vault)
    found = read_notes(vault)
    assert found.rejected == []
    drafts = by_source(found)
    assert sorted(drafts) == [
        "vault/Daily.markdown",
        "vault/Welcome.md",
        "vault/projects/2024/Retro.md",
        "vault/projects/Project plan.md",
    ]
    assert all(isinstance(d, NoteDraft) for d in found.drafts)

    welcome = drafts["vault/Welcome.md"]
    assert welcome == {
        "title": "Welcome to the vault",
        "body": WELCOME_BODY,
        "tags": ["onboarding", "team notes", "mentoring", "career/growth"],
        "created": "2024-01-05T09:00:00Z",
        "updated": MTIME_STAMP,
    }
    assert "[[Ada Lovelace]]" in welcome["body"] and "[[Project plan|the plan]]" in welcome["body"]

    plan = drafts["vault/projects/Project plan.md"]
    assert plan["title"] == "Project plan"  # the first heading, not the comment in the code
    assert plan["body"] == PLAN_BODY
    assert plan["tags"] == ["planning", "q3", "projects"]  # no "notatag": it is inside code
    assert plan["contact_refs"] == ["Ada Lovelace"]
    assert plan["created"] == plan["updated"] == MTIME_STAMP

    retro = drafts["vault/projects/2024/Retro.md"]
    assert retro == {
        "title": "Retro",
        "body": RETRO,
        "tags": ["projects", "2024"],
        "created": MTIME_STAMP,
        "updated": MTIME_STAMP,
    }
    daily = drafts["vault/Daily.markdown"]
    assert daily["title"] == "Daily log" and daily["body"] == "# Daily log\nline two\n"


def test_vault_rejects_unreadable_binary_and_huge_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = make_vault(tmp_path / "vault")
    locked = write(vault / "notes" / "locked.md", SECRET)
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        # Running as root: mode 000 does not stop root from reading, so make opening this one
        # file fail the way it fails for everyone else, and check the same outcome.
        real_open = Path.open

        def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == locked:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refusing_open)
    found = read_notes(vault)
    rejected = dict(found.rejected)
    assert rejected == {
        "vault/broken.md": "a binary file, not Markdown text",
        "vault/huge.md": "larger than 4 MB",
        "vault/latin1.md": "not UTF-8 text; save it as UTF-8 first",
        "vault/notes/locked.md": "cannot read it (permission denied)",
    }
    for reason in rejected.values():
        assert single_line(reason) and "secret" not in reason
    assert len(found.drafts) == 4  # the good notes still import
    assert not any("secret" in str(d.values) for d in found.drafts)


def test_single_markdown_file_and_plain_errors(tmp_path: Path) -> None:
    note = write(tmp_path / "Reading list.md", "- Designing Data-Intensive Applications\n")
    assert is_notes_source(note)
    found = read_notes(note)
    assert found.rejected == []
    assert found.drafts == [
        NoteDraft(
            {
                "title": "Reading list",
                "body": "- Designing Data-Intensive Applications\n",
                "created": MTIME_STAMP,
                "updated": MTIME_STAMP,
            },
            "Reading list.md",
        )
    ]
    binary = write(tmp_path / "photo.md", b"\xff\xd8\xff\x00" + SECRET)
    empty_folder = tmp_path / "empty"
    (empty_folder / ".obsidian").mkdir(parents=True)
    write(empty_folder / "readme.txt", "not markdown")
    cases = {
        tmp_path / "missing": "no such file or folder",
        tmp_path / "missing.md": "no such file or folder",
        binary: "a binary file",
        empty_folder: "holds no Markdown notes",
    }
    for path, expected in cases.items():
        with pytest.raises(ImportFormatError) as caught:
            read_notes(path)
        assert expected in caught.value.message, path
        assert single_line(caught.value.message) and "secret" not in caught.value.message
    assert is_notes_source(tmp_path / "missing.md")  # so read_notes reports it
    assert not is_notes_source(tmp_path / "missing")


def test_content_decides_what_a_json_file_is(tmp_path: Path) -> None:
    notes_file = write(tmp_path / "backup.txt", '[{"title": "Kept", "body": "x"}]')
    wrapped = write(tmp_path / "wrapped.json", '{"notes": [{"title": "Wrapped"}]}')
    one = write(tmp_path / "one.json", '{"id": "abcd1234", "title": "One note"}')
    contacts = write(tmp_path / "contacts.json", '[{"name": "Ada", "title": "CTO"}]')
    csv = write(tmp_path / "people.csv", "Name,E-mail\nAda,ada@example.com\n")
    broken = write(tmp_path / "broken.json", '[{"title": "no end"')
    assert is_notes_source(notes_file) and is_notes_source(wrapped) and is_notes_source(one)
    assert not is_notes_source(contacts)
    assert not is_notes_source(csv)
    assert not is_notes_source(broken)
    assert not is_notes_source(write(tmp_path / "empty.json", "[]"))
    assert [d.values["title"] for d in read_notes(notes_file).drafts] == ["Kept"]
    assert [d.values["title"] for d in read_notes(wrapped).drafts] == ["Wrapped"]
    assert read_notes(one).drafts[0].values == {"title": "One note", "id": "abcd1234"}
    with pytest.raises(ImportFormatError, match="not a notes file"):
        read_notes(contacts)
    with pytest.raises(ImportFormatError, match=r"not valid JSON \(line 1"):
        read_notes(broken)


# ---------------------------------------------------------------------------------------------
# the front matter reader


@pytest.mark.parametrize(
    ("line", "tags"),
    [
        ("tags: [rust, 'Machine Learning', \"c++\"]", ["rust", "machine learning", "c++"]),
        ("tags:\n  - rust\n  - Machine Learning", ["rust", "machine learning"]),
        ("tags:\n- rust\n- '#python'", ["rust", "python"]),
        ("tags: rust, machine learning", ["rust", "machine learning"]),
        ("tags: rust python #comment", ["rust", "python"]),
        ("tag: solo", ["solo"]),
        ("keywords: [pandoc, style]", ["pandoc", "style"]),
        ("tags: []", []),
        ("tags:", []),
    ],
)
def test_front_matter_tag_forms(line: str, tags: list[str]) -> None:
    values = parse_markdown_note(f"---\n{line}\n---\nbody", "n", [], MTIME_STAMP)
    assert values.get("tags", []) == tags  # only non-empty values are present


def test_front_matter_scalars_and_edge_cases() -> None:
    text = (
        "\ufeff---\r\n"
        "Title: 'It''s \"quoted\"'   # a comment\r\n"
        "KIND: Review\r\n"
        "date: 2024-02-03\r\n"
        "modified: 2024-02-04 08:30:00Z\r\n"
        "url: https://example.org/a#b\r\n"
        "summary: |\r\n"
        "  line one\r\n"
        "  line two\r\n"
        "folded: >-\r\n"
        "  one\r\n"
        "  two\r\n"
        "author:\r\n"
        "  name: Someone\r\n"
        "garbage line without colon\r\n"
        "---\r\n"
        "Body line\r\n"
        "---\r\n"
        "after a rule\r\n"
    )
    meta, body = split_front_matter(text.lstrip("\ufeff").replace("\r\n", "\n"))
    assert meta["title"] == 'It\'s "quoted"'
    assert meta["url"] == "https://example.org/a#b"
    assert meta["summary"] == "line one\nline two\n"
    assert meta["folded"] == "one two"
    assert meta["author"] == {"name": "Someone"}
    assert body == "Body line\n---\nafter a rule\n"
    values = parse_markdown_note(text, "stem", [], MTIME_STAMP)
    assert values["title"] == 'It\'s "quoted"'
    assert values["kind"] == "review"
    assert values["created"] == "2024-02-03T00:00:00Z"
    assert values["updated"] == "2024-02-04T08:30:00Z"
    assert values["body"] == "Body line\n---\nafter a rule\n"


def test_front_matter_fallbacks_and_limits() -> None:
    unclosed = "---\ntitle: never closed\n\nJust a rule above."
    values = parse_markdown_note(unclosed, "loose", [], MTIME_STAMP)
    assert values["title"] == "loose" and values["body"] == unclosed
    odd = "---\nkind: meeting\ncreated: last tuesday\ntitle: ~\n---\n## Sub\n# Main ##\n"
    values = parse_markdown_note(odd, "file", [], MTIME_STAMP)
    assert "kind" not in values  # not a plntui kind
    assert values["created"] == MTIME_STAMP  # not a date: the file's time
    assert values["title"] == "Main"
    long = parse_markdown_note("---\ntitle: " + "x" * 400 + "\n---\n", "f", [], "")
    assert len(long["title"]) == 300 and long["title"].endswith("…")
    many = " ".join(f"#t{n}" for n in range(80)) + " #" + "y" * 81
    tags = parse_markdown_note(many, "f", ["Folder"], "")["tags"]
    assert len(tags) == 50 and tags[0] == "folder" and "y" * 81 not in tags
    deep = parse_markdown_note("---\ntags: " + "[" * 5000 + "\n---\nbody", "f", [], "")
    assert deep["body"] == "body" and "tags" not in deep


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_plntui_quoted_strings_read_back_exactly(text: str) -> None:
    meta, _ = split_front_matter(
        f"---\ntitle: {yaml_string(text)}\ntags: [{yaml_string(text)}]\n---\n"
    )
    assert meta["title"] == text
    assert meta["tags"] == [text]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("-:#[]{}\"'|> \n\tab\\"), max_size=120))
def test_front_matter_reader_never_fails(text: str) -> None:
    values = parse_markdown_note("---\n" + text + "\n---\nbody", "n", [], MTIME_STAMP)
    assert values["title"] and isinstance(values.get("tags", []), list)
    assert all(value not in ("", [], None) for value in values.values())


# ---------------------------------------------------------------------------------------------
# a Joplin "Markdown + Front Matter" export

JOPLIN_NOTE = """---
title: >-
  Career conversation with a mentor about the next role, written down the same
  evening
updated: 2023-03-01 12:00:00Z
created: 2023-02-28 09:30:00Z
source: https://example.org/clip
author: Sam O'Neil
latitude: 52.52000000
longitude: 13.40500000
altitude: 0.0000
completed?: no
due: 2023-03-10 09:00:00Z
tags:
  - career
  - mentoring
---

# Career conversation

Keep a brag document. ![](../_resources/photo.png)
"""


def test_joplin_export(tmp_path: Path) -> None:
    export = tmp_path / "joplin"
    write(export / "Work" / "Career conversation.md", JOPLIN_NOTE)
    write(
        export / "Work" / "Sub notebook" / "Todo.md",
        "---\ntitle: 'Todo: ship'\n---\n\n- [ ] ship\n",
    )
    write(export / "_resources" / "photo.png", b"\x89PNG\r\n\x1a\n\x00")
    found = read_notes(export)
    assert found.rejected == []
    drafts = by_source(found)
    career = drafts["joplin/Work/Career conversation.md"]
    assert career == {
        "title": "Career conversation with a mentor about the next role, written down the "
        "same evening",
        "body": "# Career conversation\n\nKeep a brag document. ![](../_resources/photo.png)\n",
        "tags": ["career", "mentoring", "work"],
        "created": "2023-02-28T09:30:00Z",
        "updated": "2023-03-01T12:00:00Z",
    }
    todo = drafts["joplin/Work/Sub notebook/Todo.md"]
    assert todo["title"] == "Todo: ship" and todo["body"] == "- [ ] ship\n"
    assert todo["tags"] == ["work", "sub notebook"]


# ---------------------------------------------------------------------------------------------
# plntui's own exports, through the domain


def sample_network(home: Path) -> tuple[Network, dict[str, str]]:
    net = Network.create(home, "Alice")
    ada = net.add("contacts", {"name": "Ada Lovelace"})
    bob = net.add("contacts", {"name": 'Bob "the builder" O\'Neil'})
    rust = net.add(
        "notes",
        {
            "title": 'Rust: "ownership" \\ borrowing — ü',
            "body": "Line one\n\n---\n\n- item with #hashtag\n\tindented\n",
            "tags": ["rust", "memory safety"],
            "kind": "resource",
            "contacts": [ada.id, bob.id],
        },
    )
    plain = net.add("notes", {"title": "Plain", "body": "No newline at the end"})
    secret = net.add("notes", {"title": "Secret", "body": "private words"}, private=True)
    hidden = net.add(
        "notes", {"title": "Half private", "body": "hidden body"}, private_fields=["body"]
    )
    ids = {
        "ada": ada.id,
        "bob": bob.id,
        "rust": rust.id,
        "plain": plain.id,
        "secret": secret.id,
        "hidden": hidden.id,
    }
    return net, ids


def note_state(net: Network) -> dict[str, dict[str, Any]]:
    return {note.id: note.to_json() for note in net.notes()}


def test_plntui_markdown_export_round_trips(tmp_path: Path) -> None:
    net, ids = sample_network(tmp_path / "p")
    notes, _ = shared_view(net.notes(), include_private=False)  # as cmd_export does
    contacts = {c.id: c for c in net.contacts()}
    out = tmp_path / "export"
    written = export_notes_markdown(notes, contacts, out)
    assert (out / "index.md") in written

    found = read_notes(out)
    assert found.rejected == []
    drafts = {d.values["id"]: d.values for d in found.drafts}  # index.md is no note
    assert sorted(drafts) == sorted([ids["rust"], ids["plain"], ids["hidden"]])
    rust = net.get("notes", ids["rust"])
    assert drafts[ids["rust"]]["title"] == rust["title"]
    assert drafts[ids["rust"]]["body"] == rust["body"]
    assert drafts[ids["rust"]]["tags"] == ["rust", "memory safety"]  # no inline #hashtag
    assert drafts[ids["rust"]]["kind"] == "resource"
    assert drafts[ids["rust"]]["contact_refs"] == [ids["ada"], ids["bob"]]
    assert drafts[ids["rust"]]["created"] == rust["created"]
    # The exporter ends every body with a newline; the file's text is kept exactly.
    assert drafts[ids["plain"]]["body"] == "No newline at the end\n"

    before = note_state(net)
    summary = net.import_notes(found.drafts)
    assert (len(summary.added), len(summary.merged), summary.rejected) == (0, 3, [])
    after = note_state(net)
    assert after[ids["rust"]] == before[ids["rust"]]  # unchanged: nothing written again
    assert after[ids["hidden"]] == before[ids["hidden"]]
    assert after[ids["plain"]]["body"] == "No newline at the end\n"
    assert len(after) == len(before)

    rust_file = next(p for p in written if p.name.startswith("rust-"))
    text = rust_file.read_text(encoding="utf-8")
    rust_file.write_text(
        text.replace('tags: ["rust", "memory safety"]', 'tags: ["rust", "ownership"]')
        + "Added later.\n",
        encoding="utf-8",
    )
    single = read_notes(rust_file)
    summary = net.import_notes(single.drafts)
    assert len(summary.merged) == 1 and not summary.added
    edited = net.get("notes", ids["rust"])
    assert edited["tags"] == ["rust", "ownership"]
    assert edited["body"] == rust["body"] + "Added later.\n"
    assert edited["contacts"] == [ids["ada"], ids["bob"]]
    assert len(net.notes()) == 4

    with pytest.raises(ImportFormatError, match="table of contents"):
        read_notes(out / "index.md")

    other = Network.create(tmp_path / "q", "Bob")
    summary = other.import_notes(read_notes(out).drafts)
    assert len(summary.added) == 3 and not summary.rejected
    copied = {n["title"]: n for n in other.notes()}
    assert copied[rust["title"]]["body"] == edited["body"]
    assert copied[rust["title"]]["tags"] == ["rust", "ownership"]
    assert copied[rust["title"]]["kind"] == "resource"
    assert copied[rust["title"]]["created"] == rust["created"]
    assert copied[rust["title"]]["contacts"] == []  # those contact ids are not in this profile


def test_plntui_json_round_trips_and_keeps_private_notes_private(tmp_path: Path) -> None:
    net, ids = sample_network(tmp_path / "p")
    notes_file = write(tmp_path / "notes.export", notes_to_json(net.notes()), mtime=None)
    contacts_file = write(tmp_path / "contacts.json", contacts_to_json(net.contacts()), mtime=None)
    assert is_notes_source(notes_file)
    assert not is_notes_source(contacts_file)  # contacts JSON is for the contacts importer
    found = read_notes(notes_file)
    assert found.rejected == []
    drafts = {d.values["id"]: d for d in found.drafts}
    assert drafts[ids["rust"]].source.startswith("notes.export: note ")
    rust = drafts[ids["rust"]].values
    assert rust["contact_refs"] == [ids["ada"], ids["bob"]]
    assert rust["tags"] == ["rust", "memory safety"] and rust["kind"] == "resource"
    assert "private" not in rust
    assert drafts[ids["secret"]].values["private"] is True
    assert drafts[ids["hidden"]].values["private"] is True  # its body was private

    before = note_state(net)
    summary = net.import_notes(found.drafts)
    assert len(summary.merged) == 4 and not summary.added and not summary.rejected
    assert note_state(net) == before

    other = Network.create(tmp_path / "q", "Bob")
    summary = other.import_notes(found.drafts)
    assert len(summary.added) == 4
    imported = {n.label: n for n in other.notes()}
    assert imported["Secret"].private_item and imported["Half private"].private_item
    assert not imported[net.get("notes", ids["rust"]).label].private_item
    assert imported["Plain"]["body"] == "No newline at the end"  # JSON keeps bodies exactly

    bad = write(
        tmp_path / "bad.json",
        json.dumps([{"title": "Fine", "tags": ["ok", 3]}, 7, {"title": " "}, {"body": "x"}]),
    )
    found = read_notes(bad)
    assert [d.values for d in found.drafts] == [{"title": "Fine", "tags": ["ok"]}]
    assert found.rejected == [
        ("bad.json: note 2", "not a JSON object"),
        ("bad.json: note 3", "no title"),
        ("bad.json: note 4", "no title"),
    ]


def test_reader_has_no_heavy_dependencies() -> None:
    assert notes_import.__doc__ and "Provides" in notes_import.__doc__
    source = Path(notes_import.__file__).read_text(encoding="utf-8")
    assert "import yaml" not in source and "textual" not in source and "automerge" not in source


# ---------------------------------------------------------------------------------------------
# the real CLI, as a process


def profile_files(home: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def test_cli_imports_a_vault_and_lists_rejected_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    vault = make_vault(tmp_path / "vault")
    cli(home, "init", "--name", "Alice")
    ada = cli(home, "contact", "add", "--name", "Ada Lovelace").stdout.strip()
    ada_id = ada.rsplit("(", 1)[1].rstrip(")")

    result = cli(home, "import", str(vault))
    lines = result.stdout.splitlines()
    assert "4 notes added, 0 updated, 3 rejected" in result.stdout
    assert "  rejected vault/broken.md: a binary file, not Markdown text" in lines
    assert "  rejected vault/latin1.md: not UTF-8 text; save it as UTF-8 first" in lines
    assert "  rejected vault/huge.md: larger than 4 MB" in lines
    assert "secret" not in result.stdout + result.stderr

    notes = {n["title"]: n for n in json.loads(cli(home, "note", "list", "--json").stdout)}
    assert sorted(notes) == ["Daily log", "Project plan", "Retro", "Welcome to the vault"]
    assert notes["Project plan"]["contacts"] == [ada_id]  # [[Ada Lovelace]] in contacts:
    assert notes["Project plan"]["tags"] == ["planning", "q3", "projects"]
    assert notes["Welcome to the vault"]["created"] == "2024-01-05T09:00:00Z"
    assert notes["Welcome to the vault"]["body"] == WELCOME_BODY
    assert not any(n["private"] for n in notes.values())


def test_cli_refuses_an_unknown_circle_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    vault = make_vault(tmp_path / "vault", bad_files=False)
    cli(home, "init", "--name", "Alice")
    cli(home, "note", "list")
    before = profile_files(home)
    result = cli(home, "import", str(vault), "--circle", "Nowhere", check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Nowhere" in result.stderr
    assert "Traceback" not in result.stderr
    assert profile_files(home) == before
    assert json.loads(cli(home, "note", "list", "--json").stdout) == []


def test_cli_reports_a_bad_notes_path_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli(home, "init", "--name", "Alice")
    missing = cli(home, "import", str(tmp_path / "nope.md"), check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no such file or folder" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli(home, "import", str(empty), check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "holds no Markdown notes" in result.stderr
