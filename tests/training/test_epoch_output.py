"""The training output off a terminal (training.loop's bar, the trainer's epoch line): one line per epoch, no bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from ews.config import load_config
from ews.runs.run_dir import RunDir
from ews.training.trainer import Trainer


def test_an_epoch_off_a_terminal_logs_one_line_and_no_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(overrides=["data.limit=80", "model.options.width=4", "train.epochs=2", "train.batch_size=16",
                                    "log.progress=true"])
    Trainer(config).fit(RunDir(tmp_path / "run"))
    out, err = capsys.readouterr()
    assert "\r" not in out + err and "it/s" not in out + err
    assert [line.split("  ")[0] for line in out.splitlines() if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]
