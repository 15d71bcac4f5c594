"""Tiny benchmark folders in each released layout, and a model whose errors can be computed by hand.

`BrightnessModel` predicts class 1 for images brighter than mid-grey and class 0 otherwise,
so constant images of brightness `DARK` or `BRIGHT` are classified with certainty even
after JPEG/MJPG compression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

DARK, BRIGHT = 0.2, 0.8


class BrightnessModel(nn.Module):
    """Two (or more) logits from the mean pixel value; refuses to run in train mode or with autograd on."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) float in [0, 1]
        assert not self.training and not torch.is_grad_enabled()
        assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        self.calls += 1
        bright = x.mean(dim=(1, 2, 3)) * self.scale - 0.5
        logits = torch.zeros(len(x), self.num_classes)
        logits[:, 0], logits[:, 1] = -bright, bright
        return logits


def to_uint8(value: float) -> int:
    return round(255 * value)


def cifar_images(labels: Sequence[int], wrong: Sequence[int], size: int = 4) -> np.ndarray:
    """uint8 (5 * N, size, size, 3): at severity s the first `wrong[s - 1]` images look like the other class."""
    rows = []
    for misses in wrong:
        for index, label in enumerate(labels):
            right = BRIGHT if label == 1 else DARK
            rows.append(to_uint8(1.0 - right if index < misses else right))
    return np.repeat(np.array(rows, dtype=np.uint8), size * size * 3).reshape(len(rows), size, size, 3)


def write_cifar_c(folder: Path, files: Mapping[str, np.ndarray], labels: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, images in files.items():
        np.save(folder / f"{name}.npy", images)
    np.save(folder / "labels.npy", labels)
    return folder


def write_png(path: Path, value: float, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), to_uint8(value), dtype=np.uint8)).save(path)


def write_imagenet_c(root: Path, tree: Mapping[str, Mapping[int, Mapping[str, Sequence[float]]]]) -> Path:
    """`tree[corruption][severity][wnid]` lists the brightness of each image."""
    for corruption, severities in tree.items():
        for severity, classes in severities.items():
            for wnid, values in classes.items():
                for index, value in enumerate(values):
                    write_png(root / corruption / str(severity) / wnid / f"img{index}.png", value)
    return root


def write_frames(folder: Path, values: Sequence[float]) -> None:
    for index, value in enumerate(values):
        write_png(folder / f"frame{index:03d}.png", value)


def write_video(path: Path, values: Sequence[float], size: int = 16) -> bool:
    """An MJPG .avi of constant frames; False where this OpenCV build cannot write one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (size, size))
    if not writer.isOpened():
        return False
    for value in values:
        writer.write(np.full((size, size, 3), to_uint8(value), dtype=np.uint8))
    writer.release()
    return path.is_file() and path.stat().st_size > 0
