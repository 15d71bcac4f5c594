"""ImageNet-C folders: `ROOT/CORRUPTION/SEVERITY/WNID/*.JPEG`, structure checked up front.

Labels are the index of the WNID in one sorted class list shared by every corruption and
severity (the order `ImageFolder` gives the training set), never a per-folder order: a
severity folder that happens to lack a class would otherwise shift every later label.
Images are listed only when their folder is scored, as listing all 3.75M files of the
full benchmark takes long on network storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader, make_dataset
from torchvision.transforms import v2

from ..errors import DataError
from .metrics import report_order

Transform = Callable[[Any], torch.Tensor]

# The benchmark's evaluation transform (its authors' test code, also AugMix's): the
# 224 x 224 corrupted images are resized to 256 and centre-cropped back to 224. Kept as
# uint8 so batches travel small and are scaled to [0, 1] on the model's device.
RESIZE, CROP = 256, 224


def default_transform() -> Transform:
    """Resize 256, centre crop 224, as a uint8 (3, 224, 224) tensor."""
    return v2.Compose([v2.Resize(RESIZE), v2.CenterCrop(CROP), v2.PILToTensor()])


@dataclass(frozen=True)
class ImageNetC:
    """A checked ImageNet-C root: severity folders per corruption (report order) and the class list."""

    root: Path
    folders: dict[str, dict[int, Path]]
    classes: tuple[str, ...]


def _corruption_folders(root: Path) -> list[Path]:
    """Sub-folders of `root` holding numbered severity folders; anything else is ignored."""
    return [sub for sub in root.iterdir()
            if sub.is_dir() and any(child.is_dir() and child.name.isdigit() for child in sub.iterdir())]


def read_imagenet_c(root: str | Path, *, severities: Sequence[int], classes: Sequence[str] | None = None) -> ImageNetC:
    """Find the corruptions under `root`, check each has every requested severity, and fix the classes.

    `classes` (sorted training-set WNIDs) defaults to the sorted union of the class
    folders found; a class folder outside a given list is a `DataError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"ImageNet-C root {root} does not exist")
    found = {sub.name: sub for sub in _corruption_folders(root)}
    if not found:
        raise DataError(f"ImageNet-C root {root} has no CORRUPTION/SEVERITY folders (e.g. {root}/fog/3/n01440764)")
    folders: dict[str, dict[int, Path]] = {}
    seen: set[str] = set()
    for name in report_order(found):
        folders[name] = {}
        for severity in severities:
            folder = found[name] / str(severity)
            wnids = [d.name for d in folder.iterdir() if d.is_dir()] if folder.is_dir() else []
            if not wnids:
                raise DataError(f"ImageNet-C folder {folder} is missing or has no class folders; "
                                f"choose severities that every corruption has")
            seen.update(wnids)
            folders[name][severity] = folder
    if classes is None:
        classes = sorted(seen)
    unknown = sorted(seen - set(classes))
    if unknown:
        raise DataError(f"ImageNet-C root {root} has class folder {unknown[0]!r} that is not among the "
                        f"{len(classes)} model classes")
    return ImageNetC(root, folders, tuple(classes))


class LabelledImages(Dataset):
    """(image, label) pairs from a fixed list, loaded with PIL as RGB like `ImageFolder`."""

    def __init__(self, samples: list[tuple[str, int]], transform: Transform) -> None:
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(default_loader(path)), label


def severity_images(dataset: ImageNetC, corruption: str, severity: int, *, transform: Transform) -> LabelledImages:
    """The images of one corruption at one severity, labelled by the shared class list."""
    folder = dataset.folders[corruption][severity]
    class_to_idx = {wnid: index for index, wnid in enumerate(dataset.classes)}
    samples = make_dataset(str(folder), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    if not samples:
        raise DataError(f"ImageNet-C folder {folder} has no images ({', '.join(IMG_EXTENSIONS)})")
    return LabelledImages(samples, transform)
