"""One entry point, `load`, for every dataset `ews` trains on.

Every dataset yields `(x, y)`: `x` a float32 (3, H, W) tensor in [0, 1] (models
normalise inside, with `DatasetInfo.mean`/`std`) and `y` a python int.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset, Subset
from torchvision.transforms import v2

from ..errors import DataError
from .augment import Transform, check_augment, train_transform
from .cifar import read_cifar
from .digits import IMAGE_SIZE as DIGITS_SIZE
from .digits import InMemoryImages, digits_split
from .imagefolder import read_imagefolder
from .subsets import stratified_limit

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


# Mean and std over every pixel of the digits train split (80% of sklearn's 1,797 images,
# scaled to [0, 1] and upsampled bilinearly to 32x32); tests/data recomputes them.
_DIGITS = DatasetInfo("digits", 10, DIGITS_SIZE, (0.3054,) * 3, (0.3237,) * 3, flip=False, crop_padding=4)
_CIFAR = {
    "cifar10": DatasetInfo(
        "cifar10", 10, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), flip=True, crop_padding=4
    ),
    "cifar100": DatasetInfo(
        "cifar100", 100, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), flip=True, crop_padding=4
    ),
}
_IMAGENET_MEAN: RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD: RGB = (0.229, 0.224, 0.225)
_IMAGENET_SIZE = 224
_IMAGENET_RESIZE = 256

Loaded = tuple[Dataset, DatasetInfo]
Loader = Callable[[str | Path | None, bool, str, bool], Loaded]


def _to_float() -> list[Transform]:
    """Decoded PIL image -> float32 CHW tensor in [0, 1]."""
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


def _need_root(name: str, root: str | Path | None) -> Path:
    if root is None:
        raise DataError(f"dataset {name!r} needs a folder: set data.root")
    return Path(root)


def _load_digits(root: str | Path | None, train: bool, augment: str, download: bool) -> Loaded:
    images, targets = digits_split(train)
    transform = train_transform(_DIGITS, augment) if train else None
    return InMemoryImages(images, list(targets), transform), _DIGITS


def _cifar_loader(name: str) -> Loader:
    info = _CIFAR[name]

    def load_cifar(root: str | Path | None, train: bool, augment: str, download: bool) -> Loaded:
        steps = _to_float() + ([train_transform(info, augment)] if train else [])
        dataset = read_cifar(
            name,
            _need_root(name, root),
            train=train,
            num_classes=info.num_classes,
            transform=v2.Compose(steps),
            download=download,
        )
        return dataset, info

    return load_cifar


def _load_imagefolder(root: str | Path | None, train: bool, augment: str, download: bool) -> Loaded:
    """ImageNet recipe: "standard" is RandomResizedCrop + flip; otherwise resize and centre-crop."""
    folder = _need_root("imagefolder", root)
    if download:
        raise DataError(f"dataset 'imagefolder' cannot be downloaded; put class folders under {folder}/train and /val")
    if train and augment == "standard":
        geometry: list[Transform] = [v2.RandomResizedCrop(_IMAGENET_SIZE), v2.RandomHorizontalFlip()]
    else:
        geometry = [v2.Resize(_IMAGENET_RESIZE), v2.CenterCrop(_IMAGENET_SIZE)]
    to_image, to_float = _to_float()
    dataset = read_imagefolder(folder, train=train, transform=v2.Compose([to_image, *geometry, to_float]))
    info = DatasetInfo(
        "imagefolder",
        len(dataset.classes),
        _IMAGENET_SIZE,
        _IMAGENET_MEAN,
        _IMAGENET_STD,
        flip=True,
        crop_padding=0,
    )
    return dataset, info


_LOADERS: dict[str, Loader] = {
    "digits": _load_digits,
    "cifar10": _cifar_loader("cifar10"),
    "cifar100": _cifar_loader("cifar100"),
    "imagefolder": _load_imagefolder,
}
DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)  # ("digits", "cifar10", "cifar100", "imagefolder")


def load(
    name: str,
    *,
    root: str | Path | None = None,
    train: bool,
    augment: str = "standard",
    limit: int | None = None,
    download: bool = False,
) -> tuple[Dataset, DatasetInfo]:
    """One split of a dataset, augmented only when `train`, cut to a stratified `limit`."""
    if name not in _LOADERS:
        raise DataError(f"unknown dataset {name!r}; allowed: {', '.join(DATASET_NAMES)}")
    check_augment(augment)
    if limit is not None and limit < 1:
        raise DataError(f"data limit must be at least 1, got {limit}")
    dataset, info = _LOADERS[name](root, train, augment, download)
    if limit is not None:
        dataset = Subset(dataset, stratified_limit(labels_of(dataset), limit))
    return dataset, info


def labels_of(dataset: Dataset) -> list[int]:
    """Every label, in order, without decoding a single image (for stratified subsets)."""
    if isinstance(dataset, Subset):
        labels = labels_of(dataset.dataset)
        return [labels[int(i)] for i in dataset.indices]
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return [int(y) for y in dataset.tensors[1]]
    targets = getattr(dataset, "targets", None)
    if targets is None:
        raise TypeError(f"cannot read labels of {type(dataset).__name__} without decoding images")
    return [int(y) for y in targets]
