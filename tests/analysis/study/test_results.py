"""`study.json` from scored runs: intervals inside each metric's range, numbers rounded as eval.json's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ews.analysis.study.results import study_results, with_reference
from ews.analysis.study.scoring import metric_range
from ews.analysis.study.spec import build_spec
from ews.errors import ConfigError

from .fakes import three_variants

SPEC = build_spec({"seeds": [1, 2], "reference": "vanilla",
                   "variants": {"vanilla": {"method": "vanilla"}, "ews": {"method": "ews"}}})


CONFIDENCE = "subnet_confidence_clean_rho0.5"


def _scored(confidence: float, **metrics: float) -> dict[str, Any]:
    return {"metrics": {**metrics, CONFIDENCE: confidence}, "train_seconds": 1.0, "eval_seconds": 0.5,
            "train_wall_seconds": 1.5}


def fake_runs() -> dict[str, dict[int, dict[str, Any]]]:
    """Two seeds that spread widely (so t intervals overshoot the range) and float32 noise in a PGD error."""
    return {
        "vanilla": {1: _scored(0.02, clean_error=80.0, pgd20_error=94.9999999254942),
                    2: _scored(0.9, clean_error=95.0, pgd20_error=100.0)},
        "ews": {1: _scored(0.97, clean_error=10.0, pgd20_error=95.0, search_gap_first=0.1234567, search_gap_last=1e-7),
                2: _scored(0.1, clean_error=95.0, pgd20_error=100.0, search_gap_first=4.0, search_gap_last=-2e-7)},
    }


def test_no_interval_leaves_its_metrics_range() -> None:
    results = study_results(SPEC, fake_runs(), wall_seconds=1.0)
    assert results["variants"]["vanilla"]["metrics"]["clean_error"] | {"values": None} == {
        "mean": 87.5, "low": 0.0, "high": 100.0, "sd": 10.6066, "n": 2, "values": None}
    for summaries, difference in ((v["metrics"] for v in results["variants"].values()), False), \
                                 (results["differences"].values(), True):
        for by_metric in summaries:
            for metric, s in by_metric.items():
                low, high = metric_range(metric)
                if difference:
                    low, high = low - high, high - low
                assert low <= s["low"] <= s["mean"] <= s["high"] <= high, (metric, s)


def test_study_json_numbers_are_rounded_to_four_places_and_never_negative_zero() -> None:
    results = study_results(SPEC, fake_runs(), wall_seconds=1.0)
    pgd = results["variants"]["vanilla"]["metrics"]["pgd20_error"]
    assert pgd["values"] == [95.0, 100.0] and pgd["mean"] == 97.5
    assert results["variants"]["ews"]["metrics"]["search_gap_first"]["values"] == [0.1235, 4.0]
    text = json.dumps(results)
    assert "-0.0," not in text and "-0.0}" not in text and "-0.0]" not in text
    assert results["variants"]["ews"]["metrics"]["search_gap_last"]["values"] == [0.0, 0.0]


@pytest.mark.parametrize(("metric", "bounds"), [("clean_error", (0.0, 100.0)), ("val_pgd20_error", (0.0, 100.0)),
                                                ("subnet_confidence_corrupted_rho0.7", (0.0, 1.0)),
                                                ("search_gap_last", (-100.0, 100.0)), ("train_seconds", None)])
def test_metric_ranges(metric: str, bounds: tuple[float, float] | None) -> None:
    assert metric_range(metric) == bounds


def test_search_rounds_summarise_each_rounds_gap_and_entropy_over_seeds() -> None:
    runs = fake_runs()
    runs["ews"][1]["rounds"] = [{"epoch": 1, "search_gap": 0.0, "search_entropy": 31.0},
                                {"epoch": 2, "search_gap": 3.0, "search_entropy": 30.0}]
    runs["ews"][2]["rounds"] = [{"epoch": 1, "search_gap": 2.0, "search_entropy": 31.2},
                                {"epoch": 2, "search_gap": 5.0, "search_entropy": 29.0}]
    rounds = study_results(SPEC, runs, wall_seconds=1.0)["search_rounds"]
    assert list(rounds) == ["ews"]  # vanilla never searched
    first, second = rounds["ews"]
    assert (first["epoch"], first["search_gap"]["mean"], first["search_entropy"]["mean"]) == (1, 1.0, 31.1)
    assert (second["search_gap"]["mean"], second["search_gap"]["n"], second["search_entropy"]["mean"]) == (4.0, 2, 29.5)
    assert -100.0 <= second["search_gap"]["low"] <= 4.0 <= second["search_gap"]["high"] <= 100.0


def test_with_reference_pairs_the_variants_as_a_study_with_that_reference_would() -> None:
    spec, runs = three_variants(seeds=(3, 1, 2))
    again = with_reference(study_results(spec, runs, wall_seconds=1.0), "ews")
    direct = study_results(build_spec({**spec.to_dict(), "reference": "ews"}), runs, wall_seconds=1.0)
    assert again["reference"] == again["study"]["reference"] == "ews"
    assert again["differences"] == direct["differences"]
    assert set(again["differences"]) == {"vanilla", "ews-random"}
    # ews-random minus ews seed by seed (seeds 1, 2, 3): -0.5, +1.0, +0.5
    assert again["differences"]["ews-random"]["clean_error"]["mean"] == pytest.approx(1 / 3, abs=1e-4)
    assert again["differences"]["ews-random"]["clean_error"]["seeds"] == [1, 2, 3]


def test_with_reference_refuses_a_variant_the_study_does_not_have() -> None:
    spec, runs = three_variants(seeds=(3, 1, 2))
    with pytest.raises(ConfigError, match=r"'ews-l1' is not a variant of this study; its variants: vanilla, ews, "):
        with_reference(study_results(spec, runs, wall_seconds=1.0), "ews-l1")


def test_with_reference_refuses_values_it_cannot_assign_to_seeds() -> None:
    spec, runs = three_variants(seeds=(3, 1, 2))
    results = study_results(spec, runs, wall_seconds=1.0)
    results["variants"]["ews"]["metrics"]["clean_error"]["values"].pop()
    with pytest.raises(ConfigError, match="keeps 2 values of clean_error for the 3 seeds of ews"):
        with_reference(results, "vanilla")
