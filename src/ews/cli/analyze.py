"""`ews analyze`: subnet confidence (paper Fig. 1) and per-block vulnerability (Fig. 7) of a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..subnets.readings import READING_NAMES
from .common import add_output_options, example, fraction, name_list, refresh_report_if_inside


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `analyze` subcommand and its options."""
    analyze = commands.add_parser("analyze", help="subnet confidence (paper Fig. 1) and per-block vulnerability "
                                                  "(Fig. 7) of a checkpoint", **example("analyze"))
    analyze.add_argument("--checkpoint", type=Path, required=True)
    analyze.add_argument("--compare", type=Path, metavar="CHECKPOINT",
                         help="a second checkpoint of the same architecture, drawn side by side")
    analyze.add_argument("--subnets", type=int, default=1000, help="random subnets for Fig. 1")
    analyze.add_argument("--rho", type=fraction, default=0.7, help="width of the Fig. 1 subnets (paper: 0.7)")
    analyze.add_argument("--inputs", type=name_list, default=["clean", "corrupted", "pgd"],
                         help="comma list of clean, corrupted, pgd")
    analyze.add_argument("--images", type=int, default=500, help="evaluation subset: first N test images, stratified")
    analyze.add_argument("--block-subnets", type=int, default=100, help="subnets per block for Fig. 7 (0: skip)")
    analyze.add_argument("--corruptions", metavar="PATH_OR_NAME",
                         help="a CIFAR-10-C style folder or DATASET-c (default: corrupt the subset once, "
                              "one of the 15 benchmark corruptions x 5 severities per image)")
    analyze.add_argument("--bn", choices=("batch", "eval"), default="batch",
                         help="BatchNorm of subnet passes: batch statistics, as subnets are trained and searched "
                              "(default), or the full network's running statistics, sliced (eval)")
    analyze.add_argument("--batch-size", type=int, default=500)
    analyze.add_argument("--reading", choices=READING_NAMES,
                         help="the reading of rho every model is probed in (default: the one --checkpoint trained "
                              "with); compared models always share one")
    add_output_options(analyze, default_out="analysis/")
    analyze.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure, print the confidence quantiles per model and input, and refresh the run's report."""
    from ..analysis.analyze import AnalysisSettings, run_analysis

    settings = AnalysisSettings(
        subnets=args.subnets, rho=args.rho, inputs=tuple(args.inputs), images=args.images,
        block_subnets=args.block_subnets, corruptions=args.corruptions, bn=args.bn,
        batch_size=args.batch_size, seed=args.seed, reading=args.reading,
    )
    out = args.out or args.checkpoint.parent / "analysis"
    result = run_analysis(args.checkpoint, out=out, compare=args.compare, settings=settings, device=args.device,
                          progress=not args.no_progress)
    print(f"{'model':<10} {'input':<10} {'full':>6} {'q10':>6} {'median':>6} {'q90':>6}")
    for model, kinds in result["subnets"]["models"].items():
        for kind in settings.inputs:
            q = kinds[kind]["quantiles"]
            print(f"{model:<10} {kind:<10} {kinds[kind]['full']:6.3f} {q['0.1']:6.3f} {q['0.5']:6.3f} {q['0.9']:6.3f}")
    print(f"true-class confidence of {settings.subnets} subnets (rho {settings.rho}) and the full network; "
          f"subnets.json, figure1.png, blocks.json and figure7.png in {out}")
    refresh_report_if_inside(out, args.checkpoint.parent)
    return 0
