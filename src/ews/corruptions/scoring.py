"""Score a model on CIFAR-10-C, ImageNet-C and ImageNet-P (Hendrycks & Dietterich 2019).

The model takes float [0, 1] NCHW input and normalises inside (its own `Normalize` layer). Images
travel as uint8 and become floats per batch on the model's device, so a batch crosses
the bus at a quarter of its float size. Every folder and table is checked before the
first image is scored. Errors, flip probabilities and scores are in percent.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..errors import ConfigError, DataError
from ..runs.documents import rounded
from ..runtime import model_mode, module_device
from ..runtime.progress import progress_bar
from . import metrics, names
from .cifar_c import open_npy, read_cifar_c, severity_batches
from .imagenet_c import Transform, default_transform, read_imagenet_c, severity_images
from .imagenet_p import SequenceTransform, Sequences, check_alexnet_flips, is_noise, read_alexnet_flips, read_imagenet_p

Errors = dict[str, dict[str, float]]  # corruption -> str(severity) -> error (%)


@contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """Eval mode (running BatchNorm statistics, no dropout) without autograd; the mode is restored on exit."""
    with model_mode(model, "eval"), torch.inference_mode():
        yield


def model_input(images: Tensor, *, device: torch.device) -> Tensor:
    """(B, 3, H, W) uint8 in 0..255 or float in [0, 1] -> float [0, 1] on `device`, scaled after the copy."""
    cuda = device.type == "cuda"
    if cuda and images.device.type == "cpu" and not images.is_pinned():
        images = images.pin_memory()
    x = images.to(device, non_blocking=cuda)
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def predict(model: nn.Module, images: Tensor, *, device: torch.device) -> Tensor:
    """Top-1 class per image of a batch, (B,) on `device`: the one prediction step of every loop here."""
    return model(model_input(images, device=device)).argmax(1)


def _workers(num_workers: int | None) -> int:
    """Decoding JPEGs and videos is CPU-bound: by default a few workers keep the model fed."""
    return min(8, os.cpu_count() or 1) if num_workers is None else num_workers


def _output_width(model: nn.Module, image: Tensor, *, device: torch.device) -> int:
    """Number of classes the model predicts, from one (3, H, W) image."""
    return model(model_input(image.unsqueeze(0), device=device)).shape[1]


def set_name(folder: Path) -> str:
    """A CIFAR-C-layout set's name in messages: `<dataset>-C` for a set `ews` generated (its meta.json names the
    dataset: digits-C, fashion-mnist-C), else the folder's own name (CIFAR-10-C, CIFAR-100-C)."""
    from .generate import read_meta

    try:
        dataset = read_meta(folder).get("dataset")
    except (OSError, ValueError, AttributeError):  # an unreadable or foreign meta.json: the folder's name will do
        dataset = None
    return f"{dataset}-C" if isinstance(dataset, str) and dataset else folder.name


def _emit(result: dict[str, Any]) -> dict[str, Any]:
    """Warn the caller of every message in `result["warnings"]` (kept there for eval.json); scores to 4 places."""
    for message in result["warnings"]:
        warnings.warn(message, stacklevel=3)
    return rounded(result)


def _summary(errors: Errors, severities: Sequence[int], *, scores: str,
             benchmark: Sequence[str] = names.BENCHMARK) -> dict[str, Any]:
    """Per-corruption errors plus the benchmark means; a partial set gets no mean, and a warning says why."""
    per = {name: list(by_severity.values()) for name, by_severity in errors.items()}
    messages = []
    missing = [name for name in benchmark if name not in errors]
    if missing:
        messages.append(f"{scores} not reported: {len(missing)} of the {len(benchmark)} benchmark corruptions are "
                        f"missing ({', '.join(missing)})")
    extra = names.EXTRA if benchmark == names.BENCHMARK else ()
    extra_missing = [name for name in extra if name not in errors]
    if 0 < len(extra_missing) < len(extra):
        messages.append(f"extra_corruption_error not reported: missing {', '.join(extra_missing)}")
    return {
        "corruption_error": metrics.mean_error(per, benchmark),
        "extra_corruption_error": metrics.mean_error(per, extra) if extra else None,
        "corruptions": errors,
        "severities": list(severities),
        "warnings": messages,
    }


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


def corruption_errors(model: nn.Module, path: Path, *, clean_error: float, severities: Sequence[int],
                      batch_size: int, device: torch.device, progress: bool) -> dict[str, Any]:
    """Errors on a CIFAR-10-C style set of .npy files, or mCE on an ImageNet-C style folder tree."""
    if corruption_layout(path) == "cifar":
        found = cifar_c_errors(model, path, severities=severities, batch_size=batch_size, device=device,
                               progress=progress)
    else:
        found = imagenet_c_errors(model, path, clean_error=clean_error, severities=severities,
                                  batch_size=batch_size, device=device, progress=progress)
    return {**found, "corruption_set": str(path)}


