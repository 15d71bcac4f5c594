"""`ews eval`: clean, corruption and adversarial error of any checkpoint or model, as the benchmarks define them.

Evaluation is separate from training and works on any checkpoint: it rebuilds the model from the
config stored in the checkpoint (or, for `--model torchvision:NAME|timm:NAME|module:factory`,
builds that network, loads its weights file and normalises as stated), reads weights with
`weights_only=True` or safetensors, and writes
`eval.json` (merged with an earlier evaluation in the same folder, so corruption and
attack results can be computed in separate calls) plus `eval.md`. Every argument is
checked before the first image is scored.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .attacks import EVAL_ATTACKS, NORMS, check_autoattack_choice
from .config import Config, load_config
from .corruptions import names
from .corruptions.cifar_c import read_cifar_c
from .data import DatasetInfo, load
from .data.splits import evaluation_split, stratified_subset
from .data.subsets import take_images
from .errors import CheckpointError, ConfigError, DataError
from .models.external import Normalized, build_external, parse_normalization
from .runs.checkpoint import atomic_write_text, load_model_weights, load_state_dict_file, state_dict_mismatch
from .runs.documents import Block, Heading, Paragraph, Table, fmt, to_markdown
from .runtime import host_memory
from .runtime.device import resolve_device
from .training.build import build_model
from .training.loop import evaluate

# Released -C sets found under data.root by name; other `<dataset>-c` names are generated.
_RELEASED_C = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}


@dataclass
class TrainedModel:
    """A checkpoint's network in eval mode, with the config and test split it was trained for."""

    model: nn.Module
    config: Config
    info: DatasetInfo
    test_set: Dataset
    checkpoint: Path


@dataclass(frozen=True)
class ExternalModel:
    """A network from outside `ews` (`torchvision:NAME`, `timm:NAME`, `package.module:factory`) to evaluate:
    its weights file, the normalisation those weights expect, and the dataset (with config overrides) to score on."""

    spec: str
    weights: Path
    normalize: str
    dataset: str
    overrides: tuple[str, ...] = ()


def load_external(source: ExternalModel, *, device: torch.device, split: str = "test") -> TrainedModel:
    """Build `source.spec` for the dataset's classes, load its weights (no code runs), normalise as stated."""
    mean, std = parse_normalization(source.normalize)
    config = load_config(overrides=[f"data.name={source.dataset}", *source.overrides])
    d = config.data
    _, info = load(d.name, root=d.root, train=False, limit=d.limit)
    test_set = evaluation_split(config, split)
    net = build_external(source.spec, num_classes=info.num_classes)
    state = load_state_dict_file(source.weights)
    reason = state_dict_mismatch(net, state)
    if reason is not None:
        raise CheckpointError(f"weights {source.weights} do not fit {source.spec}: {reason}")
    net.load_state_dict(state)
    model = Normalized(net, mean=mean, std=std).to(device).eval()
    return TrainedModel(model, config, info, test_set, source.weights)


def load_trained(checkpoint: str | Path, *, device: torch.device, overrides: Sequence[str] = (),
                 split: str = "test") -> TrainedModel:
    """Rebuild the network a checkpoint was trained as and load its weights (no code runs).

    `test_set` is the run's test split, or with `split="val"` its held-out validation split.
    """
    from .training.export import load_weights

    checkpoint = Path(checkpoint)
    payload = load_weights(checkpoint, map_location=device)  # a checkpoint or a .safetensors export
    config = load_config(base=payload.get("config", {}), overrides=overrides)
    d = config.data
    _, info = load(d.name, root=d.root, train=False, limit=d.limit)
    test_set = evaluation_split(config, split)
    model = build_model(config, info).to(device)
    load_model_weights(model, payload.get("model"), path=checkpoint)
    model.eval()
    return TrainedModel(model, config, info, test_set, checkpoint)


def corruption_layout(path: Path) -> str:
    """`cifar` for a folder of `NAME.npy` files, `imagenet` for `CORRUPTION/SEVERITY/CLASS/*` folders."""
    if not path.is_dir():
        raise DataError(f"corruption set {path} is not a folder")
    if any(path.glob("*.npy")):
        return "cifar"
    if any(child.is_dir() and child.name.isdigit() for sub in path.iterdir() if sub.is_dir() for child in sub.iterdir()):
        return "imagenet"
    raise DataError(
        f"corruption set {path} has neither NAME.npy files (CIFAR-10-C layout) "
        f"nor CORRUPTION/SEVERITY/CLASS folders (ImageNet-C layout)"
    )


