"""A small Vision Transformer (Dosovitskiy et al. 2021) for 32x32 inputs, its blocks EWS `PathBlock`s.

A pre-norm transformer block is two residual sub-blocks, `x + attn(norm(x))` and then
`x + mlp(norm(x))`, and each is one `PathBlock`: its branch is the normed sub-layer,
its skip the identity. So a subnet may drop a block's attention and keep its MLP, and
the subnet space has two paths per sub-block, as a ResNet has per residual block.
Thinnable units are the attention heads and the MLP hidden units; the residual stream
is kept whole (`whole_units = 1`), because a LayerNorm mixes all of its features.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .layers import Normalize, StreamBlock, trunc_normal_init
from .sliced import sliced_attention, sliced_mlp
from .registry import register
from .resnet import CIFAR10_MEAN, CIFAR10_STD


class TransformerSubBlock(StreamBlock):
    """`x + sublayer(norm(x))` over tokens (B, N, dim), runnable whole or as a sliced subnet.

    Subclasses give the sublayer after the norm, computing only some of its units.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def sublayer(self, h: Tensor, units: Tensor | None) -> Tensor:
        """The attention or MLP on normed tokens `h`, computing only the kept `units` (None: all)."""
        raise NotImplementedError

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:
        return self.sublayer(self.norm(x), units)


class AttentionBlock(TransformerSubBlock):
    """LayerNorm -> multi-head self-attention (fused qkv, timm's layout) -> proj, plus x.

    `qkv`'s output rows are all q heads, then all k heads, then all v heads, `head_dim`
    rows each, so timm ViT weights load unchanged. A subnet computes q, k and v of its
    kept heads only, attends over them in one call, and `proj` reads only their outputs.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by {num_heads} heads")
        super().__init__(dim)
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def hidden_units(self) -> int:
        return self.num_heads

    def output_layer(self) -> nn.Linear:
        return self.proj

    def unit_weights(self) -> tuple[Tensor, ...]:
        return (head_rows(self.qkv.weight, self.num_heads), self.proj.weight)

    def sublayer(self, h: Tensor, units: Tensor | None) -> Tensor:
        return sliced_attention(h, self.qkv.weight, self.qkv.bias, self.proj, num_heads=self.num_heads, heads=units)


def head_rows(qkv_weight: Tensor, num_heads: int) -> Tensor:
    """Per head, its q, k and v rows of a fused q/k/v weight as one row (the L1 baseline scores heads by them)."""
    head_dim = qkv_weight.shape[0] // (3 * num_heads)
    per_head = qkv_weight.view(3, num_heads, head_dim, -1).transpose(0, 1)
    return per_head.reshape(num_heads, -1)


class MlpBlock(TransformerSubBlock):
    """LayerNorm -> Linear(dim, hidden) -> GELU -> Linear(hidden, dim), plus x.

    A subnet computes only its kept hidden units in `fc1` and reads only them in `fc2`.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def hidden_units(self) -> int:
        return self.fc1.out_features

    def output_layer(self) -> nn.Linear:
        return self.fc2

    def unit_weights(self) -> tuple[Tensor, ...]:
        return (self.fc1.weight, self.fc2.weight)

    def sublayer(self, h: Tensor, units: Tensor | None) -> Tensor:
        return sliced_mlp(self.fc1, self.fc2, h, units, (F.gelu,))


class VisionTransformer(nn.Module):
    """Normalize, patch embedding, cls token and learned positions, attention/MLP sub-blocks, LayerNorm, linear.

    The blocks sit in one `nn.Sequential` in forward order (attention, MLP, attention,
    ...). A sub-block's output is a full residual stream, never thinned, so
    `chained_blocks` is unset. The classifier reads the cls token.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        patch: int,
        image_size: int = 32,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        super().__init__()
        _check_shape(dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, patch=patch, image_size=image_size)
        self.grid = image_size // patch
        self.normalize = Normalize(mean, std)
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid**2, dim))
        hidden = int(dim * mlp_ratio)
        self.blocks = nn.Sequential(*(block for _ in range(depth)
                                      for block in (AttentionBlock(dim, heads), MlpBlock(dim, hidden))))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.apply(trunc_normal_init)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) in [0, 1] -> (B, num_classes)
        return self.forward_from_stem(self.stem(x))

    def stem(self, x: Tensor) -> Tensor:
        """Everything before the first sub-block: outside the subnet space (`ews.subnets.SharedStem`)."""
        h = self.patch_embed(self.normalize(x))  # (B, dim, grid, grid)
        if h.shape[-2:] != (self.grid, self.grid):
            raise ValueError(f"{type(self).__name__} was built for a {self.grid}x{self.grid} patch grid, "
                             f"got {tuple(h.shape[-2:])} from a {tuple(x.shape[-2:])} image")
        tokens = h.flatten(2).transpose(1, 2)  # (B, grid * grid, dim)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed

    def forward_from_stem(self, h: Tensor) -> Tensor:
        """The sub-blocks and the classifier, from a `stem` output."""
        return self.head(self.norm(self.blocks(h))[:, 0])


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


def _check_shape(*, dim: int, depth: int, heads: int, mlp_ratio: float, patch: int, image_size: int) -> None:
    """One-line `ConfigError`s naming the option, its value and what is allowed, before any layer is built."""
    for name, value in (("dim", dim), ("depth", depth), ("heads", heads), ("patch", patch),
                        ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"model option {name}={value!r} must be a positive integer")
    if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, (int, float)) or int(dim * mlp_ratio) < 1:
        raise ConfigError(f"model option mlp_ratio={mlp_ratio!r} must be a number with dim * mlp_ratio >= 1")
    if dim % heads:
        raise ConfigError(f"model option heads={heads} must divide the width dim={dim} (each head gets dim / heads "
                          f"features); allowed with dim={dim}: {_divisors(dim)}")
    if image_size % patch:
        raise ConfigError(f"model option patch={patch} must divide image_size={image_size}; allowed: "
                          f"{_divisors(image_size)}")


@register
def vit_cifar(
    *,
    num_classes: int,
    dim: int = 96,
    depth: int = 6,
    heads: int = 3,
    mlp_ratio: float = 2,
    patch: int = 4,
    image_size: int = 32,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
) -> VisionTransformer:
    """A 6-block ViT (96 wide, 3 heads of 32, MLP 192, 4x4 patches, about 0.46M parameters) for 32x32 images.

    Sized for CPU experiments: 4x4 patches give 64 tokens plus the cls token and about
    29M multiply-adds per image, fewer than the demo model ResNet-20's 41M, so an EWS
    epoch on the digits data takes tens of seconds on two cores (a training step is
    faster than ResNet-20's), while 12 sub-blocks of 3 heads or 192 hidden units still
    give the subnet space paths and units to drop at every depth.
    """
    return VisionTransformer(num_classes=num_classes, dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                             patch=patch, image_size=image_size, mean=mean, std=std)
