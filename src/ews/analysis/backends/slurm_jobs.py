"""`--backend slurm`: each run is one SLURM job submitted through submitit, all first submitted as one job array.

A job asks for `--cpus-per-run` CPUs (its thread count), `--gpus-per-run` GPUs, the
partition and time given, and any further `--slurm-flag KEY=VALUE` sbatch option. A job
that reaches its time limit or is preempted gets submitit's signal, whose hook
(`SlurmRun.checkpoint`) requeues the same run: it resumes from its folder's checkpoint. A
job that dies without a result (node failure, out of memory, a SIGTERM the trainer answered
with a checkpoint) is submitted again by the driver, up to `--max-retries` times; a run
that raises is reported with its log while the others go on. Job scripts and submitit's
logs go to `OUT/slurm-jobs/`.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import submitit
from submitit.core.utils import FailedJobError, FailedSubmissionError, UncompletedJobError

from ...errors import ConfigError
from ...runtime.interrupts import TrainingInterrupted
from .failures import RunFailure, one_line, progress, raise_failures, report_failure
from .options import DEFAULT_SLURM_TIME, BackendOptions, sbatch_flags, slurm_minutes
from .worker import RunItem, Work, log_path, run_remote

FOLDER = "slurm-jobs"
POLL_S = 2.0  # between looks at the jobs' states (submitit itself spaces out its sacct calls)
REQUEUES = 100  # time-limit requeues of one job; each resumes from the run's checkpoint


class SlurmRun(submitit.helpers.Checkpointable):
    """One run as a submitit job; `checkpoint` is submitit's hook on timeout and preemption."""

    def __init__(self, work: Work, *, threads: int, cwd: str) -> None:
        self.work, self.threads, self.cwd = work, threads, cwd

    def __call__(self, item: RunItem) -> Any:
        try:
            return run_remote(self.work, item, threads=self.threads, cwd=self.cwd)
        except TrainingInterrupted as stop:
            # SLURM's SIGTERM: the trainer wrote a checkpoint; leave without a result so the driver resubmits.
            raise SystemExit(stop.exit_code) from None

    def checkpoint(self, item: RunItem) -> submitit.helpers.DelayedSubmission:
        """The same run again: requeued, it resumes from the last checkpoint in its folder."""
        return submitit.helpers.DelayedSubmission(self, item)


def check_submits(options: BackendOptions) -> None:
    """ConfigError where SLURM jobs cannot be submitted from this machine."""
    if options.slurm_cluster == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise ConfigError("--backend slurm: sbatch and srun are not on this machine's PATH; run ews sweep where "
                          "SLURM jobs are submitted (a login node), or use --backend local or ray")


class SlurmBackend:
    """Runs as submitit jobs on SLURM (or on this machine, with submitit's local executor)."""

    def __init__(self, options: BackendOptions, *, folder: Path) -> None:
        check_submits(options)
        self.options, self.folder = options, Path(folder)

    def executor(self) -> submitit.AutoExecutor:
        o = self.options
        executor = submitit.AutoExecutor(folder=self.folder / "%j", cluster=o.slurm_cluster,
                                         slurm_max_num_timeout=REQUEUES, local_max_num_timeout=REQUEUES)
        executor.update_parameters(
            name="ews-run", timeout_min=slurm_minutes(o.slurm_time or DEFAULT_SLURM_TIME), cpus_per_task=o.threads,
            gpus_per_node=o.gpus, slurm_partition=o.slurm_partition,
            slurm_additional_parameters=sbatch_flags(o.slurm_flags) or None)
        return executor

    def submit(self, items: Sequence[RunItem], work: Work) -> list[submitit.Job]:
        """One job per item (a job array when several); ConfigError when sbatch refuses them."""
        run = SlurmRun(work, threads=self.options.threads, cwd=os.getcwd())
        try:
            return self.executor().map_array(run, list(items))
        except (FailedJobError, FailedSubmissionError) as error:
            raise ConfigError(f"sbatch refused the jobs: {one_line(str(error))}") from None

    def run_all(self, items: Sequence[RunItem], work: Work) -> list[Any]:
        """One result per item, at the item's position; RunsFailed at the end if any run failed."""
        results: list[Any] = [None] * len(items)
        failures: list[RunFailure] = []
        attempts = [1] * len(items)
        pending = list(zip(self.submit(items, work), range(len(items))))
        while pending:
            finished = [(job, i) for job, i in pending if job.done()]
            if not finished:
                time.sleep(POLL_S)
                continue
            pending = [entry for entry in pending if entry not in finished]
            for job, i in finished:
                name, log = items[i].name, log_path(items[i])
                try:
                    results[i] = job.result()
                    progress(len(items) - len(pending), len(items), name, results[i])
                except FailedJobError as error:  # the run raised: it would raise again
                    failures.append(report_failure(name, one_line(_trace(error)), log))
                except UncompletedJobError:  # the job died without a result: start it again, it resumes
                    if attempts[i] > self.options.retries:
                        failures.append(report_failure(name, f"job {job.job_id} ended without a result, "
                                                             f"{attempts[i]} times", log))
                        continue
                    print(f"{name}: job {job.job_id} ended without a result; submitted again "
                          f"(retry {attempts[i]} of {self.options.retries})", flush=True)
                    attempts[i] += 1
                    try:
                        pending.append((self.submit([items[i]], work)[0], i))
                    except ConfigError as error:
                        failures.append(report_failure(name, str(error), log))
        raise_failures(failures, len(items))
        return results


def _trace(error: FailedJobError) -> str:
    """The exception line of a failed job's traceback, without submitit's frame around it."""
    lines = [line for line in str(error).splitlines() if line.strip().strip("-")]
    named = [line for line in lines if not line.startswith((" ", "Traceback", "You can check", "or at paths"))]
    return named[-1] if named else str(error)
