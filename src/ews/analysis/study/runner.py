"""Training many runs, resumably, on one of the execution backends: the engine of `ews sweep`.

Each run is an ordinary run folder: a finished one is skipped, a started one resumed,
so an interrupted sweep or study continues where it stopped, on whichever backend
(`analysis.backends`: local worker processes, Ray tasks or SLURM jobs) it runs next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ...config import Config, dump_config
from ...errors import RunFolderError
from ...runs.run_dir import RunDir
from ..backends import Backend, BackendOptions
from ..backends.local import LocalBackend


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep or study: its name in messages, its config and its folder."""

    name: str
    config: Config
    run: RunDir

    def check_folder(self) -> None:
        """A folder that already holds another config's run is never trained into."""
        if self.run.config.is_file() and self.run.config.read_text() != dump_config(self.config):
            raise RunFolderError(f"{self.run.root} holds a run with another config; remove it or choose another --out")


Work = Callable[[PlannedRun], dict[str, Any]]  # picklable (module-level) for any backend but local, jobs 1


def train(item: PlannedRun) -> dict[str, Any]:
    """Train (or resume) one run unless it is finished; returns its `report.json`, the wall time spent and
    `skipped`: whether the run was finished before (the backends' progress lines say so)."""
    import json

    from ...training.trainer import Trainer
    from ..report import write_run_report

    start = time.perf_counter()
    skipped = item.run.finished
    if skipped:
        print(f"{item.name}: finished, skipped ({item.run.root})", flush=True)
    else:
        print(f"{item.name}: {'resuming' if item.run.started else 'training'} -> {item.run.root}", flush=True)
        Trainer(item.config).fit(item.run, resume=item.run.started, command=["ews", "sweep"])
        write_run_report(item.run.root)
    report = json.loads(item.run.report.read_text())
    return {**report, "train_wall_seconds": round(time.perf_counter() - start, 3), "skipped": skipped}


def run_all(items: Sequence[PlannedRun], work: Work = train, *, jobs: int = 1,
            backend: Backend | None = None) -> list[dict[str, Any]]:
    """`work(item)` for every item, on `backend` (default: this machine, in `jobs` worker processes when jobs > 1).

    Exactly one result per item, at the item's position, whatever order the runs finish
    in: callers zip the results with their runs.
    """
    for item in items:
        item.check_folder()
    if backend is None:
        backend = LocalBackend.of(BackendOptions(jobs=jobs).check())
    return backend.run_all(items, work)
