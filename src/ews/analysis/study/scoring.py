"""One study run, trained and scored: clean, -C and attack errors per split, and Fig. 1 subnet confidence.

The scores are cached in the run folder (`study-run.json`), each part (evaluation,
Fig. 1 analysis) with the settings it came from, so a resumed study neither retrains nor
re-scores a finished run, and a change to one part's settings re-scores that part only.
Every run is scored on the same images: the -C sets are generated once for the whole
study and passed in by path; every run's subnets are probed in the study's one reading.
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


def metric_range(metric: str) -> tuple[float, float] | None:
    """The values a study metric can take, where its intervals are cut (`stats`); None: a metric of unknown kind.

    Error rates (`*_error`) are 0..100 %, Fig. 1 confidences 0..1, and a search gap, the
    difference of two accuracies in points, -100..100.
    """
    if metric.endswith("_error"):
        return (0.0, 100.0)
    if metric.startswith("subnet_confidence_"):
        return (0.0, 1.0)
    if metric.startswith("search_gap_"):
        return (-100.0, 100.0)
    return None


def metric_unit(metric: str, *, difference: bool) -> str:
    """What a metric's values, or differences of them, are measured in (an axis label)."""
    if metric.endswith("_error"):
        return "percentage points" if difference else "error (%)"
    if metric.startswith("search_gap_"):
        return "points"
    if metric.startswith("subnet_confidence_"):
        return "confidence difference (0-1 scale)" if difference else "confidence (0-1)"
    return ""


def _evaluate(item: PlannedRun, spec: EvaluationSpec, corruption_sets: Mapping[str, str]) -> dict[str, float]:
    from ...evaluation import run_evaluation

    metrics = {}
    for split in spec.splits:
        results = run_evaluation(
            item.run.checkpoint, out=item.run.root / ("eval" if split == "test" else f"eval-{split}"),
            corruptions=corruption_sets.get(split), attacks=spec.attacks, n_examples=spec.n_examples,
            eps=spec.eps, progress=False, split=split, overwrite=True)  # the study's whole evaluation of its own run
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
                                    block_subnets=0, reading=spec.reading)
        result = run_analysis(item.run.checkpoint, out=item.run.root / f"analysis-rho{rho:g}", settings=settings,
                              progress=False)
        (model,) = result["subnets"]["models"].values()
        for kind in SUBNET_INPUTS:
            metrics[subnet_metric(kind, rho)] = model[kind]["quantiles"]["0.5"]
    return metrics


def search_rounds(item: PlannedRun) -> list[dict[str, float]]:
    """Every search round's epoch, gap (points) and policy entropy (nats), from the run's metrics log."""
    return [{"epoch": line["epoch"], "search_gap": 100 * line["search_gap"], "search_entropy": line["search_entropy"]}
            for line in item.run.read_metrics() if line.get("search_gap") is not None]


def search_gap(item: PlannedRun) -> dict[str, float]:
    """The search gap (points: random subnets' D_s accuracy minus the controller's) of the first and last round."""
    gaps = [100 * line["search_gap"] for line in item.run.read_metrics() if line.get("search_gap") is not None]
    return {"search_gap_first": gaps[0], "search_gap_last": gaps[-1]} if gaps else {}


def train_and_score(item: PlannedRun, evaluate: EvaluationSpec, analysis: AnalysisSpec,
                    corruption_sets: Mapping[str, str]) -> dict[str, Any]:
    """Train (or skip) one run, then score each part whose cached scores came from other settings."""
    report = train(item)
    cache = item.run.root / CACHE
    cached = json.loads(cache.read_text()).get("parts", {}) if cache.is_file() else {}
    parts = {
        "evaluate": ({**_plain(evaluate), "corruption_sets": dict(corruption_sets)},
                     lambda: _evaluate(item, evaluate, corruption_sets)),
        "analysis": (_plain(analysis), lambda: _subnet_confidence(item, analysis)),
    }
    scored_parts, rescored = {}, False
    for name, (settings, score) in parts.items():
        if cached.get(name, {}).get("scoring") == settings:
            scored_parts[name] = cached[name]
            continue
        rescored = True
        start = time.perf_counter()
        metrics = score()
        scored_parts[name] = {"scoring": settings, "metrics": metrics, "seconds": round(time.perf_counter() - start, 3)}
        atomic_write_text(cache, json.dumps({"parts": {**cached, **scored_parts}}, indent=2) + "\n")
    metrics = {"clean_error": report["clean_error"], **search_gap(item)}
    for part in scored_parts.values():
        metrics.update(part["metrics"])
    return {"metrics": metrics, "rounds": search_rounds(item), "train_seconds": report["train_seconds"],
            "eval_seconds": round(sum(part["seconds"] for part in scored_parts.values()), 3),
            "train_wall_seconds": report["train_wall_seconds"], "skipped": report["skipped"] and not rescored}


def _plain(spec: Any) -> dict[str, Any]:
    """A part's settings as cached; an unset `eps` is left out, so scores cached before it existed stay valid."""
    import dataclasses

    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(spec).items()
            if not (k == "eps" and v is None)}
