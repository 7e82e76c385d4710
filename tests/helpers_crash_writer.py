"""Child process of tests/test_crash.py: adds contacts in a loop, acknowledging each one.

Usage: ``python helpers_crash_writer.py HOME PREFIX COUNT MODE`` where MODE is ``api`` (one
Network kept open, like the app) or ``cli`` (``plntui contact add`` through ``cli.main``, a fresh
open per call). ``ACK <id>`` is printed and flushed only after the add returned, so every
acknowledged id must survive a kill -9. Environment knobs (tests only):

``PLNTUI_TEST_COMPACT_RECORDS``   write a fresh snapshot of a document after this many change
                                  records (default: the repository's)
``PLNTUI_TEST_PAUSE_BEFORE_COMMIT``  once a write transaction holds a fresh snapshot and is not
                                  committed yet, print ``UNCOMMITTED`` and sleep this long
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time


def main() -> int:
    home, prefix, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    from plntui import repo, storage

    if os.environ.get("PLNTUI_TEST_COMPACT_RECORDS"):
        repo.COMPACT_CHUNKS = int(os.environ["PLNTUI_TEST_COMPACT_RECORDS"])
    pause = float(os.environ.get("PLNTUI_TEST_PAUSE_BEFORE_COMMIT") or 0)
    if pause:
        real_put = storage.Writer.put

        def slow_put(self: storage.Writer, doc_id: str, *args: object) -> int:
            version = real_put(self, doc_id, *args)  # type: ignore[arg-type]
            if version > 1:  # a fresh snapshot of a document that had one
                print("UNCOMMITTED", doc_id, flush=True)
                time.sleep(pause)
            return version

        storage.Writer.put = slow_put  # type: ignore[method-assign]

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
