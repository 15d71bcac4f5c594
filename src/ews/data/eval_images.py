"""Test images read from files: class folders labelled by a fixed class list, and the ImageNet test transform.

Shared by every folder benchmark (ImageNet-C and -3DCC in `ews.corruptions`, the
ImageNet shift sets in `ews.data.shifts`), so each labels its images the same way: by
the index of the folder's name in one given class list, never by the folder order a
plain `ImageFolder` would give (which shifts every later label when a folder is
missing, and sorts "10" before "2").
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset
from torchvision.transforms import v2

from ..errors import DataError
from .imagefolder import checked_loader

ImageTransform = Callable[[Any], torch.Tensor]  # a decoded PIL image -> (3, H, W) tensor

# ImageNet's test geometry (the ImageNet-C authors' and AugMix's test code, and the shift
# sets' papers): resize the short side to 256, centre-crop 224.
RESIZE, CROP = 256, 224


def imagenet_centre_crop() -> v2.Compose:
    """Resize 256, centre crop 224: the one definition of ImageNet's test geometry, shared by these
    test sets and the validation split of `ews.data.load("imagefolder")`."""
    return v2.Compose([v2.Resize(RESIZE), v2.CenterCrop(CROP)])


def eval_transform() -> ImageTransform:
    """Resize 256, centre crop 224, as a uint8 (3, 224, 224) tensor: kept as uint8 so batches travel
    small and are scaled to [0, 1] on the model's device."""
    return v2.Compose([imagenet_centre_crop(), v2.PILToTensor()])


class LabelledImages(Dataset[tuple[torch.Tensor, int]]):
    """(image, label) pairs from a fixed list of files, decoded as RGB like `ImageFolder`."""

    def __init__(self, samples: list[tuple[str, int]], transform: ImageTransform) -> None:
        self.samples = samples
        self.transform = transform

    @property
    def targets(self) -> list[int]:
        """The labels in sample order, as `ImageFolder` names them (for `ews.data.labels_of`)."""
        return [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(checked_loader(path)), label


def folder_images(folder: Path, classes: Sequence[str], *, transform: ImageTransform, title: str) -> LabelledImages:
    """The images in `folder/CLASS/`, labelled by the index of CLASS in `classes`.

    A class without a folder is skipped (whether the copy must be complete is the
    caller's rule), but a class folder holding no image is refused: it is what an
    interrupted copy leaves. Listing the files is the one pass over them, so this
    check costs nothing extra. `title` names the benchmark in errors.
    """
    class_to_idx = {name: label for label, name in enumerate(classes)}
    samples = make_dataset(str(folder), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    if not samples:
        raise DataError(f"{title} folder {folder} has no images ({', '.join(IMG_EXTENSIONS)})")
    counts = Counter(label for _, label in samples)
    empty = [name for label, name in enumerate(classes) if not counts[label] and (folder / name).is_dir()]
    if empty:
        raise DataError(f"{title} class folder {folder / empty[0]} has no images ({len(empty)} such folders); "
                        f"an interrupted copy? Re-extract it")
    return LabelledImages(samples, transform)
