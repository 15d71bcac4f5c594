"""Every `ews` help screen ends with one example a user can copy."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from ews.cli import EXAMPLES, build_parser, main


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    """The parser of each subcommand, read from the one `build_parser` returns."""
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _help(argv: list[str]) -> str:
    """What `ews ARGV --help` prints, run in-process (a subprocess per command would cost seconds)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return out.getvalue()


def test_every_command_has_an_example() -> None:
    assert set(_subcommands()) | {"ews"} == set(EXAMPLES)


@pytest.mark.parametrize("command", ["ews", *sorted(_subcommands())])
def test_help_ends_with_an_example_line(command: str) -> None:
    text = _help([] if command == "ews" else [command])
    last = text.rstrip().splitlines()[-1].strip()
    assert last.startswith("ews "), f"`ews {command} --help` ends with {last!r}, not an example"
    assert last == EXAMPLES[command]
    if command != "ews":
        assert last.split()[1] == command, "a command's example runs that command"


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_example_parses(command: str) -> None:
    """The example is valid for the parser it documents (flags exist, values have the right types)."""
    args = build_parser().parse_args(EXAMPLES[command].split()[1:])
    assert args.command == command
