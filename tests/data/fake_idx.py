"""Tiny MNIST-family idx files, written by the tests (gzipped or not) in the standard layout."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ews.data.idx import split_files


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's idx format: magic (0x08 = unsigned bytes, then the rank), big-endian dimensions, raw bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_split(folder: Path, *, train: bool, n: int, gz: bool = True, seed: int = 0,
                    side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Random images (N, side, side) and labels cycling 0..9; returns what was written."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in zip(split_files(train), (images, labels)):
        data = idx_bytes(array)
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return images, labels


def write_idx_dataset(folder: Path, *, n_train: int = 40, n_test: int = 20, gz: bool = True) -> Path:
    write_idx_split(folder, train=True, n=n_train, gz=gz, seed=1)
    write_idx_split(folder, train=False, n=n_test, gz=gz, seed=2)
    return folder
