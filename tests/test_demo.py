"""`ews demo`: both methods side by side, finished runs reused."""

from __future__ import annotations

import json
from pathlib import Path

from ews.analysis.analyze import AnalysisSettings
from ews.demo import DEMO_METHODS, run_demo


CORRUPTIONS = ("gaussian_noise", "contrast")  # a small digits-C keeps the test fast
ANALYSIS = AnalysisSettings(subnets=3, images=20, block_subnets=1, inputs=("clean", "corrupted"))


def test_demo_trains_both_methods_writes_a_table_and_reuses_finished_runs(tmp_path: Path, capsys) -> None:
    reports = run_demo(tmp_path, epochs=1, progress=False, corruptions=CORRUPTIONS, attack_examples=48,
                       analysis=ANALYSIS)
    assert [r["method"] for r in reports] == list(DEMO_METHODS) == ["vanilla", "ews"]
    table = (tmp_path / "results.md").read_text()
    assert "| vanilla |" in table and "| ews |" in table
    assert json.loads((tmp_path / "results.json").read_text()) == reports
    for method in DEMO_METHODS:
        assert (tmp_path / method / "checkpoint.pt").is_file()
    before = (tmp_path / "ews" / "checkpoint.pt").stat().st_mtime_ns
    assert all(0 <= r["pgd20_error"] <= 100 and r["pgd20_error"] >= r["adv_clean_error"] for r in reports)
    assert sorted(p.stem for p in (tmp_path / "digits-c").glob("*.npy")) == sorted([*CORRUPTIONS, "labels"])
    assert "PGD-20 error (%)" in table and "digits-C error (%)" in table
    report = tmp_path / "report"
    for name in ("report.md", "report.html", "analysis/figure1.png", "analysis/figure7.png", "figures/curves.png"):
        assert (report / name).is_file(), name
    text = (report / "report.md").read_text()
    assert "](analysis/figure1.png)" in text and "| vanilla | vanilla |" in text and "| ews | ews |" in text
    assert "| clean error (%) | PGD-20 error (%) |" in text  # 2 of 15 corruptions: no digits-C mean
    assert f"corrupted images: {tmp_path / 'digits-c'}" in text  # Fig. 1 on the demo's own digits-C
    assert "## Evaluation" in (tmp_path / "ews" / "report.md").read_text()  # run reports redrawn after eval
    analysed = (report / "analysis" / "subnets.json").stat().st_mtime_ns
    again = run_demo(tmp_path, epochs=1, progress=False, corruptions=CORRUPTIONS, attack_examples=48,
                     analysis=ANALYSIS)
    assert again == reports
    assert (tmp_path / "ews" / "checkpoint.pt").stat().st_mtime_ns == before
    assert (report / "analysis" / "subnets.json").stat().st_mtime_ns == analysed  # analysis reused too
    assert "reusing" in capsys.readouterr().out
    evaluated = (tmp_path / "vanilla" / "eval" / "eval.json").stat().st_mtime_ns
    (tmp_path / "vanilla" / "report.json").unlink()  # as if a retraining had stopped before its end
    run_demo(tmp_path, epochs=1, progress=False, corruptions=CORRUPTIONS, attack_examples=48, analysis=None)
    # the resumed run is evaluated again, not given the evaluation that was in its folder
    assert (tmp_path / "vanilla" / "eval" / "eval.json").stat().st_mtime_ns != evaluated
    assert "evaluating vanilla" in capsys.readouterr().out