def resolve_corruptions(spec: str, config: Config, *, cache: Path, seed: int = 0, progress: bool = True,
                        split: str = "test", corruptions: Sequence[str] = names.ALL, limit: int | None = None) -> Path:
    """A path as given; `cifar10-c`/`cifar100-c` under data.root; `<dataset>-c` generated once into `cache`.

    For the validation split (`split="val"`) only a generated set or a given folder fits. A
    generated set covers the split's first `limit` images, stratified (None: all of them).
    """
    path = Path(spec)
    if path.exists():
        return path
    dataset = config.data.name
    if spec.lower() != f"{dataset}-c":
        raise DataError(f"--corruptions {spec!r} is neither an existing folder nor {dataset}-c (this model's dataset)")
    if dataset in _RELEASED_C and split == "test":
        root = config.data.root
        released = Path(root or ".") / _RELEASED_C[dataset]
        if not released.is_dir():
            raise DataError(f"--corruptions {spec}: {released} does not exist; download {_RELEASED_C[dataset]} there")
        return released
    name = f"{dataset}-c" + ("" if split == "test" else f"-{split}") + ("" if limit is None else f"-{limit}")
    return generated_c_set(dataset, config, cache / name, corruptions=corruptions, seed=seed, progress=progress,
                           split=split, limit=limit)


def generated_c_set(
    dataset: str, config: Config, folder: Path, *, corruptions: Sequence[str] = names.ALL, seed: int = 0,
    progress: bool = True, split: str = "test", limit: int | None = None,
) -> Path:
    """The -C set of a test (or validation) split, generated on first use (default: 19 corruptions x 5 severities).

    `limit` keeps the split's first N images, stratified, and is recorded in the set's `meta.json`.
    """
    from .corruptions.generate import dataset_to_uint8, write_corrupted_set

    if (folder / "labels.npy").is_file() and all((folder / f"{n}.npy").is_file() for n in corruptions):
        return folder
    images = stratified_subset(evaluation_split(config, split), limit, what=f"the {dataset} {split} split")
    images, labels = dataset_to_uint8(images)
    folder.mkdir(parents=True, exist_ok=True)
    write_corrupted_set(images, labels, folder, corruptions=corruptions, seed=seed, progress=progress,
                        meta={"dataset": dataset, "split": split, "limit": limit})
    return folder


def _check_attacks(attacks: Sequence[str]) -> None:
    unknown = [a for a in attacks if a not in EVAL_ATTACKS]
    if unknown:
        raise ConfigError(f"unknown attack {unknown[0]!r}; allowed: {', '.join(EVAL_ATTACKS)}")


