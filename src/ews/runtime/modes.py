"""Running a model in a mode and finding its device: the one helper for each, used by every layer.

Attacks, corruption scoring, subnet scoring and the training loop all switch a model to
eval or train mode for a while; restoring each submodule's own flag (not just the top
module's) keeps a frozen BatchNorm or a dropout a user set apart as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import ConfigError

MODES = ("eval", "train")


@contextmanager
def model_mode(model: nn.Module, mode: str | None) -> Iterator[nn.Module]:
    """Run `model` in `mode` ('eval', 'train', or None to leave it); every submodule's own flag is restored on exit."""
    if mode not in (*MODES, None):
        raise ConfigError(f"model mode must be one of {', '.join(MODES)} or None, got {mode!r}")
    flags = [(module, module.training) for module in model.modules()]
    try:
        if mode is not None:
            model.train(mode == "train")
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


def module_device(model: nn.Module, device: torch.device | str | None = None) -> torch.device:
    """`device` when given, else where the model's first parameter lives (the CPU for a model without any)."""
    if device is not None:
        return torch.device(device)
    first = next(model.parameters(), None)
    return torch.device("cpu") if first is None else first.device
