"""Adapters that make torchvision's ImageNet ResNets subnet-capable.

`from_torchvision` swaps each torchvision `BasicBlock`/`Bottleneck` for a
`ResidualBlock` that adopts the very same submodules under the same attribute names,
so a torchvision state dict loads into `model.net` unchanged.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock as TvBasicBlock
from torchvision.models.resnet import Bottleneck as TvBottleneck

from .layers import BranchLayout, Normalize, ResidualBlock
from .registry import register

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TorchvisionBlock(ResidualBlock):
    """A torchvision residual block re-hosted as a `ResidualBlock` (same parameters, same keys)."""

    def __init__(self, block: TvBasicBlock | TvBottleneck, *, drop_rate: float = 0.0) -> None:
        depth = 3 if isinstance(block, TvBottleneck) else 2
        convs = tuple(f"conv{i}" for i in range(1, depth + 1))
        norms = tuple(f"bn{i}" for i in range(1, depth + 1))
        shortcut = None if block.downsample is None else "downsample"
        super().__init__(BranchLayout(convs, norms, shortcut), preact=False, drop_rate=drop_rate)
        for name in convs + norms:
            setattr(self, name, getattr(block, name))
        self.downsample = block.downsample


class ImageNetResNet(nn.Module):
    """`Normalize` followed by a torchvision ResNet whose blocks are `ResidualBlock`s."""

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
        return net.maxpool(net.relu(net.bn1(net.conv1(self.normalize(x)))))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        """torchvision's residual stages and classifier (its `_forward_impl` after the stem)."""
        net = self.net
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            h = stage(h)
        return net.fc(torch.flatten(net.avgpool(h), 1))


def from_torchvision(
    net: nn.Module,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    drop_rate: float = 0.0,
) -> ImageNetResNet:
    """Wrap a torchvision ResNet (any depth, weights already loaded) for subnet use, in place.

    `drop_rate` adds dropout between the branch convs (the paper's dropout baseline).
    """
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        for i, block in enumerate(stage):
            if isinstance(block, (TvBasicBlock, TvBottleneck)):
                stage[i] = TorchvisionBlock(block, drop_rate=drop_rate)
    return ImageNetResNet(net, mean=mean, std=std)


@register
def tv_resnet18(*, num_classes: int, **kwargs) -> ImageNetResNet:
    """torchvision's ImageNet ResNet-18 (random init; no weights are downloaded)."""
    return from_torchvision(torchvision.models.resnet18(weights=None, num_classes=num_classes), **kwargs)


@register
def tv_resnet50(*, num_classes: int, width_per_group: int = 64, **kwargs) -> ImageNetResNet:
    """torchvision's ImageNet ResNet-50, the paper's ImageNet model (random init).

    `width_per_group` is torchvision's bottleneck width (128: Wide ResNet-50-2; small values make test models).
    """
    net = torchvision.models.resnet50(weights=None, num_classes=num_classes, width_per_group=width_per_group)
    return from_torchvision(net, **kwargs)
