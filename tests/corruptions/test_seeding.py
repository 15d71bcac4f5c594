"""Per-image generators: keyed by position, never by how work is split."""

from __future__ import annotations

import numpy as np

from ews.corruptions.seeding import image_rng, numpy_global_seed


def _draw(seed: int, corruption: str = "fog", severity: int = 1, index: int = 0) -> float:
    return float(image_rng(seed, corruption=corruption, severity=severity, index=index).random())


def test_each_key_part_changes_the_stream_and_the_same_key_repeats_it() -> None:
    base = _draw(0)
    assert _draw(0) == base
    assert len({base, _draw(1), _draw(0, corruption="snow"), _draw(0, severity=2), _draw(0, index=1)}) == 5


def test_global_seed_is_reproducible_and_restores_the_callers_state() -> None:
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    with numpy_global_seed(np.random.default_rng(5)):
        first = np.random.random()
    assert np.random.random() == expected_next
    with numpy_global_seed(np.random.default_rng(5)):
        assert np.random.random() == first
