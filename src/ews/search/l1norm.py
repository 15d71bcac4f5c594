"""The L1-norm baseline (paper Table 5): keep the paths and channels with the smallest weights.

Channels (units): the L1 norm of the weights computing each unit, i.e. each output
filter of a branch conv (the classic pruning score, Li et al. 2017), each attention
head's q/k/v rows, each MLP hidden unit's row (`PathBlock.unit_weights`). Paths: the
gain with which a path's output enters the sum (`PathBlock.path_gains`): for a ResNet
block the mean |weight| of its last layer, the BatchNorm scale (gamma) where the path
ends in BatchNorm, otherwise the mean filter L1 norm of its last conv; an identity
skip has gain 1. The lowest scores are kept (the weakest subnet by this proxy); ties go to
the lower index (branch before shortcut, lower channel before higher), so the choice
is deterministic.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import torch
from torch import Tensor, nn

from ..subnets import BRANCH, BlockChoice, Subnet
from ..subnets.execute import unwrap
from ..subnets.space import residual_blocks
from .base import SearchStats, SubnetSampler


def _lowest(scores: Tensor, k: int, *, groups: int = 1) -> tuple[int, ...]:
    """The k lowest scores (k / groups of each of `groups` equal groups, for grouped convs)."""
    rows = scores.detach().double().cpu().view(groups, -1)
    order = torch.sort(rows, dim=1, stable=True).indices[:, : k // groups]  # stable: ties keep index order
    return tuple(sorted((order + rows.shape[1] * torch.arange(groups)[:, None]).flatten().tolist()))


def _unit_l1(weights: Tensor) -> Tensor:
    """The L1 norm of each unit's weights (rows)."""
    return weights.detach().abs().flatten(1).sum(dim=1)


def l1_weakest(model: nn.Module, space) -> Subnet:
    """The subnet of lowest weight L1 norms, by the rules in this module's docstring."""
    choices = []
    for (_, block), spec in zip(residual_blocks(unwrap(model)), space.blocks):
        paths = _lowest(block.path_gains(), spec.keep_paths)
        channels: tuple[tuple[int, ...], ...] = ()
        if BRANCH in paths:
            channels = tuple(_lowest(_unit_l1(weights), k, groups=spec.groups(j))
                             for j, (weights, k) in enumerate(zip(block.unit_weights(), spec.keep_channels)))
        choices.append(BlockChoice(paths, channels))
    return space.validate(Subnet(tuple(choices)))


class L1NormSampler(SubnetSampler):
    """Enhances the lowest-L1 subnet, recomputed from the current weights at every search."""

    searches = True

    def __init__(self, space) -> None:
        super().__init__(space)
        self.subnet: Subnet | None = None

    def sample(self, generator: torch.Generator) -> Subnet:
        if self.subnet is None:
            raise RuntimeError("L1NormSampler.sample before any search: call update(model, ...) first")
        return self.subnet

    def update(self, model: nn.Module, search_batches: Iterable[tuple[Tensor, Tensor]], *,
               batch_on_every_rank: bool = False, continues: bool = False) -> SearchStats:
        start = time.perf_counter()
        self.subnet = l1_weakest(model, self.space)
        return SearchStats(seconds=time.perf_counter() - start, subnets_evaluated=0)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.subnet is None else {"subnet": self.subnet.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.subnet = Subnet.from_dict(state["subnet"]) if state else None
