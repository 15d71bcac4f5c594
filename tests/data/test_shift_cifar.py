"""CIFAR-10.1 and CIFAR-10.2 as released: versions, uint8 CHW images, CIFAR-10 labels and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ews.data.shifts import read_shift
from ews.data.shifts.cifar import read_cifar10_1
from ews.errors import ConfigError

from .fake_shifts import write_cifar10_1, write_cifar10_2
from .fake_shifts import shift_error as _error




def test_cifar10_1_prefers_v6_and_serves_uint8_chw_images(tmp_path: Path) -> None:
    write_cifar10_1(tmp_path, "v4", 7)
    images, labels = write_cifar10_1(tmp_path, "v6", 5)
    shift = read_shift("cifar10.1", tmp_path)
    assert (shift.name, len(shift.dataset), shift.num_classes, shift.class_indices) == ("cifar10.1-v6", 5, 10, None)
    assert "CIFAR-10.1 v6" in shift.convention and shift.root == tmp_path
    image, label = shift.dataset[3]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
    assert torch.equal(image, torch.from_numpy(images[3]).permute(2, 0, 1)) and label == labels[3]
    assert [shift.dataset[i][1] for i in range(5)] == labels.tolist()


def test_cifar10_1_falls_back_to_v4_and_a_version_can_be_pinned(tmp_path: Path) -> None:
    write_cifar10_1(tmp_path, "v4", 7)
    assert read_shift("cifar10.1", tmp_path).name == "cifar10.1-v4"
    assert len(read_shift("cifar10.1-v4", tmp_path).dataset) == 7
    _error("cifar10.1-v6", tmp_path, "lacks cifar10.1_v6_data.npy and cifar10.1_v6_labels.npy")
    with pytest.raises(ConfigError, match="unknown CIFAR-10.1 version 'v5'; allowed: v6, v4"):
        read_cifar10_1(tmp_path, version="v5")


def test_cifar10_2_reads_the_released_test_npz(tmp_path: Path) -> None:
    images, labels = write_cifar10_2(tmp_path, 4)
    shift = read_shift("cifar10.2", tmp_path, transform=lambda image: image.flip(-1))
    assert (shift.name, len(shift.dataset), shift.num_classes, shift.class_indices) == ("cifar10.2", 4, 10, None)
    image, label = shift.dataset[1]
    assert torch.equal(image, torch.from_numpy(images[1]).permute(2, 0, 1).flip(-1)) and label == labels[1]


def test_wrong_cifar_layouts_are_one_line_errors(tmp_path: Path) -> None:
    _error("cifar10.1", tmp_path / "nope", "CIFAR-10.1 folder")
    tmp_path.joinpath("empty").mkdir()
    _error("cifar10.1", tmp_path / "empty", "has neither cifar10.1_v6_data.npy and cifar10.1_v6_labels.npy nor the v4 pair")
    _error("cifar10.2", tmp_path / "empty", "has no cifar102_test.npz")
    half = tmp_path / "half"
    write_cifar10_1(half, "v6", 3)
    (half / "cifar10.1_v6_labels.npy").unlink()
    _error("cifar10.1", half, "lacks cifar10.1_v6_labels.npy")
    nchw = tmp_path / "nchw"
    write_cifar10_1(nchw, "v6", 3)
    np.save(nchw / "cifar10.1_v6_data.npy", np.zeros((3, 3, 32, 32), np.uint8))
    _error("cifar10.1", nchw, "shape (3, 3, 32, 32); expected uint8 (N, 32, 32, 3)")
    np.save(nchw / "cifar10.1_v6_data.npy", np.zeros((3, 32, 32, 3), np.uint8))
    np.save(nchw / "cifar10.1_v6_labels.npy", np.array([0, 10, 2]))
    _error("cifar10.1", nchw, "has labels 0..10")
    np.save(nchw / "cifar10.1_v6_labels.npy", np.array([0, 1]))
    _error("cifar10.1", nchw, "labels of shape (2,) for 3 images")
    keys = tmp_path / "keys"
    keys.mkdir()
    np.savez(keys / "cifar102_test.npz", data=np.zeros((1, 32, 32, 3), np.uint8), labels=np.zeros(1, np.int64))
    _error("cifar10.2", keys, "lacks key images")
    (keys / "cifar102_test.npz").write_bytes(b"PK\x03\x04 not a zip")
    _error("cifar10.2", keys, "is not a readable .npz file")
