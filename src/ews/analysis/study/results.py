"""`study.json`: every metric of every variant summarised over seeds, and paired with the reference."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ...errors import ConfigError
from ...runs.documents import rounded
from .scoring import metric_range
from .spec import StudySpec
from .stats import paired_difference, summary


def metric_names(runs: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> list[str]:
    """Metrics in first-seen order over all runs."""
    seen: dict[str, None] = {}
    for by_seed in runs.values():
        for scored in by_seed.values():
            seen.update(dict.fromkeys(scored["metrics"]))
    return list(seen)


def _values(by_seed: Mapping[int, Mapping[str, Any]], metric: str) -> dict[int, float]:
    return {seed: float(s["metrics"][metric]) for seed, s in by_seed.items()
            if s["metrics"].get(metric) is not None}


def _timing(runs: Mapping[str, Mapping[int, Mapping[str, Any]]], wall_seconds: float) -> dict[str, Any]:
    per_run = {f"{variant}/seed{seed}": {"train_seconds": s["train_seconds"], "eval_seconds": s["eval_seconds"]}
               for variant, by_seed in runs.items() for seed, s in by_seed.items()}
    return {"wall_seconds": round(wall_seconds, 1), "runs": per_run,
            "train_seconds": round(sum(r["train_seconds"] for r in per_run.values()), 1),
            "eval_seconds": round(sum(r["eval_seconds"] for r in per_run.values()), 1)}


def search_rounds(runs: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Per variant that searched, per round (by epoch): the search gap (points) and the policy's entropy (nats),
    each summarised over the seeds that reached that round: whether the controller learns inside a run."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, by_seed in runs.items():
        epochs: dict[int, list[Mapping[str, Any]]] = {}
        for scored in by_seed.values():
            for line in scored.get("rounds", []):
                epochs.setdefault(int(line["epoch"]), []).append(line)
        if epochs:
            found[name] = [{"epoch": epoch,
                            "search_gap": rounded(summary([r["search_gap"] for r in lines], bounds=(-100.0, 100.0))),
                            "search_entropy": rounded(summary([r["search_entropy"] for r in lines]))}
                           for epoch, lines in sorted(epochs.items())]
    return found


def _paired(values: Mapping[str, Mapping[str, Mapping[int, float]]], reference: str,
            metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every other variant minus `reference`, metric by metric, paired over the seeds both have."""
    differences: dict[str, dict[str, Any]] = {}
    for name, by_metric in values.items():
        if name == reference:
            continue
        paired = {m: paired_difference(by_metric.get(m, {}), values[reference].get(m, {}), bounds=metric_range(m))
                  for m in metrics}
        differences[name] = {m: rounded(d) for m, d in paired.items() if d is not None}
    return differences


def study_results(spec: StudySpec, runs: Mapping[str, Mapping[int, Mapping[str, Any]]], *,
                  wall_seconds: float) -> dict[str, Any]:
    """`variants.<v>.metrics.<m>` = mean/low/high/sd/n/values over seeds (values in seed order, so that
    `with_reference` can pair them again); `differences.<v>.<m>` paired by seed.

    Intervals are cut at each metric's range (`scoring.metric_range`, why in `stats`).
    """
    metrics = metric_names(runs)
    values = {name: {m: v for m in metrics if (v := _values(by_seed, m))} for name, by_seed in runs.items()}
    variants = {
        name: {"overrides": spec.variants[name], "seeds": sorted(runs[name]),
               "metrics": {m: rounded(summary([v[seed] for seed in sorted(v)], bounds=metric_range(m)))
                           for m, v in by_metric.items()}}
        for name, by_metric in values.items()
    }
    differences = _paired(values, spec.reference, metrics) if spec.reference is not None else {}
    return {"study": spec.to_dict(), "metrics": metrics, "variants": variants, "reference": spec.reference,
            "differences": differences, "search_rounds": search_rounds(runs), "timing": _timing(runs, wall_seconds)}


def _kept_values(name: str, variant: Mapping[str, Any], metric: str) -> dict[int, float]:
    """One variant's per-seed values of one metric as `study.json` keeps them (in the order of its seeds)."""
    kept, seeds = variant["metrics"][metric]["values"], variant["seeds"]
    if len(kept) != len(seeds):
        raise ConfigError(f"study.json keeps {len(kept)} values of {metric} for the {len(seeds)} seeds of {name} "
                          f"and does not say whose; rebuild it with `ews sweep --study ...`")
    return dict(zip(seeds, kept, strict=True))


def with_reference(results: Mapping[str, Any], reference: str) -> dict[str, Any]:
    """The same study paired with another of its variants, from the per-seed values in `study.json`.

    A study pairs every variant with one reference (usually vanilla), but the paper also compares variants
    with each other: searched against random subnets (Table 5), each lambda and rho against the default's
    (Fig. 6). Nothing is retrained or rescored; the values are `study.json`'s, rounded to four places, so a
    difference can move in its last printed place.
    """
    variants = results["variants"]
    if reference not in variants:
        raise ConfigError(f"--reference {reference!r} is not a variant of this study; its variants: "
                          f"{', '.join(variants)}")
    values = {name: {m: _kept_values(name, v, m) for m in v["metrics"]} for name, v in variants.items()}
    return {**results, "study": {**results["study"], "reference": reference}, "reference": reference,
            "differences": _paired(values, reference, results["metrics"])}
