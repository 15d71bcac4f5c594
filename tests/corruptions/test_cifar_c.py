"""CIFAR-10-C folder reading: the released layout, label tiling, lazy batches and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ews.corruptions.cifar_c import open_npy, read_cifar_c, severity_batches
from ews.errors import DataError

from .synthetic import cifar_images, write_cifar_c

LABELS = np.array([0, 1, 0, 1])


def _folder(tmp_path: Path, **files: np.ndarray) -> Path:
    images = cifar_images(LABELS, [0, 1, 2, 3, 4])
    return write_cifar_c(tmp_path / "c", files or {"fog": images}, np.tile(LABELS, 5))


def _error(folder: Path) -> str:
    with pytest.raises(DataError) as info:
        read_cifar_c(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_reads_files_in_report_order_and_labels_per_row(tmp_path: Path) -> None:
    images = cifar_images(LABELS, [0] * 5)
    data = read_cifar_c(_folder(tmp_path, mine=images, saturate=images, fog=images, gaussian_noise=images))
    assert list(data.files) == ["gaussian_noise", "fog", "saturate", "mine"]
    assert data.per_severity == 4 and data.labels.tolist() == np.tile(LABELS, 5).tolist()


def test_labels_of_length_n_are_tiled_over_the_severities(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    np.save(folder / "labels.npy", LABELS.astype(np.uint8))
    data = read_cifar_c(folder)
    assert data.labels.dtype == np.int64 and data.labels.tolist() == np.tile(LABELS, 5).tolist()


def test_severity_batches_slice_only_that_severity(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    images = open_npy(folder / "fog.npy")
    assert isinstance(images, np.memmap)
    batches = list(severity_batches(images, severity=3, per_severity=4, batch_size=3))
    assert [rows for rows, _ in batches] == [slice(8, 11), slice(11, 12)]
    assert np.array_equal(np.concatenate([b for _, b in batches]), np.asarray(images[8:12]))
    assert all(b.flags.writeable and not isinstance(b, np.memmap) for _, b in batches)


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "empty" / "labels.npy", LABELS)
    assert "no NAME.npy corruption files" in _error(tmp_path / "empty")


def test_missing_labels(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "labels.npy").unlink()
    assert "labels.npy not found" in _error(folder)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((20, 4, 4, 3), dtype=np.float32), "holds float32"),
        (np.zeros((20, 4, 4), dtype=np.uint8), "3 dims"),
        (np.zeros((20, 4, 4, 1), dtype=np.uint8), "1 channels in its last dim"),
        (np.zeros((18, 4, 4, 3), dtype=np.uint8), "18 images, not a positive multiple of 5"),
    ],
)
def test_malformed_image_files_are_named(tmp_path: Path, array: np.ndarray, expected: str) -> None:
    folder = _folder(tmp_path)
    np.save(folder / "zoom_blur.npy", array)
    message = _error(folder)
    assert "zoom_blur.npy" in message and expected in message


def test_files_of_different_lengths(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    np.save(folder / "zzz.npy", np.zeros((10, 4, 4, 3), dtype=np.uint8))  # scored after fog
    assert "zzz.npy has 10 images but the other files have 20" in _error(folder)


def test_label_count_must_be_n_or_5n(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    np.save(folder / "labels.npy", np.zeros(7, dtype=np.int64))
    assert "has 20 images but" in _error(folder) and "7 labels" in _error(folder)


def test_bad_labels(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    np.save(folder / "labels.npy", np.zeros(20, dtype=np.float32))
    assert "expected 1-D integer labels" in _error(folder)
    np.save(folder / "labels.npy", np.full(20, -1))
    assert "negative label -1" in _error(folder)


def test_truncated_and_foreign_files(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    data = (folder / "fog.npy").read_bytes()
    (folder / "fog.npy").write_bytes(data[: len(data) // 2])
    message = _error(folder)
    assert "fog.npy is not a readable .npy file" in message
    (folder / "fog.npy").write_text("not an array")
    assert "fog.npy is not a readable .npy file" in _error(folder)
