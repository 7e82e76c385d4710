"""Tables line up in terminal cells, not characters: a CJK name, an emoji and a combining accent
take the width they show with (``plntui.cells``, the CLI's tables, ``who``)."""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len as rich_cell_len

from plntui.cells import cell_len, fit
from tests.processes import cli


def test_cell_widths_agree_with_rich() -> None:
    for text in (
        "Kenji Sato 佐藤健二",
        "東京大学",
        "René",
        "Rene\u0301",
        "🎉 party",
        "ｆｕｌｌ",
        "abc",
    ):
        assert cell_len(text) == rich_cell_len(text), text


def test_fit_pads_and_cuts_in_cells() -> None:
    assert fit("佐藤", 6) == "佐藤  "
    assert cell_len(fit("Kenji Sato 佐藤健二", 12)) == 12
    assert fit("Kenji Sato 佐藤健二", 12).endswith("…")
    assert fit("René", 6) == "René  "
    assert fit("Rene\u0301", 6) == "Rene\u0301  "  # a combining accent takes no cell
    assert fit("abc", 0) == ""


def columns_at(line: str, *values: str) -> list[int]:
    """The cell offset of each value in ``line``."""
    return [cell_len(line[: line.index(v)]) for v in values]


def test_contact_list_and_who_align_wide_names(tmp_path: Path) -> None:
    home = tmp_path / "p"
    cli(home, "init", "--name", "Me")
    cli(
        home,
        "contact",
        "add",
        "--name",
        "Kenji Sato 佐藤健二",
        "--org",
        "東京大学",
        "--topic",
        "cobol",
    )
    cli(home, "contact", "add", "--name", "Ada Lovelace", "--org", "Engines", "--topic", "cobol")
    lines = cli(home, "contact", "list").stdout.splitlines()
    kenji = next(line for line in lines if "Kenji" in line)
    ada = next(line for line in lines if "Ada" in line)
    assert columns_at(kenji, "東京大学", "cobol") == columns_at(ada, "Engines", "cobol")
    for line in cli(home, "who", "cobol").stdout.splitlines():
        if "Kenji" in line or "Ada" in line:  # "  ID  NAME (28 cells)  WHY"
            assert after_cells(line, 2 + 12 + 2 + 28).startswith("  ")
            assert not after_cells(line, 2 + 12 + 2 + 28 + 2).startswith(" ")


def after_cells(line: str, cells: int) -> str:
    """What follows the first ``cells`` terminal cells of ``line``."""
    taken = 0
    for n, char in enumerate(line):
        if taken >= cells:
            return line[n:]
        taken += cell_len(char)
    return ""
