"""timm's ResNet family as EWS models (optional extra `ews[timm]`).

`from_timm` adopts each timm `BasicBlock`/`Bottleneck` whose branch is the plain
conv-norm-ReLU chain (resnet*, the 'd'/'c'/'s'/'t' stems and shortcuts, wide_resnet*,
resnext*): state-dict keys and outputs stay timm's. Blocks with squeeze-excitation,
anti-aliasing, DropBlock, drop-path, other activations or norms other than BatchNorm2d /
FrozenBatchNorm2d (resnet50_gn's GroupNorm) change what a subnet would be, so they are
refused in one line rather than silently mis-sliced.
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

from torch import nn

from ..errors import ConfigError
from .adopted import IMAGENET_MEAN, IMAGENET_STD, AdoptedBlock, AdoptedResNet, adopt_stages

SUPPORTED = ("timm ResNets with plain blocks (resnet18..resnet200 and their d/c/s/t variants, wide_resnet50_2, "
             "wide_resnet101_2, resnext*), without SE, anti-aliasing, DropBlock or drop-path")


def _is_identity(module: nn.Module | None) -> bool:
    return module is None or isinstance(module, nn.Identity)


def _adopt(block: nn.Module, *, where: str, kinds: tuple[type, type]) -> AdoptedBlock | None:
    """`kinds`: timm's (BasicBlock, Bottleneck)."""
    BasicBlock, Bottleneck = kinds
    if isinstance(block, AdoptedBlock):
        return block
    if not isinstance(block, (BasicBlock, Bottleneck)):
        return None
    depth = 3 if isinstance(block, Bottleneck) else 2
    extras = {"se": block.se, "aa": block.aa, "drop_block": block.drop_block, "drop_path": block.drop_path}
    used = [name for name, module in extras.items() if not _is_identity(module)]
    acts = [getattr(block, f"act{i}") for i in range(1, depth + 1)]
    if used or not all(type(act) is nn.ReLU for act in acts):
        what = ", ".join(used) or "an activation other than ReLU"
        raise ConfigError(f"timm block {where} uses {what}, which ews subnets do not support; supported: {SUPPORTED}")
    return AdoptedBlock(block, depth=depth, shortcut=None if block.downsample is None else "downsample")


def from_timm(net: nn.Module, *, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> AdoptedResNet:
    """Wrap a timm ResNet (weights already loaded) for subnet use, in place; it then takes [0, 1] images.

    Pass the `mean`/`std` the weights were trained with (timm's `pretrained_cfg` has them).
    """
    try:
        from timm.models.resnet import BasicBlock, Bottleneck
    except ImportError:
        raise ConfigError("from_timm needs timm: pip install 'ews-robust[timm]'") from None
    adopt_stages(net, partial(_adopt, kinds=(BasicBlock, Bottleneck)), family="timm", supported=SUPPORTED)
    return AdoptedResNet(net, mean=mean, std=std)
