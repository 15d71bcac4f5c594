"""Means over seeds with 95% intervals, and differences paired by seed.

Seeds are few (5 is typical), so intervals use Student's t, not the normal
approximation; a difference is paired (same seed: same data order, same initial
weights for runs that share a model) because seed-to-seed spread is several times
larger than the effects being compared.

A metric with a known range (error rates 0..100 %, see `scoring.metric_range`) gets its
t interval cut at that range: with few seeds the t interval ignores that a mean cannot
leave it (two seeds at 80 and 95 % give 87.5 [-7.8, 182.8]). The true mean always lies in
the range, so whenever the t interval holds it the cut interval holds it too: the cut keeps
the 95% coverage and removes only values no mean can take. A paired difference of two
metrics in [a, b] lies in [a - b, b - a] (error rates: -100..100 points) and is cut there.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from scipy import stats

LEVEL = 0.95
Bounds = tuple[float, float]  # the values a metric can take (low, high)


def summary(values: Sequence[float], *, level: float = LEVEL,
            bounds: Bounds | None = None) -> dict[str, float | list[float] | int]:
    """`mean`, `low`/`high` (two-sided t interval of the mean, cut at `bounds`), `sd`, `n` and the `values`.

    One value leaves the spread unknown: `sd`, `low` and `high` are None (undefined), never a
    zero-width interval that would read as certainty.
    """
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "sd": None, "n": n, "values": values}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "low": low, "high": high, "sd": sd, "n": n, "values": values}


def difference_bounds(bounds: Bounds | None) -> Bounds | None:
    """Where `x - y` lies for x and y in `bounds`: [low - high, high - low]."""
    return None if bounds is None else (bounds[0] - bounds[1], bounds[1] - bounds[0])


def paired_difference(ours: Mapping[int, float], reference: Mapping[int, float], *, level: float = LEVEL,
                      bounds: Bounds | None = None) -> dict[str, float | list[float] | int] | None:
    """`ours - reference` over the seeds both have, with its t interval and a two-sided paired t-test `p`.

    `bounds` is the range of the metric itself; the interval is cut at the range of a difference
    of two such values (`difference_bounds`). None when no seed is shared.
    """
    seeds = sorted(set(ours) & set(reference))
    if not seeds:
        return None
    result = summary([ours[s] - reference[s] for s in seeds], level=level, bounds=difference_bounds(bounds))
    result["seeds"] = seeds
    sd, n = result["sd"], result["n"]
    if n > 1 and sd is not None and sd > 0:
        result["p"] = float(2 * stats.t.sf(abs(result["mean"]) / (sd / math.sqrt(n)), n - 1))
    else:
        result["p"] = None
    return result


def format_p(p: float | None) -> str:
    """`p=0.03`, `p < 0.001` below 0.001 (never `p=0`), or '' when no test was possible."""
    if p is None:
        return ""
    return "p < 0.001" if p < 0.001 else f"p={p:.2g}"


def resolvable_difference(sd_of_differences: float, n: int, *, level: float = LEVEL) -> float:
    """The half-width of the paired interval with `n` seeds: differences smaller than this are not resolved."""
    if n < 2:
        return math.inf
    return float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd_of_differences / math.sqrt(n)
