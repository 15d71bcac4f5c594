"""`ews.evaluate`: clean, corruption, distribution-shift and adversarial error of any `nn.Module`.

The core knows nothing of run folders or configs: it takes a model that maps [0, 1] images
to logits (or the normalisation it needs), the images of a split, and what to measure.
Loading a checkpoint or a `--model` string is one step in front of it, and writing
`eval.json` one step behind it (both in `files`). Every argument is checked, and the model
is run on one image, before the first image is scored.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..attacks import EVAL_ATTACKS, NORMS, check_autoattack_choice
from ..config import parse_number
from ..corruptions import names
from ..corruptions.scoring import corruption_errors, corruption_layout, imagenet_p_flip, model_input
from ..data import load
from ..data.splits import stratified_subset
from ..errors import ConfigError, DataError, check_integer
from ..models.external import Normalized, parse_normalization
from ..runtime import host_memory
from ..runtime.device import resolve_device
from .arguments import argument, given, missing_data_remedy, python_remedy
from .corruption_sets import resolve_corruption_set
from .inputs import check_images
from .result import EvaluationResult
from .top1 import top1_error
from .threat_models import THREAT_MODELS, default_eps, threat_model

Normalization = str | tuple[Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class EvalData:
    """The images a model is scored on: one split of a dataset, with what the conventions depend on."""

    name: str
    images: Dataset
    num_classes: int
    image_size: int
    root: str | Path | None = None
    split: str = "test"


@dataclass(frozen=True)
class Request:
    """What to measure and how; `check()` refuses bad values before any model or image is touched."""

    threat_model: str | None = None
    corruptions: str | Path | None = None
    corruption_names: Sequence[str] = names.ALL
    corruption_images: int | None = None
    severities: Sequence[int] = names.SEVERITIES
    perturbations: str | Path | None = None
    alexnet_fr: str | Path | None = None
    attacks: Sequence[str] = ()
    n_examples: int | None = None
    eps: float | None = None
    norm: str | None = None
    autoattack_version: str = "standard"
    autoattack_attacks: Sequence[str] | None = None
    shifts: Mapping[str, str | Path] = field(default_factory=dict)
    batch_size: int = 256
    seed: int = 0
    progress: bool = False
    cli: bool = False  # errors name --flags (ews eval), not Python arguments (ews.evaluate)

    def __post_init__(self) -> None:
        """Take what the command line takes: `eps="8/255"`, `attacks="pgd20"` (or `"pgd20,autoattack"`)."""
        number = parse_number(self.eps) if isinstance(self.eps, str) else None
        if number is not None:
            object.__setattr__(self, "eps", number)
        for key in ("attacks", "autoattack_attacks", "corruption_names"):
            value = getattr(self, key)
            if isinstance(value, str):
                object.__setattr__(self, key, tuple(part.strip() for part in value.split(",") if part.strip()))

    def check(self) -> None:
        """Refuse a bad value in one line naming it (`eps=` or `--eps`) and what is allowed."""
        unknown = [a for a in self.attacks if a not in EVAL_ATTACKS]
        if unknown:
            raise ConfigError(f"unknown attack {unknown[0]!r} in {self._name('attacks')}; "
                              f"allowed: {', '.join(EVAL_ATTACKS)}")
        if self.threat_model is not None and self.threat_model not in THREAT_MODELS:
            raise ConfigError(f"{self._given('threat_model', self.threat_model)} is not one of "
                              f"{', '.join(THREAT_MODELS)}")
        if self.threat_model in ("linf", "l2") and self.autoattack_version != "standard":
            raise ConfigError(f"{self._given('threat_model', self.threat_model)} measures standard AutoAttack "
                              f"(RobustBench's); drop {self._given('autoattack_version', self.autoattack_version)} "
                              "or the threat model")
        names.check_severities(self.severities)
        for key in ("n_examples", "batch_size"):
            value = getattr(self, key)
            if value is not None:
                check_integer(self._name(key), value)
        self._check_autoattack()
        eps = self.eps
        if eps is not None and (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < math.inf):
            raise ConfigError(f"{self._name('eps')} must be a finite number >= 0 or a fraction such as 8/255, "
                              f"got {eps!r}")
        if self.norm is not None and self.norm not in NORMS:
            raise ConfigError(f"{self._name('norm')} must be one of {', '.join(NORMS)}, got {self.norm!r}")
        self._check_shifts()
        for key in ("perturbations", "alexnet_fr"):
            path = getattr(self, key)
            if path is not None and not Path(path).exists():
                raise DataError(f"{self._given(key, str(path))} does not exist")

    def _name(self, key: str) -> str:
        return argument(key, cli=self.cli)

    def _given(self, key: str, value: object) -> str:
        return given(key, value, cli=self.cli)

    def _check_autoattack(self) -> None:
        if (self.autoattack_version == "custom") != (self.autoattack_attacks is not None):
            raise ConfigError(f"{self._name('autoattack_attacks')} (the attacks to run) goes with "
                              f"{self._given('autoattack_version', 'custom')}, and only with it")
        check_autoattack_choice(version=self.autoattack_version, attacks=self.autoattack_attacks)

    def _check_shifts(self) -> None:
        from .shifts import SHIFT_NAMES

        if not isinstance(self.shifts, Mapping):
            raise ConfigError(f"{self._name('shifts')} takes a mapping of set name to folder such as "
                              f"{{'cifar10.1': 'data/CIFAR-10.1'}}, got {type(self.shifts).__name__}")
        unknown = [name for name in self.shifts if name not in SHIFT_NAMES]
        if unknown:
            raise ConfigError(f"unknown shift set {unknown[0]!r} in {self._name('shifts')}; "
                              f"allowed: {', '.join(SHIFT_NAMES)}")

    def under_threat_model(self, data: EvalData) -> Request:
        """The request with its threat model's attack, norm, radius or corruption set filled in."""
        if self.threat_model is None:
            return self
        chosen = threat_model(self.threat_model, image_size=data.image_size, eps=self.eps, norm=self.norm,
                              cli=self.cli)
        if not chosen.adversarial:
            return replace(self, corruptions=self.corruptions or f"{data.name}-c",
                           corruption_names=names.BENCHMARK)
        attacks = tuple(dict.fromkeys((*self.attacks, "autoattack")))
        return replace(self, attacks=attacks, eps=chosen.eps, norm=chosen.norm)


