"""The 0/1-masking oracle's forward of ConvNeXt blocks (see masking_oracle.py).

Subnet passes are deterministic, so dropout and stochastic depth are left out.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ews.models.convnext import ConvNeXtBlock
from ews.models.timm_adapters import AdoptedTimmConvNeXtBlock
from ews.models.torchvision_adapters import AdoptedCNBlock
from ews.subnets import BlockChoice

from .masked_vit import add_paths, unit_mask


def _masked_bottleneck(x: Tensor, choice: BlockChoice, *, dwconv: nn.Module, norm: nn.Module, fc1: nn.Linear,
                       act, fc2: nn.Linear, scale: Tensor | None) -> Tensor:
    """The whole block at full width; dropped hidden units zeroed after the activation, dropped paths times 0."""
    h = act(fc1(norm(dwconv(x).permute(0, 2, 3, 1))))
    h = fc2(h * unit_mask(choice, fc1.out_features, h))
    h = h if scale is None else h * scale.flatten()
    return add_paths(x, h.permute(0, 3, 1, 2), choice)


def _masked_convnext_forward(block: ConvNeXtBlock, x: Tensor, choice: BlockChoice) -> Tensor:
    return _masked_bottleneck(x, choice, dwconv=block.dwconv, norm=block.norm, fc1=block.pwconv1, act=F.gelu,
                              fc2=block.pwconv2, scale=block.gamma)


def _masked_tv_convnext_forward(block: AdoptedCNBlock, x: Tensor, choice: BlockChoice) -> Tensor:
    dwconv, _, norm, fc1, act, fc2, _ = block.block
    return _masked_bottleneck(x, choice, dwconv=dwconv, norm=norm, fc1=fc1, act=act, fc2=fc2,
                              scale=block.layer_scale)


def _masked_conv_mlp(x: Tensor, choice: BlockChoice, block: AdoptedTimmConvNeXtBlock) -> Tensor:
    """timm's `conv_mlp` block at full width on (B, C, H, W): dropped hidden channels zeroed after the activation."""
    fc1, fc2 = block.mlp.fc1, block.mlp.fc2
    h = block.mlp.act(fc1(block.norm(block.conv_dw(x))))
    h = fc2(h * unit_mask(choice, fc1.out_channels, h).view(1, -1, 1, 1))
    h = h if block.gamma is None else h * block.gamma.view(1, -1, 1, 1)
    return add_paths(x, h, choice)


def _masked_timm_convnext_forward(block: AdoptedTimmConvNeXtBlock, x: Tensor, choice: BlockChoice) -> Tensor:
    if block.use_conv_mlp:
        return _masked_conv_mlp(x, choice, block)
    return _masked_bottleneck(x, choice, dwconv=block.conv_dw, norm=block.norm, fc1=block.mlp.fc1,
                              act=block.mlp.act, fc2=block.mlp.fc2, scale=block.gamma)


MASKED = {ConvNeXtBlock: _masked_convnext_forward, AdoptedCNBlock: _masked_tv_convnext_forward,
          AdoptedTimmConvNeXtBlock: _masked_timm_convnext_forward}
