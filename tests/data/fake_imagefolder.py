"""ImageNet-style class folders (`ROOT/SPLIT/CLASS/*.png`) of random pixels, for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_imagefolder(root: Path, *, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 2,
                      splits: tuple[str, ...] = ("train", "val")) -> Path:
    """Random PNGs of a different size per class (the loader must resize); `splits=("",)` writes ROOT/CLASS."""
    rng = np.random.default_rng(0)
    for split in splits:
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(40 + 10 * label, 60, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root
