"""Reproducibility: a run records what made it, and its own config.yaml trains it again bit for bit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from ews import __version__
from ews.runs.checkpoint import load_checkpoint
from ews.cli import main

TINY = ["data.limit=120", "train.epochs=2", "log.progress=false", "model.options.width=4", "train.batch_size=32",
        "seed=7", "ews.K=1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("provenance") / "run"
    assert main(["train", "--out", str(out), *[a for t in TINY for a in ("--set", t)]]) == 0
    return out


def test_the_run_records_versions_device_seed_and_command(run: Path) -> None:
    record = json.loads((run / "provenance.json").read_text())
    assert record["ews_version"] == __version__ and record["torch"] == torch.__version__
    assert {"torchvision", "numpy", "python", "platform", "host", "started", "threads"} <= set(record)
    assert record["device"] == "cpu" and record["seed"] == 7 and record["deterministic"] is False
    assert "--out" in record["command"] and str(run) in record["command"]
    assert record["git"] is None or re.fullmatch(r"[0-9a-f]{40}", record["git"]["commit"])
    assert record["resumed"] == []


def test_its_config_yaml_reproduces_the_run_bit_exactly(run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(["train", "--config", str(run / "config.yaml"), "--out", str(again)]) == 0
    a, b = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(again / "checkpoint.pt")
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(a["sampler"]["policy"].values(), b["sampler"]["policy"].values()))
    drop = lambda path: [{k: v for k, v in json.loads(line).items() if "seconds" not in k}  # noqa: E731
                         for line in path.read_text().splitlines()]
    assert drop(run / "metrics.jsonl") == drop(again / "metrics.jsonl")


def test_a_resume_adds_its_own_record(run: Path, tmp_path: Path) -> None:
    assert main(["train", "--out", str(run), "--resume", "--set", "train.epochs=3"]) == 0
    record = json.loads((run / "provenance.json").read_text())
    assert len(record["resumed"]) == 1 and "--resume" in record["resumed"][0]["command"]


def test_a_generated_corruption_set_lands_under_eval_out_not_beside_the_checkpoint(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ews.errors import DataError
    from ews.evaluation import corruption_sets

    folders: list[Path] = []

    def fake_generation(images, folder, **kwargs):
        folders.append(folder)
        raise DataError("stop here")  # nothing generated: only where it would go matters

    monkeypatch.setattr(corruption_sets, "corrupted_split", fake_generation)
    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", str(run / "checkpoint.pt"), "--corruptions", "digits-c", "--out", str(out)]) == 2
    assert folders == [out / "digits-c"]
