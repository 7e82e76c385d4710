"""The layering contract: the domain, store and sync layers never import Textual."""

from __future__ import annotations

import subprocess
import sys

HEADLESS = (
    "plntui.model",
    "plntui.crdt",
    "plntui.store",
    "plntui.profile",
    "plntui.network",
    "plntui.index",
    "plntui.dedupe",
    "plntui.catalog",
    "plntui.interop",
    "plntui.demo",
    "sync",
)


def test_headless_modules_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        f"for name in {HEADLESS!r}:\n"
        "    __import__(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_search_path_stays_light() -> None:
    """``plntui search`` must not pay for Textual or Rich at start-up."""
    code = (
        "import sys\n"
        "import plntui.cli, plntui.network, plntui.index\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
