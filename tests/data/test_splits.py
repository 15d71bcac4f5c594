"""The validation split: the same held-out images on every run, never trained on nor searched over."""

from __future__ import annotations

import pytest
import torch

from ews.config import load_config
from ews.data import labels_of, load
from ews.data.splits import evaluation_split, search_subset, validation_set, without_held_out
from ews.errors import ConfigError
from ews.training.build import search_set
from ews.training.trainer import Trainer

BASE = ["data.limit=200", "model.options.width=4", "train.epochs=1", "log.progress=false"]


def _images(dataset) -> set[bytes]:
    return {dataset[i][0].numpy().tobytes() for i in range(len(dataset))}


def test_validation_split_is_fixed_stratified_and_left_out_of_training() -> None:
    config = load_config(overrides=[*BASE, "data.val_images=40", "seed=3"])
    val = evaluation_split(config, "val")
    assert len(val) == 40 and sorted(set(labels_of(val))) == list(range(10))
    assert _images(val) == _images(validation_set(load_config(overrides=[*BASE, "data.val_images=40"]).data, 40))
    trainer = Trainer(config)
    assert len(trainer.train_set) == 160
    plain_train = load(config.data.name, train=True, augment="none", limit=config.data.limit)[0]
    kept = without_held_out(plain_train, config.data, 40)
    assert len(kept) == 160 and not _images(val) & _images(kept)


def test_search_set_never_holds_validation_images() -> None:
    config = load_config(overrides=[*BASE, "data.val_images=40", "search.fraction=0.5"])
    assert not _images(search_set(config)) & _images(evaluation_split(config, "val"))
    unchanged = load_config(overrides=[*BASE, "search.fraction=0.5"])
    assert _images(search_set(unchanged)) == _images(search_subset(unchanged.data, 0, 0.5, seed=unchanged.seed))


@pytest.mark.parametrize("overrides, message", [
    (["data.val_images=-1"], "data.val_images"),
    (["data.val_images=200"], "must be < the 200 training images"),
    (["data.val_images=20", "adversarial.val_images=30"], "must be 0 or equal data.val_images"),
])
def test_bad_validation_sizes_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluation_split(load_config(overrides=[*BASE, *overrides]), "val")


def test_val_split_needs_held_out_images() -> None:
    with pytest.raises(ConfigError, match="data.val_images > 0"):
        evaluation_split(load_config(overrides=BASE), "val")
    with pytest.raises(ConfigError, match="--split must be one of test, val, train, got 'training'"):
        evaluation_split(load_config(overrides=BASE), "training")


def test_train_split_is_the_trained_images_unaugmented() -> None:
    config = load_config(overrides=[*BASE, "data.val_images=40", "data.augment=standard"])
    trained = evaluation_split(config, "train")
    assert len(trained) == len(Trainer(config).train_set) == 160
    assert not _images(trained) & _images(evaluation_split(config, "val"))
    assert _images(trained) == _images(evaluation_split(config, "train"))  # no random crop or flip
    plain = load(config.data.name, train=True, augment="none", limit=config.data.limit)[0]
    assert _images(trained) | _images(evaluation_split(config, "val")) == _images(plain)


def test_train_limit_cuts_the_training_split_only() -> None:
    from ews.config import load_config
    from ews.data.splits import evaluation_split, search_subset, validation_set

    config = load_config(overrides=["data.train_limit=200", "data.val_images=50"])
    assert len(evaluation_split(config, "test")) == 360  # the whole digits test split
    assert len(validation_set(config.data, 50)) == 50
    assert len(search_subset(config.data, 50, 0.1, seed=0)) == 20  # 10% of the 150 left: 2 of each class's 15
    both = load_config(overrides=["data.train_limit=200", "data.limit=100"])
    assert (both.data.split_limit(True), both.data.split_limit(False)) == (200, 100)
