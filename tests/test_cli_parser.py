"""A command's run builds only that command's parser (``command_of``): it must read the words
exactly as the whole parser does, and anything uncertain builds the whole parser."""

from __future__ import annotations

import pytest

from plntui.cli.main import build_parser, command_of


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["history", "note", "abc"], "history"),
        (["--home", "/x", "contact", "list"], "contact"),
        (["--home=/x", "--demo", "search", "rust", "-kubernetes"], "search"),
        (["--help"], None),
        (["--version"], None),
        (["-h", "contact"], None),
        (["contactz"], None),
        ([], None),
        (["--home"], None),
    ],
)
def test_the_command_is_found_only_when_certain(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


@pytest.mark.parametrize(
    "argv",
    [
        ["history", "note", "abc", "--json"],
        ["--home", "/x", "contact", "add", "--name", "Ada", "--topic", "rust"],
        ["search", "rust", "org:acme"],
        ["due", "snooze", "abc", "7d"],
        ["relay", "set", "tcp:relay.example:4001", "--circle", "Data team"],
        ["pair", "42-7KQM-D3XA", "--relay", "--no-discovery"],
    ],
)
def test_one_command_s_parser_reads_as_the_whole_one(argv: list[str]) -> None:
    whole = build_parser().parse_known_args(argv)
    only = build_parser(command_of(argv)).parse_known_args(argv)
    assert vars(only[0]) == vars(whole[0]) and only[1] == whole[1]
