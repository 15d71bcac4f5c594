"""CIFAR-10-C / CIFAR-100-C folders in the released layout, read lazily and checked up front.

One `NAME.npy` per corruption: uint8 (5 * N, H, W, 3), the N test images at severity 1,
then at 2, ... 5 (Hendrycks & Dietterich 2019), plus `labels.npy` with 5 * N labels (the
release tiles the N test labels) or just the N. Every file is opened memory-mapped, so a
50,000-image file costs nothing until a batch is sliced out of it; every check runs
before the first image is scored, so a bad file fails in seconds, not after an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.arrays import open_npy
from ..errors import DataError
from . import names
from .metrics import report_order

LABELS = "labels.npy"


@dataclass(frozen=True)
class CifarC:
    """A checked -C folder: its corruption files (report order) and the labels of all 5 * N rows."""

    folder: Path
    files: dict[str, Path]
    labels: np.ndarray  # (5 * N,) int64
    per_severity: int  # N


def _check_images(path: Path, images: np.ndarray) -> None:
    expected = "expected uint8 (5 * N, H, W, 3) as in CIFAR-10-C"
    if images.dtype != np.uint8:
        raise DataError(f"{path} holds {images.dtype}, {expected}")
    if images.ndim != 4:
        raise DataError(f"{path} has shape {images.shape} ({images.ndim} dims), {expected}")
    if images.shape[-1] != 3:
        raise DataError(f"{path} has {images.shape[-1]} channels in its last dim, {expected}")
    if len(images) == 0 or len(images) % len(names.SEVERITIES):
        raise DataError(f"{path} has {len(images)} images, not a positive multiple of 5 (5 severities x N images)")


def _read_labels(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path} not found; a CIFAR-10-C folder needs labels.npy beside the corruption files")
    labels = open_npy(path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path} holds {labels.dtype} of shape {labels.shape}, expected 1-D integer labels")
    labels = np.array(labels, dtype=np.int64)  # a small in-memory copy, writable for torch
    if len(labels) and labels.min() < 0:
        raise DataError(f"{path} has negative label {labels.min()}")
    return labels


def read_cifar_c(folder: str | Path) -> CifarC:
    """Find and check every `.npy` in `folder`; all but `labels.npy` are scored as corruptions."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"CIFAR-10-C folder {folder} does not exist")
    found = {p.stem: p for p in folder.glob("*.npy") if p.name != LABELS and not p.name.startswith(".")}
    if not found:
        raise DataError(f"CIFAR-10-C folder {folder} has no NAME.npy corruption files")
    labels = _read_labels(folder / LABELS)
    files = {name: found[name] for name in report_order(found)}
    total = None
    for path in files.values():
        images = open_npy(path)
        _check_images(path, images)
        if total is not None and len(images) != total:
            raise DataError(f"{path} has {len(images)} images but the other files have {total}; "
                            f"all corruption files share labels.npy, so they must be the same length")
        if len(labels) not in (len(images), len(images) // len(names.SEVERITIES)):
            raise DataError(f"{path} has {len(images)} images but {folder / LABELS} has {len(labels)} labels; "
                            f"expected {len(images)} labels (or {len(images) // len(names.SEVERITIES)}, one per image)")
        total = len(images)
    assert total is not None
    per_severity = total // len(names.SEVERITIES)
    if len(labels) == per_severity:
        labels = np.tile(labels, len(names.SEVERITIES))
    return CifarC(folder, files, labels, per_severity)


def severity_batches(
    images: np.ndarray, *, severity: int, per_severity: int, batch_size: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """Rows of one severity in batches, each copied out of the memory map only when it is reached.

    Yields (rows, batch): `rows` indexes the file (and its labels), `batch` is a
    writable uint8 (B, H, W, 3) array.
    """
    start = (severity - 1) * per_severity
    for first in range(start, start + per_severity, batch_size):
        rows = slice(first, min(first + batch_size, start + per_severity))
        yield rows, np.array(images[rows])
