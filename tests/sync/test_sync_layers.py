"""The sync layer loads no cryptography until needed, and its test helpers need no application.

That ``sync`` imports nothing of ``plntui``, Textual or Rich, deferred imports included, is an
import-linter contract in ``pyproject.toml`` (``tests/test_import_contracts.py`` runs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(out.stdout.splitlines()[-1])}


def test_the_session_does_not_load_cryptography() -> None:
    roots = loaded_after(
        "import sync\nfrom sync import SyncSession, FrameDecoder, parse_fingerprint"
    )
    assert "cryptography" not in roots
    assert "automerge" in roots


def test_the_sync_test_helpers_do_not_depend_on_the_application() -> None:
    """The sync layer is tested against an in-memory host, never through ``plntui``."""
    roots = loaded_after("import sys\nsys.path.insert(0, 'tests/sync')\nimport sync_helpers")
    assert "sync_helpers" in roots
    assert not roots & {"plntui", "textual", "rich", "zeroconf"}
