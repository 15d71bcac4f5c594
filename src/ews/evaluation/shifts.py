"""Error on distribution-shift sets (CIFAR-10.1/10.2, ImageNet-R/A/Sketch/V2, ImageNet-3DCC), each by its convention.

Subset benchmarks (ImageNet-R and -A: 200 classes) are scored on the model's logits
restricted to their classes, as their authors do: a 1,000-way model is not charged for
classes the set never shows. ImageNet-3DCC has ImageNet-C's layout and is scored per
corruption and severity; its number is the mean error over its 12 corruptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..corruptions import names
from ..corruptions.imagenet_c import ImageNetC, read_imagenet_c
from ..corruptions.scoring import imagenet_c_errors, inference, model_input
from ..data.shifts import SHIFT_SETS, ShiftSet, read_shift
from ..errors import ConfigError

THREEDCC = "imagenet-3dcc"
SHIFT_NAMES = (*SHIFT_SETS, THREEDCC)
_3DCC_CONVENTION = ("mean top-1 error over its 12 corruptions x the severities scored (Kar et al. 2022); "
                    "no mCE: it has no AlexNet normalisers")


def read_shift_sets(shifts: Mapping[str, str | Path],
                    severities: Sequence[int] = names.SEVERITIES) -> list[ShiftSet | ImageNetC]:
    """Every named set read and its layout checked, before any image is scored."""
    return [read_imagenet_c(root, severities=severities, benchmark=THREEDCC) if name == THREEDCC
            else read_shift(name, root) for name, root in shifts.items()]


def shift_error(model: nn.Module, shift: ShiftSet, *, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Top-1 error (%) on one set, with its convention and image count for the report."""
    keep = None if shift.class_indices is None else torch.tensor(shift.class_indices, device=device)
    wrong = seen = 0
    with inference(model):
        for x, y in DataLoader(shift.dataset, batch_size=batch_size):
            logits = model(model_input(x, device=device))
            if logits.shape[1] != shift.num_classes:
                raise ConfigError(f"{shift.name} needs a model with {shift.num_classes} outputs, "
                                  f"this one returns {logits.shape[1]}")
            if keep is not None:
                logits = logits.index_select(1, keep)
            wrong += int((logits.argmax(1).cpu() != torch.as_tensor(y)).sum())
            seen += len(y)
    return {"error": round(100.0 * wrong / max(seen, 1), 4), "images": seen, "convention": shift.convention}


def _3dcc_error(model: nn.Module, data: ImageNetC, *, severities: Sequence[int], batch_size: int,
                device: torch.device, progress: bool) -> dict[str, Any]:
    found = imagenet_c_errors(model, data.root, clean_error=None, severities=severities, batch_size=batch_size,
                              device=device, progress=progress, benchmark=THREEDCC)
    images = sum(1 for by in data.folders.values() for folder in by.values() for f in folder.rglob("*") if f.is_file())
    return {"error": found["corruption_error"], "images": images, "convention": _3DCC_CONVENTION,
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
