"""Intervals over seeds and differences paired by seed."""

from __future__ import annotations

import math

import pytest

from ews.analysis.study.stats import paired_difference, resolvable_difference, summary


def test_summary_uses_student_t() -> None:
    s = summary([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert s["mean"] == 2.0 and s["sd"] == 1.0 and s["n"] == 3
    assert s["low"] == pytest.approx(2.0 - half) and s["high"] == pytest.approx(2.0 + half)


def test_one_value_has_a_zero_width_interval() -> None:
    assert summary([4.0])["low"] == summary([4.0])["high"] == 4.0


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
