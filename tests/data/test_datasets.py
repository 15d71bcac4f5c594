"""`load` for every dataset: tensors, labels, fixed splits, limits and one-line errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import ConcatDataset, Subset, TensorDataset

from ews.config import AugMixConfig
from ews.data import DATASET_NAMES, labels_of, load
from ews.errors import DataError

from .fake_cifar import write_cifar10, write_cifar100
from .fake_imagefolder import write_imagefolder


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
    message = _assert_one_line_error("'svhn'", name="svhn", train=True)
    assert all(name in message for name in DATASET_NAMES)


def test_unknown_augmentation_lists_the_known_ones() -> None:
    message = _assert_one_line_error("'fancy'", name="digits", train=False, augment="fancy")
    assert "standard" in message and "none" in message


# ----- CIFAR, from tiny folders in the real pickle format -----


def _as_images(rows: np.ndarray) -> torch.Tensor:
    """Rows of 1024 R, then G, then B values, each row-major -> uint8 (N, 3, 32, 32)."""
    return torch.from_numpy(rows).reshape(-1, 3, 32, 32)


def _bytes(images: torch.Tensor) -> torch.Tensor:
    return (images * 255).round().to(torch.uint8)


def test_cifar10_reads_the_pixels_and_labels_written(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
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
    written = write_cifar100(tmp_path)
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
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    _assert_one_line_error("data_batch_3", name="cifar10", root=tmp_path, train=False)


def test_corrupt_cifar_file_is_a_data_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    _assert_one_line_error("cifar-10-batches-py", name="cifar10", root=tmp_path, train=False)


def test_cifar_without_root_is_a_data_error() -> None:
    _assert_one_line_error("data.root", name="cifar10", train=True)


# ----- imagefolder -----


@pytest.mark.parametrize("train", [True, False])
def test_imagefolder_yields_224_float_images(tmp_path: Path, train: bool) -> None:
    write_imagefolder(tmp_path)
    torch.manual_seed(0)
    dataset, info = load("imagefolder", root=tmp_path, train=train)
    images = _all_images(dataset)
    assert images.shape == (4, 3, 224, 224) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels_of(dataset) == [0, 0, 1, 1] == [dataset[i][1] for i in range(4)]
    assert (info.num_classes, info.image_size, info.flip) == (2, 224, True)


def test_imagefolder_test_split_is_deterministic(tmp_path: Path) -> None:
    write_imagefolder(tmp_path)
    val, _ = load("imagefolder", root=tmp_path, train=False)
    assert torch.equal(val[0][0], val[0][0])


def test_imagefolder_missing_split_names_the_path(tmp_path: Path) -> None:
    write_imagefolder(tmp_path)
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
    write_imagefolder(tmp_path)
    (tmp_path / "val" / "extra").mkdir()
    _assert_one_line_error(str(tmp_path / "val"), name="imagefolder", root=tmp_path, train=False)


# ----- labels_of -----


def test_labels_of_tensor_datasets_and_nested_subsets() -> None:
    dataset = TensorDataset(torch.zeros(5, 3, 2, 2), torch.tensor([4, 3, 2, 1, 0]))
    assert labels_of(dataset) == [4, 3, 2, 1, 0]
    assert labels_of(Subset(Subset(dataset, [1, 2, 4]), [2, 0])) == [0, 3]


# ----- AutoAugment / AugMix training splits -----


def test_digits_augmix_jsd_items_are_three_views_of_one_crop() -> None:
    train, _ = load("digits", train=True, augment="augmix", augmix=AugMixConfig(jsd=True))
    standard, _ = load("digits", train=True, augment="standard")
    for index in range(3):
        torch.manual_seed(index)
        views, label = train[index]
        torch.manual_seed(index)
        crop, same_label = standard[index]
        assert views.shape == (3, 3, 32, 32) and views.dtype == torch.float32 and label == same_label
        assert 0.0 <= views.min() and views.max() <= 1.0
        assert torch.equal(views[0], crop)
        assert not torch.equal(views[1], views[0]) and not torch.equal(views[1], views[2])


def test_a_loader_over_jsd_views_yields_batches_of_views() -> None:
    train, _ = load("digits", train=True, augment="augmix", limit=8)
    torch.manual_seed(0)
    views, labels = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    assert views.shape == (4, 3, 3, 32, 32) and labels.shape == (4,)


@pytest.mark.parametrize("augment, options", [("augmix", {"augmix": AugMixConfig(jsd=False)}), ("autoaugment", {})])
def test_digits_single_image_policies_keep_the_image_shape(augment: str, options: dict) -> None:
    torch.manual_seed(0)
    train, _ = load("digits", train=True, augment=augment, **options)
    plain, _ = load("digits", train=True, augment="none")
    images = torch.stack([train[i][0] for i in range(6)])
    assert images.shape == (6, 3, 32, 32) and 0.0 <= images.min() and images.max() <= 1.0
    assert not torch.equal(images, torch.stack([plain[i][0] for i in range(6)]))
    test, _ = load("digits", train=False, augment=augment, **options)
    assert torch.equal(test[0][0], test[0][0])


@pytest.mark.parametrize("augment, shape", [("autoaugment", (3, 224, 224)), ("augmix", (3, 3, 224, 224))])
def test_imagefolder_policies_run_on_the_random_resized_crop(tmp_path: Path, augment: str, shape: tuple) -> None:
    write_imagefolder(tmp_path)
    torch.manual_seed(0)
    train, _ = load("imagefolder", root=tmp_path, train=True, augment=augment)
    assert train[0][0].shape == shape and 0.0 <= train[0][0].min() and train[0][0].max() <= 1.0
    val, _ = load("imagefolder", root=tmp_path, train=False, augment=augment)
    assert val[0][0].shape == (3, 224, 224)


def test_unknown_autoaugment_policy_is_a_data_error() -> None:
    _assert_one_line_error("'fancy'", name="digits", train=True, augment="autoaugment", autoaugment_policy="fancy")


# ----- extra training folders (DeepAugment) -----


def _write_extra(root: Path, classes: list[str], per_class: int = 2) -> Path:
    """`root/CLASS/i.png` RGB images of an odd size, so the resize to 32x32 is visible."""
    rng = np.random.default_rng(1)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, size=(20, 28, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_extra_folders_join_the_digits_training_split(tmp_path: Path) -> None:
    plain, _ = load("digits", train=True, augment="none")
    extra = _write_extra(tmp_path / "deepaugment", [str(label) for label in (7, 0, 3, 1, 2, 4, 5, 6, 8, 9)])
    train, _ = load("digits", train=True, augment="none", extra_train_roots=[extra, str(extra)])
    assert len(train) == len(plain) + 2 * 20
    labels = labels_of(train)
    assert labels[: len(plain)] == labels_of(plain)
    assert labels[len(plain) :] == 2 * sorted(2 * list(range(10)))
    image, label = train[len(plain) + 5]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == labels[len(plain) + 5] == 2
    original = torch.from_numpy(np.array(Image.open(extra / "2" / "1.png"))).permute(2, 0, 1)
    resized = F.interpolate(original[None].float() / 255, size=(32, 32), mode="bilinear", antialias=True)[0]
    assert (image - resized).abs().max() < 0.02


def test_extra_folders_use_cifar_class_names_and_the_training_augmentation(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    extra = _write_extra(tmp_path / "extra", [f"c{i}" for i in range(10)], per_class=1)
    train, _ = load("cifar10", root=tmp_path, train=True, augment="augmix", extra_train_roots=[extra])
    assert len(train) == 30 and labels_of(train)[20:] == list(range(10))
    views, label = train[25]
    assert views.shape == (3, 3, 32, 32) and label == 5
    test, _ = load("cifar10", root=tmp_path, train=False, extra_train_roots=[extra])
    assert len(test) == 4


def test_extra_folders_join_imagefolder_training_at_its_crop_size(tmp_path: Path) -> None:
    write_imagefolder(tmp_path / "imagenet")
    extra = _write_extra(tmp_path / "extra", ["dog", "cat"])
    train, info = load("imagefolder", root=tmp_path / "imagenet", train=True, extra_train_roots=[extra])
    assert labels_of(train) == [0, 0, 1, 1, 0, 0, 1, 1] == [train[i][1] for i in range(8)]
    assert train[6][0].shape == (3, info.image_size, info.image_size)


def test_limit_cuts_the_split_and_each_extra_folder_alike(tmp_path: Path) -> None:
    extra = _write_extra(tmp_path / "extra", [str(label) for label in range(10)], per_class=3)
    train, _ = load("digits", train=True, augment="none", limit=20, extra_train_roots=[extra])
    labels = labels_of(train)
    assert len(train) == 40 and Counter(labels[:20]) == Counter(labels[20:]) == Counter(2 * list(range(10)))


def test_missing_extra_folder_is_reported_before_the_dataset_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    message = _assert_one_line_error(
        str(missing), name="cifar10", root=tmp_path / "no-cifar", train=True, extra_train_roots=[missing]
    )
    assert "no-cifar" not in message


def test_extra_folder_without_class_folders_names_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _assert_one_line_error(str(tmp_path / "empty"), name="digits", train=True, extra_train_roots=[tmp_path / "empty"])


def test_extra_folder_with_other_classes_names_them(tmp_path: Path) -> None:
    extra = _write_extra(tmp_path / "extra", [str(label) for label in range(9)] + ["ten"], per_class=1)
    message = _assert_one_line_error(str(extra), name="digits", train=True, extra_train_roots=[extra])
    assert "missing 9" in message and "unexpected ten" in message


def test_extra_class_folder_without_images_names_the_folder(tmp_path: Path) -> None:
    extra = _write_extra(tmp_path / "extra", [str(label) for label in range(9)], per_class=1)
    (extra / "9").mkdir()
    _assert_one_line_error(str(extra), name="digits", train=True, extra_train_roots=[extra])


def test_labels_of_concatenated_datasets() -> None:
    first = TensorDataset(torch.zeros(3, 1), torch.tensor([2, 1, 0]))
    second = TensorDataset(torch.zeros(2, 1), torch.tensor([5, 4]))
    joined = ConcatDataset([first, Subset(second, [1])])
    assert labels_of(joined) == [2, 1, 0, 4] and labels_of(Subset(joined, [3, 0])) == [4, 2]
