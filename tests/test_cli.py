"""Tests of the ``plntui`` command line, in-process through ``main()`` and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plntui.cli import main


class Run:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys

    def __call__(self, *args: str, code: int = 0) -> str:
        status = main(["--home", str(self.home), *args])
        captured = self.capsys.readouterr()
        assert status == code, (status, captured.out, captured.err)
        self.err = captured.err
        return captured.out

    def json(self, *args: str) -> object:
        return json.loads(self(*args))


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    runner = Run(home, capsys)
    runner("init", "--name", "Alice")
    return runner


def added_id(out: str) -> str:
    return out.strip().rsplit("(", 1)[1].rstrip(")")


def test_missing_profile_says_how_to_create_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(home), "contact", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plntui init --name" in err
    assert not home.exists()


def test_init_twice_is_refused(run: Run) -> None:
    run("init", "--name", "Bob", code=2)
    assert "already exists" in run.err


def test_contact_lifecycle(run: Run) -> None:
    ada = added_id(
        run(
            "contact",
            "add",
            "--name",
            "Ada Lovelace",
            "--email",
            "ada@example.com",
            "--org",
            "Engines",
            "--topic",
            "Rust",
            "--topic",
            "Machine Learning",
            "--relationship",
            "mentor",
            "--met",
            "PyCon sprint",
        )
    )
    listed = run.json("contact", "list", "--json")
    assert listed == [json.loads(run("contact", "show", ada, "--json"))]
    obj = listed[0]
    assert obj["id"] == ada and obj["name"] == "Ada Lovelace" and obj["org"] == "Engines"
    assert obj["emails"] == ["ada@example.com"] and obj["topics"] == ["rust", "machine learning"]
    run(
        "contact",
        "edit",
        ada[:5],
        "--add-topic",
        "compilers",
        "--remove-topic",
        "RUST",
        "--role",
        "Principal engineer",
    )
    shown = run("contact", "show", ada)
    assert "Principal engineer" in shown and "machine learning, compilers" in shown
    assert "Added by Alice" in shown
    run("contact", "rm", ada)
    assert run.json("contact", "list", "--json") == []


def test_bad_input_exits_2_and_changes_nothing(run: Run, home: Path) -> None:
    ada = added_id(run("contact", "add", "--name", "Ada"))
    before = {p.name: p.read_bytes() for p in home.iterdir() if p.suffix in (".log", ".snapshot")}
    cases = [
        ("contact", "add", "--name", "Bob", "--email", "bob@"),
        ("contact", "add", "--email", "x@example.com"),
        ("contact", "add", "--name", "Bob", "--relationship", "boss"),
        ("contact", "add", "--name", "Bob", "--last-contacted", "2026-02-30"),
        ("contact", "add", "--name", "Bob", "--introduced-by", "ffffeeee0000"),
        ("contact", "edit", ada, "--rating", "11"),
        ("contact", "edit", ada, "--name", ""),
        ("contact", "edit", ada),
        ("contact", "edit", "zz"),
        ("contact", "show", "0000000000aa"),
        ("note", "add", "--title", "x", "--body", "a", "--body-file", "f"),
        ("note", "add", "--title", "x", "--contact", "nothere0"),
        ("log", ada, "--kind", "seance", "--summary", "x"),
        ("log", ada, "--summary", "x", "--date", "soon"),
        ("due", "--within", "-3"),
        ("contact", "frobnicate"),
        ("export", "notes", "--format", "pdf", "--out", "x"),
    ]
    for args in cases:
        status = main(["--home", str(home), *args])
        err = run.capsys.readouterr().err
        assert status == 2, args
        assert err.startswith("plntui: error: ") and err.count("\n") == 1, (args, err)
    after = {p.name: p.read_bytes() for p in home.iterdir() if p.suffix in (".log", ".snapshot")}
    assert after == before


def test_notes(run: Run, tmp_path: Path) -> None:
    ada = added_id(run("contact", "add", "--name", "Ada"))
    body = tmp_path / "body.md"
    body.write_text("# Heading\n\nSome *text*.\n", encoding="utf-8")
    note = added_id(
        run(
            "note",
            "add",
            "--title",
            "Reading",
            "--body-file",
            str(body),
            "--tag",
            "CRDT",
            "--contact",
            ada,
            "--kind",
            "resource",
        )
    )
    obj = run.json("note", "show", note, "--json")
    assert obj["title"] == "Reading" and obj["tags"] == ["crdt"] and obj["contacts"] == [ada]
    assert obj["body"] == "# Heading\n\nSome *text*.\n" and obj["kind"] == "resource"
    listed = run.json("note", "list", "--json")
    assert [n["id"] for n in listed] == [note] and listed[0]["tags"] == ["crdt"]
    assert "Ada" in run("note", "show", note)
    run("note", "rm", note)
    assert run.json("note", "list", "--json") == []


def test_note_edit_opens_the_editor(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = added_id(run("note", "add", "--title", "T", "--body", "one two"))
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\np = sys.argv[1]\nt = open(p).read()\n"
        "open(p, 'w').write(t.replace('one', 'one and a half'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    run("note", "edit", note)
    assert run.json("note", "show", note, "--json")["body"] == "one and a half two"
    monkeypatch.setenv("EDITOR", "false")
    run("note", "edit", note, code=2)
    assert "nothing was changed" in run.err


def test_private_note_and_fields(run: Run) -> None:
    note = added_id(run("note", "add", "--title", "Secret", "--private"))
    assert run.json("note", "show", note, "--json")["private"] is True
    ada = added_id(
        run(
            "contact",
            "add",
            "--name",
            "Ada",
            "--phone",
            "+1 555 0100",
            "--private-field",
            "phones",
            "--remark",
            "met at the bar",
        )
    )
    obj = run.json("contact", "show", ada, "--json")
    assert obj["private_fields"] == ["phones", "remark"]
    assert "(private)" in run("contact", "show", ada)
    run("contact", "edit", ada, "--share-field", "phones")
    assert run.json("contact", "show", ada, "--json")["private_fields"] == ["remark"]


def test_search_who_and_due_json(run: Run) -> None:
    ada = added_id(
        run(
            "contact",
            "add",
            "--name",
            "Ada",
            "--topic",
            "rust",
            "--cadence",
            "7",
            "--last-contacted=-30d",
        )
    )
    added_id(run("contact", "add", "--name", "Bob", "--topic", "python"))
    note = added_id(run("note", "add", "--title", "Rust notes", "--tag", "rust"))
    found = run.json("search", "rust", "--json")
    assert set(found) == {"contacts", "notes"}
    assert [c["id"] for c in found["notes"]] == [note]
    who = run.json("who", "Rust", "--json")
    assert [c["id"] for c in who["contacts"]] == [ada]
    assert who["contacts"][0]["emails"] == [] and who["contacts"][0]["score"] >= 100
    assert [n["id"] for n in who["notes"]] == [note]
    assert "Nobody" in run("who", "cobol")
    due = run.json("due", "--json")
    assert [d["id"] for d in due] == [ada] and due[0]["days_overdue"] == 23
    run("log", ada, "--kind", "call", "--summary", "caught up")
    assert run.json("due", "--json") == []


def test_dupes_and_merge(run: Run) -> None:
    a = added_id(run("contact", "add", "--name", "Ada", "--email", "ada@example.com"))
    b = added_id(
        run("contact", "add", "--name", "Ada L", "--email", "ADA@example.com", "--org", "Engines")
    )
    assert "same e-mail" in run.err
    pairs = run.json("contact", "dupes", "--json")
    assert {pairs[0]["first"]["id"], pairs[0]["second"]["id"]} == {a, b}
    run("contact", "merge", a, b)
    merged = run.json("contact", "show", b, "--json")
    assert merged["id"] == a and merged["org"] == "Engines"
    assert merged["sources"][0]["merged_id"] == b
    assert run.json("contact", "dupes", "--json") == []


def test_demo_needs_no_setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "contact", "list", "--json"]) == 0
    contacts = json.loads(capsys.readouterr().out)
    assert len(contacts) >= 20 and all(c["name"] for c in contacts)
    assert main(["--demo", "who", "python"]) == 0
    assert "Mei Chen" in capsys.readouterr().out


def test_real_process_with_env_home(tmp_path: Path) -> None:
    env = {**os.environ, "PLNTUI_HOME": str(tmp_path / "envhome")}
    cmd = [sys.executable, "-m", "plntui"]

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cmd, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    assert call("init", "--name", "Zoë").returncode == 0
    assert call("contact", "add", "--name", "[bold red]x[/]\x1b[2J").returncode == 0
    listed = call("contact", "list")
    assert listed.returncode == 0 and "[bold red]x[/]" in listed.stdout
    assert "\x1b" not in listed.stdout
    bad = call("contact", "add", "--name", "Eve", "--email", "nope")
    assert bad.returncode == 2 and bad.stderr.startswith("plntui: error:")
    assert call("--version").stdout.startswith("plntui ")


VCARDS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nEMAIL;TYPE=INTERNET:ada@example.com\r\n"
    "ORG:Analytical Engines\r\nCATEGORIES:maths,poetry\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Grace Hopper\r\nEMAIL:grace@navy.example\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:3.0\r\nORG:Nobody Inc\r\nEND:VCARD\r\n"
)


def test_import_summary_and_duplicates_merged(run: Run, tmp_path: Path) -> None:
    existing = added_id(run("contact", "add", "--name", "Ada L", "--email", "ADA@example.com"))
    cards = tmp_path / "team.vcf"
    cards.write_text(VCARDS, encoding="utf-8")
    out = run("import", str(cards))
    assert "1 added, 1 merged into existing contacts, 1 rejected" in out
    assert "no name or e-mail" in out
    ada = run.json("contact", "show", existing, "--json")
    assert ada["org"] == "Analytical Engines" and ada["topics"] == ["maths", "poetry"]
    assert len(run.json("contact", "list", "--json")) == 2


def test_import_of_a_bad_file_exits_2_and_changes_nothing(
    run: Run, home: Path, tmp_path: Path
) -> None:
    from plntui.storage import Storage

    def stored() -> tuple[int, dict[str, str]]:
        storage = Storage(home / "repo.sqlite3")
        try:
            return storage.generation(), storage.manifest()
        finally:
            storage.close()

    before = stored()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    run("import", str(junk), code=2)
    assert run.err.startswith("plntui: error:")
    run("import", str(tmp_path / "missing.vcf"), code=2)
    assert stored() == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (  # laid out as /etc/shadow (made-up hashes): its "mail:" line once passed for a header
            "shadow",
            "root:$6$Zq1nWm0a$k2bW1m4xQe0cLr8oVhJd7aQ9n3T5sY1uZ6wE2pR8tG0iK4l:19700:0:99999:7:::\n"
            + "".join(f"{u}:*:19700:0:99999:7:::\n" for u in ("daemon", "mail", "news", "www"))
            + "alice:$6$Ab12Cd34$Xy0.Zz9qWv8uTs7rQp6oNm5lKj4iHg3fEd2cBa1:19701:0:99999:7:::\n",
        ),
        ("pyproject.toml", '[project]\nname = "plntui"\ndependencies = ["rich"]\n'),
    ],
)
def test_import_refuses_a_file_that_is_no_contacts_in_one_line(
    run: Run, home: Path, tmp_path: Path, name: str, content: str
) -> None:
    from plntui.storage import Storage

    def stored() -> tuple[int, dict[str, str]]:
        storage = Storage(home / "repo.sqlite3")
        try:
            return storage.generation(), storage.manifest()
        finally:
            storage.close()

    before = stored()
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert run("import", str(path), code=2) == ""
    assert run.err == (
        f"plntui: error: {name} is not a vCard, a CSV with a header row (Name, Email, …), "
        "a LinkedIn export, plntui JSON or Markdown notes: nothing to import\n"
    )
    assert stored() == before
    assert run.json("contact", "list", "--json") == []


def test_exports_leave_private_data_out_unless_asked(run: Run, tmp_path: Path) -> None:
    ada = added_id(
        run(
            "contact",
            "add",
            "--name",
            "Ada",
            "--phone",
            "+1 555 0100",
            "--private-field",
            "phones",
            "--remark",
            "secret remark",
        )
    )
    run("note", "add", "--title", "Shared note", "--body", "# Hi\n\nText", "--contact", ada)
    run("note", "add", "--title", "Private note", "--private")
    out = tmp_path / "notes"
    message = run("export", "notes", "--format", "md", "--out", str(out))
    assert "left out private data of 1 item " in message
    files = sorted(p.name for p in out.iterdir())
    assert "index.md" in files and len(files) == 2
    html = tmp_path / "notes.html"
    run("export", "notes", "--format", "html", "--out", str(html))
    assert "Shared note" in html.read_text() and "Private note" not in html.read_text()
    vcf = tmp_path / "c.vcf"
    run("export", "contacts", "--format", "vcf", "--out", str(vcf))
    assert "555" not in vcf.read_text() and "secret" not in vcf.read_text()
    run("export", "contacts", "--format", "vcf", "--out", str(vcf), "--include-private")
    assert "555" in vcf.read_text() and "secret remark" in vcf.read_text()
    assert json.loads(run("export", "notes", "--format", "json", "--out", "-"))[0]["title"] == (
        "Shared note"
    )


def test_contacts_round_trip_through_every_format(
    run: Run, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    intro = added_id(run("contact", "add", "--name", "Intro Ducer"))
    run("contact", "add", "--name", "Secret Person", "--private")
    run(
        "contact",
        "add",
        "--name",
        "Zoë Ünicode, Jr.",
        "--email",
        "z@example.com",
        "--private-field",
        "phones",
        "--phone",
        "+44 20 7946 0000",
        "--org",
        "Acme; Widgets",
        "--role",
        "CTO",
        "--relationship",
        "mentor",
        "--topic",
        "rust",
        "--topic",
        "type systems",
        "--met",
        "Conference, 2024",
        "--met-where",
        "Lisbon",
        "--channel",
        "in person",
        "--introduced-by",
        intro,
        "--link",
        "https://example.com/z",
        "--last-contacted",
        "2026-01-02",
        "--cadence",
        "30",
        "--remark",
        "likes tea",
        "--rating",
        "5",
        "--reminder",
        "ask about the book",
    )
    original = {c["id"]: c for c in run.json("contact", "list", "--json")}
    for fmt in ("vcf", "csv", "json"):
        target = tmp_path / f"all.{fmt}"
        run("export", "contacts", "--format", fmt, "--out", str(target), "--include-private")
        other = Run(tmp_path / f"copy-{fmt}", capsys)
        other("init", "--name", "Bob")
        other("import", str(target))
        copied = {c["name"]: c for c in other.json("contact", "list", "--json")}
        names_here = {c["id"]: c["name"] for c in copied.values()}
        for contact in original.values():
            twin = copied[contact["name"]]
            for key, value in contact.items():
                if key in (
                    "id",
                    "added_by",
                    "changed_by",
                    "updated",
                    "introduced_by",
                    "circle",
                    "circle_id",
                ):
                    continue  # set by the importing profile
                assert twin[key] == value, (fmt, key)
            if contact["introduced_by"]:  # the introduction points at the imported introducer
                introducer = original[contact["introduced_by"]]["name"]
                assert names_here[twin["introduced_by"]] == introducer, fmt


def test_progress_bar_on_a_terminal_and_quiet_when_piped(tmp_path: Path) -> None:
    import pty

    home = tmp_path / "p"
    env = {**os.environ, "PLNTUI_HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "80"}
    cmd = [sys.executable, "-m", "plntui"]
    subprocess.run([*cmd, "init", "--name", "A"], env=env, check=True, capture_output=True)
    cards = tmp_path / "many.vcf"
    cards.write_text(
        "".join(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {i}\r\nEND:VCARD\r\n" for i in range(3000)
        ),
        encoding="utf-8",
    )
    piped = subprocess.run(
        [*cmd, "import", str(cards)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert piped.stderr == "" and "3000 added" in piped.stdout
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*cmd, "import", str(cards)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=120)
    os.close(master)
    assert proc.returncode == 0
    assert b"Importing" in seen and b"/3000" in seen  # Rich's bar with a done/total counter


def test_review_fixes_bad_editor_future_dates_private_name_demo_cleanup(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = added_id(run("note", "add", "--title", "T", "--body", "x"))
    assert run.json("note", "show", note, "--json")["kind"] == "note"
    monkeypatch.setenv("EDITOR", "no-such-editor-here")
    monkeypatch.delenv("VISUAL", raising=False)
    run("note", "edit", note, code=2)
    assert "cannot start the editor" in run.err
    ada = added_id(run("contact", "add", "--name", "Ada"))
    run("log", ada, "--summary", "x", "--date", "2099-01-01", code=2)
    assert "in the future" in run.err
    run("contact", "add", "--name", "X", "--private-field", "name", code=2)
    assert "cannot be private on its own" in run.err
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert main(["--demo", "contact", "list", "--json"]) == 0
    assert list((tmp_path / "tmp").iterdir()) == []  # the throwaway profile is gone


def test_making_shared_data_private_warns_about_history(run: Run) -> None:
    ada = added_id(run("contact", "add", "--name", "Ada", "--phone", "+1 555 0100"))
    run("contact", "edit", ada, "--private-field", "phones")
    assert "stays in the shared document's history" in run.err
    run("contact", "edit", ada, "--org", "X")
    assert run.err == ""


@pytest.mark.parametrize(
    "items",
    [[], [{"name": "Ada", "topics": ["maths", "line\nbreak"], "sources": [], "x": {}}], [1, "é"]],
)
def test_a_json_list_written_item_by_item_reads_as_one_dump(
    items: list[object], capsys: pytest.CaptureFixture[str]
) -> None:
    from plntui.cli.output import print_json, print_json_list

    print_json(items)
    whole = capsys.readouterr().out
    print_json_list(iter(items))
    assert capsys.readouterr().out == whole
    assert json.loads(whole) == items


def test_a_list_handed_out_for_printing_lets_each_item_go_once_given() -> None:
    import gc
    import weakref

    from plntui.cli.output import handed_out

    class Item:
        pass

    items = [Item() for _ in range(3)]
    refs = [weakref.ref(i) for i in items]
    seen = []
    for n, item in enumerate(handed_out(items)):
        seen.append(refs.index(weakref.ref(item)))
        del item
        gc.collect()
        assert [r() is None for r in refs] == [k < n for k in range(3)]  # the ones given out go
    assert seen == [0, 1, 2] and items == [None, None, None]
