"""What the `ews` commands share: help examples, value types, common options, log notes and report refreshes.

Each command module builds its parser piece from these, so an option that several
commands take (`--set`, `--severities`, `--no-progress`, the output options) is written once
and reads the same in every `--help`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# One runnable example per command, printed as the last line of its `--help` (tests check each one).
EXAMPLES: dict[str, str] = {
    "ews": "ews train --set method=vanilla --out runs/vanilla",
    "train": "ews train --set train.epochs=5 --out runs/ews",
    "search": "ews search --checkpoint runs/vanilla/checkpoint.pt --strategy controller --steps 300",
    "eval": "ews eval --checkpoint runs/ews/checkpoint.pt --corruptions digits-c --attacks pgd20",
    "corrupt": "ews corrupt --dataset digits --out data/digits-C --severities 1-5",
    "analyze": "ews analyze --checkpoint runs/demo/vanilla/checkpoint.pt --compare runs/demo/ews/checkpoint.pt",
    "sweep": "ews sweep --param ews.K --values 1,5,10,20,50 --set train.epochs=15 --out runs/sweep-K",
    "report": "ews report runs/demo/vanilla runs/demo/ews --out runs/demo/report",
    "export": "ews export --checkpoint runs/ews/checkpoint.pt --out ews.safetensors",
    "demo": "ews demo --out runs/demo",
}


def example(command: str) -> dict[str, object]:
    """Parser arguments that end `--help` with the command's example, unwrapped so it can be copied."""
    return {"epilog": f"example:\n  {EXAMPLES[command]}", "formatter_class": argparse.RawDescriptionHelpFormatter}


def int_list(text: str) -> list[int]:
    """`1-5`, `1,3,5` or `2` -> a sorted list of ints (severities)."""
    values: set[int] = set()
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            values.update(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1-5 or 1,3,5, got {text!r}") from None
    return sorted(values)


def fraction(text: str) -> float:
    """`8/255` or `0.031` -> a float."""
    from ..config import parse_number

    number = parse_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"expected a number or a fraction like 8/255, got {text!r}")
    return number


def name_list(text: str) -> list[str]:
    """`pgd20, autoattack` -> ["pgd20", "autoattack"] (blank items dropped)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_set_option(command: argparse.ArgumentParser, text: str) -> None:
    """`--set KEY=VALUE`, repeatable, with the command's own help `text`: one config override each."""
    command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=text)


def add_severities(command: argparse.ArgumentParser) -> None:
    """`--severities`, 1-5 unless told: the corruption severities a set holds or a score covers."""
    command.add_argument("--severities", type=int_list, default=[1, 2, 3, 4, 5], help="e.g. 1-5 or 1,3,5")


def add_no_progress(command: argparse.ArgumentParser) -> None:
    """`--no-progress`: bars off, notes still shown (see `notes_on_stderr`)."""
    command.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_output_options(command: argparse.ArgumentParser, *, default_out: str) -> None:
    """--device, --seed, --out and --no-progress, shared by the commands that score a checkpoint."""
    command.add_argument("--device", default="auto")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--out", type=Path, help=f"output folder (default: {default_out} next to the checkpoint)")
    add_no_progress(command)


@contextmanager
def notes_on_stderr() -> Iterator[None]:
    """The library's notes (`ews.*` loggers at INFO, e.g. AutoAttack's time estimate) as plain stderr lines.

    A script using the library sees them only if it configures logging; a CLI user sees them
    with or without `--no-progress`, which hides progress bars, not information.
    """
    logger = logging.getLogger("ews")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def refresh_report_if_inside(out: Path, run: Path) -> None:
    """Re-render the report of run folder `run` when `out`, where results were just written, lies in it.

    Results written elsewhere leave the run's report as it was: it links only what its folder holds.
    """
    from ..analysis.report import refresh_run_report

    if Path(out).resolve().parent != run.resolve():
        return
    page = refresh_run_report(run)
    if page is not None:
        print(f"run report updated: {page}")
