"""The search gap: how much weaker the searched subnets are than random ones of the same space.

A searched sampler can only beat random subnets (Table 5) while it still finds subnets
weaker than random ones; enhancement makes the weak ones stronger round after round. So
every search round also scores, on each batch of its last pass, as many uniformly random
subnets as the controller does, and reports their mean accuracy beside the controller's:
the gap over training is then in the run log, TensorBoard and the report.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch import Tensor, nn

from ..subnets import SubnetSpace
from .rewards import merge_small_batches, subnet_accuracies


class RandomBaseline:
    """Scores `count` fresh uniform subnets on every batch that passes through `scored`."""

    def __init__(self, space: SubnetSpace, count: int, *, seed: int) -> None:
        self.space, self.count = space, count
        self.generator = torch.Generator().manual_seed(seed)  # its own stream: training draws are untouched
        self.accuracies: list[float] = []

    def scored(self, model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], *,
               batch_on_every_rank: bool = False) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches, unchanged (small trailing ones merged as the controller merges them), each scored first."""
        device = next(model.parameters()).device
        for x, y in merge_small_batches(batches):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            subnets = [self.space.sample(self.generator) for _ in range(self.count)]
            accuracies = subnet_accuracies(model, subnets, x, y, batch_on_every_rank=batch_on_every_rank)
            self.accuracies.append(float(accuracies.mean()))
            yield x, y

    def mean(self) -> float | None:
        """Mean accuracy of the random subnets over the batches scored (per batch, as the controller's mean)."""
        return sum(self.accuracies) / len(self.accuracies) if self.accuracies else None
