"""CIFAR-10.1 and CIFAR-10.2: new CIFAR-10 test sets as released, uint8 (N, 32, 32, 3) arrays.

CIFAR-10.1 (Recht et al. 2018) ships `cifar10.1_v6_data.npy` and `cifar10.1_v6_labels.npy`
(2,000 images; v6 is the version its authors recommend) and the `v4` pair (2,021 images,
the numbers of the paper's main text). CIFAR-10.2 (Lu et al. 2020) ships
`cifar102_test.npz` with `images` and `labels` (2,000 test images). All label in
CIFAR-10's class order, so labels index a CIFAR-10 model's 10 logits directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ...errors import ConfigError, DataError
from ..arrays import open_npy, read_npz
from ..in_memory import InMemoryImages
from ..types import Transform
from .shift_set import ShiftSet

NUM_CLASSES = 10
CIFAR10_1_VERSIONS: tuple[str, ...] = ("v6", "v4")  # preferred first
CIFAR10_2_TEST = "cifar102_test.npz"


class ArrayImages(InMemoryImages):
    """(uint8 (3, H, W) image, label) pairs from one in-memory (N, 3, H, W) tensor; `transform` maps the image.

    Unlike `InMemoryImages` (training sets, served as floats), the images stay uint8 like
    every test set's, so batches travel small and are scaled on the model's device.
    """

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image = self.images[index]
        return (image if self.transform is None else self.transform(image)), self.targets[index]


def _dataset(images: np.ndarray, labels: np.ndarray, *, source: str, transform: Transform | None) -> ArrayImages:
    """Check the released shapes and label range, then hold the images as one uint8 NCHW tensor."""
    expected = "expected uint8 (N, 32, 32, 3) images and N integer labels in 0..9"
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"{source} holds {images.dtype} images of shape {images.shape}; {expected}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or len(labels) != len(images):
        raise DataError(f"{source} holds {labels.dtype} labels of shape {labels.shape} for {len(images)} images; "
                        f"{expected}")
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        found = f"{labels.min()}..{labels.max()}" if len(labels) else "none"
        raise DataError(f"{source} has labels {found}; {expected}")
    pixels = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).contiguous()  # a copy, (N, 3, 32, 32)
    return ArrayImages(pixels, [int(label) for label in labels], transform)


def _folder(root: str | Path, title: str) -> Path:
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"{title} folder {folder} does not exist")
    return folder


def _cifar10_1_files(folder: Path, version: str | None) -> tuple[str, Path, Path]:
    """The version to read and its data and label files: `version`, or v6 if present, else v4."""
    if version is not None and version not in CIFAR10_1_VERSIONS:
        raise ConfigError(f"unknown CIFAR-10.1 version {version!r}; allowed: {', '.join(CIFAR10_1_VERSIONS)}")
    for candidate in (version,) if version else CIFAR10_1_VERSIONS:
        data, labels = (folder / f"cifar10.1_{candidate}_{part}.npy" for part in ("data", "labels"))
        if data.is_file() or labels.is_file() or version:
            missing = [path.name for path in (data, labels) if not path.is_file()]
            if missing:
                raise DataError(f"CIFAR-10.1 folder {folder} lacks {' and '.join(missing)}; "
                                f"expected cifar10.1_{candidate}_data.npy and cifar10.1_{candidate}_labels.npy")
            return candidate, data, labels
    raise DataError(f"CIFAR-10.1 folder {folder} has neither cifar10.1_v6_data.npy and cifar10.1_v6_labels.npy "
                    f"nor the v4 pair, as released")


def read_cifar10_1(root: str | Path, *, version: str | None = None, transform: Transform | None = None) -> ShiftSet:
    """CIFAR-10.1 from `root/cifar10.1_{version}_data.npy` and `_labels.npy`; version v6 if present, else v4.

    The name read ("cifar10.1-v6" or "cifar10.1-v4") goes into the result, since the two
    versions give different errors. `transform` maps each uint8 (3, 32, 32) image.
    """
    folder = _folder(root, "CIFAR-10.1")
    chosen, data, labels = _cifar10_1_files(folder, version)
    source = f"CIFAR-10.1 {chosen} in {folder}"
    dataset = _dataset(open_npy(data), open_npy(labels), source=source, transform=transform)
    convention = (f"CIFAR-10.1 {chosen}, {len(dataset)} new test images in CIFAR-10's 10 classes and label order "
                  f"(Recht et al. 2018)")
    return ShiftSet(f"cifar10.1-{chosen}", folder, dataset, None, NUM_CLASSES, convention)


def read_cifar10_2(root: str | Path, *, transform: Transform | None = None) -> ShiftSet:
    """CIFAR-10.2's test split from `root/cifar102_test.npz` (keys `images`, `labels`).

    `transform` maps each uint8 (3, 32, 32) image.
    """
    folder = _folder(root, "CIFAR-10.2")
    path = folder / CIFAR10_2_TEST
    if not path.is_file():
        raise DataError(f"CIFAR-10.2 folder {folder} has no {CIFAR10_2_TEST}; expected the released test split "
                        f"with keys images and labels")
    arrays = read_npz(path, ("images", "labels"))
    dataset = _dataset(arrays["images"], arrays["labels"], source=str(path), transform=transform)
    convention = (f"CIFAR-10.2 test split, {len(dataset)} new test images in CIFAR-10's 10 classes and label order "
                  f"(Lu et al. 2020)")
    return ShiftSet("cifar10.2", folder, dataset, None, NUM_CLASSES, convention)
