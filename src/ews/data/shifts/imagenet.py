"""ImageNet-R, ImageNet-A, ImageNet-Sketch and ImageNet-V2: one class folder per class, as released.

Each set's folder names are checked against its class list before any image is listed,
and every class must have its folder: a partial copy would not be mislabelled (labels
follow the names, not the folder order), but its error would be measured on other
images than the benchmark's, so it is refused by name rather than reported under the
benchmark's name.

- ImageNet-R and ImageNet-A (Hendrycks et al. 2021): `ROOT/WNID/*.jpg` for 200 WNIDs
  each; label k is the k-th of the set's sorted WNIDs, scored on those 200 logits.
- ImageNet-Sketch (Wang et al. 2019): `ROOT/WNID/*.JPEG` for all 1,000 WNIDs; label k is
  the k-th sorted WNID, ImageNet's own label order.
- ImageNet-V2 (Recht et al. 2019), any of its three variants: `ROOT/0/` .. `ROOT/999/`,
  folder k holding class k. A plain `ImageFolder` would sort the names as strings
  ("10" before "2") and mislabel 990 of the 1,000 classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ...errors import DataError
from ..eval_images import ImageTransform, LabelledImages, eval_transform, folder_images
from .shift_set import ShiftSet
from .wnids import imagenet_wnids, subset_wnids

NUM_CLASSES = 1000
V2_CLASSES: tuple[str, ...] = tuple(str(label) for label in range(NUM_CLASSES))


def _class_folders(root: Path, *, title: str, layout: str) -> set[str]:
    """The names of the (non-hidden) sub-folders of `root`."""
    if not root.is_dir():
        raise DataError(f"{title} root {root} does not exist; expected {layout}")
    return {entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")}


def _read_folders(root: str | Path, classes: Sequence[str], *, title: str, layout: str, what: str,
                  transform: ImageTransform | None) -> tuple[Path, LabelledImages]:
    """Check `root` holds one folder per class of `classes` and nothing else, then list its images.

    `what` says what a class folder is named for errors (e.g. "one of its 200 WNIDs");
    `layout` shows the expected tree.
    """
    folder = Path(root)
    found = _class_folders(folder, title=title, layout=layout)
    unknown = sorted(found - set(classes))
    if unknown:
        raise DataError(f"{title} root {folder} has folder {unknown[0]!r}, which is not {what} "
                        f"({len(unknown)} foreign folders in all); expected {layout}")
    missing = [name for name in classes if name not in found]
    if missing:
        raise DataError(f"{title} root {folder} has {len(found)} of its {len(classes)} class folders (first missing: "
                        f"{missing[0]}); a partial copy is not the benchmark, so complete it")
    images = folder_images(folder, classes, transform=eval_transform() if transform is None else transform,
                           title=title)
    return folder, images


def _read_subset(name: str, root: str | Path, *, title: str, paper: str,
                 transform: ImageTransform | None) -> ShiftSet:
    """A 200-class subset benchmark, labelled by its sorted WNIDs and scored on their logits only."""
    classes = subset_wnids(name.replace("-", "_"))
    logits = {wnid: index for index, wnid in enumerate(imagenet_wnids())}
    layout = f"ROOT/{classes[0]}/*.jpg, one folder for each of its {len(classes)} WNIDs"
    folder, images = _read_folders(root, classes, title=title, layout=layout, what=f"one of its {len(classes)} WNIDs",
                                   transform=transform)
    convention = (f"{len(classes)} {title} classes: label k is its k-th sorted WNID, and the prediction is taken "
                  f"over those {len(classes)} of the 1000 ImageNet logits ({paper})")
    return ShiftSet(name, folder, images, tuple(logits[wnid] for wnid in classes), NUM_CLASSES, convention)


def read_imagenet_r(root: str | Path, *, transform: ImageTransform | None = None) -> ShiftSet:
    """ImageNet-R(endition) from `ROOT/WNID/*.jpg`, its 200 WNIDs; images resized 256 and centre-cropped 224."""
    return _read_subset("imagenet-r", root, title="ImageNet-R", paper="Hendrycks et al. 2021", transform=transform)


def read_imagenet_a(root: str | Path, *, transform: ImageTransform | None = None) -> ShiftSet:
    """ImageNet-A from `ROOT/WNID/*.jpg`, its 200 WNIDs; images resized 256 and centre-cropped 224."""
    return _read_subset("imagenet-a", root, title="ImageNet-A", paper="Hendrycks et al. 2021", transform=transform)


def read_imagenet_sketch(root: str | Path, *, transform: ImageTransform | None = None) -> ShiftSet:
    """ImageNet-Sketch from `ROOT/WNID/*.JPEG` (the released `sketch/` folder), all 1,000 WNIDs."""
    classes = imagenet_wnids()
    layout = f"ROOT/{classes[0]}/*.JPEG, one folder for each of the 1000 ImageNet WNIDs"
    folder, images = _read_folders(root, classes, title="ImageNet-Sketch", layout=layout,
                                   what="one of the 1000 ImageNet WNIDs", transform=transform)
    convention = "all 1000 ImageNet classes: label k is the k-th sorted WNID, as ImageNet's (Wang et al. 2019)"
    return ShiftSet("imagenet-sketch", folder, images, None, NUM_CLASSES, convention)


def read_imagenet_v2(root: str | Path, *, transform: ImageTransform | None = None) -> ShiftSet:
    """ImageNet-V2 from `ROOT/0/` .. `ROOT/999/` (`imagenetv2-matched-frequency-format-val`); folder k is class k."""
    layout = "ROOT/0/*.jpeg .. ROOT/999/*.jpeg, folder k holding ImageNet class k"
    folder, images = _read_folders(root, V2_CLASSES, title="ImageNet-V2", layout=layout,
                                   what="a class number 0..999", transform=transform)
    convention = ("all 1000 ImageNet classes: folder k holds label k, ImageNet's label order, read as numbers "
                  "(Recht et al. 2019)")
    return ShiftSet("imagenet-v2", folder, images, None, NUM_CLASSES, convention)
