"""The paper presets in configs/paper: every one validates and smoke-runs one epoch on tiny CIFAR data."""

from __future__ import annotations

from pathlib import Path

import pytest

from ews.config import load_config, read_yaml
from ews.run_dir import RunDir
from ews.trainer import Trainer

from .conftest import TINY
from .data.fake_cifar import write_cifar10

PRESETS = sorted((Path(__file__).parents[1] / "configs" / "paper").glob("*.yaml"))
# What every paper row is checked for: the model, method and mode its file name claims.
TABLE4_ROWS = {"at", "at_ews", "at_awp", "at_awp_ews", "trades", "trades_ews", "trades_awp", "trades_awp_ews"}


def test_every_table4_row_has_a_preset_for_every_model() -> None:
    names = {p.stem for p in PRESETS if p.stem.startswith("table4_")}
    for model in ("preact_resnet18", "wrn28_10", "wrn34_10"):
        assert {f"table4_{model}_{row}" for row in TABLE4_ROWS} <= names


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_says_what_its_name_says(preset: Path) -> None:
    config = load_config(preset)
    parts = preset.stem.split("_")
    assert config.method == ("ews" if "ews" in parts else "dropout" if "dropout" in parts else "vanilla")
    if preset.stem.startswith("table4_"):
        assert config.train.mode == ("trades" if "trades" in parts else "at")
        assert config.train.awp == ("awp" in parts)
        assert (config.train.epochs, config.train.batch_size, config.train.milestones) == (200, 128, [100, 150])
        assert config.adversarial.val_images > 0  # early stopping
    else:
        assert config.data.augment in parts and config.model.name == "resnet50" and config.train.epochs == 400


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar10")
    write_cifar10(root, per_batch=8)  # 40 training and 8 test images
    return root


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_smoke_runs_one_epoch(preset: Path, cifar_root: Path, tmp_path: Path) -> None:
    model = read_yaml(preset)["model"]["name"]
    tiny = [f"model.options.{key}={value}" for key, value in TINY[model].items()]
    config = load_config(preset, [
        f"data.root={cifar_root}", "train.epochs=1", "train.batch_size=16", "train.eval_batch_size=16",
        "adversarial.steps=1", "adversarial.eval_steps=1", "adversarial.val_images=10", "adversarial.awp_warmup=0",
        "search.batch_size=8", "search.fraction=0.25", "log.progress=false", *tiny,
    ])
    run = RunDir(tmp_path / "run")
    report = Trainer(config).fit(run)
    assert report["epochs"] == 1 and run.checkpoint.is_file()
    assert (run.root / "best.pt").is_file() == (config.adversarial.val_images > 0)
