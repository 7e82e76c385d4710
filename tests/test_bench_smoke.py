"""The benchmarks stay runnable and measure something: a quick run of each prints its table,
exits 0, and writes figures that are present, positive and plausible."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run(script: str, *args: str, timeout: float = 240) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def positive(figures: dict[str, Any], *keys: str, below: float = math.inf) -> None:
    """Each figure is a number, above zero and below ``below``."""
    for key in keys:
        value = figures.get(key)
        assert isinstance(value, int | float), f"{key} is missing: {value!r}"
        assert 0 < value < below, f"{key} = {value!r}"


@pytest.mark.slow
def test_core_benchmark_measures_commands(tmp_path: Path) -> None:
    out = tmp_path / "core.json"
    stdout = run("core.py", "--quick", "--out", str(out))
    assert "plntui contact edit --role (process, median)" in stdout
    assert "figure" in stdout and "target" in stdout and "measured" in stdout  # targets table
    figures = json.loads(out.read_text())["results"]["1000"]
    positive(
        figures,
        "build_total",
        "startup",
        "contact_edit",
        "note_add",
        "note_edit",
        "search_warm",
        "search_cold",
        "who",
        "contact_list",
        "open_and_list",
        "edit_median",
        "repo_write_median",
        "export_md",
        "notes_import",
        "contacts_import",
        below=120,  # seconds: 1,000 contacts
    )
    assert figures["startup"] < figures["contact_edit"]  # a write is more than a start
    assert figures["edit_median"] < figures["contact_edit"]  # in-process is cheaper
    positive(figures, "disk_repo", "disk_index", "disk_total", "documents")
    assert figures["documents"] > 256  # a circle, its shards, the notes, the private side
    if figures.get("write_rss") is not None:  # GNU time measures the processes' memory
        positive(figures, "write_rss", "peak_rss_read", below=4 * 1024 * 1024)  # KiB
        assert figures["write_rss"] > 8 * 1024  # an interpreter with plntui is over 8 MiB


@pytest.mark.slow
def test_sync_benchmark_measures_a_new_peer_and_convergence(tmp_path: Path) -> None:
    out = tmp_path / "sync.json"
    stdout = run("sync.py", "--quick", "--relay", "--out", str(out))
    assert "new peer, end to end: plntui sync --once (median)" in stdout
    assert "through the relay: new peer, end to end (median)" in stdout
    assert "target" in stdout and "before" in stdout
    payload = json.loads(out.read_text())
    figures = payload["results"]
    positive(
        figures,
        "receive_time",
        "receive_first",
        "first_search",
        "edit_median",
        "proc_star_time",
        "proc_chain_time",
        "star_time",
        "chain_time",
        below=120,
    )
    positive(figures, "documents", "stored_bytes", "stored_zlib", "one_snapshot", "receive_bytes")
    # Bob received the documents: at least what they weigh compressed, not wildly more
    assert 0.5 < figures["receive_ratio_stored"] < 3
    assert figures["receive_ratio"] > 0
    assert payload["details"]["receive"][0]["documents"] == figures["documents"]
    # through the relay too: the same documents, timed, compared with the direct run
    assert payload["details"]["relay_receive"][0]["documents"] == figures["documents"]
    assert payload["details"]["relay_receive"][0]["relay"] is True
    positive(figures, "relay_receive_time", "relay_receive_ratio", "relay_edit_median", below=120)
    positive(figures, "rss_peer", "alice_rss", below=4 * 1024 * 1024)
    if figures.get("receive_rss") is not None:
        positive(figures, "receive_rss", below=4 * 1024 * 1024)


@pytest.mark.slow
def test_app_benchmark_measures_starts_stalls_and_a_peer(tmp_path: Path) -> None:
    out = tmp_path / "tui.json"
    stdout = run(
        "tui.py",
        "--contacts",
        "300",
        "--notes",
        "60",
        "--runs",
        "1",
        "--quick",
        "--json",
        str(out),
    )
    assert "longest UI stall: typing into a note" in stdout
    assert "app RSS, one peer connected and synced" in stdout
    figures = json.loads(out.read_text())
    assert all(s["first_row"] > 0 for s in figures["starts"])
    assert figures["keystrokes"] and all(k["handler"] > 0 for k in figures["keystrokes"])
    stalls = figures["stalls"]
    assert stalls["keys"] > 20 and stalls["note_saves"] and stalls["contact_saves"]
    assert all(0 < s < 10 for s in stalls["note_saves"] + stalls["contact_saves"])
    assert 0 < stalls["note_stall"] < 10 and 0 < stalls["contact_stall"] < 10
    peer = figures["peer"]
    assert peer["documents"] > 0 and peer["edits"] > 0
    assert 10 * 1024 < peer["rss_synced_kib"] <= peer["hwm_kib"] < 4 * 1024 * 1024


@pytest.mark.slow
def test_storage_benchmark_measures_both_adapters(tmp_path: Path) -> None:
    out = tmp_path / "storage.json"
    stdout = run("storage.py", "--quick", "--out", str(out))
    assert "single-document commit with fsync (median)" in stdout
    payload = json.loads(out.read_text())
    documents = payload["documents"]
    sqlite, files = payload["results"]["SQLite"], payload["results"]["files"]
    for figures in (sqlite, files):
        positive(
            figures,
            "create_batch",
            "create_each",
            "commit_median",
            "batch_commit",
            "read_median",
            "changed_since",
            "bytes",
            below=120 * 2**20,
        )
    assert sqlite["files"] <= 3  # the database, its WAL and shared memory
    assert files["files"] == 2 * documents  # a snapshot and a log per document
    assert sqlite["changed_found"] == files["changed_found"] > 0


@pytest.mark.slow
def test_history_benchmark_lists_restores_and_measures_the_held_check(tmp_path: Path) -> None:
    out = tmp_path / "history.json"
    stdout = run(
        "history.py",
        "--versions", "30", "--runs", "1", "--contacts", "700",
        "--profiles", str(tmp_path / "profiles"), "--out", str(out),
    )  # fmt: skip
    assert "plntui history note ID (30 versions)" in stdout and "held check on" in stdout
    figures = json.loads(out.read_text())["results"]
    positive(figures, "history_seconds", "restore_seconds", below=60)
    positive(figures, "new_on_median", "new_off_median", "edit_on_median", "edit_off_median")
    assert figures["versions"] == 30


@pytest.mark.slow
def test_floor_benchmark_measures_each_part_of_a_new_peers_receipt(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    stdout = run("floor.py", "--quick", "--out", str(out))
    assert "of which Document.load alone" in stdout
    assert "cores: the least time after the first frame" in stdout
    payload = json.loads(out.read_text())
    parts = payload["parts"]
    positive(
        parts,
        "alice_read_inflate",
        "alice_compress",
        "bob_decompress",
        "bob_checks",
        "bob_load",
        "bob_deflate",
        "bob_receive",
        below=60,  # seconds: 1,000 contacts
    )
    assert parts["documents"] > 200 and parts["notes"] == 200  # N/5 notes, each a document
    assert parts["bob_load"] < parts["bob_checks"]  # a check loads, then reads every record
    assert parts["bob_store_index"] > 0  # storing and indexing is work beside the checks
    assert payload["cpu_floor"] < payload["cpu_all"]
