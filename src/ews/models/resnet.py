"""CIFAR-style ResNets (He et al. 2016) and pre-activation ResNets (He et al. 2016b).

CIFAR stem: one 3x3 conv, no max-pool, so 32x32 inputs keep 32x32 in the first stage.
`width` scales every stage so that tests can build tiny variants of the same graph.
"""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import BranchLayout, Normalize, ResidualBlock
from .registry import register

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _projection(in_planes: int, out_planes: int, stride: int, *, with_norm: bool) -> nn.Module | None:
    if stride == 1 and in_planes == out_planes:
        return None
    conv = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_planes)) if with_norm else nn.Sequential(conv)


class BasicBlock(ResidualBlock):
    """conv3x3-BN-ReLU-conv3x3-BN, added to the shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, *, drop_rate: float = 0.0) -> None:
        shortcut = _projection(in_planes, planes, stride, with_norm=True)
        super().__init__(
            BranchLayout(("conv1", "conv2"), ("bn1", "bn2"), None if shortcut is None else "shortcut"),
            preact=False,
            drop_rate=drop_rate,
        )
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = shortcut


class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, each with BN; then the shortcut and ReLU."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, *, drop_rate: float = 0.0) -> None:
        out_planes = planes * self.expansion
        shortcut = _projection(in_planes, out_planes, stride, with_norm=True)
        super().__init__(
            BranchLayout(
                ("conv1", "conv2", "conv3"), ("bn1", "bn2", "bn3"), None if shortcut is None else "shortcut"
            ),
            preact=False,
            drop_rate=drop_rate,
        )
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = shortcut


class PreActBlock(ResidualBlock):
    """BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 plus the shortcut; no ReLU after the sum.

    The projection shortcut reads the pre-activated input, as in PreAct ResNet and
    WideResNet; this one block serves both.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, *, drop_rate: float = 0.0) -> None:
        shortcut = _projection(in_planes, planes, stride, with_norm=False)
        super().__init__(
            BranchLayout(("conv1", "conv2"), ("bn2", None), None if shortcut is None else "shortcut", pre_norm="bn1"),
            preact=True,
            drop_rate=drop_rate,
        )
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.shortcut = shortcut


class CifarResNet(nn.Module):
    """Normalize, 3x3 stem, residual stages, (final BN-ReLU when pre-activated), pool, linear.

    WideResNets are this net with pre-activation blocks, a 16-channel stem and 3 stages.
    """

    chained_blocks = True  # each residual block feeds the next directly (see `use_subnet`)

    def __init__(
        self,
        block: type[ResidualBlock],
        depths: Sequence[int],
        widths: Sequence[int],
        *,
        num_classes: int,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
        drop_rate: float = 0.0,
        stem_width: int | None = None,
    ) -> None:
        super().__init__()
        self.preact = block is PreActBlock
        in_planes = stem_width or widths[0]
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, in_planes, 3, padding=1, bias=False)
        if not self.preact:
            self.bn1 = nn.BatchNorm2d(in_planes)
        stages = []
        for stage, (depth, planes) in enumerate(zip(depths, widths)):
            blocks = []
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(block(in_planes, planes, stride, drop_rate=drop_rate))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        if self.preact:
            self.final_bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) in [0, 1] -> (B, num_classes)
        return self.forward_from_stem(self.stem(x))

    def stem(self, x: Tensor) -> Tensor:
        """Everything before the first residual block: outside the subnet space (`ews.subnets.SharedStem`)."""
        h = self.conv1(self.normalize(x))
        return h if self.preact else F.relu(self.bn1(h))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        """The residual stages and the classifier, from a `stem` output."""
        h = self.layers(h)
        if self.preact:
            h = F.relu(self.final_bn(h))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


def _stage_widths(width: int, stages: int = 4) -> list[int]:
    return [width * 2**i for i in range(stages)]


@register
def resnet18(*, num_classes: int, width: int = 64, **kwargs) -> CifarResNet:
    """ResNet-18, CIFAR stem (basic blocks 2-2-2-2)."""
    return CifarResNet(BasicBlock, (2, 2, 2, 2), _stage_widths(width), num_classes=num_classes, **kwargs)


@register
def resnet34(*, num_classes: int, width: int = 64, **kwargs) -> CifarResNet:
    """ResNet-34, CIFAR stem (basic blocks 3-4-6-3)."""
    return CifarResNet(BasicBlock, (3, 4, 6, 3), _stage_widths(width), num_classes=num_classes, **kwargs)


@register
def resnet50(*, num_classes: int, width: int = 64, **kwargs) -> CifarResNet:
    """ResNet-50, CIFAR stem (bottleneck blocks 3-4-6-3); the paper's CIFAR-10-C model."""
    return CifarResNet(Bottleneck, (3, 4, 6, 3), _stage_widths(width), num_classes=num_classes, **kwargs)


@register
def preact_resnet18(*, num_classes: int, width: int = 64, **kwargs) -> CifarResNet:
    """PreAct ResNet-18 (the paper's adversarial-training model, Table 4)."""
    return CifarResNet(PreActBlock, (2, 2, 2, 2), _stage_widths(width), num_classes=num_classes, **kwargs)


@register
def resnet20(*, num_classes: int, width: int = 16, **kwargs) -> CifarResNet:
    """ResNet-20 (He et al.'s CIFAR net, 3 stages of 3 basic blocks, 16-32-64): the demo model."""
    return CifarResNet(BasicBlock, (3, 3, 3), _stage_widths(width, 3), num_classes=num_classes, **kwargs)
