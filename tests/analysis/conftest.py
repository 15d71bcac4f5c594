"""Tiny trained runs shared by the analysis tests: ResNet-20 at width 4 on 80 digits, 2 epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ews.analysis.report import write_run_report
from ews.config import load_config
from ews.runs.run_dir import RunDir
from ews.training.trainer import Trainer

from ..conftest import one_thread

TINY = ["data.limit=80", "model.options.width=4", "train.epochs=2", "train.batch_size=32", "log.progress=false",
        "train.eval_batch_size=64", "ews.K=1"]


def train_run(folder: Path, method: str) -> Path:
    """A trained run with its report, as `ews train` leaves it (the caller of `Trainer.fit` writes the report)."""
    Trainer(load_config(overrides=[*TINY, f"method={method}"])).fit(RunDir(folder))
    write_run_report(folder)
    return folder


@pytest.fixture(scope="package", autouse=True)
def single_thread() -> Iterator[None]:
    """Width-4 models are thousands of tiny ops: one thread avoids per-op thread hand-offs (and noisy neighbours)."""
    with one_thread():
        yield


@pytest.fixture(scope="package")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"vanilla": run folder, "ews": run folder}, trained once for the whole package."""
    root = tmp_path_factory.mktemp("runs")
    return {method: train_run(root / method, method) for method in ("vanilla", "ews")}
