"""The `ews` command line: `ews train`, `eval`, `corrupt`, `search`, `analyze`, `sweep`, `report`, `export`, `demo`.

Every user error (bad config, missing data, unsafe checkpoint, occupied output folder)
prints one line to stderr and exits with code 2, before any long work starts. A sweep
whose runs failed on a cluster backend names each with its log and exits with code 1.

Each command is one module of this package holding its parser piece (`add_parser`) and
what it runs (`run`), named for the command (`ews eval` lives in `evaluate`: a module `eval`
would hide the builtin in this package); `common` holds what several commands share.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .._version import __version__
from ..errors import RunsFailed, UserError
from ..runtime.interrupts import TrainingInterrupted
from . import analyze, corrupt, demo, evaluate, export, report, search, sweep, train
from .common import EXAMPLES, example, notes_on_stderr

__all__ = ["EXAMPLES", "build_parser", "command_parsers", "main"]

# In the order `ews --help` lists them.
COMMANDS = (train, search, evaluate, corrupt, analyze, sweep, report, export, demo)


def build_parser() -> argparse.ArgumentParser:
    """`ews` with one subcommand per module of `COMMANDS`, each adding its own options."""
    parser = argparse.ArgumentParser(
        prog="ews", description="Robust classifiers by Enhancing Weak Subnets.", **example("ews"))
    parser.add_argument("--version", action="version", version=f"ews {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """`ews` and each subcommand's parser, by name: what the help pages and their tests print."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"ews": parser, **commands.choices}


def main(argv: Sequence[str] | None = None) -> int:
    """The `ews` console entry point: run one command, turn its errors into a stderr line and an exit code."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with notes_on_stderr():
            return args.func(args)
    except UserError as err:
        print(f"ews: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except RunsFailed as err:
        print(f"ews: {err}", file=sys.stderr)
        return 1
    except TrainingInterrupted as err:
        print(f"ews: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("ews: interrupted", file=sys.stderr)
        return 130