def cifar_c_errors(
    model: nn.Module,
    folder: str | Path,
    *,
    severities: Sequence[int] = names.SEVERITIES,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Top-1 error (%) per corruption file and severity of a CIFAR-10-C / CIFAR-100-C style folder.

    Returns `corruptions` ({name: {str(severity): error}}; every `.npy` but labels, so a
    user's own file is scored under its stem), `corruption_error` (mean over the 15
    benchmark corruptions and the chosen severities, the number of the paper's Table 1),
    `extra_corruption_error` (the 4 held-out ones) and `warnings`. Only the current batch
    is read from the memory-mapped files.
    """
    severities = names.check_severities(severities)
    data = read_cifar_c(folder)
    device = module_device(model, device)
    labels = torch.from_numpy(data.labels).to(device)
    errors: Errors = {}
    total = len(data.files) * len(severities) * data.per_severity
    with inference(model), progress_bar(total=total, unit="img", desc=set_name(data.folder), enabled=progress) as bar:
        first = torch.from_numpy(np.array(open_npy(next(iter(data.files.values())))[0])).permute(2, 0, 1)
        width = _output_width(model, first, device=device)
        if int(data.labels.max()) >= width:
            raise DataError(f"{data.folder / 'labels.npy'} has label {int(data.labels.max())} but the model "
                            f"predicts {width} classes")
        for name, path in data.files.items():
            images = open_npy(path)
            errors[name] = {}
            for severity in severities:
                bar.set_postfix_str(f"{name} {severity}")
                wrong = torch.zeros((), dtype=torch.long, device=device)
                for rows, batch in severity_batches(images, severity=severity, per_severity=data.per_severity,
                                                    batch_size=batch_size):
                    x = torch.from_numpy(batch).permute(0, 3, 1, 2)  # (B, H, W, 3) -> (B, 3, H, W), a view
                    wrong += (predict(model, x, device=device) != labels[rows]).sum()
                    bar.update(len(batch))
                errors[name][str(severity)] = 100.0 * wrong.item() / data.per_severity
    return _emit(_summary(errors, severities, scores="corruption_error"))


def imagenet_c_errors(
    model: nn.Module,
    root: str | Path,
    *,
    clean_error: float | None,
    severities: Sequence[int] = names.SEVERITIES,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = True,
    transform: Transform | None = None,
    classes: Sequence[str] | None = None,
    num_workers: int | None = None,
    benchmark: str = "imagenet-c",
) -> dict[str, Any]:
    """Top-1 error (%) per corruption and severity of an ImageNet-C root, with mCE and relative mCE.

    `clean_error` is the model's clean top-1 error in percent (None: no relative mCE).
    `classes` are the model's WNIDs in label order (default: the sorted class folders
    found, which must then number as many as the model's outputs). `transform` maps a
    PIL image to a (3, H, W) tensor, uint8 or float in [0, 1] (default: resize 256,
    centre crop 224). `mce`/`relative_mce` (AlexNet-normalised, x100) need all 15
    benchmark corruptions at all 5 severities, since AlexNet's normalisers average
    severities 1-5; otherwise they are None and a warning says why. `ce`/`relative_ce`
    hold the per-corruption terms for every corruption with an AlexNet normaliser.
    `benchmark="imagenet-3dcc"` reads ImageNet-3DCC (the same layout, its 12 corruptions) and
    reports their mean error only: it has no AlexNet normalisers.
    """
    severities = names.check_severities(severities)
    if clean_error is not None and not 0 <= clean_error <= 100:
        raise ConfigError(f"clean_error is a percentage in [0, 100], got {clean_error}")
    data = read_imagenet_c(root, severities=severities, classes=classes, benchmark=benchmark)
    device = module_device(model, device)
    transform = default_transform() if transform is None else transform
    workers = _workers(num_workers)
    folders = [(name, severity) for name, by_severity in data.folders.items() for severity in by_severity]
    errors: Errors = {name: {} for name in data.folders}
    scored = 0
    with inference(model), progress_bar(unit="img", desc="ImageNet-C", enabled=progress) as bar:
        for index, (name, severity) in enumerate(folders):
            images = severity_images(data, name, severity, transform=transform)
            if index == 0:
                width = _output_width(model, images[0][0], device=device)
                if width < len(data.classes) or (classes is None and width != len(data.classes)):
                    raise DataError(f"ImageNet-C root {data.root} has {len(data.classes)} classes but the model "
                                    f"predicts {width}; pass the model's classes in label order")
            bar.set_postfix_str(f"{name} {severity} ({index + 1}/{len(folders)})")
            loader = DataLoader(images, batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda")
            wrong = torch.zeros((), dtype=torch.long, device=device)
            for x, y in loader:
                wrong += (predict(model, x, device=device) != y.to(device, non_blocking=True)).sum()
                bar.update(len(y))
            errors[name][str(severity)] = 100.0 * wrong.item() / len(images)
            scored += len(images)
    if benchmark == "imagenet-3dcc":
        result = _summary(errors, severities, scores="the 3DCC mean error", benchmark=names.IMAGENET_3DCC)
    else:
        result = _imagenet_c_scores(errors, severities, clean_error=clean_error)
    return _emit({**result, "images": scored})


def _imagenet_c_scores(errors: Errors, severities: tuple[int, ...], *, clean_error: float | None) -> dict[str, Any]:
    """The ImageNet-C summary of errors per corruption and severity: corruption error, CE and (relative) mCE."""
    result = _summary(errors, severities, scores="corruption_error and mCE")
    per = {name: list(by_severity.values()) for name, by_severity in errors.items()}
    result["ce"] = metrics.ce(per)
    result["relative_ce"] = None if clean_error is None else metrics.relative_ce(per, clean_error=clean_error)
    complete = result["corruption_error"] is not None and severities == names.SEVERITIES
    if result["corruption_error"] is not None and not complete:
        result["warnings"].append("mCE not reported: AlexNet's normalisers average severities 1-5, but only "
                                  f"{', '.join(map(str, severities))} were scored")
    result["mce"] = metrics.mce(per) if complete else None
    result["relative_mce"] = None
    if complete and clean_error is not None:
        result["relative_mce"] = metrics.relative_mce(per, clean_error=clean_error)
    return result


def _flush(model: nn.Module, pending: list[Tensor], *, batch_size: int, device: torch.device) -> list[np.ndarray]:
    """Predict the frames of whole sequences in batches and split the classes back per sequence."""
    frames = torch.cat(pending)
    classes = torch.cat([predict(model, frames[i:i + batch_size], device=device)
                         for i in range(0, len(frames), batch_size)]).cpu().numpy()
    return np.split(classes, np.cumsum([len(p) for p in pending])[:-1])


def sequence_predictions(
    model: nn.Module, sequences: Iterable[Tensor], *, batch_size: int, device: torch.device
) -> Iterator[np.ndarray]:
    """Top-1 classes per frame of each (T, 3, H, W) sequence, in order; short sequences share batches."""
    pending: list[Tensor] = []
    for frames in sequences:
        if pending and frames.shape[1:] != pending[0].shape[1:]:
            yield from _flush(model, pending, batch_size=batch_size, device=device)
            pending = []
        pending.append(frames)
        if sum(len(p) for p in pending) >= batch_size:
            yield from _flush(model, pending, batch_size=batch_size, device=device)
            pending = []
    if pending:
        yield from _flush(model, pending, batch_size=batch_size, device=device)


def imagenet_p_flip(
    model: nn.Module,
    root: str | Path,
    *,
    alexnet_fp: str | Path | Mapping[str, float] | None = None,
    difficulty: int = 1,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = True,
    transform: SequenceTransform | None = None,
    num_workers: int | None = None,
) -> dict[str, Any]:
    """ImageNet-P flip probability (%) per perturbation folder, their mean, and mFR given AlexNet's.

    Noise perturbations compare every frame with the first; the others compare frames
    `difficulty` apart. `alexnet_fp` (a name -> probability mapping, or a JSON/YAML file
    of one) must cover every perturbation found; then `flip_rate` holds FR_p (%) and
    `mfr` their mean over the benchmark's 10 (None unless all 10 were found), else both
    are None. `mean_flip_probability` averages the benchmark's perturbations found. `transform` maps a uint8 (T, 3, H, W) sequence
    to model input (default: frames as stored; the released frames are 224 x 224).
    """
    if difficulty < 1:
        raise ConfigError(f"difficulty must be >= 1, got {difficulty}")
    data = read_imagenet_p(root)
    table = None
    if alexnet_fp is not None:
        table = read_alexnet_flips(alexnet_fp)
        check_alexnet_flips(table, data, source=alexnet_fp)
    device = module_device(model, device)
    workers = _workers(num_workers)
    flips: dict[str, float] = {}
    total = sum(len(paths) for paths in data.sequences.values())
    with inference(model), progress_bar(total=total, unit="seq", desc="ImageNet-P", enabled=progress) as bar:
        for name, paths in data.sequences.items():
            bar.set_postfix_str(name)
            loader = DataLoader(Sequences(paths, transform), batch_size=None, num_workers=workers)
            predictions = []
            for classes in sequence_predictions(model, loader, batch_size=batch_size, device=device):
                predictions.append(classes)
                bar.update(1)
            try:
                flips[name] = metrics.flip_probability(predictions, noise=is_noise(name), difficulty=difficulty)
            except ValueError as err:
                raise DataError(f"ImageNet-P {data.root / name}: {err}") from None
    found = {
        "flip_probability": {name: 100.0 * value for name, value in flips.items()},
        "mean_flip_probability": metrics.mean_flip_probability(flips),
        "flip_rate": None if table is None else metrics.flip_rates(flips, table),
        "mfr": None if table is None else metrics.mean_flip_rate(flips, table),
        "difficulty": difficulty,
    }
    return rounded(found)
