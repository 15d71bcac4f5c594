"""The search rounds of a run: which images (D_s) and how they are batched; `EWS` decides when and searches.

Algorithm 1 searches D_s (a fixed 10% of the training images) before every K-th epoch,
and by default before the first; `search.schedule: iterations` follows the authors'
code instead and steps the controller inside the epoch, on the current batch (inside
`EWS.loss`). In adversarial training the search scores PGD images of D_s (Sec. 3.4.1).
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from ..config import Config
from ..errors import ConfigError
from ..method import EWS
from ..search import SearchStats
from ..search.rewards import merged_batch_count
from .build import search_set


def check_advantage(config: Config, images: int) -> None:
    """Refuse, in one line, a controller search whose every advantage is 0, before any training.

    A moving average of the rewards restarted at every round (the epochs schedule) is the
    reward of a round's first step; with one subnet per step and D_s of `images` images
    scored in a single batch, every round is that one step, so the controller would learn
    from its entropy bonus alone. (Leave-one-out with one subnet is refused by the config.)
    """
    s = config.search
    if (config.method, s.strategy, s.schedule, s.baseline, s.subnets_per_step, s.passes) != (
            "ews", "controller", "epochs", "moving-average", 1, 1):
        return
    if merged_batch_count(images, s.batch_size) == 1:
        raise ConfigError(
            f"search.baseline moving-average restarts at every search round, and with search.subnets_per_step 1, "
            f"search.passes 1 and D_s of {images} images in one batch (search.batch_size {s.batch_size}) each round "
            "is one controller step whose advantage is always 0; use search.subnets_per_step >= 2, search.passes "
            ">= 2, a smaller search.batch_size, search.baseline authors or search.schedule iterations")


class SearchSchedule:
    """`due(epoch)` says when, `run()` does one round over D_s (the same batches on every rank)."""

    def __init__(self, config: Config, enhancer: EWS | None, *, device: torch.device, generator: torch.Generator
                 ) -> None:
        self.config, self.enhancer, self.device, self.generator = config, enhancer, device, generator
        self.images = search_set(config) if enhancer is not None and enhancer.searches else None  # D_s
        if self.images is not None:
            check_advantage(config, len(self.images))

    def due(self, epoch: int) -> bool:
        """Algorithm 1: search before every K-th epoch (and before the first, by default)."""
        return self.enhancer is not None and self.enhancer.due(epoch)

    def run(self) -> SearchStats:
        """One search round: `search.passes` passes over D_s, one controller step per batch.

        Every rank shuffles D_s with the same generator and scores its share of each batch,
        so N processes take the very steps one process would.
        """
        loader = DataLoader(
            self.images, batch_size=self.config.search.batch_size, shuffle=True, generator=self.generator,
            num_workers=self.config.data.num_workers, pin_memory=self.device.type == "cuda",
        )
        return self.enhancer.search(loader, batch_on_every_rank=True)
