"""Training many runs, resumably, in one or several worker processes: the engine of `ews sweep`.

Each run is an ordinary run folder: a finished one is skipped, a started one resumed,
so an interrupted sweep or study continues where it stopped. With `jobs > 1` runs go
to worker processes (spawned, so each has a clean torch); each worker gets its share
of the CPU threads, and on a CUDA machine its own device (worker i: device i mod N).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ...config import Config, dump_config
from ...errors import ConfigError, RunFolderError
from ...runs.run_dir import RunDir


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


Work = Callable[[PlannedRun], dict[str, Any]]  # a picklable module-level function for jobs > 1


def train(item: PlannedRun) -> dict[str, Any]:
    """Train (or resume) one run unless it is finished; returns its `report.json` plus the wall time spent."""
    import json

    from ...training.trainer import Trainer
    from ..report import write_run_report

    start = time.perf_counter()
    if item.run.finished:
        print(f"{item.name}: finished, skipped ({item.run.root})", flush=True)
    else:
        print(f"{item.name}: {'resuming' if item.run.started else 'training'} -> {item.run.root}", flush=True)
        Trainer(item.config).fit(item.run, resume=item.run.started, command=["ews", "sweep"])
        write_run_report(item.run.root)
    report = json.loads(item.run.report.read_text())
    return {**report, "train_wall_seconds": round(time.perf_counter() - start, 3)}


def check_jobs(jobs: int) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be an integer >= 1, got {jobs!r}")
    return jobs


def _cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _init_worker(threads: int, counter: Any) -> None:
    """Give this worker its threads and, on a CUDA machine, one device, before torch touches CUDA."""
    watch_parent(os.getppid())
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    import torch

    torch.set_num_threads(threads)
    devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if devices:
        torch.cuda.set_device(index % devices)


def watch_parent(parent: int, interval: float = 1.0) -> None:
    """Exit this process within `interval` s of `parent` dying, even in the middle of a run.

    A killed `ews sweep` must not leave workers training on, neither the run in hand nor
    the ones the pool queued ahead: their run folders resume from the last checkpoint next
    time, so stopping mid-run loses nothing finished.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="ews-parent-watch", daemon=True).start()


def run_all(items: Sequence[PlannedRun], work: Work = train, *, jobs: int = 1) -> list[dict[str, Any]]:
    """`work(item)` for every item, in order of `items`; in `jobs` worker processes when jobs > 1.

    Exactly one result per item, at the item's position, whatever order the workers finish
    in: callers zip the results with their runs.
    """
    check_jobs(jobs)
    for item in items:
        item.check_folder()
    if jobs == 1 or len(items) <= 1:
        return [work(item) for item in items]
    context = multiprocessing.get_context("spawn")
    threads = max(1, _cpu_cores() // jobs)
    counter = context.Value("i", 0)
    results: dict[int, dict[str, Any]] = {}  # by position in `items`
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(threads, counter)) as pool:
        futures = {pool.submit(work, item): i for i, item in enumerate(items)}
        try:
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                print(f"[{done}/{len(items)}] {items[futures[future]].name} done", flush=True)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[i] for i in range(len(items))]
