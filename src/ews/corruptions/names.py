"""The corruption benchmarks' fixed names and normalisers (Hendrycks & Dietterich 2019; Kar et al. 2022).

One place for the lists every part of `ews` agrees on: which 15 corruptions make the
benchmark score, which 4 are held out, AlexNet's errors that normalise ImageNet-C, and
ImageNet-3DCC's 12 corruptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError

BENCHMARK: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
EXTRA: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL: tuple[str, ...] = BENCHMARK + EXTRA
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

# AlexNet's ImageNet-C top-1 error per corruption, averaged over severities 1-5: the
# normaliser of mCE used by the benchmark's authors and by AugMix.
ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640,
    "defocus_blur": 0.819880, "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360,
    "snow": 0.866816, "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592,
    "contrast": 0.853204, "elastic_transform": 0.646056, "pixelate": 0.717840, "jpeg_compression": 0.606500,
    "speckle_noise": 0.845388, "gaussian_blur": 0.787108, "spatter": 0.717512, "saturate": 0.658248,
}
ALEXNET_CLEAN_ERROR = 0.4348

# ImageNet-3DCC's 12 corruptions (Kar et al. 2022, "3D Common Corruptions and Data Augmentation"),
# in the order its authors' benchmark code lists them, each at severities 1-5 in ImageNet-C's
# folder layout. `ews` holds no AlexNet normalisers for them, so they are scored by mean
# error, without an mCE.
IMAGENET_3DCC: tuple[str, ...] = (
    "near_focus", "far_focus", "fog_3d", "flash", "color_quant", "low_light",
    "xy_motion_blur", "z_motion_blur", "iso_noise", "bit_error", "h265_abr", "h265_crf",
)


class FolderBenchmark(NamedTuple):
    """A benchmark released as `ROOT/CORRUPTION/SEVERITY/WNID/*.JPEG` folders."""

    title: str  # its name in messages and reports
    corruptions: tuple[str, ...]  # its corruptions, in report order


FOLDER_BENCHMARKS: dict[str, FolderBenchmark] = {
    "imagenet-c": FolderBenchmark("ImageNet-C", ALL),
    "imagenet-3dcc": FolderBenchmark("ImageNet-3DCC", IMAGENET_3DCC),
}

# ImageNet-P's 10 perturbations (noise sequences compare every frame with the first,
# the others frames `difficulty` apart: `imagenet_p.is_noise`).
PERTURBATIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow",
    "brightness", "translate", "rotate", "tilt", "scale",
)


def check_corruptions(corruptions: Iterable[str] | None) -> tuple[str, ...]:
    """Known names in the given order without repeats; None means all 19 (15 benchmark + 4 extra)."""
    if corruptions is None:
        return ALL
    chosen = (corruptions,) if isinstance(corruptions, str) else tuple(corruptions)
    for name in chosen:
        if name not in ALL:
            raise ConfigError(f"unknown corruption {name!r}; allowed: {', '.join(ALL)}")
    if not chosen:
        raise ConfigError(f"no corruption selected; allowed: {', '.join(ALL)}")
    return tuple(dict.fromkeys(chosen))


def check_severities(severities: Iterable[int]) -> tuple[int, ...]:
    """Severities sorted ascending without repeats, each an integer in 1..5."""
    chosen = tuple(severities)
    for severity in chosen:
        if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
            raise ConfigError(f"severity must be an integer in 1..5, got {severity!r}")
    if not chosen:
        raise ConfigError("no severity selected; allowed: 1..5")
    return tuple(sorted({int(severity) for severity in chosen}))
