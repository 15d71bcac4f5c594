"""The small ViT and ConvNeXt train with EWS under PGD-AT and TRADES, searching on adversarial images."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ews.config import load_config
from ews.runs.run_dir import RunDir
from ews.training.trainer import Trainer

TINY = {"vit_cifar": ["model.options.dim=8", "model.options.depth=2", "model.options.heads=2"],
        "convnext_cifar": ["model.options.dims=[4, 8]", "model.options.depths=[1, 2]",
                          "model.options.layer_scale=1.0"]}  # at 1e-6 (the default) a block starts as the identity


@pytest.mark.parametrize("mode", ["at", "trades"])
@pytest.mark.parametrize("model", sorted(TINY))
def test_ews_with_adversarial_training_runs_on_transformer_blocks(model: str, mode: str, tmp_path: Path) -> None:
    config = load_config(overrides=[
        f"model.name={model}", *TINY[model], "data.limit=64", "train.epochs=1", "train.batch_size=32",
        "train.optimizer=adamw", "train.lr=0.001", "method=ews", f"train.mode={mode}", "adversarial.steps=1",
        "ews.K=1", "log.progress=false"])
    trainer = Trainer(config)
    report = trainer.fit(RunDir(tmp_path))
    (epoch,) = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert math.isfinite(epoch["train_loss"]) and epoch["subnet_loss"] > 0
    assert epoch["search_steps"] > 0 and trainer.sampler.steps > 0  # searched, on PGD images of D_s
    assert 0 <= report["clean_error"] <= 100


def test_a_vit_is_built_for_the_datasets_image_size_unless_told_otherwise() -> None:
    from ews.data import load
    from ews.training.build import build_model

    _, info = load("digits", train=False, limit=10)
    tiny = ["model.options.num_layers=1", "model.options.num_heads=1", "model.options.hidden_dim=8",
            "model.options.mlp_dim=8"]
    built = build_model(load_config(overrides=["model.name=tv_vit_s_16", *tiny]), info)
    assert built.net.image_size == 32  # digits are 32x32: 2x2 patches of 16, not torchvision's 224
    told = build_model(load_config(overrides=["model.name=tv_vit_s_16", *tiny, "model.options.image_size=64"]), info)
    assert told.net.image_size == 64
