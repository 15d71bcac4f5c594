"""`load` for every dataset: tensors, labels, fixed splits, limits and one-line errors."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import Subset, TensorDataset

from ews.data import DATASET_NAMES, labels_of, load
from ews.errors import DataError


def _all_images(dataset: torch.utils.data.Dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def _assert_one_line_error(match: str, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        load(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert match in message and "\n" not in message
    return message


# ----- digits -----


def test_digits_are_float_rgb_32x32_in_unit_range() -> None:
    test, info = load("digits", train=False)
    images = _all_images(test)
    assert images.shape == (len(test), 3, 32, 32) and images.dtype == torch.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert torch.equal(images[:, 0], images[:, 2])
    assert all(type(test[i][1]) is int for i in range(5))
    assert (info.num_classes, info.image_size, info.flip, info.crop_padding) == (10, 32, False, 4)


def test_digits_split_is_fixed_and_stratified() -> None:
    train, _ = load("digits", train=True)
    test, _ = load("digits", train=False)
    assert len(train) + len(test) == 1797 and len(test) == 360
    bunch = load_digits()
    _, _, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.2, stratify=bunch.target, random_state=0
    )
    assert labels_of(train) == y_train.tolist() and labels_of(test) == y_test.tolist()
    totals = Counter(bunch.target.tolist())
    for label, count in Counter(labels_of(test)).items():
        assert abs(count - 0.2 * totals[label]) <= 1


def test_digits_pixels_are_the_upsampled_sklearn_images() -> None:
    test, _ = load("digits", train=False)
    bunch = load_digits()
    _, x_test = train_test_split(bunch.data, test_size=0.2, stratify=bunch.target, random_state=0)
    expected = F.interpolate(
        torch.tensor(x_test[:3], dtype=torch.float32).reshape(-1, 1, 8, 8) / 16, size=32, mode="bilinear"
    )
    assert torch.allclose(_all_images(Subset(test, [0, 1, 2]))[:, 0], expected[:, 0])


def test_digits_mean_and_std_match_the_train_split() -> None:
    train, info = load("digits", train=True, augment="none")
    images = _all_images(train)
    assert info.mean == pytest.approx((images.mean().item(),) * 3, abs=1e-3)
    assert info.std == pytest.approx((images.std().item(),) * 3, abs=1e-3)


def test_test_split_is_never_augmented() -> None:
    torch.manual_seed(0)
    test, _ = load("digits", train=False, augment="standard")
    assert torch.equal(test[0][0], test[0][0])
    plain, _ = load("digits", train=True, augment="none")
    augmented, _ = load("digits", train=True, augment="standard")
    assert torch.equal(plain[0][0], plain[0][0])
    assert any(not torch.equal(augmented[i][0], plain[i][0]) for i in range(10))


def test_samples_do_not_share_memory_with_later_loads() -> None:
    test, _ = load("digits", train=False)
    test[0][0].zero_()
    again, _ = load("digits", train=False)
    assert again[0][0].max() > 0


# ----- limit -----


def test_limit_is_exact_stratified_and_first_in_order() -> None:
    full, _ = load("digits", train=True, augment="none")
    limited, _ = load("digits", train=True, augment="none", limit=50)
    labels, kept = labels_of(full), labels_of(limited)
    assert len(limited) == 50
    assert set(kept) == set(range(10)) and max(Counter(kept).values()) - min(Counter(kept).values()) <= 1
    indices = list(limited.indices)  # type: ignore[attr-defined]
    for label in range(10):
        first = [i for i, y in enumerate(labels) if y == label][: kept.count(label)]
        assert [i for i in indices if labels[i] == label] == first
    assert torch.equal(limited[0][0], full[indices[0]][0])


def test_limit_past_the_split_keeps_it_whole() -> None:
    limited, _ = load("digits", train=False, limit=10_000)
    assert len(limited) == 360


def test_limit_below_one_is_a_data_error() -> None:
    _assert_one_line_error("0", name="digits", train=True, limit=0)


# ----- names -----


def test_unknown_dataset_lists_the_known_ones() -> None:
    message = _assert_one_line_error("'mnist'", name="mnist", train=True)
    assert all(name in message for name in DATASET_NAMES)


def test_unknown_augmentation_lists_the_known_ones() -> None:
    message = _assert_one_line_error("'fancy'", name="digits", train=False, augment="fancy")
    assert "standard" in message and "none" in message


# ----- CIFAR, from tiny folders in the real pickle format -----


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _write_cifar10(root: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for seed, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data, labels = _rows(4, seed), [(seed + i) % 10 for i in range(4)]
        _pickle(folder / name, {"data": data, "labels": labels, "batch_label": name})
        written[name] = (data, labels)
    _pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    return written


def _write_cifar100(root: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for seed, name in enumerate(["train", "test"]):
        data, labels = _rows(6, 10 + seed), [17 * i + seed for i in range(6)]
        _pickle(folder / name, {"data": data, "fine_labels": labels, "coarse_labels": [0] * 6})
        written[name] = (data, labels)
    _pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": []})
    return written


def _as_images(rows: np.ndarray) -> torch.Tensor:
    """Rows of 1024 R, then G, then B values, each row-major -> uint8 (N, 3, 32, 32)."""
    return torch.from_numpy(rows).reshape(-1, 3, 32, 32)


def _bytes(images: torch.Tensor) -> torch.Tensor:
    return (images * 255).round().to(torch.uint8)


def test_cifar10_reads_the_pixels_and_labels_written(tmp_path: Path) -> None:
    written = _write_cifar10(tmp_path)
    test, info = load("cifar10", root=tmp_path, train=False)
    data, labels = written["test_batch"]
    assert torch.equal(_bytes(_all_images(test)), _as_images(data))
    assert [test[i][1] for i in range(len(test))] == labels == labels_of(test)
    assert (info.num_classes, info.image_size, info.flip, info.crop_padding) == (10, 32, True, 4)
    train, _ = load("cifar10", root=tmp_path, train=True)
    assert len(train) == 20
    assert labels_of(train) == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    images = _all_images(train)
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_cifar100_reads_fine_labels(tmp_path: Path) -> None:
    written = _write_cifar100(tmp_path)
    train, info = load("cifar100", root=tmp_path, train=True, augment="none")
    data, labels = written["train"]
    assert info.num_classes == 100
    assert torch.equal(_bytes(_all_images(train)), _as_images(data))
    assert labels_of(train) == labels
    test, _ = load("cifar100", root=str(tmp_path), train=False, limit=2)
    assert len(test) == 2 and labels_of(test) == written["test"][1][:2]


@pytest.mark.parametrize("name, folder", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")])
def test_missing_cifar_folder_names_the_path(tmp_path: Path, name: str, folder: str) -> None:
    message = _assert_one_line_error(str(tmp_path / folder), name=name, root=tmp_path, train=True)
    assert "--download" in message


def test_cifar_folder_lacking_a_file_names_it(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    _assert_one_line_error("data_batch_3", name="cifar10", root=tmp_path, train=False)


def test_corrupt_cifar_file_is_a_data_error(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    _assert_one_line_error("cifar-10-batches-py", name="cifar10", root=tmp_path, train=False)


def test_cifar_without_root_is_a_data_error() -> None:
    _assert_one_line_error("data.root", name="cifar10", train=True)


# ----- imagefolder -----


def _write_imagefolder(root: Path, classes: tuple[str, ...] = ("cat", "dog")) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, size=(40 + 10 * label, 60, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")


@pytest.mark.parametrize("train", [True, False])
def test_imagefolder_yields_224_float_images(tmp_path: Path, train: bool) -> None:
    _write_imagefolder(tmp_path)
    torch.manual_seed(0)
    dataset, info = load("imagefolder", root=tmp_path, train=train)
    images = _all_images(dataset)
    assert images.shape == (4, 3, 224, 224) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels_of(dataset) == [0, 0, 1, 1] == [dataset[i][1] for i in range(4)]
    assert (info.num_classes, info.image_size, info.flip) == (2, 224, True)


def test_imagefolder_test_split_is_deterministic(tmp_path: Path) -> None:
    _write_imagefolder(tmp_path)
    val, _ = load("imagefolder", root=tmp_path, train=False)
    assert torch.equal(val[0][0], val[0][0])


def test_imagefolder_missing_split_names_the_path(tmp_path: Path) -> None:
    _write_imagefolder(tmp_path)
    for image in (tmp_path / "val").rglob("*.png"):
        image.unlink()
    for folder in (tmp_path / "val").iterdir():
        folder.rmdir()
    (tmp_path / "val").rmdir()
    _assert_one_line_error(str(tmp_path / "val"), name="imagefolder", root=tmp_path, train=False)


def test_imagefolder_empty_folder_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    _assert_one_line_error(str(tmp_path / "train"), name="imagefolder", root=tmp_path, train=True)


def test_imagefolder_class_folders_without_images_are_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    _assert_one_line_error(str(tmp_path / "train"), name="imagefolder", root=tmp_path, train=True)


def test_imagefolder_val_classes_must_match_train(tmp_path: Path) -> None:
    _write_imagefolder(tmp_path)
    (tmp_path / "val" / "extra").mkdir()
    _assert_one_line_error(str(tmp_path / "val"), name="imagefolder", root=tmp_path, train=False)


# ----- labels_of -----


def test_labels_of_tensor_datasets_and_nested_subsets() -> None:
    dataset = TensorDataset(torch.zeros(5, 3, 2, 2), torch.tensor([4, 3, 2, 1, 0]))
    assert labels_of(dataset) == [4, 3, 2, 1, 0]
    assert labels_of(Subset(Subset(dataset, [1, 2, 4]), [2, 0])) == [0, 3]
