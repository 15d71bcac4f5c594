"""`ews eval` as a library call: layouts, merged results, and bad input refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ews.config import load_config
from ews.corruptions.generate import dataset_to_uint8, write_corrupted_set
from ews.data import load
from ews.errors import ConfigError, DataError, UserError
from ews.evaluate import corruption_layout, load_trained, resolve_corruptions, run_evaluation
from ews.runs.run_dir import RunDir
from ews.training.trainer import Trainer

TINY = ["data.limit=100", "train.epochs=1", "log.progress=false", "model.options.width=4", "method=vanilla"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("run")
    report = Trainer(load_config(overrides=TINY)).fit(RunDir(folder))
    return folder / "checkpoint.pt", report


@pytest.fixture(scope="module")
def digits_c(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("digits-c")
    test, _ = load("digits", train=False, limit=100)
    images, labels = dataset_to_uint8(test)
    write_corrupted_set(images, labels, folder, corruptions=("gaussian_noise", "contrast"), workers=1, progress=False)
    return folder


def test_clean_error_matches_the_training_report(run: tuple[Path, dict], tmp_path: Path) -> None:
    checkpoint, report = run
    results = run_evaluation(checkpoint, out=tmp_path, progress=False)
    assert results["clean_error"] == pytest.approx(report["clean_error"], abs=1e-3)
    assert json.loads((tmp_path / "eval.json").read_text()) == results
    assert "| clean error (%) |" in (tmp_path / "eval.md").read_text()


def test_corruptions_then_attacks_merge_into_one_eval_json(run: tuple[Path, dict], digits_c: Path, tmp_path: Path) -> None:
    checkpoint, _ = run
    first = run_evaluation(checkpoint, out=tmp_path, corruptions=str(digits_c), severities=[1, 5], progress=False)
    assert set(first["corruptions"]) == {"gaussian_noise", "contrast"}
    assert set(first["corruptions"]["contrast"]) == {"1", "5"}
    second = run_evaluation(checkpoint, out=tmp_path, attacks=["pgd20"], n_examples=20, progress=False)
    assert second["corruptions"] == first["corruptions"]  # kept from the first call
    assert second["adv_examples"] == 20 and second["pgd20_error"] >= second["adv_clean_error"]
    table = (tmp_path / "eval.md").read_text()
    assert "PGD-20 error (%)" in table and "| contrast |" in table


def test_custom_autoattack_keeps_its_resume_state_per_setting(run: tuple[Path, dict], tmp_path: Path) -> None:
    checkpoint, _ = run
    results = run_evaluation(checkpoint, out=tmp_path, attacks=["autoattack"], n_examples=10, eps=2 / 255,
                             autoattack_version="custom", autoattack_attacks=["apgd-ce"], progress=False)
    assert results["autoattack_error"] >= results["adv_clean_error"]
    first = {p.name for p in (tmp_path / "autoattack").iterdir()}
    run_evaluation(checkpoint, out=tmp_path, attacks=["autoattack"], n_examples=10, eps=4 / 255,
                   autoattack_version="custom", autoattack_attacks=["apgd-ce"], progress=False)
    assert len(first) == 1 and len(list((tmp_path / "autoattack").iterdir())) == 2  # another eps, its own state


def test_layouts_are_told_apart(digits_c: Path, tmp_path: Path) -> None:
    assert corruption_layout(digits_c) == "cifar"
    image = tmp_path / "imagenet-c" / "fog" / "3" / "n01440764" / "a.png"
    image.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert corruption_layout(tmp_path / "imagenet-c") == "imagenet"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither"):
        corruption_layout(tmp_path / "empty")


def test_dataset_c_name_is_generated_once_into_the_cache(run: tuple[Path, dict], tmp_path: Path, monkeypatch) -> None:
    checkpoint, _ = run
    trained = load_trained(checkpoint, device=torch.device("cpu"))
    calls = []
    monkeypatch.setattr("ews.corruptions.generate.write_corrupted_set", lambda *a, **k: calls.append(k) or [])
    folder = resolve_corruptions("digits-c", trained.config, cache=tmp_path, progress=False)
    assert folder == tmp_path / "digits-c" and len(calls) == 1
    with pytest.raises(DataError, match="cifar10-c"):
        resolve_corruptions("cifar10-c", trained.config, cache=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"attacks": ["fgsm"]}, ConfigError, "fgsm"),
        ({"severities": [0, 6]}, ConfigError, "severity"),
        ({"n_examples": 0}, ConfigError, "n-examples"),
        ({"corruptions": "nowhere-c"}, DataError, "nowhere-c"),
        ({"perturbations": "no/such/folder"}, DataError, "no/such/folder"),
        ({"autoattack_version": "fast"}, ConfigError, "fast"),
        ({"autoattack_version": "custom"}, ConfigError, "autoattack-attacks"),
        ({"autoattack_version": "custom", "autoattack_attacks": ["apgd-xx"]}, ConfigError, "apgd-xx"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    run: tuple[Path, dict], tmp_path: Path, kwargs: dict, error: type[UserError], match: str
) -> None:
    with pytest.raises(error, match=match):
        run_evaluation(run[0], out=tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()
