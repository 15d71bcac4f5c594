"""The corruption benchmarks' scores, as pure arithmetic on errors and predictions.

Units follow what `ews` reports: a model's errors come in percent and scores are
returned in percent; the AlexNet normalisers are fractions, as published in
`names.ALEXNET_ERRORS` (Hendrycks & Dietterich 2019), and flip probabilities are
fractions in [0, 1] (FR and mFR are ratios, so only their two inputs must agree).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from . import names

SeverityErrors = Mapping[str, Sequence[float]]  # corruption -> error (%) per severity


def report_order(corruptions: Iterable[str], *, known: Sequence[str] = names.ALL) -> list[str]:
    """The benchmark's names in its order (ImageNet-C's 15, then the 4 extra, by default); any other after, sorted."""
    given = set(corruptions)
    ordered = [name for name in known if name in given]
    return ordered + sorted(given - set(known))


def mean_error(errors: SeverityErrors, corruptions: Sequence[str]) -> float | None:
    """Mean error (%) over `corruptions` and all their severities; None unless every one was scored.

    A mean over a subset of the 15 is not the benchmark's corruption error, so it is
    never reported under that name.
    """
    if not corruptions or any(name not in errors for name in corruptions):
        return None
    return float(np.mean([np.mean(errors[name]) for name in corruptions]))


def _require(errors: SeverityErrors, corruptions: Sequence[str], table: Mapping[str, float]) -> None:
    missing = [name for name in corruptions if name not in errors]
    if missing:
        raise ValueError(f"no errors for {', '.join(missing)}")
    unknown = [name for name in corruptions if name not in table]
    if unknown:
        raise ValueError(f"no AlexNet normaliser for {', '.join(unknown)}")


def ce(errors: SeverityErrors, *, alexnet: Mapping[str, float] = names.ALEXNET_ERRORS) -> dict[str, float]:
    """CE_c = sum_s E(f, c, s) / sum_s E(AlexNet, c, s), in percent, for every normalisable corruption.

    `alexnet` holds AlexNet's error averaged over the same severities, so the ratio of
    sums is the ratio of means. Corruptions without a normaliser are left out.
    """
    return {name: float(np.mean(values)) / alexnet[name] for name, values in errors.items() if name in alexnet}


def relative_ce(
    errors: SeverityErrors,
    *,
    clean_error: float,
    alexnet: Mapping[str, float] = names.ALEXNET_ERRORS,
    alexnet_clean_error: float = names.ALEXNET_CLEAN_ERROR,
) -> dict[str, float]:
    """Relative CE_c: how much error the corruption adds over clean data, relative to AlexNet's, in percent.

    (mean_s E(f, c, s) - E_clean(f)) / (mean_s E(AlexNet, c, s) - E_clean(AlexNet)); `clean_error` in percent.
    """
    return {
        name: (float(np.mean(values)) - clean_error) / (alexnet[name] - alexnet_clean_error)
        for name, values in errors.items()
        if name in alexnet
    }


def mce(
    errors: SeverityErrors,
    *,
    corruptions: Sequence[str] = names.BENCHMARK,
    alexnet: Mapping[str, float] = names.ALEXNET_ERRORS,
) -> float:
    """Mean corruption error (%): the mean of CE_c over the benchmark's 15 corruptions."""
    _require(errors, corruptions, alexnet)
    per = ce({name: errors[name] for name in corruptions}, alexnet=alexnet)
    return float(np.mean(list(per.values())))


def relative_mce(
    errors: SeverityErrors,
    *,
    clean_error: float,
    corruptions: Sequence[str] = names.BENCHMARK,
    alexnet: Mapping[str, float] = names.ALEXNET_ERRORS,
    alexnet_clean_error: float = names.ALEXNET_CLEAN_ERROR,
) -> float:
    """Relative mCE (%): the mean of relative CE_c over the benchmark's 15 corruptions."""
    _require(errors, corruptions, alexnet)
    per = relative_ce({name: errors[name] for name in corruptions}, clean_error=clean_error, alexnet=alexnet,
                      alexnet_clean_error=alexnet_clean_error)
    return float(np.mean(list(per.values())))


def _sequence_flips(predictions: np.ndarray, *, noise: bool, difficulty: int) -> float:
    """Fraction of compared frame pairs of one sequence whose top-1 class differs."""
    if noise:
        return float(np.mean(predictions[1:] != predictions[0]))
    return float(np.mean(predictions[difficulty:] != predictions[:-difficulty]))


def flip_probability(
    predictions: ArrayLike | Sequence[ArrayLike], *, noise: bool, difficulty: int = 1
) -> float:
    """ImageNet-P flip probability FP in [0, 1], averaged over sequences (Hendrycks & Dietterich 2019).

    `predictions` is a (sequences, frames) integer array of top-1 classes, or a list of
    1-D arrays when sequences differ in length. Noise sequences compare every frame with
    the first one (the noise is redrawn per frame, so neighbours are no closer than any
    pair); the others compare frames `difficulty` apart (frames t and t + difficulty).
    """
    if difficulty < 1:
        raise ValueError(f"difficulty must be >= 1, got {difficulty}")
    sequences = [np.asarray(p).reshape(-1) for p in predictions]
    if not sequences:
        raise ValueError("no sequences to score")
    needed = 2 if noise else difficulty + 1
    short = min(len(p) for p in sequences)
    if short < needed:
        raise ValueError(f"a sequence has {short} frames; {needed} are needed to compare frames")
    return float(np.mean([_sequence_flips(p, noise=noise, difficulty=difficulty) for p in sequences]))


def flip_rates(flips: Mapping[str, float], alexnet: Mapping[str, float]) -> dict[str, float]:
    """FR_p = FP(f, p) / FP(AlexNet, p), in percent, for every perturbation in `flips`."""
    missing = [name for name in flips if name not in alexnet]
    if missing:
        raise ValueError(f"no AlexNet flip probability for {', '.join(missing)}")
    return {name: 100.0 * value / alexnet[name] for name, value in flips.items()}


def mean_flip_rate(flips: Mapping[str, float], alexnet: Mapping[str, float]) -> float | None:
    """mFR (%): the mean of FR_p over the benchmark's 10 perturbations; None unless all were scored.

    Other sequences of the release (speckle_noise, gaussian_noise_2, ...) keep their own FR
    but stay out of the mean, as a partial or widened mean is not the benchmark's mFR.
    """
    if any(name not in flips for name in names.PERTURBATIONS):
        return None
    rates = flip_rates({name: flips[name] for name in names.PERTURBATIONS}, alexnet)
    return float(np.mean(list(rates.values())))


def mean_flip_probability(flips: Mapping[str, float]) -> float | None:
    """Mean flip probability (%) over the benchmark's perturbations that were scored; None if none was."""
    scored = [100.0 * flips[name] for name in names.PERTURBATIONS if name in flips]
    return float(np.mean(scored)) if scored else None
