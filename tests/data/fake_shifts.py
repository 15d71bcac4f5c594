"""Tiny shift test sets in each released layout: CIFAR-10.x arrays and one-image class folders."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image


def cifar_arrays(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 32, 32, 3) random images and int64 labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), np.arange(n, dtype=np.int64) % 10


def write_cifar10_1(folder: Path, version: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`cifar10.1_{version}_data.npy` and `_labels.npy` as in the CIFAR-10.1 release."""
    images, labels = cifar_arrays(n, seed=n)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"cifar10.1_{version}_data.npy", images)
    np.save(folder / f"cifar10.1_{version}_labels.npy", labels)
    return images, labels


def write_cifar10_2(folder: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`cifar102_test.npz` with the release's keys (`label_names` included, unused by the reader)."""
    images, labels = cifar_arrays(n, seed=n)
    folder.mkdir(parents=True, exist_ok=True)
    names = np.array(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    np.savez(folder / "cifar102_test.npz", images=images, labels=labels, label_names=names)
    return images, labels


@lru_cache(maxsize=None)
def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_class_folders(root: Path, names: Iterable[str], *, suffix: str = ".png") -> Path:
    """One tiny image per class folder `root/NAME/`; its grey level is the folder's position (mod 256)."""
    for position, name in enumerate(names):
        (root / name).mkdir(parents=True)
        (root / name / f"img{suffix}").write_bytes(_png(position % 256))
    return root


def shift_error(name: str, root: Path, match: str) -> str:
    """The one-line `DataError` reading `name` from `root` raises; it must contain `match`."""
    import pytest

    from ews.data.shifts import read_shift
    from ews.errors import DataError

    with pytest.raises(DataError) as info:
        read_shift(name, root)
    message = str(info.value)
    assert match in message and "\n" not in message, message
    return message
