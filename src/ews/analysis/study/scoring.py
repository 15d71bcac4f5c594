"""One study run, trained and scored: clean, -C and attack errors per split, and Fig. 1 subnet confidence.

The scores are cached in the run folder (`study-run.json`, with the scoring they came
from), so a resumed study neither retrains nor re-evaluates a finished run. Every run
is scored on the same images: the -C sets are generated once for the whole study and
passed in by path.
"""

from __future__ import annotations

import json
import time
from typing import Any, Mapping

from ...runs.checkpoint import atomic_write_text
from .runner import PlannedRun, train
from .spec import AnalysisSpec, EvaluationSpec

CACHE = "study-run.json"
SUBNET_INPUTS = ("clean", "corrupted")


def split_prefix(split: str) -> str:
    """Metric names carry their split: `clean_error` on test, `val_clean_error` on the validation split."""
    return "" if split == "test" else f"{split}_"


def subnet_metric(kind: str, rho: float) -> str:
    return f"subnet_confidence_{kind}_rho{rho:g}"


def _evaluate(item: PlannedRun, spec: EvaluationSpec, corruption_sets: Mapping[str, str]) -> dict[str, float]:
    from ...evaluate import run_evaluation

    metrics = {}
    for split in spec.splits:
        results = run_evaluation(
            item.run.checkpoint, out=item.run.root / ("eval" if split == "test" else f"eval-{split}"),
            corruptions=corruption_sets.get(split), attacks=spec.attacks, n_examples=spec.n_examples,
            progress=False, split=split)
        prefix = split_prefix(split)
        metrics[f"{prefix}clean_error"] = results["clean_error"]
        if "corruption_error" in results:
            metrics[f"{prefix}corruption_error"] = results["corruption_error"]
        for attack in spec.attacks:
            metrics[f"{prefix}{attack}_error"] = results[f"{attack}_error"]
    return metrics


def _subnet_confidence(item: PlannedRun, spec: AnalysisSpec) -> dict[str, float]:
    """Median true-class confidence of random subnets (Fig. 1) at each width, clean and corrupted."""
    from ..analyze import AnalysisSettings, run_analysis

    metrics = {}
    for rho in spec.rho:
        settings = AnalysisSettings(subnets=spec.subnets, rho=rho, inputs=SUBNET_INPUTS, images=spec.images,
                                    block_subnets=0)
        result = run_analysis(item.run.checkpoint, out=item.run.root / f"analysis-rho{rho:g}", settings=settings,
                              progress=False)
        (model,) = result["subnets"]["models"].values()
        for kind in SUBNET_INPUTS:
            metrics[subnet_metric(kind, rho)] = model[kind]["quantiles"]["0.5"]
    return metrics


def train_and_score(item: PlannedRun, evaluate: EvaluationSpec, analysis: AnalysisSpec,
                    corruption_sets: Mapping[str, str]) -> dict[str, Any]:
    """Train (or skip) one run, then score it unless its cached scores used the same scoring."""
    report = train(item)
    cache = item.run.root / CACHE
    scoring = {"evaluate": _plain(evaluate), "analysis": _plain(analysis), "corruption_sets": dict(corruption_sets)}
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("scoring") == scoring:
            return {**cached, "train_wall_seconds": report["train_wall_seconds"]}
    start = time.perf_counter()
    metrics = {"clean_error": report["clean_error"], **_evaluate(item, evaluate, corruption_sets),
               **_subnet_confidence(item, analysis)}
    scored = {"scoring": scoring, "metrics": metrics, "train_seconds": report["train_seconds"],
              "eval_seconds": round(time.perf_counter() - start, 3)}
    atomic_write_text(cache, json.dumps(scored, indent=2) + "\n")
    return {**scored, "train_wall_seconds": report["train_wall_seconds"]}


def _plain(spec: Any) -> dict[str, Any]:
    import dataclasses

    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(spec).items()}
