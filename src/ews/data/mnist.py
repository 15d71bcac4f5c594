"""Fashion-MNIST and MNIST: 28x28 grey idx files, served as 32x32 images every CIFAR model takes.

Each image is zero-padded by 2 pixels to 32x32 (no resampling: every pixel is the
original) and repeated to 3 channels when read, so every registered model, the
CIFAR-10-C corruption parameters and the crop augmentation apply unchanged; the extra
input channels cost only the first conv's FLOPs. Images are held once per process as
uint8, 1 KiB each, and turned into float [0, 1] per sample.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError, MissingDataError
from .idx import find_file, read_idx, split_files

PAD = 2  # 28 + 2 * 2 = 32
SIDE = 28


@dataclass(frozen=True)
class IdxDataset:
    """Where a MNIST-family dataset's files may be and how a user gets them."""

    name: str  # ews's name, e.g. "fashion-mnist"
    torchvision_class: str  # torchvision's reader, which `--download` uses
    system_folder: Path | None  # a system-wide copy (Debian's dataset package), used when data.root has none
    package: str | None  # the Debian package that installs `system_folder`

    def folders(self, root: str | Path | None) -> list[Path]:
        """Where the files are looked for: ROOT, ROOT/<Class>/raw (torchvision's layout), then the system copy."""
        found = [Path(root), Path(root, self.torchvision_class, "raw")] if root is not None else []
        return found + ([self.system_folder] if self.system_folder is not None else [])

    def how_to_get(self, root: str | Path | None) -> str:
        """The three ways to get the files, for error messages."""
        where = f"data.root={root}" if root is not None else "data.root"
        system = f"install Debian's {self.package} (files in {self.system_folder}), " if self.package else ""
        return (f"get the four idx files (.gz or not) into {where}, {system}"
                f"or pass --download (torchvision's {self.torchvision_class}, needs a network)")


FASHION_MNIST = IdxDataset("fashion-mnist", "FashionMNIST", Path("/usr/share/datasets/fashion-mnist"),
                           "dataset-fashion-mnist")
MNIST = IdxDataset("mnist", "MNIST", None, None)
IDX_DATASETS = {d.name: d for d in (FASHION_MNIST, MNIST)}


def download(dataset: IdxDataset, root: str | Path | None) -> None:
    """Fetch the files with torchvision into ROOT/<Class>/raw (a network is needed)."""
    import torchvision.datasets

    if root is None:
        raise DataError(f"--download for {dataset.name} needs a folder to write to: set data.root")
    reader = getattr(torchvision.datasets, dataset.torchvision_class)
    try:
        for train in (True, False):
            reader(str(root), train=train, download=True)
    except (OSError, RuntimeError) as err:
        raise DataError(f"cannot download {dataset.name} into {root}: {' '.join(str(err).split())}") from None


def _locate(dataset: IdxDataset, root: str | Path | None, train: bool) -> tuple[Path, Path]:
    folders = dataset.folders(root)
    paths = []
    for name in split_files(train):
        path = find_file(folders, name)
        if path is None:
            looked = f"in {', '.join(str(f) for f in folders)}" if folders else "(data.root is not set)"
            raise MissingDataError(f"{dataset.name}: {name}[.gz] not found {looked}", dataset.how_to_get(root),
                                   dataset=dataset.name)
        paths.append(path)
    return paths[0], paths[1]


@functools.lru_cache(maxsize=8)
def idx_split(name: str, root: str | None, train: bool) -> tuple[Tensor, tuple[int, ...]]:
    """uint8 (N, 1, 32, 32) images and their labels, read and checked once per process."""
    dataset = IDX_DATASETS[name]
    images_path, labels_path = _locate(dataset, root, train)
    how = dataset.how_to_get(root)
    images = read_idx(images_path, rank=3, how_to_get=how)
    labels = read_idx(labels_path, rank=1, how_to_get=how)
    if images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected {SIDE}x{SIDE}; {how}")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels; {how}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0..9; {how}")
    padded = np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD)))[:, None]
    return torch.from_numpy(padded), tuple(int(label) for label in labels)