def _first_images(dataset: Dataset, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` test images (RobustBench's convention), as one batch."""
    batches = take_images(DataLoader(dataset, batch_size=min(count, 512)), count)
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


def run_evaluation(
    checkpoint: str | Path | ExternalModel,
    *,
    out: str | Path,
    corruptions: str | None = None,
    severities: Sequence[int] = names.SEVERITIES,
    perturbations: str | Path | None = None,
    alexnet_fr: str | Path | None = None,
    attacks: Sequence[str] = (),
    n_examples: int = 1000,
    eps: float | None = None,
    norm: str | None = None,
    autoattack_version: str = "standard",
    autoattack_attacks: Sequence[str] | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    split: str = "test",
    corruption_images: int | None = None,
) -> dict[str, Any]:
    """Evaluate one checkpoint (or `ExternalModel`) on its test (or held-out validation) split; write `eval.json`
    and `eval.md` into `out`. A generated `DATASET-c` set covers the split's first `corruption_images` images,
    stratified (None: all)."""
    out = Path(out)
    external = checkpoint if isinstance(checkpoint, ExternalModel) else None
    _check_request(out, attacks=attacks, severities=severities, n_examples=n_examples, eps=eps, norm=norm,
                   autoattack_version=autoattack_version, autoattack_attacks=autoattack_attacks,
                   inputs={"--perturbations": perturbations, "--alexnet-fr": alexnet_fr,
                           "--weights": None if external is None else external.weights})
    if external is not None:
        parse_normalization(external.normalize)
    torch_device = resolve_device(device)
    host_memory.retain_for(torch_device.type)
    trained = _load(checkpoint, device=torch_device, split=split)
    batch = batch_size or trained.config.train.eval_batch_size
    corruption_path = None
    if corruptions is not None:
        corruption_path = resolve_corruptions(corruptions, trained.config, cache=out, seed=seed, progress=progress,
                                              split=split, limit=corruption_images)
        if corruption_layout(corruption_path) == "cifar":
            read_cifar_c(corruption_path)  # every file checked before the first image is scored

    results = _identity(trained, external, split=split)
    test_loader = DataLoader(trained.test_set, batch_size=batch)
    results["clean_error"] = round(100.0 * (1.0 - evaluate(trained.model, test_loader, device=torch_device)), 4)
    scoring = {"batch_size": batch, "device": torch_device, "progress": progress}
    if corruption_path is not None:
        results.update(_corruption_errors(trained.model, corruption_path, clean_error=results["clean_error"],
                                          severities=severities, **scoring))
    if perturbations is not None:
        from .corruptions.scoring import imagenet_p_flip

        results.update(imagenet_p_flip(trained.model, Path(perturbations), alexnet_fp=alexnet_fr, **scoring))
    if attacks:
        adv = _attack_errors(trained, out=out, attacks=attacks, n_examples=n_examples, eps=eps, norm=norm,
                             version=autoattack_version, autoattack_attacks=autoattack_attacks, seed=seed, **scoring)
        if adv["warnings"]:
            results.setdefault("warnings", []).extend(adv["warnings"])
        results.update({key: value for key, value in adv.items() if key != "warnings"})
    return write_results(out, results)


def _load(source: str | Path | ExternalModel, *, device: torch.device, split: str) -> TrainedModel:
    if isinstance(source, ExternalModel):
        return load_external(source, device=device, split=split)
    return load_trained(source, device=device, split=split)


def _identity(trained: TrainedModel, external: ExternalModel | None, *, split: str) -> dict[str, Any]:
    """What was evaluated, the first keys of `eval.json`."""
    results: dict[str, Any] = {"checkpoint": str(trained.checkpoint), "dataset": trained.config.data.name,
                               "model": trained.config.model.name, "method": trained.config.method, "split": split}
    if external is not None:
        results.update(model=external.spec, method="external", normalization=external.normalize)
    return results


def _check_request(out: Path, *, attacks: Sequence[str], severities: Sequence[int], n_examples: int,
                   eps: float | None, norm: str | None, autoattack_version: str,
                   autoattack_attacks: Sequence[str] | None, inputs: dict[str, str | Path | None]) -> None:
    """Every argument of `run_evaluation`, checked before a model is loaded."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    _check_attacks(attacks)
    names.check_severities(severities)
    if n_examples < 1:
        raise ConfigError(f"--n-examples must be >= 1, got {n_examples}")
    check_autoattack_choice(version=autoattack_version, attacks=autoattack_attacks)
    if eps is not None and not eps >= 0:
        raise ConfigError(f"--eps must be >= 0, got {eps}")
    if norm is not None and norm not in NORMS:
        raise ConfigError(f"--norm must be one of {', '.join(NORMS)}, got {norm!r}")
    for label, path in inputs.items():
        if path is not None and not Path(path).exists():
            raise DataError(f"{label} {path} does not exist")


def _corruption_errors(model: torch.nn.Module, path: Path, *, clean_error: float, severities: Sequence[int],
                       batch_size: int, device: torch.device, progress: bool) -> dict[str, Any]:
    """Errors on a CIFAR-10-C style set of .npy files, or mCE on an ImageNet-C style folder tree."""
    from .corruptions import scoring

    if corruption_layout(path) == "cifar":
        found = scoring.cifar_c_errors(model, path, severities=severities, batch_size=batch_size, device=device,
                                       progress=progress)
    else:
        found = scoring.imagenet_c_errors(model, path, clean_error=clean_error, severities=severities,
                                          batch_size=batch_size, device=device, progress=progress)
    return {**found, "corruption_set": str(path)}


def _attack_errors(trained: TrainedModel, *, out: Path, attacks: Sequence[str], n_examples: int, eps: float | None,
                   norm: str | None, version: str, autoattack_attacks: Sequence[str] | None, seed: int,
                   batch_size: int, device: torch.device, progress: bool) -> dict[str, Any]:
    """PGD-20 / AutoAttack error on the first `n_examples` images; AutoAttack resumes from `out/autoattack/`."""
    from .attacks import adversarial_errors

    a = trained.config.adversarial
    eps, norm = (a.eps if eps is None else eps), (norm or a.norm)
    x, y = _first_images(trained.test_set, n_examples)
    chosen = "" if autoattack_attacks is None else "-" + "+".join(autoattack_attacks)
    state = out / "autoattack" / f"{version}{chosen}-{norm}-eps{eps:.6g}-n{len(x)}-seed{seed}"
    adv = adversarial_errors(
        trained.model, x, y, attacks=tuple(attacks), eps=eps, norm=norm, batch_size=batch_size, device=device,
        state_dir=state if "autoattack" in attacks else None, seed=seed, version=version,
        autoattack_attacks=autoattack_attacks, progress=progress)
    adv["adv_clean_error"] = adv.pop("clean_error")  # on the attacked images only
    for message in adv["warnings"]:
        warnings.warn(message, stacklevel=3)
    return adv


def write_results(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Merge into an earlier `eval.json` in `out` (new keys win) and write both files atomically."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "eval.json"
    merged: dict[str, Any] = {}
    if path.is_file():
        try:
            merged = json.loads(path.read_text())
        except json.JSONDecodeError:
            merged = {}
        if merged.get("checkpoint") != results["checkpoint"]:
            merged = {}  # another model's results are not mixed in
    merged.update(results)
    atomic_write_text(path, json.dumps(merged, indent=2) + "\n")
    atomic_write_text(out / "eval.md", results_markdown(merged))
    return merged


# The summary metrics of `eval.json`, in report order: (label, key).
SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("clean error (%)", "clean_error"), ("corruption error, 15 benchmark corruptions (%)", "corruption_error"),
    ("corruption error, 4 extra corruptions (%)", "extra_corruption_error"), ("mCE (%)", "mce"),
    ("relative mCE (%)", "relative_mce"), ("mean flip probability (%)", "mean_flip_probability"),
    ("mFR (%)", "mfr"), ("PGD-20 error (%)", "pgd20_error"), ("AutoAttack error (%)", "autoattack_error"),
)


def evaluation_blocks(results: Mapping[str, Any], *, title: str) -> list[Block]:
    """`eval.json` as tables (for `eval.md` and the run reports): the summary, errors per corruption
    and severity, flip probabilities."""
    blocks: list[Block] = [Heading(title, 3)]
    rows = [(label, fmt(results[key])) for label, key in SUMMARY_ROWS if key in results]
    if "adv_examples" in results:
        rows.append((f"clean error on the {results['adv_examples']} attacked images (%)",
                     fmt(results.get("adv_clean_error"))))
    blocks.append(Table(("metric", "value"), tuple(rows)))
    per = results.get("corruptions")
    if per:
        severities = sorted({s for errors in per.values() for s in errors}, key=int)
        table = tuple(
            (name, *(fmt(errors.get(s)) for s in severities), fmt(sum(errors.values()) / len(errors)))
            for name, errors in per.items()
        )
        blocks += [Paragraph("Error (%) per corruption and severity:"),
                   Table(("corruption", *(f"severity {s}" for s in severities), "mean"), table)]
    flips = results.get("flip_probability")
    if flips:
        blocks += [Paragraph("ImageNet-P flip probability (%):"),
                   Table(("perturbation", "flip probability"), tuple((k, fmt(v)) for k, v in flips.items()))]
    blocks += [Paragraph(f"Warning: {message}") for message in results.get("warnings", [])]
    return blocks


def results_markdown(results: dict[str, Any]) -> str:
    """`eval.md`: the same tables the run report shows for this evaluation (one renderer of `eval.json`)."""
    title = f"{results['method']} {results['model']} on {results['dataset']}"
    return to_markdown([Heading(f"Evaluation of {results['checkpoint']}", 1), *evaluation_blocks(results, title=title)])
