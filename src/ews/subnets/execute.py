"""Running a model as one of its subnets: sliced execution, subnet-safe BatchNorm, no dropout."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..models.layers import ActiveChoice, ResidualBlock
from ..models.sliced import GatheredNorms, gatherable
from .space import BRANCH, SHORTCUT, Subnet, residual_blocks


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _index_tensors(lists: list[tuple[int, ...]], device: torch.device) -> list[Tensor]:
    """Long tensors of `lists` on `device`, sent in one copy.

    A tensor built from a Python list straight on a GPU is a blocking copy: one per sliced
    conv would make the host wait for the queued full pass at every layer, and a subnet
    pass would cost its launch time on top of its GPU time. One pinned, non-blocking copy
    keeps the host ahead of the GPU.
    """
    flat = torch.tensor([i for kept in lists for i in kept], dtype=torch.long)
    if device.type == "cuda":
        flat = flat.pin_memory().to(device, non_blocking=True)
    else:
        flat = flat.to(device)
    return list(flat.split([len(kept) for kept in lists]))


def _active_choices(blocks: list, subnet: Subnet, device: torch.device, *, chained: bool) -> list[ActiveChoice]:
    """`chained`: each block feeds the next directly, so all but the last may hand on `Thinned` outputs."""
    if len(subnet.blocks) != len(blocks):
        raise ValueError(f"subnet has {len(subnet.blocks)} blocks, the model has {len(blocks)}")
    sliced = [kept for (_, block), choice in zip(blocks, subnet.blocks)
              for kept, width in zip(choice.channels, block.unit_widths()) if len(kept) != width]
    norms, slots, gather = _norm_gather(blocks, subnet)
    tensors = _index_tensors(sliced + [gather], device)
    gathered = GatheredNorms([norm for norm, _ in norms], tensors.pop(), [kept for _, kept in norms]) if norms else None
    tensors = iter(tensors)
    active = []
    for i, ((_, block), choice) in enumerate(zip(blocks, subnet.blocks)):
        channels = tuple(None if len(kept) == width else next(tensors)
                         for kept, width in zip(choice.channels, block.unit_widths()))
        thin = chained and i < len(blocks) - 1
        relu_input = chained and i > 0 and not blocks[i - 1][1].preact
        active.append(ActiveChoice(BRANCH in choice.paths, SHORTCUT in choice.paths, channels, thin, relu_input,
                                   gathered, slots[i]))
    return active


Slots = tuple[int | None, ...]
"""Per branch norm of a block: its slot in the pass's `GatheredNorms`, or None."""


def _norm_gather(blocks: list, subnet: Subnet) -> tuple[list[tuple[nn.Module, int]], list[Slots], list[int]]:
    """The sliced BatchNorms one gather serves (with their kept counts), each block's slots, and the gather's index
    into the concatenation of their weights and biases (`GatheredNorms`)."""
    norms: list[tuple[nn.Module, int]] = []
    slots: list[Slots] = []
    index: list[int] = []
    offset = 0
    for (_, block), choice in zip(blocks, subnet.blocks):
        branch_norms = block.branch_norms() if isinstance(block, ResidualBlock) else []
        block_slots: list[int | None] = []
        for norm, kept in zip(branch_norms, choice.channels):
            if not gatherable(norm) or len(kept) == norm.num_features:
                block_slots.append(None)
                continue
            width = norm.num_features
            block_slots.append(len(norms))
            norms.append((norm, len(kept)))
            index += [offset + c for c in kept] + [offset + width + c for c in kept]
            offset += 2 * width
        slots.append(tuple(block_slots))
    if len({(p.dtype, p.device) for norm, _ in norms for p in (norm.weight, norm.bias)}) > 1:
        return [], [()] * len(blocks), []  # one concatenation needs one dtype and device
    return norms, slots, index


@contextmanager
def use_subnet(model: nn.Module, subnet: Subnet) -> Iterator[nn.Module]:
    """Within the context, `model(x)` runs only `subnet`'s paths and channels.

    Sliced, not masked: dropped paths and channels cost no compute. BatchNorm layers
    use batch statistics in training mode and leave the running statistics (and
    `num_batches_tracked`) untouched; Dropout is off. Everything is restored on exit,
    exceptions included. Parameters and state-dict keys are never changed. A model whose
    class sets `chained_blocks = True` (no module between consecutive residual blocks)
    lets blocks pass channel-thinned outputs to each other.

    Yields the module inside any DistributedDataParallel / torch.compile wrapper: hot
    paths call it directly, so a subnet pass neither re-enters DDP's forward (its
    gradients reach the shared weights through the full pass's reduction) nor makes a
    compiled full network recompile for every subnet.
    """
    inner = unwrap(model)
    blocks = residual_blocks(inner)
    device = next(inner.parameters()).device
    choices = _active_choices(blocks, subnet, device, chained=getattr(inner, "chained_blocks", False))
    norms = [m for m in inner.modules() if isinstance(m, _BatchNorm)]
    dropouts = [m for m in inner.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    tracked = [m.track_running_stats for m in norms]
    dropout_training = [m.training for m in dropouts]
    try:
        for (_, block), choice in zip(blocks, choices):
            block.active = choice
        for m in norms:
            m.track_running_stats = False
        for m in dropouts:
            m.training = False
        yield inner
    finally:
        for _, block in blocks:
            block.active = None
        for m, flag in zip(norms, tracked):
            m.track_running_stats = flag
        for m, flag in zip(dropouts, dropout_training):
            m.training = flag