def evaluation_data(dataset: str | Dataset, *, root: str | Path | None = None, limit: int | None = None,
                    num_classes: int | None = None, name: str | None = None) -> EvalData:
    """A dataset's test split by name (`digits`, `cifar10`, ...) or a user's `Dataset` of ([0, 1] image, label)."""
    if isinstance(dataset, str):
        with missing_data_remedy(python_remedy):
            images, info = load(dataset, root=root, train=False, limit=limit)
        return EvalData(dataset, images, info.num_classes, info.image_size, root)
    if num_classes is None:
        raise ConfigError("evaluating a Dataset needs num_classes=N (a dataset named by string knows its own)")
    name = name or type(dataset).__name__
    check_images(dataset, name=name, hint="give images in [0, 1] and the model's normalisation as normalize=")
    return EvalData(name, dataset, num_classes, int(torch.as_tensor(dataset[0][0]).shape[-1]), root)


def evaluate(
    model: nn.Module,
    dataset: str | Dataset = "cifar10",
    *,
    normalize: Normalization | None = None,
    root: str | Path | None = None,
    limit: int | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "auto",
    cache: str | Path | None = None,
    **measure: Any,
) -> EvaluationResult:
    """Score `model` the way robustness papers report it; see `Request` for what `measure` may ask.

    `model` maps [0, 1] images to logits, or takes images normalised by `normalize` (a name
    such as `imagenet` or `cifar10`, `MEAN/STD` text, or a `(mean, std)` pair). `dataset` is
    a name whose test split is read (`root` for files, `limit` for its first N images,
    stratified) or a `Dataset` with `num_classes`. `threat_model="linf"|"l2"` runs standard
    AutoAttack at the field's radius on the whole split (or the first `n_examples` images);
    `"corruptions"` scores the dataset's -C set. `shifts={"imagenet-r": folder, ...}` scores
    distribution-shift sets. Generated -C sets and AutoAttack's resume state go into `cache`
    (default: a temporary folder, removed after). The model is put in eval mode on `device`.
    """
    allowed = [f.name for f in fields(Request) if f.name != "cli"]
    unknown = sorted(set(measure) - set(allowed))
    if unknown:
        raise ConfigError(f"ews.evaluate has no argument {unknown[0]!r}; measurements: {', '.join(allowed)}")
    request = Request(**measure)
    request.check()
    data = evaluation_data(dataset, root=root, limit=limit, num_classes=num_classes)
    torch_device = resolve_device(device)
    net = with_normalization(model, normalize).to(torch_device).eval()
    if cache is not None:
        return score(net, data, request, device=torch_device, cache=Path(cache))
    with tempfile.TemporaryDirectory(prefix="ews-eval-") as scratch:
        return score(net, data, request, device=torch_device, cache=Path(scratch))


