"""The interface every weak-subnet search strategy implements, so the trainer can swap them (Table 5)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import Tensor, nn

from ..subnets import Subnet, SubnetSpace


@dataclass(frozen=True)
class SearchStats:
    """What one search round did, for the metrics log."""

    seconds: float
    subnets_evaluated: int
    mean_subnet_accuracy: float | None = None  # over the subnets evaluated on the search batches
    random_subnet_accuracy: float | None = None  # as many uniform subnets on the same batches (the search gap)
    controller_steps: int = 0
    mean_entropy: float | None = None  # the policy's decision entropy (controller only)
    skipped_steps: int = 0  # controller steps not taken: a non-finite reward, loss or gradient


class SubnetSampler(ABC):
    """Proposes the subnet to enhance at each training step.

    `sample` is called once per step and must be cheap. `update` runs the search on
    the search batches every K epochs (Algorithm 1); strategies without a search
    (`searches = False`) are never asked to.
    """

    searches: bool = False

    def __init__(self, space: SubnetSpace) -> None:
        self.space = space

    @property
    def subnets_per_batch(self) -> int:
        """Subnets a search round scores on each of its batches (0: it scores none), for the search gap."""
        return 0

    @abstractmethod
    def sample(self, generator: torch.Generator) -> Subnet:
        """The next subnet to enhance, drawn with `generator` (owned and checkpointed by the trainer)."""

    def update(self, model: nn.Module, search_batches: Iterable[tuple[Tensor, Tensor]], *,
               batch_on_every_rank: bool = False, continues: bool = False) -> SearchStats:
        """Search for weak subnets of `model` on D_s; a no-op for strategies that do not search.

        Under torchrun the batches are each rank's own data, or, with `batch_on_every_rank`,
        the same batches on every rank (see `subnet_accuracies`). `continues`: these batches
        carry on the previous call's search (the iteration schedule's one-step rounds), so
        running statistics such as a moving-average baseline are kept rather than restarted.
        """
        return SearchStats(seconds=0.0, subnets_evaluated=0)

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain data only, so checkpoints load with `weights_only=True`."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got keys {sorted(state)}")
