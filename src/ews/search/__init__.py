"""Weak-subnet search strategies behind one `SubnetSampler` interface (paper Sec. 3.2, Table 5)."""

from __future__ import annotations

from dataclasses import fields

from ..errors import ConfigError
from ..subnets import SubnetSpace
from .base import SearchStats, SubnetSampler
from .controller import INITS, ControllerPolicy
from .l1norm import L1NormSampler, l1_weakest
from .random import RandomSampler
from .reinforce import BASELINES, ControllerSampler, ControllerSettings
from .rewards import subnet_accuracies
from .settings import SearchConfig

STRATEGIES = ("controller", "random", "l1")


def controller_settings(config: SearchConfig) -> ControllerSettings:
    """The controller's settings from the `search:` section: every field the two share, matched by name."""
    shared = {f.name for f in fields(ControllerSettings)} & {f.name for f in fields(config)}
    return ControllerSettings(**{name: getattr(config, name) for name in shared})


def make_sampler(strategy: str, space: SubnetSpace, settings: ControllerSettings | None = None, *,
                 seed: int = 0) -> SubnetSampler:
    """The sampler named `strategy`; `settings` configure the controller (default: `ControllerSettings()`)."""
    if strategy == "controller":
        return ControllerSampler(space, settings or ControllerSettings(), seed=seed)
    if strategy == "random":
        return RandomSampler(space)
    if strategy == "l1":
        return L1NormSampler(space)
    raise ConfigError(f"search strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")


def create_sampler(config: SearchConfig, space: SubnetSpace, *, seed: int = 0) -> SubnetSampler:
    """The sampler the `search:` section names."""
    return make_sampler(config.strategy, space, controller_settings(config), seed=seed)


__all__ = [
    "BASELINES",
    "INITS",
    "STRATEGIES",
    "ControllerPolicy",
    "ControllerSampler",
    "ControllerSettings",
    "L1NormSampler",
    "RandomSampler",
    "SearchConfig",
    "SearchStats",
    "SubnetSampler",
    "controller_settings",
    "create_sampler",
    "l1_weakest",
    "make_sampler",
    "subnet_accuracies",
]