def with_normalization(model: nn.Module, normalize: Normalization | None) -> nn.Module:
    """`model` itself for [0, 1] input, else wrapped with the normalisation its weights expect."""
    if normalize is None:
        return model
    mean, std = parse_normalization(normalize, python=True) if isinstance(normalize, str) else normalize
    return Normalized(model, mean=mean, std=std)


def score(model: nn.Module, data: EvalData, request: Request, *, device: torch.device, cache: Path,
          defaults: Mapping[str, Any] | None = None) -> EvaluationResult:
    """Every measurement `request` asks for, on `data` (`request` checked by the caller, before any loading);
    `defaults` gives the attack's eps and norm when unset."""
    request = resolve(request, data, defaults)
    host_memory.retain_for(device.type)
    shift_sets = _shift_sets(request, data)  # matched to the model's dataset and read before any long work
    _check_model(model, data, device=device, cli=request.cli)
    corruption_path = _corruption_set(request, data, cache=cache)
    metrics: dict[str, Any] = {"clean_error": clean_error(model, data.images, batch_size=request.batch_size,
                                                          device=device, progress=request.progress, name=data.name)}
    common = {"batch_size": request.batch_size, "device": device, "progress": request.progress}
    if corruption_path is not None:
        metrics.update(corruption_errors(model, corruption_path, clean_error=metrics["clean_error"],
                                         severities=request.severities, **common))
        metrics.update(_corrupted_images_clean_error(model, data, request, corruption_path, **common))
    if request.perturbations is not None:
        metrics.update(imagenet_p_flip(model, Path(request.perturbations), alexnet_fp=request.alexnet_fr, **common))
    if shift_sets:
        from .shifts import shift_errors

        metrics["shifts"] = shift_errors(model, shift_sets, severities=request.severities, **common)
    if request.attacks:
        _merge_warnings(metrics, attack_errors(model, data, request, cache=cache, device=device))
    return EvaluationResult(metrics, settings=measurement_settings(request, data))


def resolve(request: Request, data: EvalData, defaults: Mapping[str, Any] | None = None) -> Request:
    """`request` as it runs on `data`: its threat model's attack, radius or -C set filled in, and the attack's
    eps and norm from `defaults` (a run's own) or the field's radius."""
    return _with_attack_defaults(request.under_threat_model(data), data, defaults or {})


def _with_attack_defaults(request: Request, data: EvalData, defaults: Mapping[str, Any]) -> Request:
    if not request.attacks:
        return request
    norm = request.norm or defaults.get("norm") or "linf"
    eps = request.eps if request.eps is not None else defaults.get("eps")
    return replace(request, norm=norm, eps=default_eps(norm, data.image_size) if eps is None else eps)


def _check_model(model: nn.Module, data: EvalData, *, device: torch.device, cli: bool = False) -> None:
    """One image through the model before any long work: its normalisation fits the images' channels, it runs,
    and it returns one logit per class. A model that cannot take the images fails here in one line, not
    as a framework traceback from inside its first layer."""
    x = torch.as_tensor(data.images[0][0])
    if isinstance(model, Normalized) and model.normalize.mean.numel() != x.shape[0]:
        count = model.normalize.mean.numel()
        raise ConfigError(f"{argument('normalize', cli=cli)} has {count} means and {count} stds but {data.name} "
                          f"images have {x.shape[0]} channels; give {x.shape[0]} of each (e.g. "
                          "0.5,0.5,0.5/0.25,0.25,0.25) or a name such as cifar10")
    try:
        with torch.no_grad():
            shape = tuple(model(model_input(x.unsqueeze(0), device=device)).shape)
    except RuntimeError as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"the model fails on one {data.name} image of shape {tuple(x.shape)}: {reason}") from err
    if len(shape) != 2:
        raise ConfigError(f"the model returns shape {shape} for one image; expected (batch, classes) logits")
    if shape[1] != data.num_classes:
        raise ConfigError(f"the model returns {shape[1]} outputs but {data.name} has {data.num_classes} classes")


def _corruption_set(request: Request, data: EvalData, *, cache: Path) -> Path | None:
    if request.corruptions is None:
        return None
    path = resolve_corruption_set(request.corruptions, dataset=data.name, root=data.root, images=lambda: data.images,
                                  cache=cache, seed=request.seed, progress=request.progress, split=data.split,
                                  corruptions=request.corruption_names, limit=request.corruption_images,
                                  cli=request.cli)
    if corruption_layout(path) == "cifar":
        from ..corruptions.cifar_c import read_cifar_c

        read_cifar_c(path)  # every file checked before the first image is scored
    return path


def _shift_sets(request: Request, data: EvalData) -> list[Any]:
    if not request.shifts:
        return []
    from .shifts import check_shifts_fit, read_shift_sets

    check_shifts_fit(request.shifts, dataset=data.name, num_classes=data.num_classes, cli=request.cli)
    return read_shift_sets(request.shifts, request.severities)


