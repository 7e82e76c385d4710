"""Provides a real Magic Wormhole transit relay on 127.0.0.1 for the tests.

``TransitRelay`` runs ``twistd transitrelay`` (the ``magic-wormhole-transit-relay`` package of
the test extra) from this virtualenv as a child process, listening on 127.0.0.1 only; ``start``
waits until it accepts connections (polling, no fixed sleep) and ``stop`` ends it. A relay can
be stopped and started again on the same port (a relay that goes down and comes back).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sync.relay import RelayAddress

TWISTD = Path(sys.executable).with_name("twistd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TransitRelay:
    """One transit relay process on 127.0.0.1 (see the module docstring)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> RelayAddress:
        return RelayAddress("127.0.0.1", self.port)

    def start(self, timeout: float = 20.0) -> TransitRelay:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "relay.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(TWISTD),
                "--nodaemon",
                "--pidfile=",
                f"--logfile={self.folder / 'twistd.log'}",
                "transitrelay",
                f"--port=tcp:{self.port}:interface=127.0.0.1",
            ],
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the transit relay exited with {self.process.returncode}: "
                    + (self.folder / "relay.log").read_text(errors="replace")[-2000:]
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the transit relay did not listen within {timeout:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
