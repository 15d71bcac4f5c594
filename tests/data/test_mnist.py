"""Fashion-MNIST and MNIST from their idx files: exact pixels, the 32x32 RGB layout, and one-line errors."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from ews.data import labels_of, load
from ews.data.mnist import FASHION_MNIST, IDX_DATASETS
from ews.errors import DataError

from .fake_idx import idx_bytes, write_idx_dataset, write_idx_split


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    from ews.data.mnist import idx_split

    idx_split.cache_clear()  # every test writes its own files under a new folder


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["fashion-mnist", "mnist"])
def test_images_are_the_files_pixels_padded_to_32_and_repeated_to_rgb(tmp_path: Path, name: str, gz: bool) -> None:
    images, labels = write_idx_split(tmp_path, train=False, n=12, gz=gz)
    write_idx_split(tmp_path, train=True, n=30, gz=gz)
    dataset, info = load(name, root=tmp_path, train=False)
    assert (len(dataset), info.image_size, info.num_classes) == (12, 32, 10)
    x, y = dataset[5]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == int(labels[5])
    torch.testing.assert_close(x[:, 2:30, 2:30], torch.from_numpy(images[5]).float().div(255).expand(3, -1, -1))
    assert float(x[:, :2].abs().sum() + x[:, 30:].abs().sum()) == 0.0  # the padding is black


def test_torchvision_download_layout_is_found(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path / "FashionMNIST" / "raw")
    dataset, _ = load("fashion-mnist", root=tmp_path, train=True)
    assert len(dataset) == 40


def test_training_split_is_augmented_and_limited(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path)
    dataset, info = load("fashion-mnist", root=tmp_path, train=True, limit=20)
    assert info.flip and len(dataset) == 20 and sorted(set(labels_of(dataset))) == list(range(10))
    assert dataset[0][0].shape == (3, 32, 32)


@pytest.mark.parametrize("damage, expected", [
    (lambda p: p.unlink(), "t10k-images-idx3-ubyte[.gz] not found"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-7])), "truncated or corrupt"),
    (lambda p: p.write_bytes(gzip.compress(idx_bytes(np.zeros((3, 20, 20), np.uint8)))), "expected 28x28"),
    (lambda p: p.write_bytes(b"not a gzip file at all"), "cannot be read"),
    (lambda p: p.write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8)))), "not an idx file of rank 3"),
])
def test_a_bad_file_is_a_one_line_error_naming_it_and_the_ways_to_get_it(tmp_path: Path, damage, expected: str
                                                                         ) -> None:
    write_idx_dataset(tmp_path)
    damage(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError) as info:
        load("mnist", root=tmp_path, train=False)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "data.root" in message and "--download" in message


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match="20 images but .* 3 labels"):
        load("mnist", root=tmp_path, train=False)


def test_fashion_mnist_error_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = dataclasses.replace(FASHION_MNIST, system_folder=tmp_path / "absent")
    monkeypatch.setitem(IDX_DATASETS, "fashion-mnist", absent)
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load("fashion-mnist", root=tmp_path, train=False)


REAL = FASHION_MNIST.system_folder


@pytest.mark.skipif(not (REAL / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"Debian's dataset-fashion-mnist is not installed ({REAL} has no idx files); "
                           "`make test` installs it where apt-get is usable as root")
def test_real_fashion_mnist_from_the_debian_package() -> None:
    from ews.data.mnist import idx_split

    train, test = load("fashion-mnist", train=True, augment="none")[0], load("fashion-mnist", train=False)[0]
    assert (len(train), len(test)) == (60_000, 10_000)
    assert sorted(np.bincount(test.targets).tolist()) == [1000] * 10
    images, _ = idx_split("fashion-mnist", None, True)
    pixels = images.float().div(255)  # DatasetInfo's mean/std are these, padded to 32x32
    info = load("fashion-mnist", train=False)[1]
    assert abs(float(pixels.mean()) - info.mean[0]) < 5e-4 and abs(float(pixels.std()) - info.std[0]) < 5e-4


def test_download_goes_through_torchvision_into_its_raw_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    import torchvision.datasets

    calls = []

    class FakeFashionMNIST:  # what torchvision's reader leaves behind, without a network
        def __init__(self, root: str, *, train: bool, download: bool) -> None:
            calls.append((root, train, download))
            write_idx_split(Path(root, "FashionMNIST", "raw"), train=train, n=30 if train else 10)

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashionMNIST)
    dataset, _ = load("fashion-mnist", root=tmp_path, train=False, download=True)
    assert len(dataset) == 10 and calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]


def test_download_needs_a_root() -> None:
    with pytest.raises(DataError, match="--download for mnist needs a folder"):
        load("mnist", train=False, download=True)
