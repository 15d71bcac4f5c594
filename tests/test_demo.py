"""`ews demo`: both methods side by side, finished runs reused."""

from __future__ import annotations

import json
from pathlib import Path

from ews.demo import DEMO_METHODS, run_demo


CORRUPTIONS = ("gaussian_noise", "contrast")  # a small digits-C keeps the test fast


def test_demo_trains_both_methods_writes_a_table_and_reuses_finished_runs(tmp_path: Path, capsys) -> None:
    reports = run_demo(tmp_path, epochs=1, progress=False, corruptions=CORRUPTIONS, attack_examples=48)
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
    again = run_demo(tmp_path, epochs=1, progress=False, corruptions=CORRUPTIONS, attack_examples=48)
    assert again == reports
    assert (tmp_path / "ews" / "checkpoint.pt").stat().st_mtime_ns == before
    assert "reusing" in capsys.readouterr().out
