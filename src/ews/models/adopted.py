"""Residual networks of other libraries, re-hosted so `ews` can run their subnets.

An adapter swaps each foreign residual block for an `AdoptedBlock`: a `ResidualBlock` that
adopts the very same submodules under the same attribute names. Parameters are shared,
not copied, and `AdoptedResNet.net.state_dict()` has exactly the original model's keys, so
published weights load into `model.net` unchanged and the full network computes what the
original did (the adapters' tests compare outputs).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .layers import SLICEABLE_NORMS, BranchLayout, Normalize, ResidualBlock

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class AdoptedBlock(ResidualBlock):
    """A foreign post-activation residual block (conv, norm, ReLU, ..., conv, norm; + shortcut; ReLU)."""

    def __init__(self, block: nn.Module, *, depth: int, shortcut: str | None, drop_rate: float = 0.0) -> None:
        convs = tuple(f"conv{i}" for i in range(1, depth + 1))
        norms = tuple(f"bn{i}" for i in range(1, depth + 1))
        super().__init__(BranchLayout(convs, norms, shortcut), preact=False, drop_rate=drop_rate)
        adopted = set(convs + norms + ((shortcut,) if shortcut else ()))
        for name, module in block.named_children():  # in the block's own order, so state-dict keys keep it too
            if name in adopted:
                setattr(self, name, module)


class AdoptedResNet(nn.Module):
    """`Normalize` followed by a foreign ResNet (`net`) whose residual blocks are `AdoptedBlock`s.

    The stem is `conv1, bn1, relu (act1 in timm), maxpool`; the head is the net's own
    `forward_head` (timm) or `avgpool` + `fc` (torchvision).
    """

    chained_blocks = True  # each residual block feeds the next directly (see `use_subnet`)

    def __init__(self, net: nn.Module, *, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) in [0, 1] -> (B, num_classes)
        return self.forward_from_stem(self.stem(x))

    def stem(self, x: Tensor) -> Tensor:
        """Everything before the first residual block: outside the subnet space (`ews.subnets.SharedStem`)."""
        net = self.net
        act = net.relu if hasattr(net, "relu") else net.act1
        return net.maxpool(act(net.bn1(net.conv1(self.normalize(x)))))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        """The residual stages and the classifier."""
        net = self.net
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            h = stage(h)
        if hasattr(net, "forward_head"):
            return net.forward_head(h)
        return net.fc(torch.flatten(net.avgpool(h), 1))


def adopt_stages(net: nn.Module, adopt: type, *, family: str, supported: str) -> None:
    """Replace, in place, every residual block of `net`'s four stages with `adopt(block)`'s result.

    `adopt` returns None for a module that is not a block of this family; a net without
    ResNet stages, or with a block of another kind or with branch norms a subnet cannot
    slice, is refused in one line naming what is supported.
    """
    stages = [getattr(net, f"layer{i}", None) for i in range(1, 5)]
    if not all(isinstance(stage, nn.Sequential) for stage in stages):
        raise ConfigError(f"{type(net).__name__} is not a {family} ResNet (it has no layer1..layer4 stages); "
                          f"supported: {supported}")
    for s, stage in enumerate(stages, start=1):
        for i, block in enumerate(stage):
            adopted = adopt(block, where=f"layer{s}.{i}")
            if adopted is None:
                raise ConfigError(f"layer{s}.{i} of {type(net).__name__} is a {type(block).__name__}, not a {family} "
                                  f"residual block; supported: {supported}")
            _check_sliceable_norms(adopted, where=f"{family} block layer{s}.{i}")
            stage[i] = adopted


def _check_sliceable_norms(block: ResidualBlock, *, where: str) -> None:
    """Refuse a block whose branch norms a sliced subnet would compute wrongly (`SLICEABLE_NORMS`).

    A sliced GroupNorm, say, would be batch-normalised in training and fail in eval: better
    one line at adapter time than subnets that silently compute something else.
    """
    for name, norm in zip(block.layout.norms, block.branch_norms()):
        if norm is not None and type(norm) not in SLICEABLE_NORMS:
            allowed = ", ".join(cls.__name__ for cls in SLICEABLE_NORMS)
            raise ConfigError(f"{where} normalises with {type(norm).__name__} ({name}), which ews subnets cannot "
                              f"slice per channel; supported: {allowed}")
