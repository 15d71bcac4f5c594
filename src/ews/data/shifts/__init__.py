"""Distribution-shift test sets in their released layouts, each read into a `ShiftSet` by name.

`read_shift(name, root)` checks the folder against the set's published layout before any
image is decoded and returns its images with the label convention its score depends on
(`ShiftSet.class_indices` for the 200-class subsets). ImageNet-C and ImageNet-3DCC, read
per corruption and severity, live in `ews.corruptions`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

from ...errors import ConfigError
from ..eval_images import ImageTransform
from .cifar import read_cifar10_1, read_cifar10_2
from .imagenet import read_imagenet_a, read_imagenet_r, read_imagenet_sketch, read_imagenet_v2
from .shift_set import ShiftSet

__all__ = ["SHIFT_SETS", "ShiftSet", "read_shift"]

# "cifar10.1" reads v6, or v4 where only v4 is present; the other two names pin the version.
_READERS: dict[str, Callable[..., ShiftSet]] = {
    "cifar10.1": read_cifar10_1,
    "cifar10.1-v6": partial(read_cifar10_1, version="v6"),
    "cifar10.1-v4": partial(read_cifar10_1, version="v4"),
    "cifar10.2": read_cifar10_2,
    "imagenet-r": read_imagenet_r,
    "imagenet-a": read_imagenet_a,
    "imagenet-sketch": read_imagenet_sketch,
    "imagenet-v2": read_imagenet_v2,
}
SHIFT_SETS: tuple[str, ...] = tuple(_READERS)


def read_shift(name: str, root: str | Path, *, transform: ImageTransform | None = None) -> ShiftSet:
    """The shift set `name` (one of `SHIFT_SETS`) read from `root`, its layout checked first.

    `transform` replaces the default per image: for the ImageNet sets it maps a decoded
    PIL image to a (3, H, W) tensor (default: resize 256, centre crop 224, uint8); for
    the CIFAR sets it maps the uint8 (3, 32, 32) tensor (default: none).
    """
    if name not in _READERS:
        raise ConfigError(f"unknown shift set {name!r}; allowed: {', '.join(SHIFT_SETS)}")
    return _READERS[name](root, transform=transform)
