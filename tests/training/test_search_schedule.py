"""The search of a run: refused when no advantage could ever be non-zero, and logged under either schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from ews.errors import ConfigError
from ews.runs.run_dir import RunDir
from ews.training.trainer import Trainer

from .test_trainer import tiny_config

# 160 images, about 10% of them D_s (20, stratified): one search batch of the default 128.
ONE_STEP_ROUNDS = ("search.baseline=moving-average", "search.subnets_per_step=1")


def test_rounds_of_one_step_with_a_restarted_one_subnet_baseline_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        Trainer(tiny_config(*ONE_STEP_ROUNDS))
    message = str(info.value)
    assert "\n" not in message and "advantage is always 0" in message
    assert all(part in message for part in ("moving-average", "search.subnets_per_step 1", "search.passes 1",
                                            "D_s of 20 images", "search.batch_size 128"))


@pytest.mark.parametrize("remedy", ["search.subnets_per_step=2", "search.passes=2", "search.batch_size=8",
                                    "search.baseline=authors", "search.schedule=iterations"])
def test_each_remedy_the_refusal_names_is_accepted(remedy: str) -> None:
    overrides = [o for o in ONE_STEP_ROUNDS if o.split("=")[0] != remedy.split("=")[0]]
    if remedy == "search.subnets_per_step=2":
        overrides.append("search.baseline=moving-average")
    Trainer(tiny_config(*overrides, remedy))


def test_the_iteration_schedule_logs_the_search_gap_and_entropy_every_epoch(tmp_path: Path) -> None:
    trainer = Trainer(tiny_config("train.epochs=2", "search.schedule=iterations", "search.every_iterations=2",
                                  *ONE_STEP_ROUNDS))
    trainer.fit(RunDir(tmp_path / "run"))
    lines = RunDir(tmp_path / "run").read_metrics()
    assert [line["search_steps"] for line in lines] == [3, 2]
    for line in lines:  # over the epoch's controller steps, one random subnet beside each controller subnet
        assert line["search_gap"] == pytest.approx(line["search_random_accuracy"] - line["search_subnet_accuracy"])
        assert line["search_entropy"] > 0
    assert trainer.sampler.baseline is not None  # kept over the run, not restarted at every one-step round
