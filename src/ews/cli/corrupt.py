"""`ews corrupt`: a CIFAR-10-C style corruption set (one NAME.npy per corruption) of any dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_no_progress, add_severities, example, name_list


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `corrupt` subcommand and its options."""
    corrupt = commands.add_parser(
        "corrupt", help="write a CIFAR-10-C style corruption set of any dataset", **example("corrupt"))
    corrupt.add_argument("--dataset", required=True,
                         help="digits, fashion-mnist, mnist, cifar10, cifar100 or imagefolder")
    corrupt.add_argument("--root", help="the dataset's folder (not needed for digits, nor for fashion-mnist "
                                        "where Debian's dataset-fashion-mnist is installed)")
    corrupt.add_argument("--out", type=Path, required=True)
    corrupt.add_argument("--split", choices=("test", "train"), default="test")
    corrupt.add_argument("--limit", type=int, help="first N images, stratified (quick sets)")
    add_severities(corrupt)
    corrupt.add_argument("--corruptions", type=name_list, help="comma list (default: the 15 benchmark + 4 extra)")
    corrupt.add_argument("--seed", type=int, default=0)
    corrupt.add_argument("--workers", type=int, help="processes (default: one per CPU core)")
    add_no_progress(corrupt)
    corrupt.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the set into `--out` and say what was written."""
    from ..corruptions.generate import write_dataset_corruptions

    paths = write_dataset_corruptions(
        args.dataset, args.out, root=args.root, split=args.split, limit=args.limit, corruptions=args.corruptions,
        severities=args.severities, seed=args.seed, workers=args.workers, progress=not args.no_progress,
    )
    print(f"wrote {len(paths)} corruption files, labels.npy and meta.json to {args.out}")
    return 0
