"""`ews eval` as a library call: layouts, merged results, and bad input refused before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ews.config import load_config
from ews.corruptions.generate import dataset_to_uint8, write_corrupted_set
from ews.data import load
from ews.errors import ConfigError, DataError, RunFolderError, UserError
from ews.evaluation import corruption_layout, load_trained, resolve_corruptions, run_evaluation
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


def test_the_train_split_scores_the_images_the_run_fitted(run: tuple[Path, dict], tmp_path: Path) -> None:
    from ews.data.splits import evaluation_split

    checkpoint, _ = run
    results = run_evaluation(checkpoint, out=tmp_path, split="train", progress=False)
    trained = load_trained(checkpoint, device=torch.device("cpu"))
    images = evaluation_split(trained.config, "train")
    x = torch.stack([images[i][0] for i in range(len(images))])
    y = torch.tensor([images[i][1] for i in range(len(images))])
    with torch.no_grad():
        wrong = (trained.model.eval()(x).argmax(1) != y).sum().item()
    assert results["split"] == "train" and len(images) == 100
    assert results["clean_error"] == pytest.approx(100 * wrong / len(images), abs=1e-6)


def _numbers(results: dict, prefix: str = "") -> dict[str, float]:
    """Every number of an `eval.json`, by dotted key."""
    found: dict[str, float] = {}
    for key, value in results.items():
        if isinstance(value, dict):
            found.update(_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[prefix + key] = value
    return found


def test_corruptions_then_attacks_merge_into_one_eval_json(run: tuple[Path, dict], digits_c: Path, tmp_path: Path) -> None:
    checkpoint, _ = run
    first = run_evaluation(checkpoint, out=tmp_path / "m", corruptions=str(digits_c), severities=[1, 5],
                           progress=False)
    assert set(first["corruptions"]) == {"gaussian_noise", "contrast"}
    assert set(first["corruptions"]["contrast"]) == {"1", "5"}
    second = run_evaluation(checkpoint, out=tmp_path / "m", attacks=["pgd20"], n_examples=20, progress=False)
    fresh = run_evaluation(checkpoint, out=tmp_path / "f", attacks=["pgd20"], n_examples=20, progress=False)
    merged = _numbers(second)
    assert {key: merged.get(key) for key in _numbers(fresh)} == _numbers(fresh)  # each new number as if alone
    assert second["corruptions"] == first["corruptions"]  # kept from the first call, with its settings
    assert second["settings"]["severities"] == [1, 5] and second["settings"]["corruptions"] == str(digits_c)
    assert second["adv_examples"] == 20 and second["pgd20_error"] >= second["adv_clean_error"]
    table = (tmp_path / "m" / "eval.md").read_text()
    assert "PGD-20 error (%)" in table and "| contrast |" in table


def test_an_eval_under_other_settings_is_refused_and_the_folder_left_as_it_was(
    run: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ews.cli import main

    out = tmp_path / "e"
    common = ["eval", "--checkpoint", str(run[0]), "--out", str(out), "--no-progress"]
    assert main([*common, "--attacks", "pgd20", "--eps", "1/255", "--n-examples", "20"]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    capsys.readouterr()
    assert main([*common, "--threat-model", "linf", "--n-examples", "10"]) == 2  # AutoAttack at 8/255
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eps 1/255" in err[0] and "eps 8/255" in err[0] and "--overwrite" in err[0]
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # no robustbench.json, no state


def test_results_of_other_weights_are_not_joined(run: tuple[Path, dict], tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.pt"  # retrained or resumed at the same path: other weights
    shutil.copy(run[0], checkpoint)
    run_evaluation(checkpoint, out=tmp_path / "e", progress=False)
    payload = torch.load(checkpoint, weights_only=True)
    name = next(key for key, value in payload["model"].items() if value.is_floating_point())
    payload["model"][name] += 1
    torch.save(payload, checkpoint)
    with pytest.raises(RunFolderError, match="other weights"):
        run_evaluation(checkpoint, out=tmp_path / "e", progress=False)


def test_custom_autoattack_keeps_its_resume_state_per_setting(run: tuple[Path, dict], tmp_path: Path) -> None:
    checkpoint, _ = run
    results = run_evaluation(checkpoint, out=tmp_path, attacks=["autoattack"], n_examples=10, eps=2 / 255,
                             autoattack_version="custom", autoattack_attacks=["apgd-ce"], progress=False)
    assert results["autoattack_error"] >= results["adv_clean_error"]
    first = {p.name for p in (tmp_path / "autoattack").iterdir()}
    run_evaluation(checkpoint, out=tmp_path, attacks=["autoattack"], n_examples=10, eps=4 / 255,
                   autoattack_version="custom", autoattack_attacks=["apgd-ce"], progress=False, overwrite=True)
    assert len(first) == 1 and len(list((tmp_path / "autoattack").iterdir())) == 2  # another eps, its own state
    joined = run_evaluation(checkpoint, out=tmp_path, attacks=["pgd20"], n_examples=10, eps=4 / 255, progress=False)
    assert joined["settings"]["attacks"] == ["autoattack", "pgd20"]  # same radius and images: both numbers kept
    assert joined["pgd20_error"] >= joined["adv_clean_error"] and joined["settings"]["autoattack_version"] == "custom"


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


CONSTANT_NET = """
import torch


