"""The 0/1-masking oracle: a subnet computed on the full network with masks.

Independent of the sliced implementation: every conv runs on all channels, dropped
channels are zeroed after their norm, dropped paths are multiplied by 0. The sliced
execution must match it in outputs and weight gradients.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import ContextManager, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ews.models import PathBlock, ResidualBlock
from ews.subnets import BRANCH, SHORTCUT, BlockChoice, Subnet, use_subnet

from .masked_convnext import MASKED as MASKED_CONVNEXT
from .masked_vit import MASKED as MASKED_VIT


def _masked_block_forward(block: ResidualBlock, x: Tensor, choice: BlockChoice) -> Tensor:
    pre = block.pre_activation(x)
    shortcut = block.shortcut_path(x, pre) * float(SHORTCUT in choice.paths)
    h = pre
    convs = block.branch_convs()
    kept = choice.channels if BRANCH in choice.paths else [range(c.out_channels) for c in convs]
    for i, (conv, norm, channels) in enumerate(zip(convs, block.branch_norms(), kept)):
        h = conv(h)
        if norm is not None:
            h = norm(h)
        mask = torch.zeros(conv.out_channels, device=h.device, dtype=h.dtype)
        mask[list(channels)] = 1.0
        h = h * mask.view(1, -1, 1, 1)
        if i < len(convs) - 1:
            h = F.relu(h)
    return block.finish(h * float(BRANCH in choice.paths) + shortcut)


MASKED = {ResidualBlock: _masked_block_forward, **MASKED_VIT, **MASKED_CONVNEXT}
"""The masked forward of each kind of `PathBlock`, by the most derived class it is an instance of."""


def _masked_forward(block: PathBlock):
    for cls in type(block).__mro__:
        if cls in MASKED:
            return MASKED[cls]
    raise TypeError(f"the masking oracle has no masked forward for {type(block).__name__}")


@contextmanager
def masked_subnet(model: nn.Module, subnet: Subnet) -> Iterator[None]:
    blocks = [m for m in model.modules() if isinstance(m, PathBlock)]
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for block, choice in zip(blocks, subnet.blocks):
        block.forward = lambda x, b=block, c=choice, f=_masked_forward(block): f(b, x, c)
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for block in blocks:
            del block.forward
        for m in norms:
            m.track_running_stats = True


def _outputs_and_grads(model: nn.Module, x: Tensor, context: ContextManager) -> tuple[Tensor, dict[str, Tensor]]:
    model.zero_grad()
    with context:
        out = model(x)
    out.square().mean().backward()
    # A parameter outside the subnet gets no gradient when sliced, a zero one when masked.
    grads = {n: torch.zeros_like(p) if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    return out.detach(), grads


OUTPUT = "output"
SLACK = 4.0
"""How many times the float32 oracle's own rounding error the sliced float32 results may be off (see below)."""


def assert_sliced_matches_oracle(model: nn.Module, x: Tensor, subnet: Subnet, *, tolerance: float) -> None:
    """`use_subnet` and the masking oracle agree in outputs and in every parameter's gradient.

    They agree to `tolerance` on each tensor's own scale, in float64 always. In float32 how far
    they differ depends on the machine's kernels (their blocking and summation order), and
    train-mode BatchNorm on batches of 4 blows rounding up to 1e-2 of some gradients. So where
    float32 results differ by more, each is compared with the oracle run in float64, a
    reference no kernel choice moves: the sliced one may be off by `SLACK` times the float32
    oracle's own error there, plus `tolerance`. (Agreeing to `tolerance` implies that bound, so
    the float64 run is skipped then.) A slicing bug moves a result by about its own size and
    still fails wherever float32 computes it at all; the float64 runs check the rest.
    """
    sliced = _results(model, x, use_subnet(model, subnet))
    masked = _results(model, x, masked_subnet(model, subnet))
    exact, rounding = masked, dict.fromkeys(masked, 0.0)
    if x.dtype != torch.float64 and not all(
            torch.allclose(sliced[n], masked[n], rtol=tolerance, atol=_atol(n, masked[n], 0.0, tolerance))
            for n in masked):
        double = copy.deepcopy(model).double()
        exact = _results(double, x.double(), masked_subnet(double, subnet))
        rounding = {name: float((masked[name].double() - exact[name]).abs().max()) for name in masked}
    for name, value in sliced.items():
        torch.testing.assert_close(value.to(exact[name].dtype), exact[name], rtol=tolerance,
                                   atol=_atol(name, exact[name], rounding[name], tolerance),
                                   msg=lambda m, n=name: f"{n}: {m}")


def _atol(name: str, reference: Tensor, rounding: float, tolerance: float) -> float:
    # Deep nets with tiny batch-norm batches: compare on each gradient's own scale.
    scale = float(reference.abs().max()) + (1.0 if name == OUTPUT else 1e-6)
    return SLACK * rounding + tolerance * scale


def _results(model: nn.Module, x: Tensor, context: ContextManager) -> dict[str, Tensor]:
    """The output (under `OUTPUT`) and every parameter's gradient, by name."""
    out, grads = _outputs_and_grads(model, x, context)
    return {OUTPUT: out, **grads}
