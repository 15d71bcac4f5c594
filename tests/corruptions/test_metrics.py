"""Benchmark arithmetic: CE/mCE, relative mCE, flip probability and mFR against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from ews.corruptions import metrics, names


def _alexnet_like(scale: float = 1.0) -> dict[str, list[float]]:
    """Errors (%) equal to AlexNet's own at every severity, times `scale`."""
    return {name: [100.0 * scale * names.ALEXNET_ERRORS[name]] * 5 for name in names.BENCHMARK}


def test_alexnet_itself_scores_100_on_mce_and_relative_mce() -> None:
    errors = _alexnet_like()
    assert metrics.mce(errors) == pytest.approx(100.0)
    assert metrics.relative_mce(errors, clean_error=100 * names.ALEXNET_CLEAN_ERROR) == pytest.approx(100.0)
    assert metrics.mce(_alexnet_like(0.5)) == pytest.approx(50.0)


def test_ce_and_relative_ce_match_a_hand_computed_example() -> None:
    errors = {"gaussian_noise": [10.0, 20.0, 30.0, 40.0, 50.0], "fog": [20.0] * 5, "mine": [99.0] * 5}
    # CE = mean error / AlexNet's mean error: 30 / 0.886428 and 20 / 0.819324.
    assert metrics.ce(errors) == pytest.approx({"gaussian_noise": 33.843696, "fog": 24.410368})
    # relative CE = (mean - clean) / (AlexNet mean - AlexNet clean), clean error 10 %.
    relative = metrics.relative_ce(errors, clean_error=10.0)
    assert relative == pytest.approx({"gaussian_noise": 20.0 / (0.886428 - 0.4348),
                                      "fog": 10.0 / (0.819324 - 0.4348)})


def test_mce_is_the_mean_of_ce_over_the_15() -> None:
    errors = _alexnet_like()
    errors["fog"] = [0.0] * 5
    errors["saturate"] = [50.0] * 5  # extra corruptions never enter mCE
    assert metrics.mce(errors) == pytest.approx(100.0 * 14 / 15)
    assert metrics.relative_mce(errors, clean_error=100 * names.ALEXNET_CLEAN_ERROR) == pytest.approx(
        (14 * 100.0 + (0.0 - 43.48) / (0.819324 - 0.4348)) / 15)


def test_mce_refuses_a_partial_set() -> None:
    errors = _alexnet_like()
    del errors["frost"]
    with pytest.raises(ValueError, match="frost"):
        metrics.mce(errors)
    with pytest.raises(ValueError, match="frost"):
        metrics.relative_mce(errors, clean_error=5.0)


def test_mean_error_needs_every_named_corruption() -> None:
    errors = {"fog": [10.0, 30.0], "snow": [40.0, 40.0]}
    assert metrics.mean_error(errors, ["fog", "snow"]) == pytest.approx(30.0)
    assert metrics.mean_error(errors, ["fog", "snow", "frost"]) is None
    assert metrics.mean_error(errors, []) is None


def test_report_order_puts_the_benchmark_first_then_extras_then_the_rest() -> None:
    assert metrics.report_order(["zzz", "saturate", "fog", "gaussian_noise", "aaa"]) == [
        "gaussian_noise", "fog", "saturate", "aaa", "zzz"]


PREDICTIONS = np.array([
    [0, 1, 1, 0, 0],  # consecutive: 2 flips of 4; vs first: 2 of 4; step 2: (0,1) (1,0) (1,0) -> 1 of 3
    [3, 3, 3, 3, 3],  # never flips
])


def test_flip_probability_noise_compares_with_the_first_frame() -> None:
    assert metrics.flip_probability(PREDICTIONS, noise=True) == pytest.approx((2 / 4 + 0) / 2)
    assert metrics.flip_probability([[5, 6, 6, 6]], noise=True) == pytest.approx(1.0)
    assert metrics.flip_probability([[5, 6, 6, 6]], noise=False) == pytest.approx(1 / 3)


def test_flip_probability_compares_frames_difficulty_apart() -> None:
    assert metrics.flip_probability(PREDICTIONS, noise=False) == pytest.approx((2 / 4 + 0) / 2)
    # pairs (0,2) (1,3) (2,4): 0->1 flip, 1->0 flip, 1->0 flip
    assert metrics.flip_probability(PREDICTIONS, noise=False, difficulty=2) == pytest.approx((3 / 3 + 0) / 2)
    assert metrics.flip_probability([[0, 1, 1, 0, 0]], noise=False, difficulty=3) == pytest.approx(1 / 2)
    # noise ignores difficulty: always against the first frame
    assert metrics.flip_probability(PREDICTIONS, noise=True, difficulty=3) == pytest.approx(0.25)


def test_flip_probability_averages_ragged_sequences_equally() -> None:
    assert metrics.flip_probability([[0, 1], [2, 2, 2, 2]], noise=False) == pytest.approx(0.5)


def test_flip_probability_rejects_sequences_too_short_to_compare() -> None:
    with pytest.raises(ValueError, match="3 are needed"):
        metrics.flip_probability([[0, 1]], noise=False, difficulty=2)
    with pytest.raises(ValueError, match="difficulty"):
        metrics.flip_probability([[0, 1]], noise=False, difficulty=0)
    with pytest.raises(ValueError, match="no sequences"):
        metrics.flip_probability([], noise=True)


def test_flip_rate_normalises_by_alexnet() -> None:
    flips = {"rotate": 0.02, "gaussian_noise": 0.10}
    alexnet = {"rotate": 0.08, "gaussian_noise": 0.20, "tilt": 0.5}
    assert metrics.flip_rates(flips, alexnet) == pytest.approx({"rotate": 25.0, "gaussian_noise": 50.0})
    with pytest.raises(ValueError, match="scale"):
        metrics.flip_rates({"scale": 0.1}, alexnet)


def test_mfr_is_the_mean_over_the_benchmarks_ten_perturbations_only() -> None:
    flips = {name: 0.01 * (i + 1) for i, name in enumerate(names.PERTURBATIONS)}
    alexnet = {name: 0.1 for name in [*names.PERTURBATIONS, "speckle_noise"]}
    assert metrics.mean_flip_rate(flips, alexnet) == pytest.approx(55.0)  # FR 10, 20, ..., 100
    assert metrics.mean_flip_rate({**flips, "speckle_noise": 0.9}, alexnet) == pytest.approx(55.0)
    assert metrics.mean_flip_probability({**flips, "speckle_noise": 0.9}) == pytest.approx(5.5)
    partial = {name: value for name, value in flips.items() if name != "tilt"}
    assert metrics.mean_flip_rate(partial, alexnet) is None
    assert metrics.mean_flip_probability({"speckle_noise": 0.9}) is None
