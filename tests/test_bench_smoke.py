"""The benchmarks stay runnable: a quick run of each prints its table and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.slow
def test_core_benchmark_quick_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "core.py"), "--quick", "--out", str(tmp_path / "core.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "plntui search" in result.stdout and "target" in result.stdout


@pytest.mark.slow
def test_app_benchmark_small_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "tui.py"),
            "--contacts",
            "300",
            "--notes",
            "60",
            "--runs",
            "1",
            "--json",
            str(tmp_path / "tui.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "filter" in result.stdout and (tmp_path / "tui.json").exists()


@pytest.mark.slow
def test_sync_benchmark_quick_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "sync.py"), "--quick", "--out", str(tmp_path / "s.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "new peer" in result.stdout and (tmp_path / "s.json").exists()
