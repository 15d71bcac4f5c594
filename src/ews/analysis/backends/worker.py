"""What a backend does around one run wherever it executes: the run's threads, its folder, its log.

A cluster worker is another process, often on another machine: it runs `work(item)` in
the driver's working directory (so relative paths in configs, such as `data.root`, mean
what they meant to the driver, on the shared filesystem), with the study's thread count,
and with everything it prints appended to the run folder's `worker.log`, the file a
failure is reported with.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from ...runs.run_dir import RunDir

LOG_NAME = "worker.log"


class RunItem(Protocol):
    """The part of a planned run a backend needs: its name in messages and its folder."""

    name: str
    run: RunDir


Work = Callable[[Any], Any]  # work(item) -> result; a picklable module-level callable for other processes


def log_path(item: RunItem) -> Path:
    return item.run.root / LOG_NAME


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to `threads` for the duration (a run's numbers depend on them)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def working_directory(folder: str) -> Iterator[None]:
    """Run in the driver's folder; a node that does not see it cannot resolve the study's relative paths."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the driver's working directory {folder} is not on this node; start ews sweep "
                                "from a folder on the filesystem the cluster shares")
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """This process's stdout and stderr (file descriptors 1 and 2, so native libraries too) appended to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(path, "a", buffering=1) as log:
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)


def run_remote(work: Work, item: RunItem, *, threads: int, cwd: str) -> Any:
    """`work(item)` as a Ray task or SLURM job runs it: in `cwd`, with `threads` threads, logged to `worker.log`."""
    with working_directory(cwd):
        with output_to(log_path(item)):
            print(f"== {item.name}: attempt on {os.uname().nodename}, pid {os.getpid()}, "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {threads} threads", flush=True)
            try:
                with torch_threads(threads):
                    return work(item)
            except BaseException:
                traceback.print_exc()
                raise
