"""The paper presets in configs/paper: one per table row; each validates and smoke-runs on tiny data of its shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from ews.config import load_config, read_yaml
from ews.runs.run_dir import RunDir
from ews.training.trainer import Trainer

from .conftest import TINY
from .data.fake_cifar import write_cifar10
from .data.fake_imagefolder import write_imagefolder

PRESETS = sorted((Path(__file__).parents[1] / "configs" / "paper").glob("*.yaml"))
# What every paper row is checked for: the model, method and mode its file name claims.
TABLE4_ROWS = {"at", "at_ews", "at_awp", "at_awp_ews", "trades", "trades_ews", "trades_awp", "trades_awp_ews"}
TABLE2_AUGMENTATIONS = ("standard", "autoaugment", "augmix", "deepaugment")


def test_every_paper_row_has_a_preset() -> None:
    names = {p.stem for p in PRESETS}
    for model in ("preact_resnet18", "wrn28_10", "wrn34_10"):
        assert {f"table4_{model}_{row}" for row in TABLE4_ROWS} <= names
    for aug in ("standard", "autoaugment", "augmix"):
        assert {f"table1_resnet50_{aug}_{m}" for m in ("vanilla", "dropout", "ews")} <= names
    assert {f"table2_resnet50_{aug}_{m}" for aug in TABLE2_AUGMENTATIONS for m in ("vanilla", "ews")} <= names
    assert {"table5_resnet50_random", "table5_resnet50_l1", "tableA_resnet50_ce"} <= names


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_says_what_its_name_says(preset: Path) -> None:
    config = load_config(preset)
    table, parts = preset.stem.split("_")[0], preset.stem.split("_")
    is_ews = "ews" in parts or table in ("table5", "tableA")
    assert config.method == ("ews" if is_ews else "dropout" if "dropout" in parts else "vanilla")
    if table == "table4":
        assert config.train.mode == ("trades" if "trades" in parts else "at")
        assert config.train.awp == ("awp" in parts)
        assert (config.train.epochs, config.train.batch_size, config.train.milestones) == (200, 128, [100, 150])
        assert config.adversarial.val_images > 0  # early stopping
    elif table == "table2":
        assert (config.model.name, config.data.name, config.train.epochs, config.train.warmup_epochs) == (
            "tv_resnet50", "imagefolder", 180, 5)
        assert config.train.label_smoothing == 0 and (config.ews.lam == 0.7 or config.method == "vanilla")
        aug = parts[2]
        assert bool(config.data.extra_train_roots) == (aug == "deepaugment")
        assert config.data.augment == ("standard" if aug == "deepaugment" else aug)
    else:
        assert config.model.name == "resnet50" and config.train.epochs == 400
        if table == "table1":
            assert config.data.augment in parts
        else:
            assert config.data.augment == "standard"
            assert config.search.strategy == {"random": "random", "l1": "l1"}.get(parts[-1], "controller")
            assert config.ews.subnet_loss == ("ce" if table == "tableA" else "kl")


@pytest.fixture(scope="module")
def data_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root / "cifar10", per_batch=8)  # 40 training and 8 test images
    write_imagefolder(root / "imagenet", per_class=4)  # 8 training and 8 validation images
    for extra in ("edsr", "cae"):
        write_imagefolder(root / extra, per_class=1, splits=("",))
    return {"cifar10": root / "cifar10", "imagefolder": root / "imagenet", "extra": root}


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_smoke_runs_one_epoch(preset: Path, data_roots: dict[str, Path], tmp_path: Path) -> None:
    raw = read_yaml(preset)
    tiny = [f"model.options.{key}={value}" for key, value in TINY[raw["model"]["name"]].items()]
    if raw["data"].get("extra_train_roots"):
        tiny.append(f"data.extra_train_roots=[{data_roots['extra'] / 'edsr'}, {data_roots['extra'] / 'cae'}]")
    if "adversarial" in raw:
        tiny += ["adversarial.steps=1", "adversarial.eval_steps=1", "adversarial.val_images=10",
                 "adversarial.awp_warmup=0"]
    config = load_config(preset, [
        f"data.root={data_roots[raw['data']['name']]}", "data.num_workers=0", "train.epochs=1",
        "train.warmup_epochs=0", "train.batch_size=8", "train.eval_batch_size=8",
        "search.batch_size=8", "search.fraction=0.25", "log.progress=false", *tiny,
    ])
    run = RunDir(tmp_path / "run")
    report = Trainer(config).fit(run)
    assert report["epochs"] == 1 and run.checkpoint.is_file()
    assert (run.root / "best.pt").is_file() == (config.adversarial.val_images > 0)
