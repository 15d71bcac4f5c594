"""`ews sweep`: values checked before any training, one run per value, finished points skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ews.analysis.sweep import numeric_key, plan_sweep
from ews.cli import main
from ews.errors import ConfigError, RunFolderError

from .conftest import TINY

BASE = [arg for item in [*TINY, "train.epochs=1", "data.limit=40", "method=ews"] for arg in ("--set", item)]


@pytest.mark.parametrize("param, kind", [("ews.K", int), ("ews.lam", float), ("ews.rho", float),
                                         ("ews.rho_paths", float), ("train.lr", float)])
def test_numeric_keys(param: str, kind: type) -> None:
    assert numeric_key(param) is kind


@pytest.mark.parametrize("param, message", [("ews.k", "unknown config key"), ("method", "numeric"),
                                            ("ews", "numeric"), ("ews.K.x", "non-section"),
                                            ("train.milestones", "numeric")])
def test_bad_params_are_one_line_errors(param: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        numeric_key(param)


@pytest.mark.parametrize("param, values, message", [
    ("ews.K", ["1", "0"], "ews.K must be >= 1"),
    ("ews.K", ["1", "2.5"], "not an integer"),
    ("ews.rho", ["0.5", "1.5"], r"ews.rho must be in \(0, 1\]"),
    ("ews.lam", ["1", "abc"], "not a number"),
    ("ews.lam", ["1", "1"], "repeats"),
])
def test_every_value_is_checked_before_anything_is_written(tmp_path: Path, param: str, values: list[str],
                                                           message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_sweep(None, overrides=[], param=param, values=values, out=tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


def test_scientific_notation_is_a_float(tmp_path: Path) -> None:
    points = plan_sweep(None, overrides=[], param="ews.lam", values=["1e-3", "10"], out=tmp_path)
    assert [p.value for p in points] == [0.001, 10]
    assert points[0].config.ews.lam == 0.001 and points[0].run.root.name == "ews.lam=1e-3"


def test_sweep_trains_each_point_once_and_plots(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", *BASE, "--param", "ews.lam", "--values", "0,1", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    result = json.loads((out / "sweep.json").read_text())
    assert result["param"] == "ews.lam" and [p["value"] for p in result["points"]] == [0, 1]
    assert all(p["clean_error"] >= 0 and p["train_seconds"] > 0 for p in result["points"])
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG" and (out / "ews.lam=1" / "report.md").is_file()
    checkpoint = out / "ews.lam=0" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    capsys.readouterr()
    assert main([*args[:-4], "--values", "0,1,2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ews.lam=0: finished, skipped" in printed and "ews.lam=2: training" in printed
    assert checkpoint.stat().st_mtime_ns == before
    assert len(json.loads((out / "sweep.json").read_text())["points"]) == 3


def test_a_point_folder_with_another_config_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    (out / "ews.K=5").mkdir(parents=True)
    (out / "ews.K=5" / "config.yaml").write_text("seed: 1\n")
    assert main(["sweep", *BASE, "--param", "ews.K", "--values", "1,5", "--out", str(out)]) == 2
    assert "another config" in capsys.readouterr().err
    assert not (out / "ews.K=1").exists()
    with pytest.raises(RunFolderError):
        plan_sweep(None, overrides=[], param="ews.K", values=["5"], out=out)
