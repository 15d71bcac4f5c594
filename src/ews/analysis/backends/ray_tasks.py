"""`--backend ray`: each run is one Ray task asking for `--cpus-per-run` CPUs and `--gpus-per-run` GPUs.

The driver (`ews sweep`) connects to the cluster at `--ray-address`, or starts a Ray
instance on this machine, and checks that some node can hold a run before any starts.
Tasks write into the study folder on the filesystem the cluster shares. When a task's
worker process dies (killed, out of memory, node lost) Ray starts the task again, up to
`--max-retries` times, and the run resumes from its folder's checkpoint; a run that raises
is not retried, it is reported with its log while the others go on.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import ray

from ...errors import ConfigError
from .failures import RunFailure, one_line, progress, raise_failures, report_failure
from .options import BackendOptions
from .worker import RunItem, Work, log_path, run_remote

CONNECT_TIMEOUT_S = 10.0  # a cluster address that does not accept a connection by then is refused
DEFAULT_PORT = 6379  # the Ray head's GCS port


def check_answers(address: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """ConfigError unless something accepts a TCP connection at the address's host and port within `timeout` s."""
    if address == "auto":
        return  # resolved by Ray from RAY_ADDRESS or the cluster started on this machine
    host, _, port = address.removeprefix("ray://").rstrip("/").rpartition(":")
    if not host:
        host, port = port, str(DEFAULT_PORT)
    if not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConfigError(f"--ray-address {address}: no Ray cluster answers there within {timeout:g} s "
                          f"({one_line(error)})") from None


def check_resources(options: BackendOptions) -> None:
    """ConfigError when no live node has a run's CPUs or GPUs: its tasks would wait for ever."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    for flag, key, wanted in (("--cpus-per-run", "CPU", options.threads), ("--gpus-per-run", "GPU", options.gpus)):
        largest = max((node.get(key, 0.0) for node in nodes), default=0.0)
        if wanted > largest:
            raise ConfigError(f"{flag} {wanted}: no node of the Ray cluster has {wanted} {key}s "
                              f"(the largest has {largest:g})")


class RayBackend:
    """Runs as Ray tasks on a connected cluster."""

    def __init__(self, options: BackendOptions) -> None:
        self.options = options

    def run_all(self, items: Sequence[RunItem], work: Work) -> list[Any]:
        """One result per item, at the item's position; RunsFailed at the end if any run failed."""
        o = self.options
        task = ray.remote(run_remote).options(num_cpus=o.threads, num_gpus=o.gpus, max_retries=o.retries,
                                              retry_exceptions=False)
        cwd = os.getcwd()
        refs = {task.remote(work, item, threads=o.threads, cwd=cwd): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        failures: list[RunFailure] = []
        pending = list(refs)
        while pending:
            (ref,), pending = ray.wait(pending, num_returns=1)
            item = items[refs[ref]]
            try:
                results[refs[ref]] = ray.get(ref)
            except ray.exceptions.RayError as error:
                cause = getattr(error, "cause", None)  # what the run raised; else the worker died too often
                reason = one_line(cause if isinstance(cause, BaseException) else error)
                failures.append(report_failure(item.name, reason, log_path(item)))
                continue
            progress(len(items) - len(pending), len(items), item.name, results[refs[ref]])
        raise_failures(failures, len(items))
        return results


@contextmanager
def connected(options: BackendOptions) -> Iterator[RayBackend]:
    """A RayBackend on the cluster the options name, checked; a Ray instance started here is shut down after."""
    if options.ray_address is not None:
        check_answers(options.ray_address)
    started = not ray.is_initialized()  # a caller already connected (a notebook, a test) keeps its connection
    if started:
        try:
            ray.init(address=options.ray_address, include_dashboard=False, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"--ray-address {options.ray_address}" if options.ray_address else "a local Ray instance"
            raise ConfigError(f"{where}: Ray could not connect ({one_line(error)})") from None
    try:
        check_resources(options)
        yield RayBackend(options)
    finally:
        if started:
            ray.shutdown()
