"""Child process of tests/test_crash.py: adds contacts in a loop, acknowledging each one.

Usage: ``python helpers_crash_writer.py HOME PREFIX COUNT MODE`` where MODE is ``api`` (one
Network kept open, like the app) or ``cli`` (``plntui contact add`` through ``cli.main``, a fresh
open per call). ``ACK <id>`` is printed and flushed only after the add returned, so every
acknowledged id must survive a kill -9. Environment knobs (tests only):

``PLNTUI_TEST_COMPACT_RECORDS``   compact after this many log records (default: the store's)
``PLNTUI_TEST_PAUSE_AFTER_SNAPSHOT``  after a compaction wrote its new snapshot and before it
                                  resets the log, print ``SNAPSHOT-WRITTEN`` and sleep this long
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from pathlib import Path


def main() -> int:
    home, prefix, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    from plntui import store

    if os.environ.get("PLNTUI_TEST_COMPACT_RECORDS"):
        store.COMPACT_RECORDS = int(os.environ["PLNTUI_TEST_COMPACT_RECORDS"])
    pause = float(os.environ.get("PLNTUI_TEST_PAUSE_AFTER_SNAPSHOT") or 0)
    if pause:
        real_atomic_write = store.atomic_write

        def slow_atomic_write(path: Path, data: bytes) -> None:
            real_atomic_write(path, data)
            if path.name.endswith(".snapshot"):
                print("SNAPSHOT-WRITTEN", path.name, flush=True)
                time.sleep(pause)

        store.atomic_write = slow_atomic_write  # type: ignore[assignment]

    if mode == "api":
        from plntui.network import Network

        net = Network.open(home)
        for i in range(count):
            record = net.add("contacts", {"name": f"{prefix} {i}", "topics": ["crash"]})
            print("ACK", record.id, flush=True)
    else:
        from plntui import cli

        for i in range(count):
            captured = io.StringIO()
            with contextlib.redirect_stdout(captured):
                status = cli.main(["--home", home, "contact", "add", "--name", f"{prefix} {i}"])
            if status != 0:
                print("FAILED", status, flush=True)
                return status
            found = re.search(r"\(([0-9a-f]{12})\)\s*$", captured.getvalue())
            assert found, captured.getvalue()
            print("ACK", found.group(1), flush=True)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
