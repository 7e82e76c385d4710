"""Provides a private network namespace for everything that starts zeroconf: a stand-in office LAN.

mDNS is multicast: a test that announced or browsed on a real interface would talk to the whole
office. So every process that starts zeroconf runs inside a fresh network namespace whose only
interface is a loopback with multicast switched on and a route for 224.0.0.0/4, made with::

    unshare --net                     (as root, as in CI)
    unshare --map-root-user --net     (otherwise; needs unprivileged user namespaces)
    ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo

Inside, zeroconf (224.0.0.251:5353) and TCP between processes work as on a LAN, and no packet can
leave the machine. The tools come from the Debian/Ubuntu packages ``util-linux`` (``unshare``)
and ``iproute2`` (``ip``).

``run_in_lan(argv)`` runs a command inside a new namespace and returns its ``CompletedProcess``
(tests use it to re-run themselves); ``ensure_lan()`` re-executes the current process inside one
(for scripts). Code about to start zeroconf calls ``assert_in_lan()``, which raises unless this
process is verifiably isolated: the ``PLNTUI_IN_LAN=1`` marker is set *and* the kernel lists no
interface but ``lo``, up and multicast-capable, with the multicast route. Interfaces are read from
the kernel (``if_nameindex`` and ``/proc/self/net``), not from ``/sys/class/net``: sysfs keeps
showing the host's interfaces inside a namespace made with ``unshare --net`` alone.

The project's tests use only this module, never anything outside the repository.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

__all__ = [
    "ENV_MARKER",
    "LanUnavailable",
    "assert_in_lan",
    "ensure_lan",
    "inside_or_rerun",
    "in_lan",
    "isolation_problem",
    "lan_command",
    "lan_problem",
    "reruns_in_lan",
    "run_in_lan",
]

ENV_MARKER: Final = "PLNTUI_IN_LAN"
ROOT: Final = Path(__file__).resolve().parents[1]
_SBIN: Final = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_SIOCGIFFLAGS: Final = 0x8913
_IFF_UP: Final = 0x1
_IFF_MULTICAST: Final = 0x1000
_SETUP_FAILED: Final = 125  # exit status of the wrapper when the namespace could not be set up


class LanUnavailable(RuntimeError):
    """No private network namespace can be made here; the message says what is missing."""


# -- am I inside? -------------------------------------------------------------------------------


def _interfaces() -> list[str]:
    """The interfaces of this process's network namespace, as the kernel lists them."""
    names = {name for _, name in socket.if_nameindex()}
    try:
        lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    except OSError:
        lines = []
    names |= {line.split(":", 1)[0].strip() for line in lines if ":" in line}
    return sorted(names)


def _lo_flags() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        answer = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request)
    return int(struct.unpack("16sH22x", answer)[1])


def _has_multicast_route() -> bool:
    """Whether the IPv4 table routes 224.0.0.0/4 (``/proc/self/net/route`` is little-endian)."""
    try:
        lines = Path("/proc/self/net/route").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "000000E0" and fields[7] == "000000F0":
            return True
    return False


def isolation_problem() -> str | None:
    """Why this process must not start zeroconf, or ``None`` when it is safely isolated."""
    if os.environ.get(ENV_MARKER) != "1":
        return f"{ENV_MARKER}=1 is not set: this process was not started inside a lan namespace"
    names = _interfaces()
    if names != ["lo"]:
        return (
            f"{ENV_MARKER}=1 is set, but this network namespace has the interfaces "
            f"{', '.join(names) or 'none'}; only 'lo' is allowed (refusing to use a real network)"
        )
    try:
        flags = _lo_flags()
    except OSError as exc:
        return f"cannot read the flags of lo: {exc}"
    if not flags & _IFF_UP or not flags & _IFF_MULTICAST:
        return "lo is not up with multicast on (ip link set lo up; ip link set lo multicast on)"
    if not _has_multicast_route():
        return "no route for 224.0.0.0/4 (ip route add 224.0.0.0/4 dev lo)"
    return None


def in_lan() -> bool:
    return isolation_problem() is None


def assert_in_lan() -> None:
    """Raise ``AssertionError`` (a test failure, never a skip) unless this process is isolated."""
    problem = isolation_problem()
    if problem is not None:
        raise AssertionError(f"refusing to start zeroconf: {problem}")


# -- getting inside -----------------------------------------------------------------------------


