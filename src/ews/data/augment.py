"""Training-time augmentation of float CHW images in [0, 1].

Every random transform here draws from torch's global RNG, so a run seeded with
`torch.manual_seed` (and `num_workers=0`) sees the same augmented images again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from torch import Tensor
from torchvision.transforms import v2

from ..errors import DataError

if TYPE_CHECKING:
    from .datasets import DatasetInfo

Transform = Callable[[Tensor], Tensor]


def _standard(info: DatasetInfo) -> Transform:
    """Pad-and-crop, plus a mirror only where mirrored images are still in-distribution."""
    steps: list[Transform] = [v2.RandomCrop(info.image_size, padding=info.crop_padding)]
    if info.flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


def _none(info: DatasetInfo) -> Transform:
    """No augmentation, for ablations and for checking a pipeline end to end."""
    return v2.Identity()


# The one list of augmentation names: add a builder here to make a new name valid everywhere.
_BUILDERS: dict[str, Callable[[DatasetInfo], Transform]] = {"standard": _standard, "none": _none}
AUGMENTATIONS: tuple[str, ...] = tuple(_BUILDERS)


def check_augment(augment: str) -> str:
    """Reject unknown names early, before any data is read."""
    if augment not in _BUILDERS:
        raise DataError(f"unknown augmentation {augment!r}; allowed: {', '.join(AUGMENTATIONS)}")
    return augment


def train_transform(info: DatasetInfo, augment: str) -> Transform:
    """The augmentation named `augment` for images shaped like `info`'s."""
    return _BUILDERS[check_augment(augment)](info)
