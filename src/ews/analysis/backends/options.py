"""What `ews sweep --backend ...` asks for, checked in full before any run starts.

Every backend runs a run with the same number of CPU threads, `cpus_per_run`, by default
`DEFAULT_THREADS` (see there why it is a constant): a run is deterministic given its seed
and its thread count, so a study gives the same numbers whether its runs trained in
local worker processes, on Ray or under SLURM.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError, check_integer

BACKENDS = ("local", "ray", "slurm")
EXTRA_MODULES = {"ray": "ray", "slurm": "submitit"}  # the module each backend's extra installs

DEFAULT_THREADS = 1
"""Threads of every run on every backend, unless `--cpus-per-run` says otherwise.

The thread count changes a run's numbers: on the digits (1 epoch, 300 images, seed 1) one,
two and four threads trained three different networks (clean error 85.67, 86.67, 87.67%), and
a fixed count gave identical weights run after run. A default that followed the machine or
`--jobs` (`cores // jobs`, as local workers had) made a study's numbers depend on where it ran
and on how many runs shared the machine: a study resumed with another `--jobs` mixed thread
counts. A constant makes every backend, every `--jobs` and every machine train the same
network. One thread, because a many-run study is faster spread over runs than over threads
(the small models this runs on a CPU are op-overhead bound), a cluster schedules a one-CPU run
most easily (Ray's default task), and GPU runs barely use CPU threads. Ask for more with
`--cpus-per-run N`; restart a study with the same value.
"""

DEFAULT_MAX_RETRIES = 3  # a run whose worker or job died is started again (it resumes) this often
DEFAULT_SLURM_TIME = "4:00:00"  # a job that reaches it is requeued by submitit and resumes
SUBMITIT_SETS = {"array", "output", "error", "signal", "open-mode", "job-name", "wckey"}
OWN_FLAGS = {"partition": "--slurm-partition", "time": "--slurm-time", "cpus-per-task": "--cpus-per-run",
             "gpus-per-node": "--gpus-per-run"}
_TIME = re.compile(r"^(?:(?P<days>\d+)-)?(?P<a>\d+)(?::(?P<b>\d+))?(?::(?P<c>\d+))?$")
_FLAG_KEY = re.compile(r"^[a-z][a-z0-9_-]*$")


def slurm_minutes(text: str) -> int:
    """sbatch's `--time` (MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in whole minutes, rounded up."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ConfigError(f"--slurm-time {text!r} is not a SLURM time: use MINUTES, HH:MM:SS or D-HH:MM:SS")
    days, a, b, c = (int(v) if v is not None else None for v in match.group("days", "a", "b", "c"))
    if days is None:  # MINUTES, MM:SS or HH:MM:SS
        seconds = a * 60 if b is None else a * 60 + b if c is None else a * 3600 + b * 60 + c
    else:  # D-HH, D-HH:MM or D-HH:MM:SS
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    if seconds <= 0:
        raise ConfigError(f"--slurm-time {text!r} must be longer than zero")
    return -(-seconds // 60)


def sbatch_flags(flags: tuple[str, ...]) -> dict[str, Any]:
    """`--slurm-flag KEY=VALUE` (or a bare KEY) as sbatch options, `{KEY: VALUE or True}`."""
    parsed: dict[str, Any] = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        key = key.strip().removeprefix("--")
        if not _FLAG_KEY.match(key):
            raise ConfigError(f"--slurm-flag {flag!r}: expected KEY=VALUE with an sbatch option as KEY, e.g. "
                              "account=proj or qos=high")
        if key.replace("_", "-") in OWN_FLAGS:
            raise ConfigError(f"--slurm-flag {flag!r}: use {OWN_FLAGS[key.replace('_', '-')]} instead")
        if key.replace("_", "-") in SUBMITIT_SETS:
            raise ConfigError(f"--slurm-flag {flag!r}: submitit sets --{key} itself; allowed are other sbatch "
                              "options, e.g. account, qos, constraint, mem")
        parsed[key] = value if sep else True
    return parsed


def _positive(name: str, value: int | None, *, least: int) -> None:
    if value is not None:
        check_integer(name, value, least=least)


@dataclass(frozen=True)
class BackendOptions:
    """Where a sweep's or study's runs train and what each asks for; None means "not given"."""

    name: str = "local"  # local, ray or slurm
    jobs: int | None = None  # local: worker processes (default 1)
    cpus_per_run: int | None = None  # every backend: the threads of each run (default DEFAULT_THREADS)
    gpus_per_run: int | None = None  # ray, slurm: GPUs each run asks for (default 0)
    max_retries: int | None = None  # ray, slurm: restarts of a run whose worker died (default DEFAULT_MAX_RETRIES)
    ray_address: str | None = None  # ray: the cluster's address (default: start a Ray instance on this machine)
    slurm_partition: str | None = None
    slurm_time: str | None = None  # sbatch --time of each job (default DEFAULT_SLURM_TIME)
    slurm_flags: tuple[str, ...] = ()  # further sbatch options, KEY=VALUE
    slurm_cluster: str = "slurm"  # submitit's executor: "slurm", or "local" to run the jobs on this machine

    @property
    def threads(self) -> int:
        return self.cpus_per_run if self.cpus_per_run is not None else DEFAULT_THREADS

    @property
    def local_jobs(self) -> int:
        return self.jobs if self.jobs is not None else 1

    @property
    def gpus(self) -> int:
        return self.gpus_per_run or 0

    @property
    def retries(self) -> int:
        return self.max_retries if self.max_retries is not None else DEFAULT_MAX_RETRIES

    def check(self) -> BackendOptions:
        """Refuse an unknown backend, a missing extra, a bad value or an option of another backend; returns self."""
        if self.name not in BACKENDS:
            raise ConfigError(f"--backend {self.name!r} is not a backend; choose {', '.join(BACKENDS)}")
        _positive("--jobs", self.jobs, least=1)
        _positive("--cpus-per-run", self.cpus_per_run, least=1)
        _positive("--gpus-per-run", self.gpus_per_run, least=0)
        _positive("--max-retries", self.max_retries, least=0)
        self._check_foreign()
        module = EXTRA_MODULES.get(self.name)
        if module is not None and importlib.util.find_spec(module) is None:
            raise ConfigError(f"--backend {self.name} needs {module}, which is not installed: "
                              f"pip install 'ews-robust[{self.name}]'")
        if self.name == "slurm":
            if self.slurm_partition is not None and not self.slurm_partition.strip():
                raise ConfigError("--slurm-partition must name a partition, got an empty string")
            slurm_minutes(self.slurm_time or DEFAULT_SLURM_TIME)
            sbatch_flags(self.slurm_flags)
            if self.slurm_cluster not in ("slurm", "local"):
                raise ConfigError(f"slurm_cluster must be slurm or local, got {self.slurm_cluster!r}")
        return self

    def _check_foreign(self) -> None:
        """An option of another backend is a mistake worth a message, not a silent no-op."""
        given = {
            "--jobs": (self.jobs is not None, ("local",)),
            "--gpus-per-run": (self.gpus_per_run is not None, ("ray", "slurm")),
            "--max-retries": (self.max_retries is not None, ("ray", "slurm")),
            "--ray-address": (self.ray_address is not None, ("ray",)),
            "--slurm-partition": (self.slurm_partition is not None, ("slurm",)),
            "--slurm-time": (self.slurm_time is not None, ("slurm",)),
            "--slurm-flag": (bool(self.slurm_flags), ("slurm",)),
        }
        why = {"--jobs": "Ray and SLURM run as many runs at once as the cluster has room for",
               "--gpus-per-run": "local workers take one CUDA device each",
               "--max-retries": "a local sweep stops at a failure; rerun it to resume"}
        for flag, (is_given, backends) in given.items():
            if is_given and self.name not in backends:
                reason = f" ({why[flag]})" if flag in why else ""
                raise ConfigError(f"{flag} goes with --backend {' or '.join(backends)}, not {self.name}{reason}")


def backend_options(backend: BackendOptions | None, jobs: int) -> BackendOptions:
    """`run_sweep`/`run_study`'s `backend`, or the local backend with `jobs` workers when none is given."""
    if backend is None:
        return BackendOptions(jobs=jobs).check()
    if jobs != 1:
        raise ConfigError("give jobs inside BackendOptions(jobs=...) when passing a backend")
    return backend.check()
