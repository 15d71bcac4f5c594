"""The `ews` command line: `ews train`, `eval`, `corrupt`, `search`, `analyze`, `sweep`, `report`, `export`, `demo`.

Every user error (bad config, missing data, unsafe checkpoint, occupied output folder)
prints one line to stderr and exits with code 2, before any long work starts. A sweep
whose runs failed on a cluster backend names each with its log and exits with code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ._version import __version__
from .errors import ConfigError, RunsFailed, UserError
from .models.external import NORMALIZATION_HELP
from .subnets.readings import READING_NAMES
from .runtime.interrupts import TrainingInterrupted

if TYPE_CHECKING:
    from .analysis.backends import BackendOptions


def _train(args: argparse.Namespace) -> int:
    from .runtime import distributed
    from .analysis.report import write_run_report
    from .config import load_config
    from .runs.documents import counted
    from .runs.run_dir import RunDir
    from .runs.run_lock import RunLock
    from .training.trainer import Trainer

    first_rank = distributed.launch_rank() == 0  # under torchrun the other ranks see rank 0's lock
    if args.out is not None and first_rank:
        RunLock(args.out).check_free()  # a folder another run is writing: say so before anything else
    config_path = args.config
    if config_path is None and args.resume and args.out is not None:
        RunDir(args.out).check(resume=True, overwrite=args.overwrite)  # no checkpoint: say so, not "no config"
        config_path = RunDir(args.out).config  # a resumed run keeps its own config
    config = load_config(config_path, [*args.set, *(["data.download=true"] if args.download else [])])
    out = args.out or Path("runs") / f"{config.data.name}-{config.model.name}-{config.method}"
    run = RunDir(out)
    if first_rank:
        RunLock(out).check_free()  # also the default --out
    run.check(resume=args.resume, overwrite=args.overwrite)
    if args.nproc is not None and not distributed.launched_by_torchrun():
        _exec_torchrun(args.nproc, args.argv)
    try:
        report = Trainer(config).fit(run, resume=args.resume, command=["ews", *args.argv])
    finally:
        distributed.shutdown()
    if first_rank:
        write_run_report(run.root)
        print(f"{config.method} {config.model.name} on {config.data.name}: clean error {report['clean_error']:.2f}% "
              f"after {counted(report['epochs'], 'epoch')} ({report['train_seconds']:.1f}s); run folder {run.root}")
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


def _search(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    import torch
    from torch.utils.data import DataLoader

    from .runs.checkpoint import atomic_write_text, load_checkpoint
    from .config import load_config
    from .search import create_sampler
    from .data.subsets import take_images
    from .search.compare import run_search
    from .training.build import build_space, search_set
    from .training.trainer import Trainer

    payload = load_checkpoint(args.checkpoint)
    # a checkpoint's config never downloads into its data.root (a foreign checkpoint names any path)
    config = load_config(base=payload.get("config"), overrides=["log.progress=false", "data.download=false", *args.set])
    if args.steps < 1 or args.subnets < 1 or args.eval_images < 1:
        raise ConfigError("--steps, --subnets and --eval-images must be >= 1")
    out = args.out or args.checkpoint.parent / f"search-{args.strategy}"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
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
    print(f"{'subnets':<12} {'mean acc':>9} {'q10':>7} {'median':>7} {'q90':>7} {'n':>5}")
    for name, stats in result["strategies"].items():
        q = stats["quantiles"]
        print(f"{name:<12} {stats['mean_subnet_accuracy']:9.4f} {q['0.1']:7.4f} {q['0.5']:7.4f} {q['0.9']:7.4f} "
              f"{stats['subnets_evaluated']:5d}")
    print(f"full network (batch statistics) accuracy {result['full_network_accuracy']:.4f}; "
          f"{args.strategy} subnets are {result['gap_points']:.2f} points below random ones; {out / 'search.json'}")
    return 0


def _int_list(text: str) -> list[int]:
    """`1-5`, `1,3,5` or `2` -> a sorted list of ints (severities)."""
    values: set[int] = set()
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            values.update(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1-5 or 1,3,5, got {text!r}") from None
    return sorted(values)


def _fraction(text: str) -> float:
    """`8/255` or `0.031` -> a float."""
    from .config import parse_number

    number = parse_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"expected a number or a fraction like 8/255, got {text!r}")
    return number


def _shift(text: str) -> tuple[str, Path]:
    """`imagenet-r=/data/imagenet-r` -> (name, path)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH such as imagenet-r=/data/imagenet-r, got {text!r}")
    return name.strip(), Path(path)