def _tool(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(name, path=path)


def _missing_tools() -> str | None:
    missing = [
        f"`{tool}` (apt package {package})"
        for tool, package in (("unshare", "util-linux"), ("ip", "iproute2"))
        if _tool(tool) is None
    ]
    if not missing:
        return None
    return (
        f"cannot make a private network namespace: {' and '.join(missing)} not found; "
        "install them (apt-get install util-linux iproute2) or put them on PATH"
    )


def lan_command(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped to run inside a new namespace (``LanUnavailable`` if tools are missing)."""
    problem = _missing_tools()
    if problem is not None:
        raise LanUnavailable(problem)
    unshare, ip = _tool("unshare"), _tool("ip")
    assert unshare is not None and ip is not None
    setup = (
        f"{ip} link set lo up && {ip} link set lo multicast on && {ip} route add 224.0.0.0/4 dev lo"
    )
    script = (
        f'{{ {setup}; }} || {{ echo "lan: could not set up the loopback network" >&2; '
        f'exit {_SETUP_FAILED}; }}; exec "$@"'
    )
    flags = ["--net"] if os.geteuid() == 0 else ["--map-root-user", "--net"]
    return [unshare, *flags, "sh", "-c", script, "lan", *argv]


@functools.cache
def lan_problem() -> str | None:
    """Why no namespace can be made here (tools, privileges), or ``None``; probed once."""
    problem = _missing_tools()
    if problem is not None:
        return problem
    try:
        probe = subprocess.run(
            lan_command(["true"]), capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run unshare: {exc}"
    if probe.returncode == 0:
        return None
    detail = (probe.stderr or probe.stdout).strip().splitlines() or [
        f"exit status {probe.returncode}"
    ]
    how = (
        "unshare --net (running as root)"
        if os.geteuid() == 0
        else "unshare --map-root-user --net (unprivileged user namespaces: enable them with "
        "sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces, or run as root)"
    )
    return f"cannot make a private network namespace with {how}: {' / '.join(detail[-3:])}"


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    child = dict(os.environ if env is None else env)
    child[ENV_MARKER] = "1"
    path = child.get("PYTHONPATH", "")
    if str(ROOT) not in path.split(os.pathsep):  # the child must import this checkout
        child["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)
    return child


def run_in_lan(
    argv: Sequence[str],
    timeout: float = 120.0,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside a new private namespace, with ``PLNTUI_IN_LAN=1``; output captured.

    Raises ``LanUnavailable`` (naming what is missing) when no namespace can be made, so a test
    that needs one fails rather than skips.
    """
    problem = lan_problem()
    if problem is not None:
        raise LanUnavailable(problem)
    result = subprocess.run(
        lan_command(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_child_env(env),
        cwd=ROOT if cwd is None else cwd,
        check=False,
    )
    if result.returncode == _SETUP_FAILED and "lan: could not set up" in result.stderr:
        raise LanUnavailable(f"the namespace was made but not set up: {result.stderr.strip()}")
    return result


def ensure_lan(argv: Sequence[str] | None = None) -> None:
    """Return at once inside a lan namespace; otherwise re-execute ``argv`` (default: this very
    command line) inside a new one. Never returns in that case."""
    if in_lan():
        return
    if os.environ.get(ENV_MARKER) == "1":  # we were meant to be inside: never loop, never leak
        raise LanUnavailable(str(isolation_problem()))
    problem = lan_problem()
    if problem is not None:
        raise LanUnavailable(problem)
    command = list(argv) if argv is not None else [sys.executable, *sys.orig_argv[1:]]
    wrapped = lan_command(command)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(wrapped[0], wrapped, _child_env(None))


if __name__ == "__main__":  # python tests/lan.py COMMAND...: the same as the lan script
    if len(sys.argv) < 2:
        sys.exit("usage: python tests/lan.py COMMAND [ARG...]")
    ensure_lan(sys.argv[1:])
    os.execvp(sys.argv[1], sys.argv[1:])


def inside_or_rerun(test_file: str | os.PathLike[str], test_name: str, timeout: float) -> bool:
    """The one way a test gets into a namespace. Inside one (the re-run): check the isolation
    and return True, so the test runs its body. Outside: re-run exactly that test inside a new
    namespace, assert that it ran and passed there, and return False (the test returns). It
    never skips: no namespace is a failure naming what is missing."""
    if os.environ.get(ENV_MARKER) == "1":
        assert_in_lan()  # before any zeroconf socket exists
        return True
    argv = [sys.executable, "-m", "pytest", f"{test_file}::{test_name}", "-q", "-p"]
    argv += ["no:cacheprovider", "-o", "addopts=--strict-markers"]
    result = run_in_lan(argv, timeout=timeout)
    output = (result.stdout + result.stderr)[-8000:]
    assert result.returncode == 0, f"the test failed inside the namespace:\n{output}"
    assert re.search(r"\b1 passed\b", result.stdout), f"the child ran no test:\n{output}"
    return False


def reruns_in_lan(
    timeout: float = 180.0,
) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    """Decorate a test taking ``tmp_path`` so that its body runs inside a namespace
    (``inside_or_rerun``)."""

    def decorate(test: Callable[[Path], None]) -> Callable[[Path], None]:
        here = test.__code__.co_filename

        @functools.wraps(test)
        def wrapper(tmp_path: Path) -> None:
            if inside_or_rerun(here, test.__name__, timeout):
                test(tmp_path)

        return wrapper

    return decorate
