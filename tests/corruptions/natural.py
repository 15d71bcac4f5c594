"""Natural-looking test images for the corruption tests: colour, edges and smooth regions."""

from __future__ import annotations

import numpy as np


def natural_images(n: int, *, height: int = 32, width: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (n, H, W, 3): a tilted colour gradient, a soft texture and one dark block each.

    Flat or grey images would hide corruptions that act on colour (saturate) or edges
    (blurs, jpeg), so every image has all three.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    images = []
    for _ in range(n):
        angle, phase = rng.uniform(0, np.pi, size=2)
        ramp = np.cos(angle) * cols + np.sin(angle) * rows
        colour = rng.uniform(0.2, 0.8, size=3)
        image = 0.25 + 0.5 * ramp[..., None] * colour + 0.12 * np.sin(9 * rows + 5 * cols + phase)[..., None]
        top, left = rng.integers(2, height // 2), rng.integers(2, width // 2)
        image[top : top + height // 3, left : left + width // 3] *= 0.35
        images.append(np.clip(image, 0, 1) * 255)
    return np.stack(images).astype(np.uint8)
