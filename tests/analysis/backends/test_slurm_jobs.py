"""`--backend slurm` through submitit: the local study's numbers, the sbatch script asked for, resubmitted jobs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ews.analysis.backends import BackendOptions
from ews.analysis.study import build_spec, run_study
from ews.analysis.study.runner import PlannedRun
from ews.config import Config
from ews.errors import RunsFailed
from ews.runs.run_dir import RunDir

from .conftest import STUDY, metric_values

submitit = pytest.importorskip("submitit")
from submitit.core.utils import FailedJobError, UncompletedJobError  # noqa: E402 - needs submitit

from ews.analysis.backends.slurm_jobs import SlurmBackend, SlurmRun  # noqa: E402 - needs submitit


@pytest.mark.slow
def test_a_study_through_submitits_local_executor_equals_the_local_study(local_study: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "study"
    options = BackendOptions(name="slurm", slurm_cluster="local", slurm_time="20")
    results = run_study(None, build_spec(STUDY), out=out, backend=options)
    assert metric_values(results) == metric_values(local_study)
    assert any((out / "slurm-jobs").rglob("*_log.out"))  # submitit's own logs stay in the study folder


def _name(item: PlannedRun) -> str:
    return item.name


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def test_the_sbatch_script_asks_for_the_partition_time_gpus_cpus_and_flags(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Submitted to a stand-in `sbatch` that keeps the script: one job array, the resources of one run each."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "srun", "#!/bin/sh\nexit 0\n")
    _executable(bin_dir / "sbatch", f'#!/bin/sh\ncp "$1" "{tmp_path}/submitted.sh"\necho "Submitted batch job 4242"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    options = BackendOptions(name="slurm", slurm_partition="gpu-a100", slurm_time="1-12:00:00", gpus_per_run=2,
                             cpus_per_run=8, slurm_flags=("account=robust", "constraint=a100", "exclusive")).check()
    items = [PlannedRun(name, Config(), RunDir(tmp_path / name)) for name in "ab"]
    jobs = SlurmBackend(options, folder=tmp_path / "slurm-jobs").submit(items, _name)
    assert [job.job_id for job in jobs] == ["4242_0", "4242_1"]
    script = (tmp_path / "submitted.sh").read_text().splitlines()
    for line in ("#SBATCH --partition=gpu-a100", "#SBATCH --time=2160", "#SBATCH --gpus-per-node=2",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --account=robust", "#SBATCH --constraint=a100",
                 "#SBATCH --exclusive", "#SBATCH --array=0-1%2", "#SBATCH --signal=USR2@90"):
        assert line in script, line


def test_a_timed_out_or_preempted_job_requeues_the_same_run() -> None:
    """submitit's checkpoint hook resubmits the run unchanged: it resumes from the checkpoint in its folder."""
    run = SlurmRun(_name, threads=1, cwd=os.getcwd())
    item = PlannedRun("a", Config(), RunDir("a"))
    again = run.checkpoint(item)
    assert isinstance(again, submitit.helpers.DelayedSubmission)
    assert again.function is run and again.args == (item,)


class _Job:
    """A finished submitit job standing in for a SLURM one: its result, or the error submitit raises for it."""

    def __init__(self, outcome: Any, job_id: str) -> None:
        self.outcome, self.job_id = outcome, job_id

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def test_a_job_that_died_is_resubmitted_and_a_run_that_raised_is_reported(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    killed = UncompletedJobError("Job 1_0 has not produced any output (state: NODE_FAIL)")
    raised = FailedJobError("Job (task=0) failed during processing with trace:\n----\nTraceback (most recent call "
                            "last):\n  File \"x.py\", line 1\nValueError: bad batch\n----\nYou can check full logs")
    rounds = [[_Job(killed, "1_0"), _Job(raised, "1_1"), _Job("c", "1_2")], [_Job(killed, "2")], [_Job("a", "3")]]
    backend = SlurmBackend(BackendOptions(name="slurm", slurm_cluster="local", max_retries=2), folder=tmp_path)
    monkeypatch.setattr(backend, "submit", lambda items, work: rounds.pop(0))
    items = [PlannedRun(name, Config(), RunDir(tmp_path / name)) for name in "abc"]
    with pytest.raises(RunsFailed) as failed:
        backend.run_all(items, _name)
    assert str(failed.value).splitlines()[1:] == [f"b failed: ValueError: bad batch (log: {tmp_path / 'b' / 'worker.log'})"]
    assert rounds == []  # a was submitted three times: killed twice, then finished

    rounds = [[_Job(killed, "4")], [_Job(killed, "5")]]
    backend = SlurmBackend(BackendOptions(name="slurm", slurm_cluster="local", max_retries=1), folder=tmp_path)
    monkeypatch.setattr(backend, "submit", lambda items, work: rounds.pop(0))
    with pytest.raises(RunsFailed, match="a failed: job 5 ended without a result, 2 times"):
        backend.run_all(items[:1], _name)
