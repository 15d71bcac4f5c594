"""The `ews:` config section, and what `EWS.from_config` reads of a whole run's config.

Both live in the method layer, beside the `EWS` object they configure, so the method never
imports `ews.config` (which sits above it, reads `EwsConfig` from here and still exports it
as `ews.config.EwsConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..objectives import DEFAULT_KL_REDUCTION
from ..search.settings import SearchConfig
from ..subnets import DEFAULT_READING, Reading, reading_of


@dataclass
class EwsConfig:
    lam: float = 1.0  # weight of the subnet term (paper: 1, ImageNet 0.7; the scale is kl_reduction's)
    # lambda's scale: mean (the true KL / classes: nn.KLDivLoss()'s default in the authors' clean/ImageNet scripts,
    # chosen on Fashion-MNIST's val split) | batchmean (the true KL, mean over the batch: lambda C times stronger)
    kl_reduction: str = DEFAULT_KL_REDUCTION
    rho: float = 0.5  # kept fraction of paths and channels (paper: 0.5 for training)
    # Which paths and channels rho keeps (ews.subnets.readings): default (both paths, every branch conv but the
    # last sliced) | paper-text (ceil(2 rho) paths, every conv sliced) | authors (their scripts: both paths at
    # rho >= 0.5, only a branch's first conv sliced)
    reading: str = DEFAULT_READING
    rho_paths: float | None = None  # a fixed kept fraction of a block's two paths; null: the reading's rule
    rho_channels: float | None = None  # overrides rho for channels
    K: int = 10  # search weak subnets every K epochs (Algorithm 1)
    subnet_loss: str = "kl"  # kl: KL(p_full || p_subnet) (paper Eq. 2) | ce: CE(subnet(x), y) (Table A)
    channels: str | None = None  # sliced branch convs: all | hidden (all but the last) | first; null: the reading's

    def subnet_reading(self) -> Reading:
        """The reading this run trains in: `reading` with the explicit `rho_paths` / `channels` applied."""
        return reading_of(self.reading, rho_paths=self.rho_paths, channels=self.channels)


class AdversarialSearchSwitch(Protocol):
    """The one `adversarial:` setting EWS reads: whether the search scores subnets on PGD images."""

    @property
    def search_on_adversarial(self) -> bool: ...


class RunSettings(Protocol):
    """The parts of a run's config `EWS.from_config` reads; `ews.config.Config` is one.

    A structural type rather than `Config` itself: the method layer stays below the config layer.
    """

    @property
    def seed(self) -> int: ...

    @property
    def ews(self) -> EwsConfig: ...

    @property
    def search(self) -> SearchConfig: ...

    @property
    def adversarial(self) -> AdversarialSearchSwitch: ...
