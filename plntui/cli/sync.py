"""Provides ``plntui sync`` (sync with trusted colleagues) and ``plntui doctor`` (why one is not
seen)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import PlntuiError, ValidationError
from ..model import safe_text
from .output import out, print_json


def cmd_sync(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import time

    from sync.errors import SyncError

    from ..network import Network
    from ..peer_errors import offline_error
    from ..peersync import DEFAULT_PORT, SyncRunner

    net = Network.open(args.home)
    net.profile.claim_session("plntui sync")

    def log(line: str) -> None:
        out(f"{time.strftime('%H:%M:%S')} {safe_text(line)}")
        sys.stdout.flush()

    async def run() -> int:
        try:
            port = DEFAULT_PORT if args.port is None else args.port
            runner = SyncRunner(
                net,
                listen_host=args.listen,
                port=0 if args.once and args.port is None else port,
                discovery=not args.no_discovery,
                log=log,
                fallback_port=args.port is None,
            )
            await runner.start()
        except (SyncError, OSError) as err:
            raise PlntuiError(f"cannot start syncing: {err}") from None
        try:
            if args.once:
                if not args.no_discovery:
                    await asyncio.sleep(2.0)  # let the LAN announce itself
                summary = await runner.engine.sync_once(args.timeout)
                offline = 0
                for r in summary.results:
                    state = "in sync" if r.ok else f"{r.outcome}: {r.error or ''}"
                    if r.outcome == "failed" and offline_error(r.error or ""):
                        state, offline = f"offline: {r.error}", offline + 1
                    out(
                        f"{safe_text(r.name):20} {state}  ({r.changes_in} change(s) in, "
                        f"{r.changes_out} out)"
                    )
                counts = f"{len(summary.synced)} of {len(summary.results)} peer(s) in sync"
                out(counts + (f"; {offline} offline" if offline else ""))
                return 0 if summary.ok else 1
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            log("stopping")
            return 0
        finally:
            await runner.stop()

    try:
        with _events_printed_once():
            return asyncio.run(run())
    finally:
        net.profile.release_session()


@contextmanager
def _events_printed_once() -> Iterator[None]:
    """Each engine event printed once: by ``log`` above, with the time, on standard output.

    The engine also logs every event (``logging``: refusals as warnings). With no handler
    configured, Python's last-resort handler printed those warnings on standard error too, a
    second copy without the time. This handler takes the ``sync`` loggers' warnings instead and
    prints on standard error, as that handler did, only what is not an event (a damaged trust
    file, a failed save).
    """
    import logging

    from sync.engine import EVENT_RECORD

    handler = logging.StreamHandler()  # standard error, as the message alone
    handler.setLevel(logging.WARNING)
    handler.addFilter(lambda record: not hasattr(record, EVENT_RECORD))
    logger = logging.getLogger("sync")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def cmd_doctor(args: argparse.Namespace) -> int:
    """``plntui doctor``: the checks of ``plntui.doctor``, one line each, then advice."""
    import asyncio

    from sync.errors import SyncError

    from ..doctor import run_doctor
    from ..peersync import DEFAULT_PORT
    from ..profile import resolve_home

    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 < port < 65536 or not 0 < args.timeout <= 600:
        raise ValidationError("--port must be 1-65535 and --timeout 0-600 seconds")
    try:
        report = asyncio.run(
            run_doctor(resolve_home(args.home), listen=args.listen, port=port, timeout=args.timeout)
        )
    except SyncError as err:
        raise PlntuiError(str(err)) from None
    if args.json:
        print_json(
            {
                "name": report.name,
                "fingerprint": report.fingerprint_text,
                "ok": not report.failed,
                "checks": [f.as_dict() for f in report.findings],
            }
        )
    else:
        out(f"plntui doctor: {safe_text(report.name)} ({report.fingerprint_text})")
        for finding in report.findings:
            out(f"{finding.status:<5} {finding.topic:<10} {safe_text(finding.message)}")
            for line in finding.advice:
                out(f"{'':16} -> {safe_text(line)}")
    return 1 if report.failed else 0
