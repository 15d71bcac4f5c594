"""The `ews` command line: `ews train` and `ews demo`.

Every user error (bad config, missing data, unsafe checkpoint, occupied output folder)
prints one line to stderr and exits with code 2, before any long work starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import UserError


def _train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .run_dir import RunDir
    from .trainer import Trainer

    config_path = args.config
    if config_path is None and args.resume and args.out is not None:
        config_path = RunDir(args.out).config  # a resumed run keeps its own config
    config = load_config(config_path, [*args.set, *(["data.download=true"] if args.download else [])])
    out = args.out or Path("runs") / f"{config.data.name}-{config.model.name}-{config.method}"
    run = RunDir(out)
    run.check(resume=args.resume, overwrite=args.overwrite)
    report = Trainer(config).fit(run, resume=args.resume)
    print(f"{config.method} {config.model.name} on {config.data.name}: clean error {report['clean_error']:.2f}% "
          f"after {report['epochs']} epochs ({report['train_seconds']:.1f}s); run folder {run.root}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import results_table, run_demo

    reports = run_demo(args.out, epochs=args.epochs, overwrite=args.overwrite, progress=not args.no_progress)
    print()
    print(results_table(reports))
    print(f"runs and results.md written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ews", description="Robust classifiers by Enhancing Weak Subnets.")
    parser.add_argument("--version", action="version", version=f"ews {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one model (vanilla, dropout or EWS)")
    train.add_argument("--config", type=Path, help="YAML config (defaults: EWS, ResNet-20 on the embedded digits)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    train.add_argument("--out", type=Path, help="run folder (default runs/DATA-MODEL-METHOD)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--download", action="store_true", help="fetch CIFAR-10/100 into data.root if missing (network)")
    train.set_defaults(func=_train)

    demo = commands.add_parser("demo", help="vanilla vs EWS on the embedded digits, side by side")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--epochs", type=int, default=15)
    demo.add_argument("--overwrite", action="store_true", help="retrain even if finished runs exist")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"ews: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ews: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
