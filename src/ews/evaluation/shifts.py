"""Error on distribution-shift sets (CIFAR-10.1/10.2, ImageNet-R/A/Sketch/V2, ImageNet-3DCC), each by its convention.

Subset benchmarks (ImageNet-R and -A: 200 classes) are scored on the model's logits
restricted to their classes, as their authors do: a 1,000-way model is not charged for
classes the set never shows. ImageNet-3DCC has ImageNet-C's layout and is scored per
corruption and severity; its number is the mean error over its 12 corruptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..corruptions import names
from ..corruptions.imagenet_c import ImageNetC, read_imagenet_c
from ..corruptions.scoring import imagenet_c_errors, inference, model_input
from .arguments import argument
from .top1 import top1_error
from ..data import DATASET_NAMES
from ..data.shifts import SHIFT_SETS, ShiftSet, read_shift
from ..data.shifts.cifar import NUM_CLASSES as CIFAR10_CLASSES
from ..data.shifts.imagenet import NUM_CLASSES as IMAGENET_CLASSES
from ..errors import ConfigError

THREEDCC = "imagenet-3dcc"
SHIFT_NAMES = (*SHIFT_SETS, THREEDCC)
_3DCC_CONVENTION = ("mean top-1 error over its 12 corruptions x the severities scored (Kar et al. 2022); "
                    "no mCE: it has no AlexNet normalisers")
# What each set is a new test set of: ews's name of that dataset (ImageNet is read as `imagefolder`), its title,
# and the outputs a model scored on it must have (3DCC: None, its own class folders are checked when it is read).
_CIFAR10 = ("cifar10", "CIFAR-10", CIFAR10_CLASSES)
_IMAGENET = ("imagefolder", "ImageNet", IMAGENET_CLASSES)
_SHIFTED: dict[str, tuple[str, str, int | None]] = {
    **{name: _CIFAR10 for name in SHIFT_SETS if name.startswith("cifar10.")},
    **{name: _IMAGENET for name in SHIFT_SETS if name.startswith("imagenet-")},
    THREEDCC: ("imagefolder", "ImageNet", None),
}


def check_shifts_fit(shifts: Iterable[str], *, dataset: str, num_classes: int, cli: bool = False) -> None:
    """Refuse a shift set made for another dataset than the model's, before any set is read or image scored.

    A CIFAR-10.1 error of a digits model is a number about nothing, and both have 10 classes:
    an `ews` dataset is checked by name, a user's `Dataset` (a name `ews` does not know) by
    its class count. `cli` names `--shift` rather than `shifts=`.
    """
    for name in shifts:
        home, title, classes = _SHIFTED[name]
        if (dataset in DATASET_NAMES and dataset != home) or classes not in (None, num_classes):
            needs = "" if classes is None else f" ({classes} classes)"
            raise ConfigError(f"shift set {name!r} ({argument('shifts', cli=cli)}) is a test set for {title} "
                              f"models{needs}; this model is scored on {dataset} ({num_classes} classes)")


def read_shift_sets(shifts: Mapping[str, str | Path],
                    severities: Sequence[int] = names.SEVERITIES) -> list[ShiftSet | ImageNetC]:
    """Every named set read and its layout checked, before any image is scored."""
    return [read_imagenet_c(root, severities=severities, benchmark=THREEDCC) if name == THREEDCC
            else read_shift(name, root) for name, root in shifts.items()]


def shift_error(model: nn.Module, shift: ShiftSet, *, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Top-1 error (%) on one set, with its convention and image count for the report."""
    with inference(model):
        first = model(model_input(shift.dataset[0][0].unsqueeze(0), device=device))
    if first.shape[1] != shift.num_classes:
        raise ConfigError(f"{shift.name} needs a model with {shift.num_classes} outputs, "
                          f"this one returns {first.shape[1]}")
    error, seen = top1_error(model, shift.dataset, batch_size=batch_size, device=device, keep=shift.class_indices,
                              name=shift.name)
    return {"error": error, "images": seen, "convention": shift.convention}


def _3dcc_error(model: nn.Module, data: ImageNetC, *, severities: Sequence[int], batch_size: int,
                device: torch.device, progress: bool) -> dict[str, Any]:
    found = imagenet_c_errors(model, data.root, clean_error=None, severities=severities, batch_size=batch_size,
                              device=device, progress=progress, benchmark=THREEDCC)
    return {"error": found["corruption_error"], "images": found["images"], "convention": _3DCC_CONVENTION,
            "corruptions": found["corruptions"]}


def shift_errors(model: nn.Module, shifts: list[ShiftSet | ImageNetC], *, batch_size: int, device: torch.device,
                 progress: bool = False, severities: Sequence[int] = names.SEVERITIES) -> dict[str, dict[str, Any]]:
    """Each set's entry for `eval.json`'s `shifts`, keyed by the set's name."""
    scored: dict[str, dict[str, Any]] = {}
    for shift in shifts:
        if isinstance(shift, ImageNetC):
            scored[THREEDCC] = _3dcc_error(model, shift, severities=severities, batch_size=batch_size,
                                           device=device, progress=progress)
        else:
            scored[shift.name] = shift_error(model, shift, batch_size=batch_size, device=device)
    return scored
