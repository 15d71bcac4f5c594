"""`--backend local`: runs in this process, or in `jobs` spawned worker processes on this machine.

Each worker has the study's thread count (`BackendOptions.threads`) and, on a CUDA machine,
its own device (worker i: device i mod N). A failure stops the sweep at once; its run
folders resume when the command is run again.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Sequence

from .failures import progress
from .options import BackendOptions
from .worker import RunItem, Work, torch_threads


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


class LocalBackend:
    """Runs on this machine: in this process when `jobs` is 1, else in `jobs` spawned workers."""

    def __init__(self, *, jobs: int, threads: int) -> None:
        self.jobs, self.threads = jobs, threads

    @classmethod
    def of(cls, options: BackendOptions) -> LocalBackend:
        return cls(jobs=options.local_jobs, threads=options.threads)

    def run_all(self, items: Sequence[RunItem], work: Work) -> list[Any]:
        """One result per item, at the item's position, whatever order the workers finish in."""
        if self.jobs == 1 or len(items) <= 1:
            with torch_threads(self.threads):
                return [work(item) for item in items]
        context = multiprocessing.get_context("spawn")
        counter = context.Value("i", 0)
        results: dict[int, Any] = {}  # by position in `items`
        with ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(self.threads, counter)) as pool:
            futures = {pool.submit(work, item): i for i, item in enumerate(items)}
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    results[futures[future]] = future.result()
                    progress(done, len(items), items[futures[future]].name, results[futures[future]])
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return [results[i] for i in range(len(items))]
