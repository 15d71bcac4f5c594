"""The validation split held out of the training data, and the search set D_s drawn from what is left.

A validation split lets a user choose settings (and early-stop) without looking at
the test split that results are reported on. It is the first N training images,
stratified, unaugmented: the same images on every run, whatever the seed. Training
and the search set D_s never see them.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import ConcatDataset, Dataset, Subset

from ..errors import ConfigError, DataError
from .datasets import DatasetInfo, labels_of, load
from .subsets import stratified_fraction, stratified_limit

SPLITS = ("test", "val", "train")


def evaluation_split(config: Any, split: str) -> Dataset:
    """The images a run is evaluated on: its test split, its held-out validation split, or the images it trained on.

    `train` is the training split less the validation images, unaugmented: the images the
    model fitted, scored as a test image is. Its error says whether a run fitted its data
    (a regulariser is judged on fitted models) apart from the augmentation and dropout that
    the training accuracy in `metrics.jsonl` is measured under.
    """
    d = config.data
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "test":
        return load(d.name, root=d.root, train=False, limit=d.limit)[0]
    if split == "train":
        plain = _plain_train(d)
        return Subset(plain, _outside_validation(labels_of(plain), config.val_images))
    if not config.val_images:
        raise ConfigError("--split val needs a run trained with a validation split (data.val_images > 0)")
    return validation_set(d, config.val_images)


def split_with_info(config: Any, split: str) -> tuple[Dataset, DatasetInfo]:
    """`evaluation_split` and the dataset's facts (classes, normalisation), the test split read once for both."""
    d = config.data
    test_set, info = load(d.name, root=d.root, train=False, limit=d.limit)
    return (test_set if split == "test" else evaluation_split(config, split)), info


def _plain_train(data: Any) -> Dataset:
    return load(data.name, root=data.root, train=True, augment="none", limit=data.split_limit(True))[0]


def held_out_indices(labels: list[int], count: int, *, key: str = "the validation split (data.val_images or adversarial.val_images)") -> list[int]:
    """Indices of the validation split among `labels` (empty when `count` is 0)."""
    if count == 0:
        return []
    if count >= len(labels):
        raise ConfigError(f"{key} must be < the {len(labels)} training images, got {count}")
    return stratified_limit(labels, count)


def _outside_validation(labels: list[int], count: int) -> list[int]:
    """Indices of the training images (by their `labels`) that are not in the validation split of `count`."""
    held = set(held_out_indices(labels, count))
    return [i for i in range(len(labels)) if i not in held]


def validation_set(data: Any, count: int) -> Dataset:
    """The held-out validation images (unaugmented) of the training split described by `data`."""
    plain = _plain_train(data)
    return Subset(plain, held_out_indices(labels_of(plain), count))


def without_held_out(train_set: Dataset, data: Any, count: int) -> Dataset:
    """`train_set` less the validation images; extra (DeepAugment) folders are never held out."""
    if count == 0:
        return train_set
    kept = _outside_validation(labels_of(_plain_train(data)), count)
    if isinstance(train_set, ConcatDataset):
        return ConcatDataset([Subset(train_set.datasets[0], kept), *train_set.datasets[1:]])
    return Subset(train_set, kept)


def search_subset(data: Any, count: int, fraction: float, *, seed: int) -> Dataset:
    """D_s: a fixed stratified `fraction` of the training images outside the validation split, unaugmented."""
    plain = _plain_train(data)
    labels = labels_of(plain)
    pool = _outside_validation(labels, count)
    chosen = stratified_fraction([labels[i] for i in pool], fraction, seed=seed)
    return Subset(plain, [pool[i] for i in chosen])


def stratified_subset(data: Dataset, limit: int | None, *, what: str) -> Dataset:
    """The first `limit` images of `data`, stratified (the same on every call); a limit past the end is an error."""
    if limit is None:
        return data
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= len(data):
        raise DataError(f"--limit {limit!r} must be between 1 and the {len(data)} images of {what}")
    return Subset(data, stratified_limit(labels_of(data), limit))
