"""`ews sweep`: one training run per value of a numeric config key (the paper's Fig. 5 and 6 ablations).

Each value trains into `OUT/<param>=<value>/`, an ordinary run folder: a finished
point is skipped, a started one resumed, so an interrupted sweep continues where it
stopped; `--jobs J` trains J points at once, `--backend ray|slurm` on a cluster. The
engine is the one studies use (`analysis.study.runner`). Every value is checked (a full
config is built for it) and every existing point folder matched against its config
before the first epoch runs. Writes `sweep.json`, `sweep.md` and `sweep.png` (clean
error and training time against the parameter).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..config import Config, load_config, parse_number
from ..errors import ConfigError, check_out_folder
from ..runs.checkpoint import atomic_write_text
from ..runs.run_dir import RunDir
from . import figures
from .backends import BackendOptions, backend_options, open_backend
from .study.runner import PlannedRun, run_all, train


@dataclass(frozen=True)
class SweepPoint:
    text: str  # the value as the user wrote it, also the folder name's suffix
    value: float
    planned: PlannedRun

    @property
    def config(self) -> Config:
        return self.planned.config

    @property
    def run(self) -> RunDir:
        return self.planned.run


def numeric_key(param: str) -> type:
    """`int` or `float` for a numeric config key such as `ews.K`; ConfigError for anything else."""
    node: Any = Config
    for part in param.split("."):
        if not dataclasses.is_dataclass(node):
            raise ConfigError(f"--param {param}: {part!r} is inside a non-section key")
        hints = typing.get_type_hints(node)
        if part not in hints:
            raise ConfigError(f"--param {param}: unknown config key; allowed in this section: {', '.join(hints)}")
        node = hints[part]
    options = typing.get_args(node) if isinstance(node, types.UnionType) else (node,)
    kinds = [k for k in options if k is not type(None)]
    if kinds not in ([int], [float]):
        raise ConfigError(f"--param {param} must be a numeric config key (int or float), it is {node}")
    return kinds[0]


def _parse(param: str, kind: type, text: str) -> float:
    value = yaml.safe_load(text) if text.strip() else None
    if kind is float and isinstance(value, str):
        value = parse_number(value)  # PyYAML reads 1e-3 (no dot) as a string
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ConfigError(f"--values: {text!r} is not {'an integer' if kind is int else 'a number'} for {param}")
    return value


def plan_sweep(config_path: str | Path | None, *, overrides: Sequence[str], param: str, values: Sequence[str],
               out: str | Path) -> list[SweepPoint]:
    """Check the parameter, every value and every existing point folder; nothing is written."""
    kind = numeric_key(param)
    if not values:
        raise ConfigError("--values needs at least one value")
    if len(set(values)) != len(values):
        raise ConfigError(f"--values repeats a value: {', '.join(values)}")
    out = check_out_folder(out)
    points = []
    for text in values:
        value = _parse(param, kind, text)
        config = load_config(config_path, [*overrides, f"{param}={text}"])
        planned = PlannedRun(f"{param}={text}", config, RunDir(out / f"{param}={text}"))
        planned.check_folder()
        points.append(SweepPoint(text, value, planned))
    return points


def run_sweep(config_path: str | Path | None, *, overrides: Sequence[str] = (), param: str, values: Sequence[str],
              out: str | Path, jobs: int = 1, backend: BackendOptions | None = None) -> dict[str, Any]:
    """Train every point not yet finished, then write `sweep.json`, `sweep.md`, `sweep.png`.

    The points train on `backend` (default: this machine, in `jobs` processes).
    """
    points = plan_sweep(config_path, overrides=overrides, param=param, values=values, out=out)
    out = Path(out)
    with open_backend(backend_options(backend, jobs), out=out) as where:
        out.mkdir(parents=True, exist_ok=True)
        reports = run_all([p.planned for p in points], train, backend=where)
    rows = [{"text": point.text, "value": point.value, "run": str(point.run.root),
             "clean_error": report["clean_error"], "train_seconds": report["train_seconds"]}
            for point, report in zip(points, reports, strict=True)]
    result = {"param": param, "points": rows}
    atomic_write_text(out / "sweep.json", json.dumps(result, indent=2) + "\n")
    table = [f"| {param} | clean error (%) | train time (s) | run |", "|---|---|---|---|"]
    table += [f"| {r['text']} | {r['clean_error']:.2f} | {r['train_seconds']:.1f} | {Path(r['run']).name} |" for r in rows]
    atomic_write_text(out / "sweep.md", f"# Sweep of {param}\n\n![sweep](sweep.png)\n\n" + "\n".join(table) + "\n")
    figures.save(figures.sweep_figure(param, rows), out / "sweep.png")
    return result
