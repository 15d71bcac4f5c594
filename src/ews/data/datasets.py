"""One entry point, `load`, for every dataset `ews` trains on.

Every dataset yields `(x, y)`: `x` a float32 (3, H, W) tensor in [0, 1] (models
normalise inside, with `DatasetInfo.mean`/`std`) and `y` a python int; a training
split augmented with AugMix's JSD views yields `x` of shape (3, 3, H, W) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset
from torchvision.transforms import v2

from ..errors import DataError, MissingDataError
from .augment import AugMixConfig, check_augment, train_transform
from .cifar import read_cifar
from .digits import IMAGE_SIZE as DIGITS_SIZE
from .digits import digits_split
from .eval_images import CROP as _IMAGENET_SIZE
from .eval_images import imagenet_centre_crop
from .in_memory import InMemoryImages
from .mnist import IDX_DATASETS, download as download_idx, idx_split
from .imagefolder import check_extra_folder, read_extra_folder, read_imagefolder
from .subsets import stratified_limit
from .types import RGB, DatasetInfo, Transform

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
# Mean and std over every pixel of the train split, padded to 32x32 (tests/data recomputes Fashion-MNIST's
# when Debian's copy is installed). Clothes stay clothes when mirrored, digits do not.
_IDX = {
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 32, (0.2190,) * 3, (0.3318,) * 3, flip=True, crop_padding=4),
    "mnist": DatasetInfo("mnist", 10, 32, (0.1001,) * 3, (0.2752,) * 3, flip=False, crop_padding=4),
}
_IMAGENET_MEAN: RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD: RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class _Request:
    """The arguments of one `load` call that the per-dataset loaders need."""

    root: str | Path | None
    train: bool
    augment: str
    autoaugment_policy: str
    augmix: AugMixConfig | None
    download: bool

    def augmentation(self, info: DatasetInfo, geometry: Transform | None = None) -> Transform:
        return train_transform(
            info, self.augment, autoaugment_policy=self.autoaugment_policy, augmix=self.augmix, geometry=geometry
        )


Loaded = tuple[Dataset, DatasetInfo]
Loader = Callable[[_Request], Loaded]


def _to_float() -> list[Transform]:
    """Decoded PIL image -> float32 CHW tensor in [0, 1]."""
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


def _need_root(name: str, root: str | Path | None) -> Path:
    if root is None:
        raise MissingDataError(f"dataset {name!r} needs a folder", "set data.root", dataset=name,
                               downloadable=name != "imagefolder")
    return Path(root)


def _load_digits(request: _Request) -> Loaded:
    images, targets = digits_split(request.train)
    transform = request.augmentation(_DIGITS) if request.train else None
    return InMemoryImages(images, list(targets), transform), _DIGITS


def _idx_loader(name: str) -> Loader:
    info = _IDX[name]

    def load_idx(request: _Request) -> Loaded:
        root = None if request.root is None else str(request.root)
        if request.download:
            download_idx(IDX_DATASETS[name], root)
        images, targets = idx_split(name, root, request.train)
        transform = request.augmentation(info) if request.train else None
        return InMemoryImages(images, list(targets), transform), info

    return load_idx


def _cifar_loader(name: str) -> Loader:
    info = _CIFAR[name]

    def load_cifar(request: _Request) -> Loaded:
        steps = _to_float() + ([request.augmentation(info)] if request.train else [])
        dataset = read_cifar(
            name,
            _need_root(name, request.root),
            train=request.train,
            num_classes=info.num_classes,
            transform=v2.Compose(steps),
            download=request.download,
        )
        return dataset, info

    return load_cifar


def _imagefolder_train(info: DatasetInfo, request: _Request) -> Transform:
    """ImageNet training: RandomResizedCrop + flip on the decoded image, then any policy on the float crop."""
    to_image, to_float = _to_float()
    crop = v2.Compose([v2.RandomResizedCrop(info.image_size), v2.RandomHorizontalFlip(), to_float])
    return v2.Compose([to_image, request.augmentation(info, geometry=crop)])


def _load_imagefolder(request: _Request) -> Loaded:
    """ImageNet recipe: training crops with RandomResizedCrop + flip (except `none`); else resize and centre-crop."""
    folder = _need_root("imagefolder", request.root)
    if request.download:
        raise DataError(f"dataset 'imagefolder' cannot be downloaded; put class folders under {folder}/train and /val")
    dataset = read_imagefolder(folder, train=request.train, transform=None)
    info = DatasetInfo(
        "imagefolder",
        len(dataset.classes),
        _IMAGENET_SIZE,
        _IMAGENET_MEAN,
        _IMAGENET_STD,
        flip=True,
        crop_padding=0,
    )
    if request.train and request.augment != "none":
        dataset.transform = _imagefolder_train(info, request)
    else:
        to_image, to_float = _to_float()
        dataset.transform = v2.Compose([to_image, imagenet_centre_crop(), to_float])
    return dataset, info


def _decoded_train_transform(info: DatasetInfo, request: _Request) -> Transform:
    """The training transform for a decoded image of any size (extra training folders).

    ImageNet folders crop it like their own images; the small datasets first resize it
    to their fixed square size, then augment it like their own images.
    """
    if info.name == "imagefolder":
        return _imagefolder_train(info, request)
    to_image, to_float = _to_float()
    return v2.Compose([to_image, v2.Resize((info.image_size, info.image_size)), to_float, request.augmentation(info)])


def _class_names(dataset: Dataset, info: DatasetInfo) -> list[str]:
    """The names extra training folders must use: the dataset's own class names, or "0".."9" for digits."""
    names = getattr(dataset, "classes", None)
    return list(names) if names else [str(label) for label in range(info.num_classes)]


