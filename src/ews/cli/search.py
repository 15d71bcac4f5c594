"""`ews search`: weak subnets of a trained model, found by a strategy and compared with random ones."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ConfigError, check_out_folder
from .common import add_set_option, example


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `search` subcommand and its options."""
    search = commands.add_parser(
        "search", help="search weak subnets of a trained model, compare with random ones", **example("search"))
    search.add_argument("--checkpoint", type=Path, required=True)
    search.add_argument("--strategy", choices=("controller", "random", "l1"), default="controller")
    search.add_argument("--steps", type=int, default=300, help="controller steps (one search batch each)")
    search.add_argument("--subnets", type=int, default=100, help="subnets scored per strategy")
    search.add_argument("--eval-images", type=int, default=1000, help="held-out test images used for scoring")
    search.add_argument("--seed", type=int, default=0)
    add_set_option(search, "override a config key")
    search.add_argument("--out", type=Path, help="output folder (default: next to the checkpoint)")
    search.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Restore the checkpoint, search with `--strategy`, score against random subnets, write search.json."""
    import dataclasses
    import json

    import torch
    from torch.utils.data import DataLoader

    from ..data.subsets import take_images
    from ..runs.checkpoint import atomic_write_text
    from ..search import create_sampler
    from ..search.compare import run_search
    from ..training.build import build_space, search_set
    from ..training.load import read_trained
    from ..training.trainer import Trainer

    # the training state, so a checkpoint (not an export); its config never downloads into its data.root
    # (a foreign checkpoint names any path)
    payload, config = read_trained(args.checkpoint, overrides=["log.progress=false", "data.download=false", *args.set],
                                   kind="checkpoint")
    if args.steps < 1 or args.subnets < 1 or args.eval_images < 1:
        raise ConfigError("--steps, --subnets and --eval-images must be >= 1")
    out = check_out_folder(args.out or args.checkpoint.parent / f"search-{args.strategy}")
    trainer = Trainer(config)
    trainer.restore(payload, args.checkpoint)
    model = trainer.model
    if trainer.sampler is not None and config.search.strategy == args.strategy:
        sampler = trainer.sampler  # continue the run's own search state
    else:
        search = dataclasses.replace(config.search, strategy=args.strategy)
        sampler = create_sampler(search, build_space(config, model), seed=args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    d_s = trainer.schedule.images if trainer.schedule.images is not None else search_set(config)
    search_loader = DataLoader(d_s, batch_size=config.search.batch_size, shuffle=True, generator=generator)
    held_out = take_images(DataLoader(trainer.test_set, batch_size=config.train.eval_batch_size), args.eval_images)
    result = run_search(
        model, sampler, strategy=args.strategy, search_batches=list(search_loader), eval_batches=held_out,
        steps=args.steps, subnets=args.subnets, seed=args.seed,
    )
    result["checkpoint"] = str(args.checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "search.json", json.dumps(result, indent=2) + "\n")
    _print_table(result, args.strategy, out / "search.json")
    return 0


def _print_table(result: dict[str, Any], strategy: str, written: Path) -> None:
    """Subnet accuracy per strategy (mean and quantiles), then how far `strategy` is below random subnets."""
    print(f"{'subnets':<12} {'mean acc':>9} {'q10':>7} {'median':>7} {'q90':>7} {'n':>5}")
    for name, stats in result["strategies"].items():
        q = stats["quantiles"]
        print(f"{name:<12} {stats['mean_subnet_accuracy']:9.4f} {q['0.1']:7.4f} {q['0.5']:7.4f} {q['0.9']:7.4f} "
              f"{stats['subnets_evaluated']:5d}")
    print(f"full network (batch statistics) accuracy {result['full_network_accuracy']:.4f}; "
          f"{strategy} subnets are {result['gap_points']:.2f} points below random ones; {written}")
