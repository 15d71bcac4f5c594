"""Intervals over seeds and differences paired by seed."""

from __future__ import annotations

import math

import pytest

from ews.analysis.study.report import _means_table
from ews.analysis.study.stats import format_p, paired_difference, resolvable_difference, summary


def test_summary_uses_student_t() -> None:
    s = summary([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert s["mean"] == 2.0 and s["sd"] == 1.0 and s["n"] == 3
    assert s["low"] == pytest.approx(2.0 - half) and s["high"] == pytest.approx(2.0 + half)


def test_one_value_has_an_undefined_interval_not_a_zero_width_one() -> None:
    s = summary([4.0])
    assert s["mean"] == 4.0 and s["low"] is None and s["high"] is None and s["sd"] is None
    assert paired_difference({1: 3.0}, {1: 1.0})["p"] is None


def test_one_seed_reads_undefined_in_the_report() -> None:
    table = _means_table({"metrics": ["clean_error"],
                          "variants": {"ews": {"seeds": [1], "metrics": {"clean_error": summary([4.0])}}}})
    assert table.rows[0][2] == "4.00 [undefined: 1 seed]"


@pytest.mark.parametrize(("p", "text"), [(0.0, "p < 0.001"), (1e-7, "p < 0.001"), (0.00099, "p < 0.001"),
                                          (0.001, "p=0.001"), (0.0312, "p=0.031"), (None, "")])
def test_p_is_never_printed_as_zero(p: float | None, text: str) -> None:
    assert format_p(p) == text


def test_pairing_removes_the_seed_effect() -> None:
    reference = {1: 10.0, 2: 20.0, 3: 30.0, 4: 40.0}
    ours = {seed: value - 1.0 + 0.1 * (seed % 2) for seed, value in reference.items()}
    d = paired_difference(ours, reference)
    assert d["mean"] == pytest.approx(-0.95) and d["high"] < 0 and d["p"] < 0.001
    assert d["seeds"] == [1, 2, 3, 4]


def test_only_shared_seeds_are_paired() -> None:
    d = paired_difference({1: 1.0, 2: 2.0, 9: 5.0}, {1: 0.0, 2: 0.0, 3: 0.0})
    assert d["seeds"] == [1, 2] and d["mean"] == 1.5
    assert paired_difference({1: 1.0}, {2: 1.0}) is None


def test_resolvable_difference_shrinks_with_seeds() -> None:
    assert resolvable_difference(1.0, 1) == math.inf
    assert resolvable_difference(1.0, 5) > resolvable_difference(1.0, 10) > 0


def test_an_interval_is_cut_at_the_metrics_range_and_keeps_its_inside() -> None:
    """Two seeds at 80 and 95 %: the t interval is 87.5 +- 95.3; an error rate's mean lies in [0, 100]."""
    raw = summary([80.0, 95.0])
    assert raw["low"] == pytest.approx(-7.80, abs=0.01) and raw["high"] == pytest.approx(182.80, abs=0.01)
    cut = summary([80.0, 95.0], bounds=(0.0, 100.0))
    assert (cut["mean"], cut["low"], cut["high"], cut["sd"]) == (87.5, 0.0, 100.0, raw["sd"])
    inside = summary([50.0, 52.0, 51.0], bounds=(0.0, 100.0))
    assert (inside["low"], inside["high"]) == (summary([50.0, 52.0, 51.0])["low"], summary([50.0, 52.0, 51.0])["high"])


def test_a_paired_difference_of_error_rates_is_cut_at_minus_and_plus_100() -> None:
    d = paired_difference({1: 10.0, 2: 95.0}, {1: 80.0, 2: 95.0}, bounds=(0.0, 100.0))
    assert d["mean"] == -35.0 and (d["low"], d["high"]) == (-100.0, 100.0)
    assert d["p"] == paired_difference({1: 10.0, 2: 95.0}, {1: 80.0, 2: 95.0})["p"]  # the test is not cut
