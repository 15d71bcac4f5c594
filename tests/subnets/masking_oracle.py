"""The 0/1-masking oracle: a subnet computed on the full network with masks.

Independent of the sliced implementation: every conv runs on all channels, dropped
channels are zeroed after their norm, dropped paths are multiplied by 0. The sliced
execution must match it in outputs and weight gradients.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ews.models import ResidualBlock
from ews.subnets import BRANCH, SHORTCUT, BlockChoice, Subnet


def _masked_block_forward(block: ResidualBlock, x: Tensor, choice: BlockChoice) -> Tensor:
    pre = block.pre_activation(x)
    shortcut = block.shortcut_path(x, pre) * float(SHORTCUT in choice.paths)
    h = pre
    convs = block.branch_convs()
    kept = choice.channels if BRANCH in choice.paths else [range(c.out_channels) for c in convs]
    for i, (conv, norm, channels) in enumerate(zip(convs, block.branch_norms(), kept)):
        h = conv(h)
        if norm is not None:
            h = norm(h)
        mask = torch.zeros(conv.out_channels)
        mask[list(channels)] = 1.0
        h = h * mask.view(1, -1, 1, 1)
        if i < len(convs) - 1:
            h = F.relu(h)
    return block.finish(h * float(BRANCH in choice.paths) + shortcut)


@contextmanager
def masked_subnet(model: nn.Module, subnet: Subnet) -> Iterator[None]:
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for block, choice in zip(blocks, subnet.blocks):
        block.forward = lambda x, b=block, c=choice: _masked_block_forward(b, x, c)
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for block in blocks:
            del block.forward
        for m in norms:
            m.track_running_stats = True
