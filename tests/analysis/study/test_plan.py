"""`ews sweep --study`: variants x seeds trained once, scored alike, summarised with paired intervals."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ews.cli import main

from ..conftest import TINY

STUDY = {
    "seeds": [1, 2],
    "reference": "vanilla",
    "base": {"data.val_images": 20, "train.epochs": 1},
    "variants": {"vanilla": {"method": "vanilla"}, "ews": {"method": "ews", "ews.rho_paths": 1.0}},
    "evaluate": {"corruptions": "digits-c", "attacks": ["pgd20"], "n_examples": 16, "splits": ["val", "test"]},
    "analysis": {"rho": [0.7], "subnets": 3, "images": 16},
}
SETS = [arg for item in TINY for arg in ("--set", item)]


def test_study_runs_scores_and_resumes(tmp_path: Path, capsys) -> None:
    study, out = tmp_path / "study.yaml", tmp_path / "out"
    study.write_text(yaml.safe_dump(STUDY))
    assert main(["sweep", "--study", str(study), *SETS, "--out", str(out), "--jobs", "2"]) == 0, capsys.readouterr().err
    results = json.loads((out / "study.json").read_text())
    assert set(results["variants"]) == {"vanilla", "ews"}
    metrics = results["variants"]["ews"]["metrics"]
    for name in ("clean_error", "corruption_error", "pgd20_error", "val_clean_error", "val_corruption_error",
                 "val_pgd20_error", "subnet_confidence_clean_rho0.7", "subnet_confidence_corrupted_rho0.7"):
        s = metrics[name]
        assert len(s["values"]) == 2 and s["low"] <= s["mean"] <= s["high"], name
    vanilla = results["variants"]["vanilla"]["metrics"]["clean_error"]["values"]
    d = results["differences"]["ews"]["clean_error"]
    assert d["mean"] == sum(e - v for e, v in zip(metrics["clean_error"]["values"], vanilla)) / 2
    assert sorted(results["timing"]["runs"]) == ["ews/seed1", "ews/seed2", "vanilla/seed1", "vanilla/seed2"]
    assert (out / "study.png").read_bytes()[:4] == b"\x89PNG" and "Paired differences" in (out / "study.md").read_text()
    assert (out / "ews" / "seed2" / "eval-val" / "eval.json").is_file()

    scored = (out / "ews" / "seed1" / "eval" / "eval.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["sweep", "--study", str(study), *SETS, "--out", str(out), "--seeds", "1"]) == 0
    assert "ews/seed1: finished, skipped" in capsys.readouterr().out
    assert (out / "ews" / "seed1" / "eval" / "eval.json").stat().st_mtime_ns == scored
    assert json.loads((out / "study.json").read_text())["variants"]["ews"]["seeds"] == [1]

    (out / "study.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "study.html").is_file()


def test_every_variant_is_probed_in_one_reading_and_the_search_gap_is_reported(tmp_path: Path, capsys) -> None:
    spec = {**STUDY, "seeds": [1], "evaluate": {"n_examples": 16},
            "variants": {"vanilla": {"method": "vanilla"}, "one-path": {"method": "ews", "ews.reading": "paper-text"}}}
    study, out = tmp_path / "study.yaml", tmp_path / "out"
    study.write_text(yaml.safe_dump(spec))
    assert main(["sweep", "--study", str(study), *SETS, "--out", str(out)]) == 0, capsys.readouterr().err
    results = json.loads((out / "study.json").read_text())
    assert results["study"]["analysis"]["reading"] == "default"
    for variant in ("vanilla", "one-path"):  # both probed in `default`, whatever they trained in
        subnets = json.loads((out / variant / "seed1" / "analysis-rho0.7" / "subnets.json").read_text())
        assert subnets["settings"]["reading"]["name"] == "default"
    gaps = [line["search_gap"] for line in (out / "one-path" / "seed1").joinpath("metrics.jsonl").read_text()
            .splitlines() for line in [json.loads(line)] if line["search_gap"] is not None]
    assert results["variants"]["one-path"]["metrics"]["search_gap_first"]["values"] == [round(100 * gaps[0], 4)]
    assert "search_gap_first" not in results["variants"]["vanilla"]["metrics"]
    assert "every model probed in the 'default' reading" in (out / "study.md").read_text()

    evaluated = (out / "vanilla" / "seed1" / "eval" / "eval.json").stat().st_mtime_ns
    study.write_text(yaml.safe_dump({**spec, "analysis": {**spec["analysis"], "reading": "paper-text"}}))
    assert main(["sweep", "--study", str(study), *SETS, "--out", str(out)]) == 0, capsys.readouterr().err
    assert (out / "vanilla" / "seed1" / "eval" / "eval.json").stat().st_mtime_ns == evaluated  # errors not redone
    subnets = json.loads((out / "vanilla" / "seed1" / "analysis-rho0.7" / "subnets.json").read_text())
    assert subnets["settings"]["reading"]["name"] == "paper-text"


def test_study_variants_from_the_command_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["sweep", *SETS, "--set", "train.epochs=1", "--variant", "plain: method=vanilla", "--seeds", "3",
            "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    results = json.loads((out / "study.json").read_text())
    assert results["variants"]["plain"]["metrics"]["clean_error"]["values"] and results["differences"] == {}


def test_study_and_param_sweep_exclude_each_other(tmp_path: Path, capsys) -> None:
    assert main(["sweep", "--variant", "a: method=ews", "--param", "ews.K", "--values", "1", "--out",
                 str(tmp_path / "o")]) == 2
    assert "--param/--values" in capsys.readouterr().err
    assert main(["sweep", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
