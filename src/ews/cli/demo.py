"""`ews demo`: vanilla vs EWS on the embedded digits, trained and compared side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_no_progress, example


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `demo` subcommand and its options."""
    demo = commands.add_parser("demo", help="vanilla vs EWS on the embedded digits, side by side", **example("demo"))
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--epochs", type=int, default=15)
    demo.add_argument("--overwrite", action="store_true", help="retrain even if finished runs exist")
    add_no_progress(demo)
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train (or reuse) both runs, print their results table and where the report is."""
    from ..demo import results_table, run_demo

    reports = run_demo(args.out, epochs=args.epochs, overwrite=args.overwrite, progress=not args.no_progress)
    print()
    print(results_table(reports))
    print(f"runs and results.md written to {args.out}")
    page = args.out / "report" / "report.html"
    if page.is_file():
        print(f"report with the subnet figures (paper Fig. 1 and 7): {page} (and report.md beside it)")
    return 0
