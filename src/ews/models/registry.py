"""Model registry: one factory function per name, as timm does.

A factory takes `num_classes`, `mean`, `std` and its own keyword-only size arguments
(so tests can build tiny variants), and returns a module taking [0, 1] images.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from ..errors import ConfigError

ModelFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelFactory] = {}


def register(fn: ModelFactory) -> ModelFactory:
    """Register a factory under its function name."""
    if fn.__name__ in _REGISTRY:
        raise ValueError(f"model {fn.__name__!r} registered twice")
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names accepted by `create` (and by the config key `model.name`)."""
    return sorted(_REGISTRY)


def takes(name: str, option: str) -> bool:
    """Whether registered model `name` has the keyword `option` (e.g. `image_size` for the ViTs)."""
    return name in _REGISTRY and option in inspect.signature(_REGISTRY[name]).parameters


def create(name: str, *, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model; unknown names are a `ConfigError` listing the known ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model.name {name!r}; allowed: {', '.join(list_models())}")
    try:
        return _REGISTRY[name](num_classes=num_classes, **kwargs)
    except TypeError as err:
        raise ConfigError(f"bad model.options for {name!r}: {err}") from None
