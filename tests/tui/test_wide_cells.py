"""The contacts table lines up a name and an organisation written in wide characters: columns
are measured in terminal cells (``plntui.cells``), not characters."""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len

from plntui.network import Network
from plntui.tui.app import PlntuiApp
from plntui.tui.widgets.record_table import RecordTable


def line_text(table: RecordTable, y: int) -> str:
    return "".join(segment.text for segment in table.render_line(y))


async def test_wide_characters_keep_the_columns_in_line(sample: Network, home: Path) -> None:
    with sample.lock:
        sample.add(
            "contacts", {"name": "Kenji Sato 佐藤健二", "org": "東京大学", "topics": ["cobol"]}
        )
    app = PlntuiApp(home, watch_interval=0.1)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RecordTable)
        lines = [line_text(table, y) for y in range(1, 6)]
        kenji = next(line for line in lines if "Kenji" in line)
        ada = next(line for line in lines if "Ada Lovelace" in line)
        assert cell_len(kenji[: kenji.index("東京大学")]) == cell_len(
            ada[: ada.index("Analytical")]
        )
        assert cell_len(kenji) == cell_len(ada) == cell_len(line_text(table, 0))
