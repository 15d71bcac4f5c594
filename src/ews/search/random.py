"""Uniform random subnets: the paper's "random search" baseline (Table 5)."""

from __future__ import annotations

import torch

from ..subnets import Subnet
from .base import SubnetSampler


class RandomSampler(SubnetSampler):
    """Every step enhances a uniformly random subnet of the space."""

    def sample(self, generator: torch.Generator) -> Subnet:
        return self.space.sample(generator)
