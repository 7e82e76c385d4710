"""What a command loads when it runs: neither Textual nor Rich, nor other commands' code.

The layering itself (the core and ``sync`` never import Textual, ``sync`` nothing of ``plntui``)
is checked statically by the import-linter contracts in ``pyproject.toml``
(``tests/test_import_contracts.py``). Those see deferred imports too, so they cannot tell
whether an import is deferred: this test runs commands and looks at what was loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import cli

SHARED = {"plntui.cli.main", "plntui.cli.fields", "plntui.cli.output", "plntui.cli.common"}
"""The modules of the command line these commands share: the parser, output, opening the profile."""


def loaded_by(home: Path, *args: str) -> set[str]:
    """The modules loaded by ``plntui --home HOME ARGS`` run in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "from plntui.cli import main\n"
        f"status = main(['--home', {str(home)!r}, *{list(args)!r}])\n"
        "print(json.dumps([status, sorted(sys.modules)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    status, modules = json.loads(result.stdout.splitlines()[-1])
    assert status == 0, result.stderr
    return set(modules)


def test_search_and_a_write_stay_light(tmp_path: Path) -> None:
    """``plntui search`` and a single write pay for no Textual, no Rich, no other command."""
    home = tmp_path / "p"
    cli(home, "init", "--name", "A")
    for args, own in (
        (("contact", "add", "--name", "Ada Lovelace"), {"plntui.cli.contacts"}),
        (("search", "lovelace"), {"plntui.cli.search"}),
    ):
        modules = loaded_by(home, *args)
        assert not {m.split(".")[0] for m in modules} & {"textual", "rich"}, args
        commands = {m for m in modules if m.startswith("plntui.cli.")} - SHARED
        assert commands == own, args
