"""Weak-subnet search strategies behind one `SubnetSampler` interface (paper Sec. 3.2, Table 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..subnets import SubnetSpace
from .base import SearchStats, SubnetSampler
from .controller import ControllerPolicy
from .l1norm import L1NormSampler, l1_weakest
from .random import RandomSampler
from .reinforce import BASELINES, ControllerSampler, ControllerSettings
from .rewards import subnet_accuracies

if TYPE_CHECKING:
    from ..config import SearchConfig

STRATEGIES = ("controller", "random", "l1")


def controller_settings(config: SearchConfig) -> ControllerSettings:
    return ControllerSettings(
        subnets_per_step=config.subnets_per_step,
        lr=config.lr,
        entropy_weight=config.entropy_weight,
        baseline=config.baseline,
        baseline_decay=config.baseline_decay,
        grad_clip=config.grad_clip,
        hidden_size=config.hidden_size,
        embedding_size=config.embedding_size,
        temperature=config.temperature,
        tanh_constant=config.tanh_constant,
    )


def create_sampler(config: SearchConfig, space: SubnetSpace, *, seed: int = 0) -> SubnetSampler:
    """The sampler named by `search.strategy`."""
    if config.strategy == "controller":
        return ControllerSampler(space, controller_settings(config), seed=seed)
    if config.strategy == "random":
        return RandomSampler(space)
    if config.strategy == "l1":
        return L1NormSampler(space)
    raise ConfigError(f"search.strategy must be one of {', '.join(STRATEGIES)}, got {config.strategy!r}")


__all__ = [
    "BASELINES",
    "STRATEGIES",
    "ControllerPolicy",
    "ControllerSampler",
    "ControllerSettings",
    "L1NormSampler",
    "RandomSampler",
    "SearchStats",
    "SubnetSampler",
    "controller_settings",
    "create_sampler",
    "l1_weakest",
    "subnet_accuracies",
]
