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
    report.add_argument("--reference", metavar="VARIANT",
                        help="a study folder only: pair every variant with this one instead of the study's "
                             "reference, from its study.json (default --out: STUDY/vs-VARIANT)")
    report.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """One study or run folder without `--out`: its own report; anything else: a comparison report."""
    from ..analysis.report import write_comparison_report, write_run_report
    from ..analysis.study.report import is_study_folder, write_study_report

    if args.reference is not None:
        page = _rereferenced(args.runs, args.reference, args.out)
    elif len(args.runs) == 1 and args.out is None and is_study_folder(args.runs[0]):
        page = write_study_report(args.runs[0])
    elif len(args.runs) == 1 and args.out is None:
        page = write_run_report(args.runs[0])
    else:
        page = write_comparison_report(args.runs, args.out or args.runs[0].parent / "report")
    print(f"report written: {page} and {page.with_suffix('.md')}")
    return 0


def _rereferenced(runs: list[Path], reference: str, out: Path | None) -> Path:
    """A study's tables and forest plot paired with another variant, in a folder of their own: the study's own
    report (and its study.json, the record `ews sweep` wrote) stay as they are."""
    import json

    from ..analysis.study.report import STUDY_JSON, is_study_folder, write_study_report
    from ..analysis.study.results import with_reference
    from ..errors import ConfigError, check_out_folder
    from ..runs.checkpoint import atomic_write_text

    if len(runs) != 1 or not is_study_folder(runs[0]):
        raise ConfigError(f"--reference needs one study folder (with {STUDY_JSON}), got {' '.join(map(str, runs))}")
    study = runs[0]
    out = check_out_folder(out if out is not None else study / f"vs-{reference}")
    if out.resolve() == study.resolve():
        raise ConfigError(f"--out {out} is the study folder itself; its {STUDY_JSON} is the study's own record: "
                          f"name another folder")
    results = with_reference(json.loads((study / STUDY_JSON).read_text()), reference)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / STUDY_JSON, json.dumps(results, indent=2) + "\n")
    return write_study_report(out, results)
