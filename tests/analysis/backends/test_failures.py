"""The backends' progress lines and failure reports."""

from __future__ import annotations

import pytest

from ews.analysis.backends.failures import progress


@pytest.mark.parametrize(("result", "said"), [({"skipped": True}, "skipped (already done)"),
                                              ({"skipped": False}, "done"), ({"clean_error": 3.0}, "done"),
                                              (None, "done"), ("a name", "done")])
def test_a_run_finished_before_reads_skipped_not_done(result, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    progress(2, 5, "ews/seed1", result)
    assert capsys.readouterr().out == f"[2/5] ews/seed1 {said}\n"
