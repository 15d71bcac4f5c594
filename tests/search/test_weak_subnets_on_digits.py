"""On a model really trained on the digits, searched subnets are weaker than random ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from ews.config import load_config
from ews.run_dir import RunDir
from ews.search import create_sampler
from ews.search.compare import run_search, take_images
from ews.subnets import SubnetSpace
from ews.trainer import Trainer, search_set


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    config = load_config(
        overrides=[
            "method=vanilla", "data.limit=600", "model.options.width=8", "train.epochs=6", "train.batch_size=32",
            "train.lr=0.05", "log.progress=false", "search.batch_size=64", "search.lr=3e-3",
        ]
    )
    trainer = Trainer(config)
    trainer.fit(RunDir(Path(tmp_path_factory.mktemp("run"))))
    search_batches = list(DataLoader(search_set(config), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)))
    held_out = take_images(DataLoader(trainer.test_set, batch_size=150), 300)
    # rho = 0.7 keeps both paths: random subnets of this small net are then well above chance,
    # leaving room to show that the search finds weaker ones.
    space = SubnetSpace.from_model(trainer.model, rho=0.7)
    return trainer, config, space, search_batches, held_out


@pytest.mark.parametrize("strategy", ["controller", "l1"])
def test_search_finds_weaker_subnets_than_random(trained, strategy: str) -> None:
    trainer, config, space, search_batches, held_out = trained
    search = load_config(base=config.to_dict(), overrides=[f"search.strategy={strategy}"]).search
    result = run_search(
        trainer.model, create_sampler(search, space, seed=0), strategy=strategy, search_batches=search_batches,
        eval_batches=held_out, steps=30, subnets=20, seed=0,
    )
    ours = result["strategies"][strategy]["mean_subnet_accuracy"]
    chance = result["strategies"]["random"]["mean_subnet_accuracy"]
    assert chance > 0.3  # random subnets are far from chance (10%) ...
    assert result["gap_points"] > 2.0, f"{strategy} {ours:.3f} vs random {chance:.3f}"  # ... and ours are weaker
    assert result["full_network_accuracy"] > chance
    assert len(result["path_keep_frequency"]) == len(space.blocks)
