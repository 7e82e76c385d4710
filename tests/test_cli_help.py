"""Every command, argument and option of ``plntui`` says what it is for in ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from plntui.cli.main import build_parser, main


def _undocumented(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not helps.get(name):
                    yield f"{path} {name}"
                yield from _undocumented(sub, f"{path} {name}")
        elif isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        elif not action.help:
            yield f"{path} {'/'.join(action.option_strings) or action.dest}"


def test_every_command_argument_and_option_has_help_text() -> None:
    assert list(_undocumented(build_parser(), "plntui")) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["who", "--help"], "the topic, e.g. rust"),
        (["log", "--help"], "what you talked about"),
        (["export", "notes", "--help"], "the file format to write"),
        (["peer", "add", "--help"], "where the peer's plntui sync listens"),
        (["contact", "merge", "--help"], "the contact that stays"),
    ],
)
def test_help_shows_the_text(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    assert expected in " ".join(capsys.readouterr().out.split())
