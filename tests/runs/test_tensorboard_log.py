"""TensorBoard logging is optional: a clear error without the package, event files with it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ews.cli import main

from ..analysis.conftest import TINY

ARGS = [arg for item in [*TINY, "train.epochs=1", "data.limit=40", "method=vanilla", "log.tensorboard=true"]
        for arg in ("--set", item)]


def test_missing_tensorboard_is_one_line_before_anything_is_written(tmp_path: Path, capsys,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    assert main(["train", *ARGS, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "log.tensorboard is true but the tensorboard package is not installed" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_tensorboard_event_files_are_written(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    assert main(["train", *ARGS, "--out", str(tmp_path / "run")]) == 0
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