def _name_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _eval_source(args: argparse.Namespace):  # noqa: ANN202 - a Path or an `evaluate.ExternalModel`
    """`--checkpoint FILE`, or `--model SPEC --weights FILE --normalize N --dataset D`; each rest is refused."""
    from .evaluation import ExternalModel

    companions = {"--weights": args.weights, "--normalize": args.normalize, "--dataset": args.dataset}
    if args.model is None:
        if args.checkpoint is None:
            raise ConfigError("ews eval needs --checkpoint FILE, or --model SPEC with --weights, --normalize and "
                              "--dataset")
        stray = [flag for flag, value in companions.items() if value is not None]
        if stray:
            raise ConfigError(f"{stray[0]} goes with --model, not with --checkpoint (the checkpoint records it)")
        return args.checkpoint
    missing = [flag for flag, value in companions.items() if value is None]
    if args.checkpoint is not None or missing:
        raise ConfigError(f"--model {args.model} needs {', '.join(missing)}" if missing
                          else "give --checkpoint or --model, not both")
    return ExternalModel(args.model, args.weights, args.normalize, args.dataset, tuple(args.set))


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import results_markdown

    source = _eval_source(args)
    folder = args.checkpoint.parent if args.model is None else args.weights.parent
    default = "eval" if args.model is None else f"eval-{args.weights.stem}"
    out = args.out or folder / (default if args.split == "test" else f"{default}-{args.split}")
    with _held_warnings() as printed:
        results = _run_eval(args, source, out)
        print(results_markdown(results))
        printed += results.get("warnings", [])
    robustbench = results.get("settings", {}).get("threat_model") is not None
    written = ["eval.json", "eval.md", "eval.html"] + (["robustbench.json"] if robustbench else [])
    print(f"written to {out}: {', '.join(written)}")
    if args.model is None and Path(out).resolve().parent == args.checkpoint.parent.resolve():  # into the run folder
        _refresh_report(args.checkpoint.parent)
    return 0


def _run_eval(args: argparse.Namespace, source: Any, out: Path) -> dict[str, Any]:
    from .evaluation import run_evaluation

    return run_evaluation(
        source, out=out, corruptions=args.corruptions, severities=args.severities,
        perturbations=args.perturbations, alexnet_fr=args.alexnet_fr, attacks=args.attacks,
        n_examples=args.n_examples, eps=args.eps, norm=args.norm, autoattack_version=args.autoattack_version,
        autoattack_attacks=args.autoattack_attacks,
        batch_size=args.batch_size, device=args.device, seed=args.seed, progress=not args.no_progress,
        split=args.split, corruption_images=args.corruption_images, threat_model=args.threat_model,
        shifts=dict(args.shift), overrides=args.set, overwrite=args.overwrite,
    )


@contextmanager
def _held_warnings() -> Iterator[list[str]]:
    """Hold the Python warnings raised inside until it ends, then show those whose text is not in the list it gives.

    `ews eval` prints its results' warnings in its table ("Warning: ..."); the library also
    raises them as Python warnings for scripts, which would print each one a second time.
    """
    printed: list[str] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield printed
    finally:
        for warning in caught:
            if str(warning.message) not in printed:
                warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


@contextmanager
def _notes_on_stderr() -> Iterator[None]:
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


def _refresh_report(folder: Path) -> None:
    """Re-render a run folder's report after results were added to it."""
    from .analysis.report import refresh_run_report

    page = refresh_run_report(folder)
    if page is not None:
        print(f"run report updated: {page}")


