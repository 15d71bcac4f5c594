"""Training-time augmentation of float CHW images in [0, 1].

Every augmentation is the dataset's random geometry (pad-and-crop plus a mirror where
allowed; RandomResizedCrop plus a mirror for ImageNet folders), optionally followed by a
policy: AutoAugment (Cubuk et al. 2019) or AugMix (Hendrycks et al. 2020), both applied
on top of the standard crop/flip as in their papers.

torchvision's v2 AutoAugment and AugMix document uint8 input, but every operation they
use has a float path in `torchvision.transforms.v2.functional` (solarize thresholds at
1.0 for floats, posterize and equalize quantise internally); float results match the
uint8 ones to within one grey level, so no conversion is needed and AugMix's mixing keeps
full precision.

Every random transform here draws from torch's global RNG, so a run seeded with
`torch.manual_seed` (and `num_workers=0`) sees the same augmented images again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from torchvision.transforms import v2

from ..errors import DataError
from .types import DatasetInfo, Transform

_POLICIES = {
    "cifar10": v2.AutoAugmentPolicy.CIFAR10,
    "imagenet": v2.AutoAugmentPolicy.IMAGENET,
    "svhn": v2.AutoAugmentPolicy.SVHN,
}
AUTOAUGMENT_POLICIES: tuple[str, ...] = ("auto", *_POLICIES)  # auto: imagenet for ImageNet folders, else cifar10


@dataclass
class AugMixConfig:
    """torchvision's AugMix (Hendrycks et al. 2020) and its Jensen-Shannon consistency loss.

    The `data.augmix` config section; defined here, with the augmentation it configures,
    so the data layer never imports `ews.config` (which imports it from here).
    """

    severity: int = 5  # 1..10, strength of each operation (the paper: 5)
    width: int = 3  # augmentation chains mixed per image
    depth: int = -1  # operations per chain; -1 draws 1..3
    alpha: float = 1.0  # Dirichlet / Beta mixing parameter
    # also brightness, contrast, color and sharpness; off as in AugMix's reference code, because they overlap
    # with the -C corruptions being measured (torchvision's own default is on)
    all_ops: bool = False
    jsd: bool = True  # train on (clean, augmix, augmix) views with the JSD consistency loss
    jsd_weight: float = 12.0  # weight of the JSD term (AugMix's)


@dataclass(frozen=True)
class _Options:
    """What the policies need besides the dataset: resolved once per `train_transform` call."""

    autoaugment_policy: str
    augmix: AugMixConfig


class AugMixViews:
    """(C, H, W) -> (3, C, H, W): the image and two independent AugMix draws of it.

    AugMix's Jensen-Shannon consistency loss compares the network's predictions on
    these three views of one cropped image (Hendrycks et al. 2020, Sec. 3).
    """

    def __init__(self, augmix: Transform) -> None:
        self.augmix = augmix

    def __call__(self, image: Tensor) -> Tensor:
        return torch.stack([image, self.augmix(image), self.augmix(image)])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.augmix!r})"


def crop_and_flip(info: DatasetInfo) -> Transform:
    """Pad-and-crop, plus a mirror only where mirrored images are still in-distribution."""
    steps: list[Transform] = [v2.RandomCrop(info.image_size, padding=info.crop_padding)]
    if info.flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


def _standard(geometry: Transform, info: DatasetInfo, options: _Options) -> Transform:
    """The paper's "standard" row of Table 1: the geometry alone."""
    return geometry


def _none(geometry: Transform, info: DatasetInfo, options: _Options) -> Transform:
    """No augmentation, for ablations and for checking a pipeline end to end."""
    return v2.Identity()


def _autoaugment(geometry: Transform, info: DatasetInfo, options: _Options) -> Transform:
    """Table 1's AutoAugment row; `auto` picks the ImageNet policy for ImageNet folders, else CIFAR-10's."""
    name = options.autoaugment_policy
    if name == "auto":
        name = "imagenet" if info.name == "imagefolder" else "cifar10"
    return v2.Compose([geometry, v2.AutoAugment(_POLICIES[name])])


def _augmix(geometry: Transform, info: DatasetInfo, options: _Options) -> Transform:
    """Table 1's AugMix row (severity 5 with the JSD loss): one mixed image, or the three JSD views."""
    m = options.augmix
    try:
        mix = v2.AugMix(
            severity=m.severity, mixture_width=m.width, chain_depth=m.depth, alpha=m.alpha, all_ops=m.all_ops
        )
    except ValueError as err:
        raise DataError(f"augmix: {err}") from None
    return v2.Compose([geometry, AugMixViews(mix) if m.jsd else mix])


# The one list of augmentation names: add a builder here to make a new name valid everywhere.
_BUILDERS: dict[str, Callable[[Transform, DatasetInfo, _Options], Transform]] = {
    "standard": _standard,
    "autoaugment": _autoaugment,
    "augmix": _augmix,
    "none": _none,
}
AUGMENTATIONS: tuple[str, ...] = tuple(_BUILDERS)


def check_augment(augment: str, *, autoaugment_policy: str = "auto") -> str:
    """Reject unknown names early, before any data is read."""
    if augment not in _BUILDERS:
        raise DataError(f"unknown augmentation {augment!r}; allowed: {', '.join(AUGMENTATIONS)}")
    if autoaugment_policy not in AUTOAUGMENT_POLICIES:
        raise DataError(
            f"unknown AutoAugment policy {autoaugment_policy!r}; allowed: {', '.join(AUTOAUGMENT_POLICIES)}"
        )
    return augment


def train_transform(
    info: DatasetInfo,
    augment: str,
    *,
    autoaugment_policy: str = "auto",
    augmix: AugMixConfig | None = None,
    geometry: Transform | None = None,
) -> Transform:
    """The augmentation named `augment` for images shaped like `info`'s.

    `geometry` replaces the default `crop_and_flip(info)` (ImageNet folders crop with
    RandomResizedCrop); `augmix` is any object with AugMixConfig's fields, None for its
    defaults. With `augmix.jsd` the transform returns (3, C, H, W) views, else (C, H, W).
    """
    check_augment(augment, autoaugment_policy=autoaugment_policy)
    options = _Options(autoaugment_policy, AugMixConfig() if augmix is None else augmix)
    return _BUILDERS[augment](crop_and_flip(info) if geometry is None else geometry, info, options)
