"""A scored three-variant study (vanilla, EWS, random subnets) over seeds 1-3, for tests of study reports."""

from __future__ import annotations

from typing import Any

from ews.analysis.study.spec import StudySpec, build_spec

CLEAN_ERRORS = {"vanilla": (20.0, 22.0, 19.5), "ews": (19.0, 21.5, 18.0), "ews-random": (19.5, 21.0, 19.0)}


def three_variants(seeds: tuple[int, ...] = (1, 2, 3)) -> tuple[StudySpec, dict[str, dict[int, dict[str, Any]]]]:
    """The spec and each run's scores; `seeds` is the order the runs arrive in (the values follow it)."""
    spec = build_spec({"seeds": [1, 2, 3], "reference": "vanilla",
                       "variants": {"vanilla": {"method": "vanilla"}, "ews": {"method": "ews"},
                                    "ews-random": {"method": "ews", "search.strategy": "random"}}})
    runs = {name: {seed: {"metrics": {"clean_error": value}, "train_seconds": 1.0, "eval_seconds": 0.5}
                   for seed, value in zip(seeds, values)} for name, values in CLEAN_ERRORS.items()}
    return spec, runs
