"""Every `ews` help screen ends with one example a user can copy."""

from __future__ import annotations

import contextlib
import io

import pytest

from ews.cli import EXAMPLES, build_parser, command_parsers, main


def _help(argv: list[str]) -> str:
    """What `ews ARGV --help` prints, run in-process (a subprocess per command would cost seconds)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return out.getvalue()


def test_every_command_has_an_example() -> None:
    assert set(command_parsers()) == set(EXAMPLES)


@pytest.mark.parametrize("command", sorted(command_parsers()))
def test_help_ends_with_an_example_line(command: str) -> None:
    text = _help([] if command == "ews" else [command])
    last = text.rstrip().splitlines()[-1].strip()
    assert last.startswith("ews "), f"`ews {command} --help` ends with {last!r}, not an example"
    assert last == EXAMPLES[command]
    if command != "ews":
        assert last.split()[1] == command, "a command's example runs that command"


@pytest.mark.parametrize("command", sorted(set(command_parsers()) - {"ews"}))
def test_example_parses(command: str) -> None:
    """The example is valid for the parser it documents (flags exist, values have the right types)."""
    args = build_parser().parse_args(EXAMPLES[command].split()[1:])
    assert args.command == command
