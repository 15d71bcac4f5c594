"""`ews demo`: both methods side by side, finished runs reused."""

from __future__ import annotations

import json
from pathlib import Path

from ews.demo import DEMO_METHODS, run_demo


def test_demo_trains_both_methods_writes_a_table_and_reuses_finished_runs(tmp_path: Path, capsys) -> None:
    reports = run_demo(tmp_path, epochs=1, progress=False)
    assert [r["method"] for r in reports] == list(DEMO_METHODS) == ["vanilla", "ews"]
    table = (tmp_path / "results.md").read_text()
    assert "| vanilla |" in table and "| ews |" in table
    assert json.loads((tmp_path / "results.json").read_text()) == reports
    for method in DEMO_METHODS:
        assert (tmp_path / method / "checkpoint.pt").is_file()
    before = (tmp_path / "ews" / "checkpoint.pt").stat().st_mtime_ns
    again = run_demo(tmp_path, epochs=1, progress=False)
    assert again == reports
    assert (tmp_path / "ews" / "checkpoint.pt").stat().st_mtime_ns == before
    assert "reusing" in capsys.readouterr().out
