"""Which device a run uses, and how deterministic its kernels are."""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA on a machine without it is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but CUDA is not available; use cpu or auto")
    return torch.device(name)


def set_kernel_determinism(deterministic: bool, device: torch.device) -> None:
    """`train.deterministic`: deterministic kernels everywhere (cuBLAS needs its workspace setting
    before the first CUDA matmul); otherwise let cuDNN pick the fastest convolution algorithms."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
