"""Mixed precision and memory format for the training step (`train.precision`, `train.channels_last`).

bf16 autocasts the forward passes (attacks included) and needs no loss scaling; fp16
also scales the loss with a `GradScaler` so small gradients survive, and skips the
optimiser step when the scaled gradients overflow. fp32 runs everything as written.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> AbstractContextManager[None]:
    """The autocast region for `precision` on `device`; a no-op for fp32."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16; a pass-through (disabled) scaler for fp32 and bf16."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def to_device(x: Tensor, device: torch.device, *, channels_last: bool) -> Tensor:
    """A batch on the training device, NHWC when asked (4-D image batches only: AugMix views are 5-D)."""
    if channels_last and x.ndim == 4:
        return x.to(device, non_blocking=True, memory_format=torch.channels_last)
    return x.to(device, non_blocking=True)
