"""`ews train`: one model (vanilla, dropout or EWS) into a run folder, resumable, on one or N processes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from .common import add_set_option, example


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `train` subcommand and its options."""
    train = commands.add_parser("train", help="train one model (vanilla, dropout or EWS)", **example("train"))
    train.add_argument("--config", type=Path, help="YAML config (defaults: EWS, ResNet-20 on the embedded digits)")
    add_set_option(train, "override one config key")
    train.add_argument("--out", type=Path, help="run folder (default runs/DATA-MODEL-METHOD)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--download", action="store_true",
                       help="fetch CIFAR-10/100, Fashion-MNIST or MNIST into data.root through torchvision (network)")
    train.add_argument("--nproc", type=int, help="run under torchrun with N processes (DistributedDataParallel)")
    train.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the run folder is free and the config loads, then train (under torchrun with `--nproc`)."""
    from ..analysis.report import write_run_report
    from ..config import load_config
    from ..runs.documents import counted
    from ..runs.run_dir import RunDir
    from ..runs.run_lock import RunLock
    from ..runtime import distributed
    from ..training.trainer import Trainer

    first_rank = distributed.launch_rank() == 0  # under torchrun the other ranks see rank 0's lock
    if args.out is not None and first_rank:
        RunLock(args.out).check_free()  # a folder another run is writing: say so before anything else
    config_path = args.config
    if config_path is None and args.resume and args.out is not None:
        RunDir(args.out).check(resume=True, overwrite=args.overwrite)  # no checkpoint: say so, not "no config"
        config_path = RunDir(args.out).config  # a resumed run keeps its own config
    config = load_config(config_path, [*args.set, *(["data.download=true"] if args.download else [])])
    out = args.out or Path("runs") / f"{config.data.name}-{config.model.name}-{config.method}"
    run_dir = RunDir(out)
    if first_rank:
        RunLock(out).check_free()  # also the default --out
    run_dir.check(resume=args.resume, overwrite=args.overwrite)
    if args.nproc is not None and not distributed.launched_by_torchrun():
        _exec_torchrun(args.nproc, args.argv)
    try:
        report = Trainer(config).fit(run_dir, resume=args.resume, command=["ews", *args.argv])
    finally:
        distributed.shutdown()
    if first_rank:
        write_run_report(run_dir.root)
        print(f"{config.method} {config.model.name} on {config.data.name}: clean error {report['clean_error']:.2f}% "
              f"after {counted(report['epochs'], 'epoch')} ({report['train_seconds']:.1f}s); run folder {run_dir.root}")
    return 0


def _exec_torchrun(nproc: int, argv: Sequence[str]) -> None:
    """`ews train --nproc N ...` becomes `torchrun --nproc_per_node N -m ews train ...` (this process is replaced)."""
    import os

    if nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {nproc}")
    rest, skip = [], False
    for item in argv:
        if skip or item.startswith("--nproc="):
            skip = False
            continue
        skip = item == "--nproc"
        if not skip:
            rest.append(item)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "ews", *rest]
    sys.stdout.flush()
    os.execv(sys.executable, command)