_LOADERS: dict[str, Loader] = {
    "digits": _load_digits,
    "fashion-mnist": _idx_loader("fashion-mnist"),
    "mnist": _idx_loader("mnist"),
    "cifar10": _cifar_loader("cifar10"),
    "cifar100": _cifar_loader("cifar100"),
    "imagefolder": _load_imagefolder,
}
DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)  # digits, fashion-mnist, mnist, cifar10, cifar100, imagefolder


def load(
    name: str,
    *,
    root: str | Path | None = None,
    train: bool,
    augment: str = "standard",
    limit: int | None = None,
    download: bool = False,
    autoaugment_policy: str = "auto",
    augmix: AugMixConfig | None = None,
    extra_train_roots: Sequence[str | Path] = (),
) -> tuple[Dataset, DatasetInfo]:
    """One split of a dataset, augmented only when `train`, cut to a stratified `limit`.

    `augmix` is any object with AugMixConfig's fields (None: its defaults).
    `extra_train_roots` (DeepAugment, Hendrycks et al. 2021) are ImageFolder roots
    `ROOT/CLASS/*.png` whose class folders are exactly the training set's class names
    (CIFAR's label names, the ImageNet folder names, "0".."9" for digits); their images
    join the training split only, resized to the dataset's image size and augmented like
    it. `limit` cuts the split and every extra folder alike, keeping their proportions.
    """
    if name not in _LOADERS:
        raise DataError(f"unknown dataset {name!r}; allowed: {', '.join(DATASET_NAMES)}")
    check_augment(augment, autoaugment_policy=autoaugment_policy)
    if limit is not None and limit < 1:
        raise DataError(f"data limit must be at least 1, got {limit}")
    extra_roots = [Path(extra) for extra in extra_train_roots] if train else []
    for extra in extra_roots:
        check_extra_folder(extra)
    request = _Request(root, train, augment, autoaugment_policy, augmix, download)
    dataset, info = _LOADERS[name](request)
    parts = [dataset]
    if extra_roots:
        classes, transform = _class_names(dataset, info), _decoded_train_transform(info, request)
        parts += [read_extra_folder(extra, classes=classes, transform=transform) for extra in extra_roots]
    if limit is not None:
        parts = [Subset(part, stratified_limit(labels_of(part), limit)) for part in parts]
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), info


def labels_of(dataset: Dataset) -> list[int]:
    """Every label, in order, without decoding a single image (for stratified subsets)."""
    if isinstance(dataset, Subset):
        labels = labels_of(dataset.dataset)
        return [labels[int(i)] for i in dataset.indices]
    if isinstance(dataset, ConcatDataset):
        return [label for part in dataset.datasets for label in labels_of(part)]
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return [int(y) for y in dataset.tensors[1]]
    targets = getattr(dataset, "targets", None)
    if targets is None:
        raise TypeError(f"cannot read labels of {type(dataset).__name__} without decoding images")
    return [int(y) for y in targets]
