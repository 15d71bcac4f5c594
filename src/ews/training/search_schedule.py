"""When the sampler searches for weak subnets during training, and on which images.

Algorithm 1 searches D_s (a fixed 10% of the training images) before every K-th epoch,
and by default before the first; `search.schedule: iterations` follows the authors'
code instead and steps the controller inside the epoch, on the current batch, every
`search.every_iterations` steps. In adversarial training the search scores PGD images
of D_s (Sec. 3.4.1), so it finds vulnerable subnets.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..config import Config
from ..objectives import Objective
from ..runtime import distributed
from ..search import SearchStats, SubnetSampler
from .build import search_set


class SearchSchedule:
    """The search rounds of one run: `due(epoch)` says when, `run()` does one round over D_s."""

    def __init__(self, config: Config, sampler: SubnetSampler | None, *, model: nn.Module, objective: Objective,
                 device: torch.device, generator: torch.Generator) -> None:
        self.config, self.sampler, self.model, self.objective = config, sampler, model, objective
        self.device, self.generator = device, generator
        self.images = search_set(config) if sampler is not None and sampler.searches else None  # D_s

    @property
    def every_iterations(self) -> int | None:
        """Steps between two controller updates inside an epoch (`schedule: iterations`), else None."""
        s = self.config.search
        return s.every_iterations if s.schedule == "iterations" else None

    def due(self, epoch: int) -> bool:
        """Algorithm 1: search before every K-th epoch (and before the first, by default)."""
        s = self.config.search
        if self.images is None or s.schedule != "epochs":
            return False
        return (epoch == 1 and s.before_training) or epoch % self.config.ews.K == 0

    def run(self) -> SearchStats:
        """One search round: `search.passes` passes over D_s, one controller step per batch."""
        s = self.config.search
        loader = DataLoader(
            self.images, batch_size=s.batch_size, shuffle=True, generator=self.generator,
            num_workers=self.config.data.num_workers, pin_memory=self.device.type == "cuda",
        )
        batches = (batch for _ in range(s.passes) for batch in loader)
        if self.objective.adversarial and self.config.adversarial.search_on_adversarial:
            batches = self._adversarial(batches)  # Sec. 3.4.1: vulnerable subnets on D_s'
        stats = self.sampler.update(self.model, batches)
        if distributed.active():  # rewards were summed over ranks; rank 0's state settles any rounding
            self.sampler.load_state_dict(distributed.broadcast_object(self.sampler.state_dict()))
        return stats

    def _adversarial(self, batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in batches:
            x, y = x.to(self.device), y.to(self.device)
            yield self.objective.adversarial_examples(self.model, x, y), y
