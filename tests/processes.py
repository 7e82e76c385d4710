"""Provides ``cli``: ``plntui`` as a real process, the way the process tests start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Final

PLNTUI: Final = [sys.executable, "-m", "plntui"]


def cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``plntui --home HOME ARGS`` (no stdin, 60 s at most); with ``check``, it must succeed."""
    result = subprocess.run(
        [*PLNTUI, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result
