"""ImageNet-style class folders: `root/train/<class>/*.jpg`, `root/val/<class>/*.jpg`, and extra training folders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import default_loader, find_classes

from ..errors import DataError
from ..runs.checkpoint import first_line
from .types import Transform

SPLITS = {True: "train", False: "val"}


def checked_loader(path: str) -> Image.Image:
    """torchvision's image loader; a file that does not decode is a one-line `DataError` naming it.

    Found when the image is first read (checking every image up front would cost an
    ImageNet-sized pass over the disk before training).
    """
    try:
        return default_loader(path)
    except (OSError, SyntaxError, ValueError) as err:  # PIL.UnidentifiedImageError is an OSError
        raise DataError(f"image {path} could not be decoded: {first_line(err)}") from None


def _classes(folder: Path) -> list[str]:
    """Class names from sub-folder names: cheap, no image is listed."""
    if not folder.is_dir():
        raise DataError(f"imagefolder split not found: {folder}; put class folders under data.root/train and /val")
    try:
        return find_classes(folder)[0]
    except FileNotFoundError:
        raise DataError(f"imagefolder split {folder} has no class folders") from None


def read_imagefolder(root: str | Path, *, train: bool, transform: Transform | None) -> ImageFolder:
    """Read one split; the val split must have exactly the train classes, or labels would shift."""
    train_folder, folder = Path(root, SPLITS[True]), Path(root, SPLITS[train])
    if _classes(folder) != _classes(train_folder):
        raise DataError(f"imagefolder split {folder} has other class folders than {train_folder}")
    try:
        return ImageFolder(str(folder), transform=transform, loader=checked_loader)
    except FileNotFoundError as err:
        raise DataError(f"imagefolder split {folder} has no images: {' '.join(str(err).split())}") from None


class _FixedClasses(ImageFolder):
    """An ImageFolder whose labels follow a given class list, not its own sorted folder names."""

    def __init__(self, root: Path, *, classes: Sequence[str], transform: Transform) -> None:
        self._given = list(classes)
        super().__init__(str(root), transform=transform, loader=checked_loader)

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        return self._given, {name: label for label, name in enumerate(self._given)}


def _preview(names: Iterable[str]) -> str:
    """Up to five names, sorted, so a 100-class mismatch still fits on one line."""
    ordered = sorted(names)
    return ", ".join(ordered[:5]) + (f" and {len(ordered) - 5} more" if len(ordered) > 5 else "")


def check_extra_folder(root: str | Path) -> list[str]:
    """The class folder names of an extra training folder; cheap, so it runs before any data is read."""
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"extra training folder not found: {folder}; data.extra_train_roots needs ROOT/CLASS/*.png")
    try:
        return find_classes(folder)[0]
    except FileNotFoundError:
        raise DataError(f"extra training folder {folder} has no class folders; expected ROOT/CLASS/*.png") from None


def read_extra_folder(root: str | Path, *, classes: Sequence[str], transform: Transform) -> ImageFolder:
    """Extra training images (DeepAugment) labelled by the training set's class names.

    The class folders must be exactly `classes` (in any order); an image in folder
    `classes[k]` gets label k, so the labels agree with the training set's.
    """
    folder = Path(root)
    found = set(check_extra_folder(folder))
    missing, unexpected = set(classes) - found, found - set(classes)
    if missing or unexpected:
        gaps = [("missing", missing), ("unexpected", unexpected)]
        detail = "; ".join(f"{what} {_preview(names)}" for what, names in gaps if names)
        raise DataError(f"extra training folder {folder} must have one folder per training class: {detail}")
    try:
        return _FixedClasses(folder, classes=classes, transform=transform)
    except FileNotFoundError as err:
        raise DataError(f"extra training folder {folder} has no images: {' '.join(str(err).split())}") from None
