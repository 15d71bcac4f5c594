"""WideResNet (Zagoruyko & Komodakis 2016): pre-activation blocks, widths 16k-32k-64k."""

from __future__ import annotations

from .resnet import CifarResNet, PreActBlock
from .registry import register


def wide_resnet(*, num_classes: int, depth: int, widen_factor: int, drop_rate: float = 0.0, **kwargs) -> CifarResNet:
    """WRN-depth-k: (depth - 4) / 6 blocks in each of 3 stages; depth must be 6n + 4."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"WideResNet depth must be 6n+4 with n >= 1, got {depth}")
    n = (depth - 4) // 6
    widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
    return CifarResNet(
        PreActBlock, (n, n, n), widths, num_classes=num_classes, drop_rate=drop_rate, stem_width=16, **kwargs
    )


@register
def wrn28_10(*, num_classes: int, depth: int = 28, widen_factor: int = 10, **kwargs) -> CifarResNet:
    """WRN-28-10 (paper Table 4)."""
    return wide_resnet(num_classes=num_classes, depth=depth, widen_factor=widen_factor, **kwargs)


@register
def wrn34_10(*, num_classes: int, depth: int = 34, widen_factor: int = 10, **kwargs) -> CifarResNet:
    """WRN-34-10 (paper Table 4)."""
    return wide_resnet(num_classes=num_classes, depth=depth, widen_factor=widen_factor, **kwargs)
