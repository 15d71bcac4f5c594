"""Weak-subnet search strategies behind one `SubnetSampler` interface."""

from __future__ import annotations

from ..errors import ConfigError
from ..subnets import SubnetSpace
from .base import SearchStats, SubnetSampler
from .random import RandomSampler

STRATEGIES: dict[str, type[SubnetSampler]] = {"random": RandomSampler}


def create_sampler(strategy: str, space: SubnetSpace) -> SubnetSampler:
    """The sampler named by `search.strategy`."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"search.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    return STRATEGIES[strategy](space)


__all__ = ["STRATEGIES", "RandomSampler", "SearchStats", "SubnetSampler", "create_sampler"]
