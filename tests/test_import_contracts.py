"""The import-linter contracts of ``pyproject.toml`` hold, and they see deferred imports.

``.ci/run`` runs ``lint-imports`` before the tests; this test runs it too, so the README's one
test command covers the contracts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` of this environment (installed with the test extra), run in ``cwd``."""
    program = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert program is not None, "lint-imports is missing: pip install -e '.[test]'"
    return subprocess.run(
        [program, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},  # one line per contract
    )


def test_every_contract_is_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts['contracts'])} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "deferred", "contract"),
    [
        ("plntui/crdt.py", "import textual", "The core is headless"),
        ("plntui/cli/notes.py", "from ..tui.widgets import record_table", "The command line"),
        ("sync/session.py", "import plntui.model", "sync knows nothing of plntui"),
    ],
)
def test_a_deferred_import_breaks_a_contract(
    tmp_path: Path, module: str, deferred: str, contract: str
) -> None:
    """An import inside a function, which an import at run time would never see, is caught."""
    for package in ("plntui", "sync"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as source:
        source.write(f"\n\ndef _deferred() -> None:\n    {deferred}\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), result.stdout
    dotted = module.removesuffix(".py").replace("/", ".")
    assert f"{dotted} -> " in result.stdout