class Constant(torch.nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.arange(num_classes, dtype=torch.float32))

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0 * x.mean()


def build(num_classes):
    return Constant(num_classes)
"""


@pytest.fixture
def constant_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`ews eval` arguments for a model that always answers class 9 (AutoAttack has little to do), on 30 digits."""
    (tmp_path / "constant_net.py").write_text(CONSTANT_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    from constant_net import build  # noqa: E402

    torch.save(build(10).state_dict(), tmp_path / "w.pt")
    return ["eval", "--model", "constant_net:build", "--weights", str(tmp_path / "w.pt"), "--normalize", "none",
            "--dataset", "digits", "--set", "data.limit=30", "--no-progress"]


def test_a_threat_model_writes_a_robustbench_entry_and_one_report(tmp_path: Path, constant_model: list[str]) -> None:
    from ews.cli import main

    out = tmp_path / "eval"
    assert main([*constant_model, "--threat-model", "linf", "--n-examples", "8", "--out", str(out)]) == 0
    entry = json.loads((out / "robustbench.json").read_text())
    results = json.loads((out / "eval.json").read_text())
    assert entry["threat_model"] == "Linf" and entry["eps"] == "8/255" and entry["dataset"] == "digits"
    first = [int(label) for _, label in list(load("digits", train=False, limit=30)[0])[:8]]
    assert 9 not in first and entry["clean_acc"] == "0.00"  # on the 8 attacked images, as RobustBench scores
    assert entry["ews"]["split_clean_acc"] == "10.00" and entry["ews"]["split_images"] == 30  # 3 nines in 30
    assert entry["architecture"] == "constant_net:build"
    assert entry["n_examples"] == 8 and entry["autoattack_acc"] == f"{100 - results['autoattack_error']:.2f}"
    assert results["settings"]["threat_model"] == "linf"  # shift sets: tests/evaluation/test_shifts.py
    report = (out / "eval.md").read_text()
    for row in ("| clean |", "AutoAttack standard L-inf eps 8/255"):
        assert row in report
    assert "<table>" in (out / "eval.html").read_text()


def test_overwrite_replaces_the_results_and_drops_their_robustbench_entry(tmp_path: Path,
                                                                         constant_model: list[str]) -> None:
    from ews.cli import main

    out, fresh = str(tmp_path / "e"), str(tmp_path / "fresh")
    assert main([*constant_model, "--threat-model", "linf", "--n-examples", "10", "--out", out]) == 0
    other = [*constant_model, "--attacks", "pgd20", "--eps", "2/255", "--n-examples", "10"]
    assert main([*other, "--out", out]) == 2  # another radius: refused
    assert main([*other, "--out", out, "--overwrite"]) == 0 and main([*other, "--out", fresh]) == 0
    assert json.loads(Path(out, "eval.json").read_text()) == json.loads(Path(fresh, "eval.json").read_text())
    assert not Path(out, "robustbench.json").exists()  # it described the AutoAttack numbers just replaced


def test_a_normalization_for_other_channels_is_one_line_before_any_work(
    tmp_path: Path, constant_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from ews.cli import main

    args = [arg if arg != "none" else "0.5,0.5/0.2,0.2" for arg in constant_model]  # 2 channels, digits have 3
    assert main([*args, "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--normalize has 2 means" in err[0] and "3 channels" in err[0]
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("args, message", [
    (["--threat-model", "linf", "--eps", "4/255"], "does not match --threat-model linf"),
    (["--threat-model", "corruptions", "--norm", "l2"], "takes no --eps or --norm"),
    (["--shift", "imagenet-q=/tmp"], "unknown shift set 'imagenet-q'"),
])
def test_bad_evaluation_arguments_exit_2_and_write_nothing(run: tuple[Path, dict], tmp_path: Path, args, message,
                                                           capsys) -> None:
    from ews.cli import main

    checkpoint, _ = run
    assert main(["eval", "--checkpoint", str(checkpoint), *args, "--out", str(tmp_path / "e"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and not (tmp_path / "e").exists()
