"""Running a study: every variant x seed planned and checked first, then trained, scored and summarised.

Layout of a study folder:

    OUT/study.yaml                 the study as run (a different study is refused)
    OUT/corruptions/               the -C sets, generated once and shared by every run
    OUT/<variant>/seed<S>/         an ordinary run folder (+ eval/, eval-val/, analysis-rho*/)
    OUT/study.json, study.md, study.html, study.png
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

from ...config import Config, load_config
from ...errors import ConfigError, RunFolderError, check_out_folder
from ...runs.checkpoint import atomic_write_text
from ...runs.run_dir import RunDir
from ..backends import BackendOptions, backend_options, open_backend
from .report import STUDY_JSON, write_study_report
from .results import study_results
from .runner import PlannedRun, run_all
from .scoring import train_and_score
from .spec import StudySpec, build_spec

STUDY_YAML = "study.yaml"


def _run_config(config_path: str | Path | None, overrides: Sequence[str], spec: StudySpec, variant: str,
                seed: int) -> Config:
    try:
        return load_config(config_path, [*overrides, *spec.overrides(variant, seed), "log.progress=false"])
    except ConfigError as error:
        raise ConfigError(f"study variant {variant}: {error}") from None


def _check_same_images(items: Sequence[PlannedRun]) -> None:
    """Shared -C sets and paired differences need every run to be scored on the same images."""
    def images(c: Config) -> tuple[Any, ...]:
        return c.data.name, c.data.root, c.data.limit, c.data.train_limit, c.val_images

    first = images(items[0].config)
    for item in items[1:]:
        if images(item.config) != first:
            raise ConfigError(f"study run {item.name} is evaluated on other images than {items[0].name} "
                              f"(data.name/root/limit/val_images differ): put them under `base`, not a variant")


def _check_previous(out: Path, spec: StudySpec) -> None:
    previous = out / STUDY_YAML
    if previous.is_file() and not build_spec(yaml.safe_load(previous.read_text())).same_study(spec):
        raise RunFolderError(f"{out} holds another study ({previous} differs); remove it or choose another --out")


def plan_study(config_path: str | Path | None, spec: StudySpec, *, overrides: Sequence[str] = (),
               out: str | Path) -> list[PlannedRun]:
    """Build and check every run's config and folder; nothing is written."""
    out = check_out_folder(out)
    _check_previous(out, spec)
    # Seed-major: a study stopped part-way has every variant at the same seeds, ready to pair.
    items = [PlannedRun(f"{variant}/seed{seed}", _run_config(config_path, overrides, spec, variant, seed),
                        RunDir(out / variant / f"seed{seed}"))
             for seed in spec.seeds for variant in spec.variants if seed in spec.seeds_of(variant)]
    if "val" in spec.evaluate.splits and not items[0].config.val_images:
        raise ConfigError("study evaluate.splits has val but the runs hold out no validation split: "
                          "set data.val_images under `base`")
    _check_same_images(items)
    for item in items:
        item.check_folder()
    return items


def shared_corruption_sets(spec: StudySpec, config: Config, out: Path) -> dict[str, str]:
    """The -C set of each evaluated split: a given folder, or generated once under `out/corruptions`."""
    from ...corruptions import names
    from ...evaluation import resolve_corruptions

    e = spec.evaluate
    if e.corruptions is None:
        return {}
    chosen = e.corruption_names or names.BENCHMARK
    return {split: str(resolve_corruptions(e.corruptions, config, cache=out / "corruptions", split=split,
                                           corruptions=chosen, limit=e.corruption_images))
            for split in e.splits}


def run_study(config_path: str | Path | None, spec: StudySpec, *, overrides: Sequence[str] = (),
              out: str | Path, jobs: int = 1, backend: BackendOptions | None = None) -> dict[str, Any]:
    """Train and score every run not done yet, then write `study.json`, `study.md`, `study.html`, `study.png`.

    The runs train on `backend` (default: this machine, in `jobs` processes); the -C sets
    are generated here, once, into the study folder every backend's runs read.
    """
    start = time.perf_counter()
    items = plan_study(config_path, spec, overrides=overrides, out=out)
    out = Path(out)
    with open_backend(backend_options(backend, jobs), out=out) as where:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / STUDY_YAML, yaml.safe_dump(spec.to_dict(), sort_keys=False))
        corruption_sets = shared_corruption_sets(spec, items[0].config, out)
        work = functools.partial(train_and_score, evaluate=spec.evaluate, analysis=spec.analysis,
                                 corruption_sets=corruption_sets)
        scored = run_all(items, work, backend=where)
    runs: dict[str, dict[int, dict[str, Any]]] = {variant: {} for variant in spec.variants}
    for item, result in zip(items, scored, strict=True):
        runs[item.name.split("/")[0]][item.config.seed] = result
    results = study_results(spec, runs, wall_seconds=time.perf_counter() - start)
    atomic_write_text(out / STUDY_JSON, json.dumps(results, indent=2) + "\n")
    write_study_report(out, results)
    return results