def _analyze(args: argparse.Namespace) -> int:
    from .analysis.analyze import AnalysisSettings, run_analysis

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
    if Path(out).resolve().parent == args.checkpoint.parent.resolve():
        _refresh_report(args.checkpoint.parent)
    return 0


def _backend(args: argparse.Namespace) -> BackendOptions:
    """`--backend` and its options, checked before anything is planned or written."""
    from .analysis.backends import BackendOptions

    return BackendOptions(
        name=args.backend, jobs=args.jobs, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
        max_retries=args.max_retries, ray_address=args.ray_address, slurm_partition=args.slurm_partition,
        slurm_time=args.slurm_time, slurm_flags=tuple(args.slurm_flag)).check()


def _sweep(args: argparse.Namespace) -> int:
    backend = _backend(args)
    if args.study is not None or args.variant:
        return _study(args, backend)
    if args.param is None or not args.values:
        raise ConfigError("ews sweep needs --param and --values, or a study (--study FILE or --variant)")
    from .analysis.sweep import run_sweep

    result = run_sweep(args.config, overrides=args.set, param=args.param, values=args.values, out=args.out,
                       backend=backend)
    print(f"{args.param:>12} {'clean error':>12} {'train s':>9}")
    for point in result["points"]:
        print(f"{point['text']:>12} {point['clean_error']:12.2f} {point['train_seconds']:9.1f}")
    print(f"sweep.json, sweep.png and sweep.md in {args.out}")
    return 0


