"""From `BackendOptions` to a backend ready to run: every check done, nothing written, before the first run.

Ray and submitit are imported here only when their backend is chosen, so a local sweep
never loads them (nor needs them installed).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from .local import LocalBackend
from .options import BackendOptions
from .worker import RunItem, Work


class Backend(Protocol):
    """Runs `work(item)` for every item somewhere; one result per item, in the items' order."""

    def run_all(self, items: Sequence[RunItem], work: Work) -> list[Any]: ...


@contextmanager
def open_backend(options: BackendOptions, *, out: str | Path) -> Iterator[Backend]:
    """The checked backend for a sweep or study written to `out`; a Ray instance it started is stopped on exit.

    Bad options, a missing extra, a cluster that does not answer or that no run fits on
    raise ConfigError here, before anything of the study is written or started.
    """
    options.check()
    if options.name == "ray":
        from .ray_tasks import connected

        with connected(options) as backend:
            yield backend
    elif options.name == "slurm":
        from .slurm_jobs import FOLDER, SlurmBackend

        yield SlurmBackend(options, folder=Path(out) / FOLDER)
    else:
        yield LocalBackend.of(options)
