"""torchvision's ResNets (ResNet-18..152, Wide-ResNet-50/101-2, ResNeXt) as EWS models.

`from_torchvision` swaps each torchvision `BasicBlock`/`Bottleneck` for an `AdoptedBlock`
with the same submodules under the same names, so a torchvision state dict (its
pretrained weights included) loads into `model.net` unchanged.
"""

from __future__ import annotations

from typing import Sequence

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock as TvBasicBlock
from torchvision.models.resnet import Bottleneck as TvBottleneck

from .adopted import IMAGENET_MEAN, IMAGENET_STD, AdoptedBlock, AdoptedResNet, adopt_stages
from .registry import register

SUPPORTED = ("torchvision ResNet, Wide-ResNet and ResNeXt (resnet18..resnet152, wide_resnet50_2, wide_resnet101_2, "
             "resnext50_32x4d, resnext101_32x8d, resnext101_64x4d)")


def _adopt(block: nn.Module, *, where: str, drop_rate: float) -> AdoptedBlock | None:
    if isinstance(block, AdoptedBlock):
        return block  # adapted before
    if not isinstance(block, (TvBasicBlock, TvBottleneck)):
        return None
    depth = 3 if isinstance(block, TvBottleneck) else 2
    return AdoptedBlock(block, depth=depth, shortcut=None if block.downsample is None else "downsample",
                        drop_rate=drop_rate)


def from_torchvision(
    net: nn.Module,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    drop_rate: float = 0.0,
) -> AdoptedResNet:
    """Wrap a torchvision ResNet / Wide-ResNet / ResNeXt (weights already loaded) for subnet use, in place.

    The model then takes [0, 1] images and normalises with `mean`/`std` (ImageNet's by
    default, which torchvision's pretrained weights expect). `drop_rate` adds dropout
    between the branch convs (the paper's dropout baseline).
    """
    adopt_stages(net, lambda block, where: _adopt(block, where=where, drop_rate=drop_rate),
                 family="torchvision", supported=SUPPORTED)
    return AdoptedResNet(net, mean=mean, std=std)


@register
def tv_resnet18(*, num_classes: int, **kwargs) -> AdoptedResNet:
    """torchvision's ImageNet ResNet-18 (random init; no weights are downloaded)."""
    return from_torchvision(torchvision.models.resnet18(weights=None, num_classes=num_classes), **kwargs)


@register
def tv_resnet50(*, num_classes: int, width_per_group: int = 64, **kwargs) -> AdoptedResNet:
    """torchvision's ImageNet ResNet-50, the paper's ImageNet model (random init).

    `width_per_group` is torchvision's bottleneck width (128: Wide ResNet-50-2; small values make test models).
    """
    net = torchvision.models.resnet50(weights=None, num_classes=num_classes, width_per_group=width_per_group)
    return from_torchvision(net, **kwargs)


@register
def tv_resnext50(*, num_classes: int, groups: int = 32, width_per_group: int = 4, **kwargs) -> AdoptedResNet:
    """torchvision's ResNeXt-50 (32x4d by default; random init): grouped 3x3 convs, sliced per group."""
    net = torchvision.models.resnet50(weights=None, num_classes=num_classes, groups=groups,
                                      width_per_group=width_per_group)
    return from_torchvision(net, **kwargs)
