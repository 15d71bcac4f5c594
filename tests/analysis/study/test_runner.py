"""The run engine of sweeps and studies: bad --jobs refused, orphaned workers stop."""

from __future__ import annotations

import os

import pytest

from ews.analysis.study import runner
from ews.errors import ConfigError


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_bad_jobs_are_refused(jobs) -> None:
    with pytest.raises(ConfigError, match="--jobs must be an integer >= 1"):
        runner.check_jobs(jobs)


def test_a_worker_whose_sweep_is_gone_takes_no_more_runs(monkeypatch) -> None:
    item = runner.PlannedRun("ews/seed1", None, None)  # type: ignore[arg-type]
    monkeypatch.setattr(runner, "_PARENT", os.getppid())
    assert runner._in_worker(lambda planned: {"name": planned.name}, item) == {"name": "ews/seed1"}
    monkeypatch.setattr(runner, "_PARENT", os.getppid() + 1)
    with pytest.raises(SystemExit, match="ews/seed1: the sweep that queued it has stopped"):
        runner._in_worker(lambda planned: {}, item)
