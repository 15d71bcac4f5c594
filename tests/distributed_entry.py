"""`ews` with one extra model for the torchrun tests: a residual net without BatchNorm.

BatchNorm normalises with each rank's own half of the batch (SyncBatchNorm needs a
GPU), so only a norm-free model lets a 2-process run equal a 1-process run exactly.
Run as `torchrun ... tests/distributed_entry.py train ...`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from torch import Tensor, nn

from ews.cli import main
from ews.models import BranchLayout, Normalize, ResidualBlock, register


class _Block(ResidualBlock):
    def __init__(self, width: int) -> None:
        super().__init__(BranchLayout(("conv1", "conv2"), (None, None), None), preact=False)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)


class NormFreeNet(nn.Module):
    def __init__(self, *, num_classes: int, mean: Sequence[float], std: Sequence[float], width: int = 8) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(_Block(width), _Block(width))
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(nn.functional.relu(self.stem(self.normalize(x))))
        return self.head(h.mean((2, 3)))


@register
def norm_free_net(*, num_classes: int, **kwargs) -> NormFreeNet:
    return NormFreeNet(num_classes=num_classes, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
