"""Mixed precision and memory format for the training step (`train.precision`, `train.channels_last`).

bf16 autocasts the forward passes (attacks included) and needs no loss scaling; fp16
also scales the loss with a `GradScaler` so small gradients survive, and skips the
optimiser step when the scaled gradients overflow. fp32 runs everything as written.
NHWC (`to_channels_last`) keeps one kind of conv in NCHW on the CPU (`nchw_only`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor, nn

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


def nchw_only(x: Tensor, kernel_size: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """True where a conv must read `x` in NCHW: a strided 1x1 conv on channels-last CPU input.

    oneDNN computes such a conv's weight gradient (`jit_1x1` backward_weights) from a unit-
    stride copy of the NHWC input, and that copy writes past its workspace when the conv has
    fewer input channels than the ISA's channel block (8 with AVX2, 16 with AVX-512; oneDNN
    3.12 in torch 2.14.1, oneDNN issue 6035): the backward pass crashes, hangs or returns
    wrong gradients. Smallest case found: `F.conv2d(x, w, stride=2)`, x (2, 4, 8, 8)
    channels-last, w (8, 4, 1, 1) contiguous or channels-last, the weight's gradient asked
    for, under `ONEDNN_MAX_CPU_ISA=AVX2`: SIGSEGV or abort in `backward()` (the resnet20
    width-4 projection shortcut meets it). NCHW input takes oneDNN's blocked path, which is exact.
    """
    return (x.device.type == "cpu" and _strided_pointwise(kernel_size, stride)
            and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())


def _strided_pointwise(kernel_size: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    return tuple(kernel_size) == (1, 1) and tuple(stride) != (1, 1)


def to_channels_last(model: nn.Module) -> nn.Module:
    """`model` in NHWC, except its strided 1x1 convs on the CPU, which compute in NCHW (`nchw_only`).

    Those convs keep NCHW weights (torch runs a conv in NHWC when either operand is NHWC) and read
    their input as NCHW; their output goes on in NHWC, so the layers after them stay NHWC.
    """
    model = model.to(memory_format=torch.channels_last)
    for conv in model.modules():
        if (isinstance(conv, nn.Conv2d) and conv.weight.device.type == "cpu"
                and _strided_pointwise(conv.kernel_size, conv.stride)):
            conv.weight.data = as_nchw(conv.weight.data)
            conv.register_forward_pre_hook(_nchw_input)
            conv.register_forward_hook(_nhwc_output)
    return model


def as_nchw(t: Tensor) -> Tensor:
    """`t` with strides torch reads as NCHW: `.contiguous()` keeps the NHWC strides of size-1 dims (a 1x1
    kernel's), and torch would still run the conv in NHWC."""
    return t.clone(memory_format=torch.contiguous_format) if t.is_contiguous(memory_format=torch.channels_last) \
        else t.contiguous()


def _nchw_input(conv: nn.Module, args: tuple) -> tuple:
    return (as_nchw(args[0]), *args[1:])


def _nhwc_output(conv: nn.Module, args: tuple, out: Tensor) -> Tensor:
    return out.contiguous(memory_format=torch.channels_last)
