"""The run engine of sweeps and studies: results paired with their runs, one thread count, orphaned workers stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from ews.analysis.backends.options import DEFAULT_THREADS
from ews.analysis.study import runner
from ews.config import Config
from ews.errors import ConfigError
from ews.runs.run_dir import RunDir


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_bad_jobs_are_refused(jobs) -> None:
    with pytest.raises(ConfigError, match="--jobs must be an integer >= 1"):
        runner.run_all([], jobs=jobs)


def _nothing_for_a(item: runner.PlannedRun) -> dict[str, Any] | None:
    """A work (module-level, so spawned workers can unpickle it) with no result for run `a`."""
    return None if item.name == "a" else {"name": item.name, "threads": torch.get_num_threads()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_result_stays_at_its_runs_position_and_has_the_default_threads(tmp_path: Path, jobs: int) -> None:
    """Sweeps and studies zip results with their runs: a missing result must not shift the others.

    Every run has DEFAULT_THREADS threads, in this process or in a worker, whatever `jobs`:
    its numbers depend on them. The caller's own thread count comes back afterwards.
    """
    before = torch.get_num_threads()
    items = [runner.PlannedRun(name, Config(), RunDir(tmp_path / name)) for name in "abc"]
    assert runner.run_all(items, _nothing_for_a, jobs=jobs) == [
        None, {"name": "b", "threads": DEFAULT_THREADS}, {"name": "c", "threads": DEFAULT_THREADS}]
    assert torch.get_num_threads() == before


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.split()[1:2] == ["Z"] for line in status if line.startswith("State:"))
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc (Linux)")
def test_a_worker_stops_mid_run_when_its_sweep_is_killed() -> None:
    """A worker busy in a long run exits soon after its parent dies (here: a shell that exits)."""
    busy = "import sys, time; from ews.analysis.backends.local import watch_parent; watch_parent(int(sys.argv[1]), 0.05); time.sleep(120)"
    command = f'"{sys.executable}" -c "{busy}" $$ >/dev/null 2>&1 & echo $!'
    shell = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    worker = int(shell.stdout.split()[-1])
    deadline = time.monotonic() + 60
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(worker), f"worker {worker} still runs after its parent exited"


def test_train_says_whether_the_run_was_finished_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The backends' progress lines read `skipped` from it: a rerun must not say `done` as if it trained again."""
    from ews.config import load_config

    from ..conftest import TINY

    item = runner.PlannedRun("vanilla/seed1", load_config(overrides=[*TINY, "method=vanilla", "train.epochs=1"]),
                             RunDir(tmp_path / "run"))
    assert runner.train(item)["skipped"] is False
    again = runner.train(item)
    assert again["skipped"] is True and again["epochs"] == 1
    assert "vanilla/seed1: finished, skipped" in capsys.readouterr().out
