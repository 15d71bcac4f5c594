"""Any classifier, for evaluation: `torchvision:NAME`, `timm:NAME` or a user's `package.module:factory`.

Evaluation (clean, -C, -P, PGD, AutoAttack) does not need subnets, so these models are
not adapted: they are wrapped with the input normalisation their weights expect, which
the caller must state (`NORMALIZATIONS` or explicit values), since a wrong guess changes
every number silently.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Sequence

from torch import Tensor, nn

from ..errors import ConfigError
from .adopted import IMAGENET_MEAN, IMAGENET_STD
from .layers import Normalize

NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # the model takes [0, 1] pixels as they are
}
NORMALIZATION_HELP = f"{', '.join(NORMALIZATIONS)}, or MEAN/STD as r,g,b/r,g,b"


class Normalized(nn.Module):
    """`net(normalize(x))`: a model taking [0, 1] images, as every `ews` evaluation expects."""

    def __init__(self, net: nn.Module, *, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))


def parse_normalization(text: str, *, python: bool = False) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """`imagenet` (a name in `NORMALIZATIONS`) or explicit `0.5,0.5,0.5/0.25,0.25,0.25`; errors name
    `--normalize`, or `normalize=` for a `python` caller."""
    if text in NORMALIZATIONS:
        return NORMALIZATIONS[text]
    given = f"normalize={text!r}" if python else f"--normalize {text!r}"
    try:
        mean, std = (tuple(float(v) for v in part.split(",")) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"{given} is not one of {NORMALIZATION_HELP}") from None
    if len(mean) != len(std) or not all(s > 0 for s in std):
        raise ConfigError(f"{given}: mean and std need equally many values and std > 0")
    return mean, std


def build_external(spec: str, *, num_classes: int) -> nn.Module:
    """The network `spec` names, randomly initialised for `num_classes` (weights come from a file)."""
    source, _, name = spec.partition(":")
    if not name:
        raise ConfigError(f"--model {spec!r} must be torchvision:NAME, timm:NAME or package.module:factory")
    if source == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models():
            raise ConfigError(f"--model {spec!r}: torchvision has no model {name!r} "
                              "(see torchvision.models.list_models())")
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    if source == "timm":
        try:
            import timm
        except ImportError:
            raise ConfigError(f"--model {spec!r} needs timm: pip install 'ews-robust[timm]'") from None
        if not timm.is_model(name):
            raise ConfigError(f"--model {spec!r}: timm has no model {name!r} (see timm.list_models())")
        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    return _user_factory(spec, source, name, num_classes=num_classes)


def _user_factory(spec: str, module_name: str, attribute: str, *, num_classes: int) -> nn.Module:
    """`package.module:factory`: `factory(num_classes=N)` when it takes that argument, else `factory()`.

    The module is found as `python -m` finds one: in the current folder first, then on
    `sys.path` (PYTHONPATH for other folders), so `mynets:build` works beside `mynets.py`.
    """
    with _current_folder_first():
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as err:
            where = (" (looked in the current folder, then on sys.path: set PYTHONPATH for a module elsewhere)"
                     if isinstance(err, ModuleNotFoundError) and f"{module_name}.".startswith(f"{err.name}.") else "")
            raise ConfigError(f"--model {spec!r} does not resolve: {type(err).__name__}: {err}{where}") from None
        if not callable(factory):
            raise ConfigError(f"--model {spec!r}: {attribute} is not callable")
        takes_classes = "num_classes" in inspect.signature(factory).parameters
        net = factory(num_classes=num_classes) if takes_classes else factory()
    if not isinstance(net, nn.Module):
        raise ConfigError(f"--model {spec!r} returned a {type(net).__name__}, not a torch.nn.Module")
    return net


@contextmanager
def _current_folder_first() -> Iterator[None]:
    """The current folder at the front of `sys.path`, as `python -m` puts it, for one import; removed after."""
    folder = os.getcwd()
    sys.path.insert(0, folder)
    importlib.invalidate_caches()  # a module written since the last import in this folder is seen
    try:
        yield
    finally:
        sys.path.remove(folder)  # the first occurrence: the one inserted above
