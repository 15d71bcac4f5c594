"""The two types every dataset module and the augmentations share: a tensor transform and `DatasetInfo`.

Kept in a module of their own, importing nothing from `ews.data`, so the readers
(`cifar`, `imagefolder`, `in_memory`), the augmentations and `datasets.load` that joins
them all stand on it without importing each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor

Transform = Callable[[Tensor], Tensor]
RGB = tuple[float, float, float]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and an augmentation need to know about a dataset's images."""

    name: str
    num_classes: int
    image_size: int
    mean: RGB
    std: RGB
    flip: bool  # whether a mirrored image is still a valid sample of its class
    crop_padding: int  # zero padding before the random crop back to image_size
