"""A small ConvNeXt (Liu et al. 2022) for 32x32 inputs, its blocks EWS `PathBlock`s.

A ConvNeXt block is `x + gamma * mlp(norm(dwconv(x)))`: the branch is the depthwise 7x7
conv and the inverted-bottleneck MLP, the skip is the identity. Its one thinnable unit
set is the MLP's 4 * dim hidden units; the residual stream (the depthwise conv, the
LayerNorm, the layer scale and the MLP's outputs) is kept whole, as a transformer's is,
because a LayerNorm mixes all channels and cannot be sliced per channel.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Normalize, StreamBlock, trunc_normal_init
from .sliced import sliced_mlp
from .registry import register
from .resnet import CIFAR10_MEAN, CIFAR10_STD


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map (the paper's `channels_first` LayerNorm)."""

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(StreamBlock):
    """dwconv7x7 -> LayerNorm -> Linear(dim, 4 dim) -> GELU -> Linear(4 dim, dim) -> gamma, plus x.

    Unit sets: the MLP's hidden units, then the residual stream (`whole_units = 1`). A
    subnet computes only its kept hidden units in `pwconv1` and reads only them in
    `pwconv2`; weights are indexed, so gradients reach the shared full weights. There is
    no stochastic depth: a subnet already drops whole branches.
    """

    def __init__(self, dim: int, *, layer_scale: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def hidden_units(self) -> int:
        return self.pwconv1.out_features

    def output_layer(self) -> nn.Linear:
        return self.pwconv2

    def unit_weights(self) -> tuple[Tensor, ...]:
        return (self.pwconv1.weight, self.pwconv2.weight)

    def output_scale(self) -> Tensor:
        return self.gamma

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        h = self.norm(self.dwconv(x).permute(0, 2, 3, 1))  # NHWC: the MLP is per pixel
        h = sliced_mlp(self.pwconv1, self.pwconv2, h, units, (F.gelu,))
        return (self.gamma * h).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """Normalize, patchify stem, stages of ConvNeXt blocks with downsampling between, pool, LayerNorm, linear.

    The stem and the downsampling layers are a LayerNorm and a stride-2 2x2 conv (the
    paper's are 4x4 at stride 4 for 224 px ImageNet images; 2x2 keeps a 16x16 map from a
    32x32 input). Blocks are separated by downsampling layers, so `chained_blocks` is unset.
    """

    def __init__(
        self,
        dims: Sequence[int],
        depths: Sequence[int],
        *,
        num_classes: int,
        layer_scale: float = 1e-6,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        super().__init__()
        if len(dims) != len(depths) or not dims:
            raise ValueError(f"ConvNeXt needs one width per stage, got dims={dims} and depths={depths}")
        self.normalize = Normalize(mean, std)
        self.patchify = nn.Sequential(nn.Conv2d(3, dims[0], 2, stride=2), LayerNorm2d(dims[0]))
        self.downsample_layers = nn.ModuleList(
            nn.Sequential(LayerNorm2d(a), nn.Conv2d(a, b, 2, stride=2)) for a, b in zip(dims, dims[1:]))
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(dim, layer_scale=layer_scale) for _ in range(depth)))
            for dim, depth in zip(dims, depths))
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)
        self.apply(trunc_normal_init)

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) in [0, 1] -> (B, num_classes)
        return self.forward_from_stem(self.stem(x))

    def stem(self, x: Tensor) -> Tensor:
        """Everything before the first block: outside the subnet space (`ews.subnets.SharedStem`)."""
        return self.patchify(self.normalize(x))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        """The stages and the classifier, from a `stem` output."""
        for i, stage in enumerate(self.stages):
            if i > 0:
                h = self.downsample_layers[i - 1](h)
            h = stage(h)
        return self.head(self.norm(h.mean(dim=(2, 3))))


@register
def convnext_cifar(
    *,
    num_classes: int,
    dims: Sequence[int] = (32, 64, 128),
    depths: Sequence[int] = (2, 2, 2),
    layer_scale: float = 1e-6,
    **kwargs,
) -> ConvNeXt:
    """A 3-stage ConvNeXt (32-64-128 wide, 2 blocks each, about 0.4M parameters) for 32x32 images.

    Sized for CPU experiments: maps of 16, 8 and 4 pixels and about 15M multiply-adds per
    image (ResNet-20, the demo model, needs 41M), so an EWS epoch on the digits data takes
    well under a minute on two cores, while six blocks still give the subnet space paths
    to drop at every depth.
    """
    return ConvNeXt(dims, depths, num_classes=num_classes, layer_scale=layer_scale, **kwargs)
