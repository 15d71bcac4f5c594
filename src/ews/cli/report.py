"""`ews report`: rebuild a run's (or a study's) report, or compare runs side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import example


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `report` subcommand and its options."""
    report = commands.add_parser(
        "report", help="rebuild a run's report, or compare runs (method x augmentation)", **example("report"))
    report.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    report.add_argument("--out", type=Path,
                        help="comparison folder (default: report/ beside the first run); with one run and no "
                             "--out, the run's own report.md/report.html are rebuilt")
    report.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """One study or run folder without `--out`: its own report; anything else: a comparison report."""
    from ..analysis.report import write_comparison_report, write_run_report
    from ..analysis.study.report import is_study_folder, write_study_report

    if len(args.runs) == 1 and args.out is None and is_study_folder(args.runs[0]):
        page = write_study_report(args.runs[0])
    elif len(args.runs) == 1 and args.out is None:
        page = write_run_report(args.runs[0])
    else:
        page = write_comparison_report(args.runs, args.out or args.runs[0].parent / "report")
    print(f"report written: {page} and {page.with_suffix('.md')}")
    return 0
