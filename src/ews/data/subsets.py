"""Deterministic subsets: stratified ones given only the labels of a dataset, and the first N images of a stream."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from torch import Tensor

from ..errors import DataError


def _by_class(labels: Sequence[int]) -> dict[int, list[int]]:
    """Indices of each class, in dataset order, classes sorted by label."""
    groups: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[int(label)].append(index)
    return dict(sorted(groups.items()))


def _largest_remainder(counts: dict[int, int], n: int) -> dict[int, int]:
    """Split `n` seats in proportion to `counts`, summing to exactly `n`.

    Seats left after flooring go to the largest remainders (ties: smaller label);
    when `n` covers every class, a class left empty takes a seat from the largest one,
    so that a small limit still shows the model every class.
    """
    total = sum(counts.values())
    seats = {label: n * count // total for label, count in counts.items()}
    by_remainder = sorted(counts, key=lambda label: (-(n * counts[label] % total), label))
    for label in by_remainder[: n - sum(seats.values())]:
        seats[label] += 1
    if n >= len(counts):
        for label in [label for label, k in seats.items() if k == 0]:
            richest = max(seats, key=lambda other: (seats[other], -other))
            seats[richest] -= 1
            seats[label] = 1
    return seats


def stratified_limit(labels: Sequence[int], n: int) -> list[int]:
    """The first `n` samples, keeping class proportions: the same subset on every run.

    Each class contributes its first samples in dataset order; `n` at least the number
    of classes gives every class at least one; `n` past the end keeps everything.
    """
    if n < 1:
        raise DataError(f"data limit must be at least 1, got {n}")
    if n >= len(labels):
        return list(range(len(labels)))
    groups = _by_class(labels)
    seats = _largest_remainder({label: len(idx) for label, idx in groups.items()}, n)
    return sorted(i for label, idx in groups.items() for i in idx[: seats[label]])


def stratified_fraction(labels: Sequence[int], fraction: float, *, seed: int) -> list[int]:
    """A random `fraction` of every class (at least one each), fixed by `seed`.

    Used for held-out sets such as the search set, which must not drift between runs
    nor depend on the global RNG state.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"subset fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for idx in _by_class(labels).values():
        k = max(1, round(fraction * len(idx)))
        chosen.extend(int(i) for i in rng.choice(idx, size=k, replace=False))
    return sorted(chosen)


def take_images(batches: Iterable[tuple[Tensor, Tensor]], n: int) -> list[tuple[Tensor, Tensor]]:
    """The first `n` images of a stream of batches, as batches (RobustBench attacks the first N test images)."""
    kept, seen = [], 0
    for x, y in batches:
        take = min(len(y), n - seen)
        kept.append((x[:take], y[:take]))
        seen += take
        if seen >= n:
            break
    return kept
