"""`ews analyze` on tiny trained runs: outputs, per-block aggregation, comparison, input checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ews.analysis.analyze import AnalysisSettings, block_vulnerability, run_analysis
from ews.analysis.inputs import evaluation_subset, generated_corruptions, to_device
from ews.analysis.scoring import quantiles
from ews.cli import main
from ews.corruptions import names
from ews.errors import ConfigError
from ews.evaluation import load_trained
from ews.subnets import READINGS, SubnetSpace, use_subnet

SMALL = AnalysisSettings(subnets=6, images=20, block_subnets=3, batch_size=32)


def test_per_block_mean_error_equals_direct_computation(runs: dict[str, Path]) -> None:
    trained = load_trained(runs["vanilla"] / "checkpoint.pt", device=torch.device("cpu"))
    images = evaluation_subset(trained.test_set, 20)
    space = SubnetSpace.from_model(trained.model, rho=0.5)
    rows = block_vulnerability(trained, space, images, SMALL, progress=False)  # batch statistics, one batch of 20
    assert [r["block"] for r in rows] == [b.name for b in space.blocks]
    assert [r["downsampling"] for r in rows] == [b.downsampling for b in space.blocks]
    assert sum(r["downsampling"] for r in rows) == 2  # ResNet-20: stages 2 and 3 start with a projection
    g = torch.Generator().manual_seed(SMALL.seed)
    for index, row in enumerate(rows):
        errors = []
        for _ in range(SMALL.block_subnets):
            trained.model.train()
            with torch.no_grad(), use_subnet(trained.model, space.sample_block(index, g)):
                wrong = (trained.model(images.x).argmax(1) != images.y).double().mean().item()
            trained.model.eval()
            errors.append(100 * wrong)
        assert row["mean_error"] == pytest.approx(sum(errors) / len(errors), abs=1e-9)
        assert row["errors"] == pytest.approx(errors, abs=1e-3)


def test_analysis_writes_json_and_figures_with_one_score_per_subnet(runs: dict[str, Path], tmp_path: Path) -> None:
    result = run_analysis(runs["ews"] / "checkpoint.pt", out=tmp_path, settings=SMALL, progress=False)
    data = json.loads((tmp_path / "subnets.json").read_text())
    assert data == result["subnets"]
    assert list(data["models"]) == ["ews"]
    for kind in ("clean", "corrupted", "pgd"):
        entry = data["models"]["ews"][kind]
        assert len(entry["scores"]) == SMALL.subnets
        assert 0 <= entry["full"] <= 1 and all(0 <= s <= 1 for s in entry["scores"])
        assert entry["quantiles"] == pytest.approx(quantiles(torch.tensor(entry["scores"])), abs=1e-5)
    blocks = json.loads((tmp_path / "blocks.json").read_text())
    assert [set(row) >= {"block", "downsampling", "mean_error"} for row in blocks["models"]["ews"]] == [True] * 9
    for name in ("figure1.png", "figure7.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_compare_scores_both_models_on_the_same_subnets(runs: dict[str, Path], tmp_path: Path) -> None:
    settings = AnalysisSettings(subnets=4, images=20, block_subnets=0, inputs=("clean",), batch_size=16)
    run_analysis(runs["vanilla"] / "checkpoint.pt", compare=runs["ews"] / "checkpoint.pt", out=tmp_path,
                 settings=settings, progress=False)
    data = json.loads((tmp_path / "subnets.json").read_text())
    assert list(data["models"]) == ["vanilla", "ews"]
    assert all(len(m["clean"]["scores"]) == 4 for m in data["models"].values())
    assert not (tmp_path / "blocks.json").exists()  # --block-subnets 0 skips Fig. 7


def test_generated_corruptions_cycle_through_every_corruption_and_severity(runs: dict[str, Path]) -> None:
    trained = load_trained(runs["vanilla"] / "checkpoint.pt", device=torch.device("cpu"))
    clean = evaluation_subset(trained.test_set, 20)
    corrupted = generated_corruptions(clean, corruptions=("contrast", "brightness"), severities=(1, 5))
    assert corrupted.x.shape == clean.x.shape and torch.equal(corrupted.y, clean.y)
    assert 0 <= corrupted.x.min() and corrupted.x.max() <= 1
    assert not torch.equal(corrupted.x, clean.x)
    again = generated_corruptions(clean, corruptions=("contrast", "brightness"), severities=(1, 5))
    assert torch.equal(again.x, corrupted.x)  # seeded per image
    assert generated_corruptions(clean).x.shape == clean.x.shape and len(names.BENCHMARK) == 15
    assert to_device(clean, torch.device("cpu")).x.device.type == "cpu"


@pytest.mark.parametrize("field, value, message", [
    ("subnets", 0, "--subnets"), ("rho", 1.5, "--rho"), ("inputs", ("clean", "fog"), "input kind"),
    ("block_subnets", -1, "--block-subnets"), ("bn", "train", "BatchNorm"),
])
def test_bad_settings_are_config_errors(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AnalysisSettings(**{field: value})


def test_cli_analyze_writes_into_the_run_and_updates_its_report(runs: dict[str, Path], capsys) -> None:
    run = runs["vanilla"]
    code = main(["analyze", "--checkpoint", str(run / "checkpoint.pt"), "--subnets", "3", "--images", "20",
                 "--block-subnets", "1", "--inputs", "clean,corrupted", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "run report updated" in out
    assert (run / "analysis" / "subnets.json").is_file()
    report = (run / "report.md").read_text()
    assert "Subnet confidence (paper Fig. 1), analysis" in report and "](analysis/figure1.png)" in report
    assert "](analysis/figure7.png)" in report


@pytest.mark.parametrize("args, message", [
    (["--subnets", "0"], "--subnets must be >= 1"),
    (["--inputs", "clean,blur"], "unknown input kind 'blur'"),
    (["--rho", "2"], "--rho must be in (0, 1]"),
])
def test_cli_bad_input_is_one_line_exit_2(runs: dict[str, Path], tmp_path: Path, capsys, args, message) -> None:
    code = main(["analyze", "--checkpoint", str(runs["vanilla"] / "checkpoint.pt"), "--out", str(tmp_path / "a"),
                 *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "a").exists()


def test_cli_missing_checkpoint_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["analyze", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "a")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_every_compared_model_is_probed_in_one_recorded_reading(runs: dict[str, Path], tmp_path: Path) -> None:
    def probe(reading: str | None, out: Path) -> dict:
        settings = AnalysisSettings(subnets=6, images=20, block_subnets=1, inputs=("clean",), batch_size=16,
                                    reading=reading)
        run_analysis(runs["vanilla"] / "checkpoint.pt", compare=runs["ews"] / "checkpoint.pt", out=out,
                     settings=settings, progress=False)
        return json.loads((out / "subnets.json").read_text())

    trained, paper = probe(None, tmp_path / "a"), probe("paper-text", tmp_path / "b")
    assert trained["settings"]["reading"] == READINGS["default"].to_dict()  # the checkpoint's own (the default)
    assert paper["settings"]["reading"]["name"] == "paper-text"
    assert json.loads((tmp_path / "b" / "blocks.json").read_text())["settings"]["reading"]["name"] == "paper-text"
    # paper-text slices every branch conv, the default all but the last: other subnets, other scores
    for model in ("vanilla", "ews"):
        assert trained["models"][model]["clean"]["scores"] != paper["models"][model]["clean"]["scores"]


def test_an_unknown_probe_reading_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown reading 'paper'"):
        AnalysisSettings(reading="paper")
