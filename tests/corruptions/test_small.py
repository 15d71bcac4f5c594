"""CIFAR-10-C strength corruptions: every name and severity, determinism, and growing distortion."""

from __future__ import annotations

import numpy as np
import pytest

from ews.corruptions import names
from ews.corruptions.small import PARAMS, corrupt_small

from .natural import natural_images

# No random draw: same output for any generator.
DETERMINISTIC = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
                 "gaussian_blur", "saturate"}
# The generator's constants do not make mean |corrupted - clean| grow with severity for these:
NOT_MONOTONE = {
    "elastic_transform",  # severity 1 is a pure 2.6-pixel affine warp; later ones move pixels less
    "frost",  # severities 3-5: image weight 0.9 -> 0.75 but frost weight only 0.4 -> 0.45, so 4-5 change less
    "spatter",  # water drops at 1-3, mud blots at 4-5
    "saturate",  # desaturates at 1-2 (x0.3, x0.1), oversaturates at 3-5
}
# glass_blur at severity 5 vs 4 (sigma 0.4 vs 0.25, same shifts) and motion_blur 3 vs 4 differ by
# a fraction of a grey level on four images, so "non-decreasing" allows this much.
TOLERANCE = 0.5


def _distortion(name: str, severity: int, images: np.ndarray) -> float:
    diffs = [
        np.abs(corrupt_small(image, name, severity, rng=np.random.default_rng(index)).astype(float) - image).mean()
        for index, image in enumerate(images)
    ]
    return float(np.mean(diffs))


def test_params_cover_every_corruption_at_five_severities() -> None:
    assert tuple(PARAMS) == names.ALL
    assert all(len(row) == len(names.SEVERITIES) for row in PARAMS.values())


@pytest.mark.parametrize("name", names.ALL)
def test_every_severity_gives_uint8_of_the_same_shape_reproducibly(name: str) -> None:
    image = natural_images(1)[0]
    for severity in names.SEVERITIES:
        first = corrupt_small(image, name, severity, rng=np.random.default_rng(3))
        again = corrupt_small(image, name, severity, rng=np.random.default_rng(3))
        other = corrupt_small(image, name, severity, rng=np.random.default_rng(4))
        assert first.shape == image.shape and first.dtype == np.uint8
        np.testing.assert_array_equal(first, again)
        if name in DETERMINISTIC:
            np.testing.assert_array_equal(first, other)
        else:
            assert not np.array_equal(first, other), f"{name} severity {severity} ignores its generator"


@pytest.mark.parametrize("name", names.ALL)
def test_distortion_grows_with_severity(name: str) -> None:
    images = natural_images(4, seed=1)
    distortion = [_distortion(name, severity, images) for severity in names.SEVERITIES]
    assert min(distortion) > 0.3, f"{name} leaves the image unchanged: {distortion}"
    if name in NOT_MONOTONE:
        assert len(set(np.round(distortion, 3))) == len(distortion), f"{name}: two severities coincide"
    else:
        steps = np.diff(distortion)
        assert (steps >= -TOLERANCE).all(), f"{name}: {np.round(distortion, 2)}"
        assert distortion[-1] > distortion[0]


@pytest.mark.parametrize("name", names.ALL)
def test_non_square_images_keep_their_shape(name: str) -> None:
    image = natural_images(1, height=24, width=40)[0]
    out = corrupt_small(image, name, 5, rng=np.random.default_rng(0))
    assert out.shape == (24, 40, 3) and out.dtype == np.uint8


def test_frost_fits_images_larger_than_the_smallest_frost_picture() -> None:
    # At 0.2 scale one bundled picture is 63 pixels tall: a 64x64 image needs it enlarged.
    image = natural_images(1, height=64, width=64)[0]
    for seed in range(12):
        assert corrupt_small(image, "frost", 3, rng=np.random.default_rng(seed)).shape == (64, 64, 3)
