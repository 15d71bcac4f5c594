"""`ews eval`: clean, corruption, shift and adversarial error of an ews checkpoint or of any model."""

from __future__ import annotations

import argparse
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..data.splits import SPLITS
from ..errors import ConfigError
from ..models.external import NORMALIZATION_HELP
from .common import (add_output_options, add_set_option, add_severities, example, fraction, name_list,
                     refresh_report_if_inside)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `eval` subcommand: what is scored (a checkpoint, or a model with its weights), then what it is scored on."""
    evaluation = commands.add_parser(
        "eval", help="clean, corruption and adversarial error of a checkpoint or of any model", **example("eval"))
    evaluation.add_argument("--checkpoint", type=Path, help="an ews checkpoint or .safetensors export")
    evaluation.add_argument("--model", metavar="SPEC",
                            help="instead of --checkpoint: torchvision:NAME, timm:NAME or package.module:factory "
                                 "(called with num_classes= when it takes it)")
    evaluation.add_argument("--weights", type=Path, metavar="FILE",
                            help="with --model: its state dict (.pth/.pt weights-only pickle or .safetensors)")
    evaluation.add_argument("--normalize", metavar="NAME",
                            help=f"with --model: the input normalisation its weights expect: {NORMALIZATION_HELP}")
    evaluation.add_argument("--dataset", help="with --model: the dataset to score on (digits, cifar10, ...)")
    add_set_option(evaluation, "a config override, e.g. data.root=/data (where the data lives now, for a "
                               "checkpoint too)")
    _add_corruption_options(evaluation)
    _add_attack_and_split_options(evaluation)
    evaluation.add_argument("--batch-size", type=int, help="default: the run's train.eval_batch_size")
    evaluation.add_argument("--overwrite", action="store_true",
                            help="replace the results already in --out (default: add to them if measured on the "
                                 "same weights under the same settings, else refuse)")
    add_output_options(evaluation, default_out="eval/")
    evaluation.set_defaults(func=run)


def _add_corruption_options(evaluation: argparse.ArgumentParser) -> None:
    """--corruptions and its set size and severities, and the ImageNet-P flip rate options."""
    evaluation.add_argument("--corruptions", metavar="PATH_OR_NAME",
                            help="a CIFAR-10-C style folder of NAME.npy, an ImageNet-C folder, cifar10-c / cifar100-c "
                                 "(under data.root), or DATASET-c to generate the set once (e.g. digits-c)")
    evaluation.add_argument("--corruption-images", type=int, metavar="N",
                            help="a generated DATASET-c set covers the first N images of the split, stratified "
                                 "(default: all; Fashion-MNIST-C of all 10,000 is 750,000 images)")
    add_severities(evaluation)
    evaluation.add_argument("--perturbations", type=Path, metavar="PATH", help="an ImageNet-P folder")
    evaluation.add_argument("--alexnet-fr", type=Path, metavar="FILE",
                            help="JSON/YAML of AlexNet's flip probability per perturbation (for mFR)")


def _add_attack_and_split_options(evaluation: argparse.ArgumentParser) -> None:
    """The attacks and their threat model, the distribution-shift sets, and the split scored."""
    evaluation.add_argument("--attacks", type=name_list, default=[], help="comma list of pgd20, autoattack")
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
    evaluation.add_argument("--split", choices=SPLITS, default="test",
                            help="score the test split, the validation split held out of training (data.val_images), "
                                 "or the (unaugmented) images the run trained on, to see whether it fitted them")
    evaluation.add_argument("--eps", type=fraction, help="attack radius, e.g. 8/255 (default: the run's)")
    evaluation.add_argument("--norm", choices=("linf", "l2"), help="attack norm (default: the run's)")
    evaluation.add_argument("--autoattack-version", default="standard",
                            help="standard (the benchmark: up to ~3,600 gradient passes per image that stays "
                                 "robust, ~180x PGD-20), plus (~9,500), rand (randomised defences, ~4,000) or custom "
                                 "(only --autoattack-attacks, e.g. apgd-ce: 100)")
    evaluation.add_argument("--autoattack-attacks", type=name_list,
                            help="with --autoattack-version custom: comma list, e.g. apgd-ce,apgd-t")


def _shift(text: str) -> tuple[str, Path]:
    """`imagenet-r=/data/imagenet-r` -> (name, path)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH such as imagenet-r=/data/imagenet-r, got {text!r}")
    return name.strip(), Path(path)


def run(args: argparse.Namespace) -> int:
    """Score the model, print the results table once (warnings included), and refresh the run's report."""
    from ..evaluation import results_markdown

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
    if args.model is None:
        refresh_report_if_inside(out, args.checkpoint.parent)
    return 0


def _eval_source(args: argparse.Namespace):  # noqa: ANN202 - a Path or an `evaluate.ExternalModel`
    """`--checkpoint FILE`, or `--model SPEC --weights FILE --normalize N --dataset D`; each rest is refused."""
    from ..evaluation import ExternalModel

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


def _run_eval(args: argparse.Namespace, source: Any, out: Path) -> dict[str, Any]:
    from ..evaluation import run_evaluation

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