def clean_error(model: nn.Module, images: Dataset, *, batch_size: int, device: torch.device,
                progress: bool = False, name: str = "the dataset") -> float:
    """Top-1 error (%) on every image of `images` (`name`d in errors), each batch's range checked as it streams."""
    return top1_error(model, images, batch_size=batch_size, device=device, name=name)[0]


def _corrupted_images_clean_error(model: nn.Module, data: EvalData, request: Request, path: Path,
                                  **common: Any) -> dict[str, Any]:
    """Clean error on the images a generated `DATASET-c` subset was made of (`corruption_images`, stratified).

    RobustBench scores clean and corrupted accuracy on the same images; the split's own
    clean error stays `clean_error`. Empty unless this call generated (or reuses) the subset.
    """
    from ..corruptions.generate import read_meta

    meta = read_meta(path)
    limit = request.corruption_images
    if (limit is None or str(request.corruptions).lower() != f"{data.name}-c"
            or (meta.get("dataset"), meta.get("split"), meta.get("limit")) != (data.name, data.split, limit)):
        return {}
    subset = stratified_subset(data.images, limit, what=f"the {data.name} {data.split} split")
    return {"corruption_clean_error": clean_error(model, subset, batch_size=common["batch_size"],
                                                  device=common["device"], name=data.name)}


def first_images(dataset: Dataset, count: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` images (all: None) as one batch: RobustBench's convention for attacked subsets."""
    count = len(dataset) if count is None else min(count, len(dataset))
    x, y = next(iter(DataLoader(Subset(dataset, range(count)), batch_size=count)))
    return (x.float().div_(255) if x.dtype == torch.uint8 else x), torch.as_tensor(y)


def attack_errors(model: nn.Module, data: EvalData, request: Request, *, cache: Path,
                  device: torch.device) -> dict[str, Any]:
    """PGD-20 / AutoAttack error on the first `n_examples` images; AutoAttack resumes from `cache/autoattack/`."""
    from ..attacks import adversarial_errors

    x, y = first_images(data.images, request.n_examples)
    chosen = "" if request.autoattack_attacks is None else "-" + "+".join(request.autoattack_attacks)
    state = (cache / "autoattack" / f"{request.autoattack_version}{chosen}-{request.norm}-eps{request.eps:.6g}"
             f"-n{len(x)}-seed{request.seed}")
    adv = adversarial_errors(
        model, x, y, attacks=tuple(request.attacks), eps=request.eps, norm=request.norm,
        batch_size=request.batch_size, device=device, state_dir=state if "autoattack" in request.attacks else None,
        seed=request.seed, version=request.autoattack_version, autoattack_attacks=request.autoattack_attacks,
        progress=request.progress)
    adv["adv_clean_error"] = adv.pop("clean_error")  # on the attacked images only
    adv.update(eps=request.eps, norm=request.norm)
    for message in adv["warnings"]:
        warnings.warn(message, stacklevel=3)
    return adv


def _merge_warnings(metrics: dict[str, Any], found: dict[str, Any]) -> None:
    if found.get("warnings"):
        metrics.setdefault("warnings", []).extend(found["warnings"])
    metrics.update({key: value for key, value in found.items() if key != "warnings"})


def measurement_settings(request: Request, data: EvalData) -> dict[str, Any]:
    """How the numbers of a resolved `request` on `data` are measured (`settings` in `eval.json`, robustbench.json):
    known before any image is scored, so a folder's earlier results can be checked against them first."""
    settings: dict[str, Any] = {"dataset": data.name, "split": data.split, "images": len(data.images),
                                "threat_model": request.threat_model, "seed": request.seed,
                                "batch_size": request.batch_size}
    if request.attacks:
        settings.update(attacks=list(request.attacks), eps=request.eps, norm=request.norm,
                        n_examples=min(request.n_examples or len(data.images), len(data.images)))
    if "autoattack" in request.attacks:
        settings["autoattack_version"] = request.autoattack_version
        if request.autoattack_attacks is not None:
            settings["autoattack_attacks"] = list(request.autoattack_attacks)
    if request.corruptions is not None:
        settings.update(corruptions=str(request.corruptions), corruption_images=request.corruption_images)
    if request.corruptions is not None or request.shifts:
        settings["severities"] = list(request.severities)
    if request.perturbations is not None:
        settings.update(perturbations=str(request.perturbations),
                        alexnet_fr=None if request.alexnet_fr is None else str(request.alexnet_fr))
    if request.shifts:
        settings["shifts"] = {name: str(path) for name, path in request.shifts.items()}
    return settings

