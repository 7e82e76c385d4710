"""``plntui relay``: set, show, off and unset, for this device and for a circle, in-process through
``main()`` like the other CLI tests, and once as a real process; bad input changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plntui import layout
from plntui.cli import main
from plntui.network import Network
from tests.processes import cli as run_cli


class Run:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys
        self.err = ""

    def __call__(self, *args: str, code: int = 0) -> str:
        status = main(["--home", str(self.home), *args])
        captured = self.capsys.readouterr()
        assert status == code, (status, captured.out, captured.err)
        self.err = captured.err
        return captured.out

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self(*args))  # type: ignore[no-any-return]


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    runner = Run(home, capsys)
    runner("init", "--name", "Alice")
    runner("circle", "create", "Data team")
    return runner


def state(home: Path) -> tuple[bytes | None, dict[str, list[bytes]]]:
    """The settings file and every circle's heads: what a failed command must leave alone."""
    path = home / "settings.json"
    settings = path.read_bytes() if path.exists() else None
    net = Network.open(home)
    try:
        heads = {c: sorted(net.repo.get(layout.circle_doc(c)).get_heads()) for c in net.circles()}
    finally:
        net.profile.close()
    return settings, heads


def test_nothing_configured(run: Run) -> None:
    out = run("relay", "show")
    assert out.splitlines()[0] == "relay in use: none (no relay is configured)"
    assert "this device: not set" in out and "Data team (" in out
    data = run.json("relay", "show", "--json")
    assert data["relay"] is None and data["source"] == "none" and data["profile"] is None
    assert {c["name"] for c in data["circles"]} == {"Alice's circle", "Data team"}
    assert all(c["secret"] and c["member"] and c["relay"] is None for c in data["circles"])


def test_set_for_this_device_then_off_then_unset(run: Run) -> None:
    out = run("relay", "set", "relay.example:4001")
    assert "tcp:relay.example:4001" in out
    assert out.splitlines()[-1] == "relay in use: tcp:relay.example:4001 (from your profile)"
    assert json.loads((run.home / "settings.json").read_text()) == {
        "relay": "tcp:relay.example:4001"
    }
    data = run.json("relay", "show", "--json")
    assert (data["relay"], data["source"], data["profile"]) == (
        "tcp:relay.example:4001",
        "profile",
        "tcp:relay.example:4001",
    )
    out = run("relay", "off")
    assert out.splitlines()[-1] == "relay in use: off (your profile turns the relay off)"
    assert run.json("relay", "show", "--json")["source"] == "off"
    out = run("relay", "unset")
    assert out.splitlines()[-1] == "relay in use: none (no relay is configured)"
    assert "relay" not in json.loads((run.home / "settings.json").read_text())


def test_a_circle_setting_applies_unless_this_device_says_otherwise(run: Run) -> None:
    out = run("relay", "set", "tcp:10.1.2.3:4001", "--circle", "data team")
    assert "Circle Data team now names the relay tcp:10.1.2.3:4001" in out
    assert out.splitlines()[-1] == "relay in use: tcp:10.1.2.3:4001 (from circle Data team)"
    shown = run("relay", "show")
    assert "Data team (" in shown and "tcp:10.1.2.3:4001  [in use]" in shown
    data = run.json("relay", "show", "--json")
    assert data["source"] == "circle" and data["circle"]["name"] == "Data team"
    team = next(c for c in data["circles"] if c["name"] == "Data team")
    assert team["relay"] == "tcp:10.1.2.3:4001" and team["valid"]
    # this device's own choice wins, and "off" turns even the circle's relay off
    run("relay", "set", "tcp:[::1]:4002")
    assert run.json("relay", "show", "--json")["relay"] == "tcp:[::1]:4002"
    run("relay", "off")
    assert run.json("relay", "show", "--json")["relay"] is None
    run("relay", "unset")
    assert run.json("relay", "show", "--json")["relay"] == "tcp:10.1.2.3:4001"
    out = run("relay", "off", "--circle", "Data team")
    assert "names no relay any more" in out
    assert run.json("relay", "show", "--json")["source"] == "none"


def test_setting_a_relay_gives_circles_without_a_secret_one(run: Run) -> None:
    from tests.test_relay_config import without_secret

    net = Network.open(run.home)
    try:
        for circle_id in net.circles():
            without_secret(net, circle_id)
    finally:
        net.profile.close()
    data = run.json("relay", "show", "--json")
    assert not any(c["secret"] for c in data["circles"])
    assert "[no secret yet]" in run("relay", "show")
    run("relay", "set", "tcp:relay.example:4001", "--circle", "Data team")
    secrets = {c["name"]: c["secret"] for c in run.json("relay", "show", "--json")["circles"]}
    assert secrets == {"Alice's circle": False, "Data team": True}
    run("relay", "set", "tcp:relay.example:4001")
    assert all(c["secret"] for c in run.json("relay", "show", "--json")["circles"])


@pytest.mark.parametrize(
    "args",
    [
        ("relay", "set", "relay.example"),
        ("relay", "set", "tcp:relay.example:0"),
        ("relay", "set", "tcp:relay.example:70000"),
        ("relay", "set", "http://relay.example:4001"),
        ("relay", "set", "tcp:relay example:4001"),
        ("relay", "set", ""),
        ("relay", "set", "tcp:relay.example:4001", "--circle", "nope"),
        ("relay", "set", "nonsense", "--circle", "Data team"),
        ("relay", "off", "--circle", "nope"),
        ("relay", "set"),
        ("relay", "frobnicate"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(run: Run, args: tuple[str, ...]) -> None:
    run("relay", "set", "tcp:kept.example:4001", "--circle", "Data team")
    run("relay", "set", "tcp:mine.example:4001")
    before = state(run.home)
    run(*args, code=2)
    assert run.err.count("\n") == 1 and run.err.startswith("plntui: error: ")
    assert state(run.home) == before


def test_bad_address_message_names_the_form(run: Run) -> None:
    run("relay", "set", "relay.example", code=2)
    assert "write tcp:HOST:PORT" in run.err


def test_a_circle_this_device_left_is_refused(run: Run) -> None:
    run("circle", "leave", "Data team")
    before = state(run.home)
    run("relay", "set", "tcp:relay.example:4001", "--circle", "Data team", code=2)
    assert "not a member" in run.err and state(run.home) == before


def test_names_that_look_like_markup_or_controls_are_printed_as_text(run: Run) -> None:
    run("circle", "rename", "Data team", "Evil\x1b[31m[bold]")
    team = next(c for c in run.json("relay", "show", "--json")["circles"] if "Evil" in c["name"])
    out = run("relay", "set", "tcp:relay.example:4001", "--circle", team["id"])
    assert "\x1b" not in out and "[bold]" in out
    out = run("relay", "show")
    assert "\x1b" not in out and "[bold]" in out


def test_relay_as_a_real_process(tmp_path: Path) -> None:
    home = tmp_path / "p"
    run_cli(home, "init", "--name", "Alice")
    run_cli(home, "relay", "set", "tcp:127.0.0.1:4001")
    shown = run_cli(home, "relay", "show")
    assert shown.stdout.startswith("relay in use: tcp:127.0.0.1:4001 (from your profile)")
    bad = run_cli(home, "relay", "set", "nope", check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and not bad.stdout
