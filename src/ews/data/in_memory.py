"""Small datasets held whole in memory as one image tensor."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .types import Transform


class InMemoryImages(Dataset[tuple[Tensor, int]]):
    """Images held as one (N, C, H, W) tensor, served as float32 (3, H, W) in [0, 1] and transformed per sample.

    float32 images are served as they are; uint8 ones are scaled to [0, 1], and one grey
    channel is repeated to three, so small datasets can be held at a quarter or less of
    the memory.
    """

    def __init__(self, images: Tensor, targets: list[int], transform: Transform | None = None) -> None:
        self.images = images
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        # A copy, so callers cannot write into the tensor that every load of this set shares.
        image = self.images[index]
        image = image.float().div_(255) if image.dtype == torch.uint8 else image.clone()
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1).contiguous()
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]