def _study(args: argparse.Namespace, backend: BackendOptions) -> int:
    from .analysis.report import to_markdown
    from .analysis.study import build_spec, run_study
    from .analysis.study.report import study_blocks
    from .analysis.study.spec import parse_variant
    from .config import read_yaml

    if args.param is not None or args.values:
        raise ConfigError("--param/--values sweep one key; a study (--study/--variant) names its variants instead")
    data = read_yaml(args.study) if args.study is not None else {}
    data["variants"] = {**(data.get("variants") or {}), **dict(parse_variant(v) for v in args.variant)}
    if args.reference is not None:
        data["reference"] = args.reference
    spec = build_spec(data, seeds=args.seeds)
    results = run_study(args.config, spec, overrides=args.set, out=args.out, backend=backend)
    print(to_markdown(study_blocks(results)[:3]))
    print(f"study.json, study.md, study.html and study.png in {args.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .analysis.report import write_comparison_report, write_run_report

    from .analysis.study.report import is_study_folder, write_study_report

    if len(args.runs) == 1 and args.out is None and is_study_folder(args.runs[0]):
        page = write_study_report(args.runs[0])
    elif len(args.runs) == 1 and args.out is None:
        page = write_run_report(args.runs[0])
    else:
        page = write_comparison_report(args.runs, args.out or args.runs[0].parent / "report")
    print(f"report written: {page} and {page.with_suffix('.md')}")
    return 0


def _corrupt(args: argparse.Namespace) -> int:
    from .corruptions.generate import write_dataset_corruptions

    paths = write_dataset_corruptions(
        args.dataset, args.out, root=args.root, split=args.split, limit=args.limit, corruptions=args.corruptions,
        severities=args.severities, seed=args.seed, workers=args.workers, progress=not args.no_progress,
    )
    print(f"wrote {len(paths)} corruption files, labels.npy and meta.json to {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .training.export import export_checkpoint

    metadata = export_checkpoint(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"exported {metadata['model']} ({metadata['num_classes']} classes) weights from {args.checkpoint} "
          f"to {args.out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import results_table, run_demo

    reports = run_demo(args.out, epochs=args.epochs, overwrite=args.overwrite, progress=not args.no_progress)
    print()
    print(results_table(reports))
    print(f"runs and results.md written to {args.out}")
    page = args.out / "report" / "report.html"
    if page.is_file():
        print(f"report with the subnet figures (paper Fig. 1 and 7): {page} (and report.md beside it)")
    return 0


def _add_output_options(command: argparse.ArgumentParser, *, default_out: str) -> None:
    """--device, --seed, --out and --no-progress, shared by the commands that score a checkpoint."""
    command.add_argument("--device", default="auto")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--out", type=Path, help=f"output folder (default: {default_out} next to the checkpoint)")
    command.add_argument("--no-progress", action="store_true", help="no progress bars")


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


def _example(command: str) -> dict[str, object]:
    """Parser arguments that end `--help` with the command's example, unwrapped so it can be copied."""
    return {"epilog": f"example:\n  {EXAMPLES[command]}", "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ews", description="Robust classifiers by Enhancing Weak Subnets.", **_example("ews"))
    parser.add_argument("--version", action="version", version=f"ews {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one model (vanilla, dropout or EWS)", **_example("train"))
    train.add_argument("--config", type=Path, help="YAML config (defaults: EWS, ResNet-20 on the embedded digits)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    train.add_argument("--out", type=Path, help="run folder (default runs/DATA-MODEL-METHOD)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument("--download", action="store_true",
                       help="fetch CIFAR-10/100, Fashion-MNIST or MNIST into data.root through torchvision (network)")
    train.add_argument("--nproc", type=int, help="run under torchrun with N processes (DistributedDataParallel)")
    train.set_defaults(func=_train)

    search = commands.add_parser(
        "search", help="search weak subnets of a trained model, compare with random ones", **_example("search"))
    search.add_argument("--checkpoint", type=Path, required=True)
    search.add_argument("--strategy", choices=("controller", "random", "l1"), default="controller")
    search.add_argument("--steps", type=int, default=300, help="controller steps (one search batch each)")
    search.add_argument("--subnets", type=int, default=100, help="subnets scored per strategy")
    search.add_argument("--eval-images", type=int, default=1000, help="held-out test images used for scoring")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    search.add_argument("--out", type=Path, help="output folder (default: next to the checkpoint)")
    search.set_defaults(func=_search)

    evaluation = commands.add_parser(
        "eval", help="clean, corruption and adversarial error of a checkpoint or of any model", **_example("eval"))
    evaluation.add_argument("--checkpoint", type=Path, help="an ews checkpoint or .safetensors export")
    evaluation.add_argument("--model", metavar="SPEC",
                            help="instead of --checkpoint: torchvision:NAME, timm:NAME or package.module:factory "
                                 "(called with num_classes= when it takes it)")
    evaluation.add_argument("--weights", type=Path, metavar="FILE",
                            help="with --model: its state dict (.pth/.pt weights-only pickle or .safetensors)")
    evaluation.add_argument("--normalize", metavar="NAME",
                            help=f"with --model: the input normalisation its weights expect: {NORMALIZATION_HELP}")
    evaluation.add_argument("--dataset", help="with --model: the dataset to score on (digits, cifar10, ...)")
    evaluation.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="a config override, e.g. data.root=/data (where the data lives now, for a "
                                 "checkpoint too)")
    evaluation.add_argument("--corruptions", metavar="PATH_OR_NAME",
                            help="a CIFAR-10-C style folder of NAME.npy, an ImageNet-C folder, cifar10-c / cifar100-c "
                                 "(under data.root), or DATASET-c to generate the set once (e.g. digits-c)")
    evaluation.add_argument("--corruption-images", type=int, metavar="N",
                            help="a generated DATASET-c set covers the first N images of the split, stratified "
                                 "(default: all; Fashion-MNIST-C of all 10,000 is 750,000 images)")
    evaluation.add_argument("--severities", type=_int_list, default=[1, 2, 3, 4, 5], help="e.g. 1-5 or 1,3,5")
    evaluation.add_argument("--perturbations", type=Path, metavar="PATH", help="an ImageNet-P folder")
    evaluation.add_argument("--alexnet-fr", type=Path, metavar="FILE",
                            help="JSON/YAML of AlexNet's flip probability per perturbation (for mFR)")
    evaluation.add_argument("--attacks", type=_name_list, default=[], help="comma list of pgd20, autoattack")
    evaluation.add_argument("--n-examples", type=int,
                            help="images attacked: the first N of the split (default: all of them, RobustBench's "
                                 "convention); attack time grows linearly with it")
    evaluation.add_argument("--threat-model", choices=("linf", "l2", "corruptions"),
                            help="a named setting with the field's radius (CIFAR: L-inf 8/255, L2 0.5; ImageNet-sized: "
                                 "L-inf 4/255): standard AutoAttack, or the dataset's -C set for corruptions; "
                                 "also writes robustbench.json")
    evaluation.add_argument("--shift", action="append", default=[], metavar="NAME=PATH", type=_shift,
                            help="a distribution-shift set to score, repeatable: cifar10.1, cifar10.2, imagenet-r, "
                                 "imagenet-a, imagenet-sketch, imagenet-v2 or imagenet-3dcc, each in its published "
                                 "layout")
    evaluation.add_argument("--split", choices=("test", "val"), default="test",
                            help="score the test split, or the validation split held out of training (data.val_images)")
    evaluation.add_argument("--eps", type=_fraction, help="attack radius, e.g. 8/255 (default: the run's)")
    evaluation.add_argument("--norm", choices=("linf", "l2"), help="attack norm (default: the run's)")
    evaluation.add_argument("--autoattack-version", default="standard",
                            help="standard (the benchmark: up to ~3,600 gradient passes per image that stays "
                                 "robust, ~180x PGD-20), plus (~9,500), rand (randomised defences, ~4,000) or custom "
                                 "(only --autoattack-attacks, e.g. apgd-ce: 100)")
    evaluation.add_argument("--autoattack-attacks", type=_name_list,
                            help="with --autoattack-version custom: comma list, e.g. apgd-ce,apgd-t")
    evaluation.add_argument("--batch-size", type=int, help="default: the run's train.eval_batch_size")
    evaluation.add_argument("--overwrite", action="store_true",
                            help="replace the results already in --out (default: add to them if measured on the "
                                 "same weights under the same settings, else refuse)")
    _add_output_options(evaluation, default_out="eval/")
    evaluation.set_defaults(func=_eval)

    corrupt = commands.add_parser(
        "corrupt", help="write a CIFAR-10-C style corruption set of any dataset", **_example("corrupt"))
    corrupt.add_argument("--dataset", required=True,
                         help="digits, fashion-mnist, mnist, cifar10, cifar100 or imagefolder")
    corrupt.add_argument("--root", help="the dataset's folder (not needed for digits, nor for fashion-mnist "
                                        "where Debian's dataset-fashion-mnist is installed)")
    corrupt.add_argument("--out", type=Path, required=True)
    corrupt.add_argument("--split", choices=("test", "train"), default="test")
    corrupt.add_argument("--limit", type=int, help="first N images, stratified (quick sets)")
    corrupt.add_argument("--severities", type=_int_list, default=[1, 2, 3, 4, 5], help="e.g. 1-5 or 1,3,5")
    corrupt.add_argument("--corruptions", type=_name_list, help="comma list (default: the 15 benchmark + 4 extra)")
    corrupt.add_argument("--seed", type=int, default=0)
    corrupt.add_argument("--workers", type=int, help="processes (default: one per CPU core)")
    corrupt.add_argument("--no-progress", action="store_true", help="no progress bars")
    corrupt.set_defaults(func=_corrupt)

    analyze = commands.add_parser("analyze", help="subnet confidence (paper Fig. 1) and per-block vulnerability "
                                                  "(Fig. 7) of a checkpoint", **_example("analyze"))
    analyze.add_argument("--checkpoint", type=Path, required=True)
    analyze.add_argument("--compare", type=Path, metavar="CHECKPOINT",
                         help="a second checkpoint of the same architecture, drawn side by side")
    analyze.add_argument("--subnets", type=int, default=1000, help="random subnets for Fig. 1")
    analyze.add_argument("--rho", type=_fraction, default=0.7, help="width of the Fig. 1 subnets (paper: 0.7)")
    analyze.add_argument("--inputs", type=_name_list, default=["clean", "corrupted", "pgd"],
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
    _add_output_options(analyze, default_out="analysis/")
    analyze.set_defaults(func=_analyze)

    sweep = commands.add_parser(
        "sweep", help="one run per value of a parameter (paper Fig. 5 and 6), or a study: variants x seeds",
        **_example("sweep"))
    sweep.add_argument("--config", type=Path, help="base YAML config")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a base config key")
    sweep.add_argument("--param", help="a numeric config key, e.g. ews.K, ews.lam, ews.rho")
    sweep.add_argument("--values", type=_name_list, default=[], help="comma list, e.g. 1,5,10,20,50")
    sweep.add_argument("--study", type=Path, metavar="FILE",
                       help="study YAML: seeds, reference, base, variants, evaluate, analysis (configs/studies/)")
    sweep.add_argument("--variant", action="append", default=[], metavar="'NAME: KEY=VALUE ...'",
                       help="add a study variant from the command line (repeatable)")
    sweep.add_argument("--reference", help="study variant that differences are paired with")
    sweep.add_argument("--seeds", type=_int_list, help="study seeds, e.g. 1-5 or 1,2,3 (replaces the file's)")
    sweep.add_argument("--out", type=Path, required=True, help="sweep or study folder: one run folder per run")
    where = sweep.add_argument_group(
        "where the runs train", "local (default): this machine; ray: one Ray task per run; slurm: one SLURM job\n"
        "per run (submitit). Every backend gives a run --cpus-per-run threads, so a study's\n"
        "numbers are the same on each.")
    where.add_argument("--backend", choices=("local", "ray", "slurm"), default="local",
                       help="local, ray (pip install 'ews-robust[ray]') or slurm (pip install 'ews-robust[slurm]')")
    where.add_argument("--jobs", type=int, metavar="N", help="local: worker processes, each with --cpus-per-run threads and, "
                                                "on a GPU machine, its own device (default 1)")
    where.add_argument("--cpus-per-run", type=int, metavar="N",
                       help="threads of each run, and the CPUs it asks a cluster for (default 1 on every backend: "
                            "a run's numbers depend on its thread count)")
    where.add_argument("--gpus-per-run", type=int, metavar="N", help="ray, slurm: GPUs each run asks for (default 0)")
    where.add_argument("--max-retries", type=int, metavar="N",
                       help="ray, slurm: restarts of a run whose worker or job died; it resumes from its checkpoint "
                            "(default 3)")
    where.add_argument("--ray-address", metavar="HOST:PORT",
                       help="ray: the cluster's head (or auto); default: start Ray on this machine")
    where.add_argument("--slurm-partition", metavar="NAME", help="slurm: the partition the jobs go to")
    where.add_argument("--slurm-time", metavar="TIME",
                       help="slurm: each job's time limit, e.g. 4:00:00 or 1-00:00:00; a job that reaches it is "
                            "requeued and resumes (default 4:00:00)")
    where.add_argument("--slurm-flag", action="append", default=[], metavar="KEY=VALUE",
                       help="slurm: a further sbatch option, repeatable, e.g. account=proj or constraint=a100")
    sweep.set_defaults(func=_sweep)

    report = commands.add_parser(
        "report", help="rebuild a run's report, or compare runs (method x augmentation)", **_example("report"))
    report.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    report.add_argument("--out", type=Path,
                        help="comparison folder (default: report/ beside the first run); with one run and no "
                             "--out, the run's own report.md/report.html are rebuilt")
    report.set_defaults(func=_report)

    export = commands.add_parser(
        "export", help="write a checkpoint's weights as safetensors (no pickle, no code)", **_example("export"))
    export.add_argument("--checkpoint", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    export.set_defaults(func=_export)

    demo = commands.add_parser("demo", help="vanilla vs EWS on the embedded digits, side by side", **_example("demo"))
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--epochs", type=int, default=15)
    demo.add_argument("--overwrite", action="store_true", help="retrain even if finished runs exist")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
    return parser


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """`ews` and each subcommand's parser, by name: what the help pages and their tests print."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"ews": parser, **commands.choices}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _notes_on_stderr():
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


if __name__ == "__main__":
    sys.exit(main())
