"""Stratified subsets: exact sizes, class balance, determinism."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ews.data import stratified_fraction, stratified_limit
from ews.errors import DataError

LABELS = [0] * 50 + [1] * 30 + [2] * 20  # 100 samples, classes in 5:3:2


def test_limit_keeps_proportions_and_exact_count() -> None:
    chosen = stratified_limit(LABELS, 10)
    assert len(chosen) == 10
    assert Counter(LABELS[i] for i in chosen) == {0: 5, 1: 3, 2: 2}


def test_limit_takes_each_class_first_samples() -> None:
    labels = [1, 0, 1, 0, 1, 0, 1, 0]
    assert stratified_limit(labels, 4) == [0, 1, 2, 3]


def test_limit_past_the_end_keeps_everything() -> None:
    assert stratified_limit(LABELS, 1000) == list(range(100))


def test_limit_gives_a_rare_class_one_sample() -> None:
    labels = [0] * 98 + [1, 2]
    chosen = stratified_limit(labels, 5)
    assert len(chosen) == 5
    assert {labels[i] for i in chosen} == {0, 1, 2}


@pytest.mark.parametrize("n", [0, -3])
def test_limit_below_one_is_a_data_error(n: int) -> None:
    with pytest.raises(DataError, match=str(n)):
        stratified_limit(LABELS, n)


@given(st.lists(st.integers(0, 6), max_size=80), st.integers(1, 100))
def test_limit_properties(labels: list[int], n: int) -> None:
    chosen = stratified_limit(labels, n)
    assert chosen == sorted(set(chosen))
    assert len(chosen) == min(n, len(labels))
    counts, taken = Counter(labels), Counter(labels[i] for i in chosen)
    for label, k in taken.items():
        first_k = [i for i, y in enumerate(labels) if y == label][:k]
        assert [i for i in chosen if labels[i] == label] == first_k
    if n >= len(counts):
        assert set(taken) == set(counts)
    if n < len(labels) and all(n * c >= len(labels) for c in counts.values()):
        for label, c in counts.items():
            assert abs(taken[label] - n * c / len(labels)) < 1


def test_fraction_is_fixed_by_seed() -> None:
    assert stratified_fraction(LABELS, 0.1, seed=3) == stratified_fraction(LABELS, 0.1, seed=3)
    assert stratified_fraction(LABELS, 0.1, seed=3) != stratified_fraction(LABELS, 0.1, seed=4)


def test_fraction_of_each_class() -> None:
    chosen = stratified_fraction(LABELS, 0.1, seed=0)
    assert chosen == sorted(set(chosen))
    assert Counter(LABELS[i] for i in chosen) == {0: 5, 1: 3, 2: 2}


def test_fraction_keeps_at_least_one_per_class() -> None:
    labels = [0] * 200 + [1, 2]
    chosen = stratified_fraction(labels, 0.05, seed=0)
    assert Counter(labels[i] for i in chosen) == {0: 10, 1: 1, 2: 1}


def test_fraction_ignores_global_rng() -> None:
    torch.manual_seed(1)
    first = stratified_fraction(LABELS, 0.2, seed=7)
    torch.manual_seed(2)
    assert stratified_fraction(LABELS, 0.2, seed=7) == first


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_bad_fraction_is_a_data_error(fraction: float) -> None:
    with pytest.raises(DataError, match="fraction"):
        stratified_fraction(LABELS, fraction, seed=0)
