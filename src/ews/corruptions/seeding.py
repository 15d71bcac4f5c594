"""Per-image random streams for corruption generation, independent of how work is split.

A -C set must come out byte-identical whether one process or sixteen write it, so every
image draws from its own generator keyed by (seed, corruption, severity, image index),
never from a stream shared across images.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .names import ALL


def image_rng(seed: int, *, corruption: str, severity: int, index: int) -> np.random.Generator:
    """The generator for one image of one corruption at one severity.

    The corruption enters by its position in `names.ALL`, so the stream of an image does
    not depend on which other corruptions a run asks for.
    """
    key = (ALL.index(corruption), severity, index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@contextmanager
def numpy_global_seed(rng: np.random.Generator) -> Iterator[None]:
    """Seed numpy's global generator from `rng` for the block, then put the caller's state back.

    `imagecorruptions` draws from `np.random.*`; seeding it from the image's own
    generator makes those draws reproducible without disturbing the caller's state.
    """
    saved = np.random.get_state()
    np.random.seed(int(rng.integers(2**32)))
    try:
        yield
    finally:
        np.random.set_state(saved)
