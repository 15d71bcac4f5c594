"""CIFAR-10/100 folders in torchvision's python layout, with random pixels, for tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar10(root: Path, *, per_batch: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for seed, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data, labels = _rows(per_batch, seed), [(seed + i) % 10 for i in range(per_batch)]
        _pickle(folder / name, {"data": data, "labels": labels, "batch_label": name})
        written[name] = (data, labels)
    _pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    return written


def write_cifar100(root: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for seed, name in enumerate(["train", "test"]):
        data, labels = _rows(6, 10 + seed), [17 * i + seed for i in range(6)]
        _pickle(folder / name, {"data": data, "fine_labels": labels, "coarse_labels": [0] * 6})
        written[name] = (data, labels)
    _pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": []})
    return written
