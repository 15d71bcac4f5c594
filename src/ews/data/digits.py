"""scikit-learn's bundled 8x8 digits as 32x32 RGB tensors: real images with no download."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor

IMAGE_SIZE = 32
TEST_SIZE = 0.2
SPLIT_SEED = 0


def _to_images(pixels: torch.Tensor) -> Tensor:
    """0..16 grey 8x8 rows -> float32 (N, 3, 32, 32) in [0, 1], the shape CIFAR models take."""
    grey = pixels.reshape(-1, 1, 8, 8).float() / 16.0
    grey = F.interpolate(grey, size=IMAGE_SIZE, mode="bilinear", align_corners=False)
    return grey.clamp_(0.0, 1.0).repeat(1, 3, 1, 1).contiguous()


@functools.lru_cache(maxsize=None)
def digits_split(train: bool) -> tuple[Tensor, tuple[int, ...]]:
    """The fixed 80/20 stratified split, built once per process and shared by every load."""
    bunch = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=TEST_SIZE, stratify=bunch.target, random_state=SPLIT_SEED
    )
    pixels, labels = (x_train, y_train) if train else (x_test, y_test)
    return _to_images(torch.from_numpy(pixels)), tuple(int(label) for label in labels)
