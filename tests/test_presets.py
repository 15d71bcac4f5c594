"""The presets in configs/paper: one per paper table row, plus `beyond_` rows the paper never trained (ViT-S/16,
ConvNeXt-T); each validates and smoke-runs on tiny data of its shape."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ews.config import load_config, read_yaml
from ews.models import create
from ews.objectives.standard import subnet_kl
from ews.runs.run_dir import RunDir
from ews.subnets import SubnetSpace
from ews.training.trainer import Trainer

from .conftest import TINY
from .data.fake_cifar import write_cifar10
from .data.fake_imagefolder import write_imagefolder

PRESETS = sorted((Path(__file__).parents[1] / "configs" / "paper").glob("*.yaml"))
AUTHORS_PRESETS = sorted((Path(__file__).parents[1] / "configs" / "authors").glob("*.yaml"))  # their scripts' recipes
# What every paper row is checked for: the model, method and mode its file name claims.
TABLE4_ROWS = {"at", "at_ews", "at_awp", "at_awp_ews", "trades", "trades_ews", "trades_awp", "trades_awp_ews"}
# Tables 2/3's rows: every augmentation has vanilla and EWS; standard augmentation also has dropout.
TABLE2_ROWS = {"standard": ("vanilla", "dropout", "ews"), "autoaugment": ("vanilla", "ews"),
               "augmix": ("vanilla", "ews"), "deepaugment": ("vanilla", "ews")}
# Beyond the paper, on ImageNet: model, warm-up epochs, and the published recipe's lr at its batch (DeiT-S, ConvNeXt-T).
BEYOND_MODELS = {"vit_s16": ("tv_vit_s_16", 5, 5e-4, 512), "convnext_tiny": ("tv_convnext_tiny", 20, 4e-3, 4096)}


def test_every_paper_row_has_a_preset() -> None:
    names = {p.stem for p in PRESETS}
    for model in ("preact_resnet18", "wrn28_10", "wrn34_10"):
        assert {f"table4_{model}_{row}" for row in TABLE4_ROWS} <= names
    for aug in ("standard", "autoaugment", "augmix"):
        assert {f"table1_resnet50_{aug}_{m}" for m in ("vanilla", "dropout", "ews")} <= names
    assert {f"table2_resnet50_{aug}_{m}" for aug, methods in TABLE2_ROWS.items() for m in methods} <= names
    assert {"table5_resnet50_random", "table5_resnet50_l1", "tableA_resnet50_ce"} <= names
    assert {f"beyond_{model}_imagenet_{m}" for model in BEYOND_MODELS for m in ("vanilla", "ews")} <= names


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
        if is_ews:  # the paper's lambda 1 on the mean scale: the authors' scripts' 0.1 on the true KL, on 10 classes
            assert (config.ews.lam, config.ews.kl_reduction) == (1.0, "mean")
    elif table == "table2":
        assert (config.model.name, config.data.name, config.train.epochs, config.train.warmup_epochs) == (
            "tv_resnet50", "imagefolder", 180, 5)
        assert config.train.label_smoothing == 0 and (config.ews.lam == 0.7 or config.method != "ews")
        aug = parts[2]
        assert bool(config.data.extra_train_roots) == (aug == "deepaugment")
        assert config.data.augment == ("standard" if aug == "deepaugment" else aug)
        assert parts[3] in TABLE2_ROWS[aug]
    elif table == "beyond":
        model, warmup, lr, recipe_batch = BEYOND_MODELS[preset.stem.removeprefix("beyond_").rsplit("_", 2)[0]]
        t = config.train
        assert (config.model.name, config.data.name, config.data.augment) == (model, "imagefolder", "standard")
        assert (t.epochs, t.warmup_epochs, t.optimizer, t.schedule, t.weight_decay, t.label_smoothing) == (
            300, warmup, "adamw", "cosine", 0.05, 0.1)
        assert t.lr == pytest.approx(lr * t.batch_size / recipe_batch)  # the linear scaling rule
        if is_ews:  # lambda, its scale, rho, K and the search exactly as the Table 2 ImageNet rows
            table2 = load_config(preset.with_name("table2_resnet50_standard_ews.yaml"))
            assert (config.ews, config.search) == (table2.ews, table2.search)
    else:
        assert config.model.name == "resnet50" and config.train.epochs == 400
        if table == "table1":
            assert config.data.augment in parts
        else:
            assert config.data.augment == "standard"
            assert config.search.strategy == {"random": "random", "l1": "l1"}.get(parts[-1], "controller")
            assert config.ews.subnet_loss == ("ce" if table == "tableA" else "kl")


def test_table4_lambda_is_the_authors_scripts_term() -> None:
    """Each Table 4 EWS preset's term is the adversarial scripts' lambda 0.1 on the batch-mean KL (10 classes)."""
    subnet, full = torch.randn(2, 128, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scripts = 0.1 * subnet_kl(subnet, full, reduction="batchmean")
    presets = [p for p in PRESETS if p.stem.startswith("table4_") and p.stem.endswith("_ews")]
    assert len(presets) == 12
    for preset in presets:
        ews_config = load_config(preset).ews
        ours = ews_config.lam * subnet_kl(subnet, full, reduction=ews_config.kl_reduction)
        torch.testing.assert_close(ours, scripts, rtol=1e-12, atol=0, msg=preset.stem)


@pytest.mark.parametrize("preset", AUTHORS_PRESETS, ids=lambda p: p.stem)
def test_authors_presets_run_their_scripts_recipe(preset: Path) -> None:
    """configs/authors: the recipe of the authors' published scripts (docs/reproducing.md cites each line)."""
    config = load_config(preset)
    e, s, t = config.ews, config.search, config.train
    assert (config.method, s.strategy, s.schedule, s.every_iterations, s.subnets_per_step) == (
        "ews", "controller", "iterations", 10, 1)
    assert (s.baseline, s.baseline_decay, s.lr, s.grad_clip, s.hidden_size, s.init) == (
        "authors", 0.99, 3e-4, 3.0, 100, "authors")
    assert (s.tanh_constant, s.temperature, e.reading) == (None, None, "authors")
    if preset.stem.startswith("table4_"):  # train_adv_at.py, train_adv_trades.py
        assert (e.rho, s.entropy_weight, e.lam, e.kl_reduction) == (0.9, 0.01, 0.1, "batchmean")
        assert (t.weight_decay, t.grad_clip, t.label_smoothing, t.milestones) == (5e-4, None, 0.1, [99, 149])
    else:  # train_cifar.py, train_imnet.py
        assert (e.rho, s.entropy_weight, e.lam, e.kl_reduction) == (0.7, 0.005, 1.0, "mean")
        assert (t.weight_decay, t.grad_clip, t.nesterov) == (1e-4, 3.0, True)
        # their MultiStepLR at epochs // 3 and 2 (epochs // 3), stepped before each epoch: one epoch earlier here
        assert t.milestones == [t.epochs // 3 - 1, t.epochs // 3 * 2 - 1]
    assert len(AUTHORS_PRESETS) == 7


def test_the_authors_rounding_at_width_0_9_is_the_adversarial_scripts_on_preact_resnet18() -> None:
    """Their AT/TRADES scripts round ceil(c * 0.9) without the clean scripts' 1e-6; on 64-512 channels it agrees."""
    space = SubnetSpace.from_model(create("preact_resnet18", num_classes=10), rho=0.9, reading="authors")
    assert [b.keep_channels[0] for b in space.blocks] == [math.ceil(b.conv_channels[0] * 0.9) for b in space.blocks]


def test_augmix_presets_leave_out_the_colour_ops() -> None:
    """AugMix's reference setting (`--all-ops` off): brightness, contrast, color and sharpness overlap with -C."""
    augmix = [p for p in PRESETS if "augmix" in p.stem]
    assert len(augmix) == 5 and not any(load_config(p).data.augmix.all_ops for p in augmix)


IMAGE_SIZES = {"cifar10": 32, "imagefolder": 224}  # what the tiny data sets below hold (ImageFolder: its crops)


def _tiny_options(model: str, image_size: int) -> list[str]:
    """`--set` items shrinking `model` to its TINY size, a ViT's position embeddings sized for the preset's images."""
    options = dict(TINY[model])
    if "image_size" in options:
        options["image_size"] = image_size
    return [f"model.options.{key}={json.dumps(list(v) if isinstance(v, tuple) else v)}" for key, v in options.items()]


@pytest.fixture(scope="module")
def data_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root / "cifar10", per_batch=8)  # 40 training and 8 test images
    write_imagefolder(root / "imagenet", per_class=4)  # 8 training and 8 validation images
    for extra in ("edsr", "cae"):
        write_imagefolder(root / extra, per_class=1, splits=("",))
    return {"cifar10": root / "cifar10", "imagefolder": root / "imagenet", "extra": root}


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS + AUTHORS_PRESETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_preset_smoke_runs_one_epoch(preset: Path, data_roots: dict[str, Path], tmp_path: Path) -> None:
    raw = read_yaml(preset)
    tiny = _tiny_options(raw["model"]["name"], IMAGE_SIZES[raw["data"]["name"]])
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
