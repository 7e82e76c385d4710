"""Provides ``plntui pair``: pairing with a colleague by a short code, from the command line.

Without a code it opens an invite (``sync.pairing``), announces its nameplate on the LAN and
waits for the one attempt (also at the relay, when one is set: ``plntui relay``); with a code it
finds the device announcing that nameplate (or takes ``--address``), runs the exchange, and both
sides then sync once over mutual TLS. ``--relay`` joins through the relay at once; without it,
a code no device on the LAN announces is tried at the relay when one is set. It owns the profile
while it runs, like ``plntui sync``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import PlntuiError, ProfileLockedError, ValidationError
from ..model import safe_text
from .output import out

__all__ = ["run_pair"]


def run_pair(args: argparse.Namespace) -> int:
    """``plntui pair``: open an invite and wait; ``plntui pair CODE``: join one."""
    import asyncio
    import signal

    from sync.errors import SyncError
    from sync.pairing import PairingFailed, parse_code
    from sync.trust import parse_hostport

    from ..network import Network
    from ..peersync import DEFAULT_PORT, SyncRunner

    code = None
    try:
        if args.code is not None:
            code = parse_code(args.code)
        address = parse_hostport(args.address) if args.address else None
    except (SyncError, ValueError) as err:
        raise ValidationError(getattr(err, "message", str(err))) from None
    if address is not None and code is None:
        raise ValidationError("--address is for joining: plntui pair CODE --address HOST:PORT")
    relay_only = bool(getattr(args, "relay", False))
    if relay_only and address is not None:
        raise ValidationError("--relay and --address are two ways to reach the inviter: pick one")
    if code is None and args.no_discovery and not relay_only:
        raise ValidationError(
            "an invite needs LAN discovery so the colleague's device finds this one; drop "
            "--no-discovery (they can also join with --address HOST:PORT)"
        )
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise ValidationError("--timeout must be between 0 and 3600 seconds")
    if code is not None and address is None and args.no_discovery and not relay_only:
        raise ValidationError(
            "without LAN discovery, give the inviter's --address HOST:PORT, or meet at the "
            "relay with --relay"
        )
    net = Network.open(args.home)
    if relay_only and _relay(net) is None:
        raise ValidationError("no relay is set: plntui relay set tcp:HOST:PORT first")
    try:
        net.profile.claim_session("plntui pair")
    except ProfileLockedError as err:
        raise ProfileLockedError(
            f"{err.message}. In the app, pair from the Peers screen (6, then i to show a code "
            "or p to type one)"
        ) from None
    circle = None
    if getattr(args, "circle", None):
        circle = net.circle(args.circle).id
        if not net.circle(circle).member:
            raise ValidationError(f"you are not a member of circle {args.circle!r}", "circle")
    events: asyncio.Queue[Any] = asyncio.Queue()

    def log(line: str) -> None:
        pass  # pairing prints its own plain story below

    async def wait_in_sync(runner: SyncRunner, fp: bytes, seconds: float) -> bool:
        from sync.events import PeerSynced

        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(events.get(), left)
            except TimeoutError:
                break
            if isinstance(event, PeerSynced) and event.fingerprint == fp:
                return True
        return False

    def told(result_name: str, fp: bytes, number: str) -> None:
        from sync.fingerprint import format_fingerprint

        out(f"Paired with {safe_text(result_name)} ({format_fingerprint(fp)}).")
        out(f"Safety number: {number}")
        out("  (the same number shows on both devices; compare them if you want to be sure)")

    async def started(port: int) -> SyncRunner:
        runner = SyncRunner(
            net,
            listen_host=args.listen,
            port=port,
            discovery=not args.no_discovery,
            log=log,
            fallback_port=args.port is None,
            pair_circle=circle,
        )
        runner.listeners.append(events.put_nowait)
        try:
            await runner.start()
        except BaseException:
            await runner.stop()
            raise
        return runner

    async def run() -> int:
        loop = asyncio.get_running_loop()
        try:
            runner = await started(DEFAULT_PORT if args.port is None else args.port)
        except (SyncError, OSError) as err:
            raise PlntuiError(f"cannot start: {err}") from None
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            if code is None:
                return await invite(runner, stop)
            return await join(runner)
        finally:
            await runner.stop()

    async def invite(runner: SyncRunner, stop: asyncio.Event) -> int:
        from sync.events import PairingRefused, PairingSucceeded

        ttl = 600.0 if args.timeout is None else args.timeout
        opened = await runner.open_invite(ttl)
        minutes = f"{ttl / 60:g} minute(s)" if ttl >= 60 else f"{ttl:g} s"
        out(f"Pairing code: {opened.text}")
        out(f"On your colleague's device, run:  plntui pair {opened.text}")
        relay = runner.engine.relay
        at_relay = f" and at the relay {relay}" if relay is not None else ""
        out(
            f"The code works once, for {minutes}. Waiting on port {runner.engine.port}"
            f"{at_relay} (Ctrl-C to cancel)..."
        )
        sys.stdout.flush()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                getting = asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait(
                    {getting, stopping},
                    timeout=max(0.0, opened.seconds_left()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getting not in done:
                    getting.cancel()
                    if stopping in done:
                        await runner.close_invite()
                        raise PlntuiError("pairing cancelled; the code no longer works")
                    raise PlntuiError(
                        "the invite expired with no colleague joining; run "
                        "plntui pair again for a new code"
                    )
                event = getting.result()
                if isinstance(event, PairingSucceeded):
                    break
                if isinstance(event, PairingRefused) and event.spent:
                    raise PlntuiError(f"pairing failed: {safe_text(event.reason)}")
        finally:
            stopping.cancel()
        await runner.close_invite()
        return await joined(runner, event)

    async def join_relayed(runner: SyncRunner) -> int:
        assert code is not None
        relay = runner.engine.relay
        wait = 60.0 if args.timeout is None else args.timeout
        out(f"Meeting the inviting device at the relay {relay}...")
        sys.stdout.flush()
        try:
            result = await runner.pair_relayed(code.text, wait)
        except PairingFailed as err:
            raise PlntuiError(f"pairing failed: {safe_text(err.message)}") from None
        return await joined(runner, result)

    async def joined(runner: SyncRunner, result: Any) -> int:
        """Paired (a ``PairingResult``, or the inviter's ``PairingSucceeded``): say so, and
        wait for the first sync."""
        told(result.name, result.fingerprint, result.safety_number)
        if await wait_in_sync(runner, result.fingerprint, 30.0):
            out(f"In sync with {safe_text(result.name)}.")
        else:
            out("Not in sync yet; plntui sync (or the app) finishes it.")
        return 0

    async def join(runner: SyncRunner) -> int:
        assert code is not None
        if relay_only:
            return await join_relayed(runner)
        if address is not None:
            host, port = address
        else:
            wait = 10.0 if args.timeout is None else args.timeout
            found = await runner.find_inviter(code.nameplate, wait)
            if not found and runner.engine.relay is not None:
                out(
                    f"No device on the LAN announces invite {code.nameplate}; trying the relay "
                    f"{runner.engine.relay}."
                )
                return await join_relayed(runner)
            if not found:
                raise PlntuiError(
                    f"no device on the LAN announces an invite {code.nameplate} (the first two "
                    "digits of the code); check the code and that both devices are on the same "
                    "network, or give its address: plntui pair CODE --address HOST:PORT"
                )
            if len(found) > 1:
                where = ", ".join(
                    f"{safe_text(p.name)} at {p.addresses[0]}:{p.port}" for p in found
                )
                raise PlntuiError(
                    f"several devices announce invite {code.nameplate} ({where}); pick the "
                    "right one with --address HOST:PORT"
                )
            host, port = found[0].endpoints()[0]
        expect = None if address is not None else found[0].fingerprint
        try:
            result = await runner.pair(
                code.text, host, port, remember=address is not None, expect=expect
            )
        except PairingFailed as err:
            raise PlntuiError(f"pairing failed: {safe_text(err.message)}") from None
        return await joined(runner, result)

    try:
        return asyncio.run(run())
    finally:
        net.profile.release_session()


def _relay(net: Any) -> Any:
    """The relay this profile uses (``plntui relay``), or ``None``."""
    from ..relay_config import effective_relay

    return effective_relay(net).relay
