"""ImageNet-style class folders: `root/train/<class>/*.jpg` and `root/val/<class>/*.jpg`."""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import find_classes

from ..errors import DataError
from .augment import Transform

SPLITS = {True: "train", False: "val"}


def _classes(folder: Path) -> list[str]:
    """Class names from sub-folder names: cheap, no image is listed."""
    if not folder.is_dir():
        raise DataError(f"imagefolder split not found: {folder}; put class folders under data.root/train and /val")
    try:
        return find_classes(folder)[0]
    except FileNotFoundError:
        raise DataError(f"imagefolder split {folder} has no class folders") from None


def read_imagefolder(root: str | Path, *, train: bool, transform: Transform) -> ImageFolder:
    """Read one split; the val split must have exactly the train classes, or labels would shift."""
    train_folder, folder = Path(root, SPLITS[True]), Path(root, SPLITS[train])
    if _classes(folder) != _classes(train_folder):
        raise DataError(f"imagefolder split {folder} has other class folders than {train_folder}")
    try:
        return ImageFolder(str(folder), transform=transform)
    except FileNotFoundError as err:
        raise DataError(f"imagefolder split {folder} has no images: {' '.join(str(err).split())}") from None
