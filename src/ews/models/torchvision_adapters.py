"""torchvision's ResNets, Vision Transformers and ConvNeXts as EWS models.

`from_torchvision` re-hosts each block of a torchvision network on its own submodules,
under the same names, so a torchvision state dict (its pretrained weights included) loads
into `model.net` unchanged and the full network computes what torchvision's does:

- ResNet `BasicBlock`/`Bottleneck` (ResNet, Wide-ResNet, ResNeXt): an `AdoptedBlock`;
- ViT `EncoderBlock`: an `AdoptedTransformerBlock` whose attention sub-block thins heads
  (q/k/v rows of `in_proj_weight`, columns of `out_proj`) and whose MLP sub-block thins
  hidden units;
- ConvNeXt `CNBlock`: an `AdoptedCNBlock` thinning its MLP's hidden units.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.convnext import CNBlock, CNBlockConfig, ConvNeXt
from torchvision.models.resnet import BasicBlock as TvBasicBlock
from torchvision.models.resnet import Bottleneck as TvBottleneck
from torchvision.models.resnet import ResNet
from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer
from torchvision.ops.misc import Permute

from ..errors import ConfigError
from .adopted import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AdoptedBlock,
    AdoptedNet,
    AdoptedResNet,
    AdoptedTransformerBlock,
    BorrowedStreamBlock,
    adopt_stages,
    check_kind,
    check_unused,
    qualified_name,
    refuse,
    take_over,
)
from .layers import StreamBlock
from .sliced import sliced_attention, sliced_mlp
from .registry import register
from .vit import head_rows

SUPPORTED = ("torchvision ResNet, Wide-ResNet and ResNeXt (resnet18..resnet152, wide_resnet50_2, wide_resnet101_2, "
             "resnext50_32x4d, resnext101_32x8d, resnext101_64x4d), VisionTransformer (vit_b_16..vit_h_14) and "
             "ConvNeXt (convnext_tiny..convnext_large)")

MLP_LAYOUT = (nn.Linear, nn.GELU, nn.Dropout, nn.Linear, nn.Dropout)
"""torchvision's ViT `MLPBlock`, by position."""

CNBLOCK_LAYOUT = (nn.Conv2d, Permute, nn.LayerNorm, nn.Linear, nn.GELU, nn.Linear, Permute)
"""torchvision's `CNBlock.block`, by position."""


def _adopt(block: nn.Module, *, where: str, drop_rate: float) -> AdoptedBlock | None:
    if isinstance(block, AdoptedBlock):
        return block  # adapted before
    if not isinstance(block, (TvBasicBlock, TvBottleneck)):
        return None
    depth = 3 if isinstance(block, TvBottleneck) else 2
    return AdoptedBlock(block, depth=depth, shortcut=None if block.downsample is None else "downsample",
                        drop_rate=drop_rate)


class _AttentionParts(NamedTuple):
    norm: nn.Module  # ln_1
    attention: nn.MultiheadAttention
    dropout: nn.Module


class _MlpParts(NamedTuple):
    norm: nn.Module  # ln_2
    mlp: nn.Sequential  # MLP_LAYOUT


class TvAttentionPath(BorrowedStreamBlock):
    """An `EncoderBlock`'s `x + dropout(self_attention(ln_1(x)))`, thinning heads.

    A subnet computes q, k and v of its kept heads only (their rows of `in_proj_weight`),
    and `out_proj` reads only their outputs. The attention-weight dropout of
    `nn.MultiheadAttention` acts in full training passes only.
    """

    parts: _AttentionParts

    def hidden_units(self) -> int:
        return self.parts.attention.num_heads

    def output_layer(self) -> nn.Linear:
        return self.parts.attention.out_proj

    def unit_weights(self) -> tuple[Tensor, ...]:
        attention = self.parts.attention
        return (head_rows(attention.in_proj_weight, attention.num_heads), attention.out_proj.weight)

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:
        attention = self.parts.attention
        dropout_p = attention.dropout if attention.training and self.active is None else 0.0
        h = sliced_attention(self.parts.norm(x), attention.in_proj_weight, attention.in_proj_bias,
                             attention.out_proj, num_heads=attention.num_heads, heads=units, dropout_p=dropout_p)
        return self.parts.dropout(h)


class TvMlpPath(BorrowedStreamBlock):
    """An `EncoderBlock`'s `x + mlp(ln_2(x))`, thinning the MLP's hidden units."""

    parts: _MlpParts

    def hidden_units(self) -> int:
        return self.parts.mlp[0].out_features

    def output_layer(self) -> nn.Linear:
        return self.parts.mlp[3]

    def unit_weights(self) -> tuple[Tensor, ...]:
        return (self.parts.mlp[0].weight, self.parts.mlp[3].weight)

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:
        fc1, act, hidden_dropout, fc2, dropout = self.parts.mlp
        return dropout(sliced_mlp(fc1, fc2, self.parts.norm(x), units, (act, hidden_dropout)))


class AdoptedCNBlock(StreamBlock):
    """torchvision's `CNBlock` on its own `block`, `layer_scale` and `stochastic_depth`, thinning MLP hidden units.

    Stochastic depth acts on full passes only; a subnet pass is deterministic.
    """

    def __init__(self, block: CNBlock) -> None:
        super().__init__()
        take_over(self, block)

    def hidden_units(self) -> int:
        return self.block[3].out_features

    def output_layer(self) -> nn.Linear:
        return self.block[5]

    def output_scale(self) -> Tensor:
        return self.layer_scale

    def unit_weights(self) -> tuple[Tensor, ...]:
        return (self.block[3].weight, self.block[5].weight)

    def drop_branch(self, h: Tensor) -> Tensor:
        return self.stochastic_depth(h)

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        dwconv, to_channels_last, norm, fc1, act, fc2, to_channels_first = self.block
        h = sliced_mlp(fc1, fc2, norm(to_channels_last(dwconv(x))), units, (act,))
        return self.layer_scale * to_channels_first(h)


class AdoptedViT(AdoptedNet):
    """A torchvision `VisionTransformer` whose `EncoderBlock`s are `AdoptedTransformerBlock`s.

    The stem is the patch embedding, class token, position embedding and dropout (what the
    first block reads); the rest is the blocks, the final LayerNorm and `heads` on the class token.
    """

    def stem(self, x: Tensor) -> Tensor:
        net = self.net
        tokens = net._process_input(self.normalize(x))
        tokens = torch.cat([net.class_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return net.encoder.dropout(tokens + net.encoder.pos_embedding)

    def forward_from_stem(self, h: Tensor) -> Tensor:
        encoder = self.net.encoder
        return self.net.heads(encoder.ln(encoder.layers(h))[:, 0])


class AdoptedConvNeXt(AdoptedNet):
    """A torchvision `ConvNeXt` whose `CNBlock`s are `AdoptedCNBlock`s: stem `features[0]`, then stages and
    downsampling layers, `avgpool` and `classifier`."""

    def stem(self, x: Tensor) -> Tensor:
        return self.net.features[0](self.normalize(x))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        for i, layer in enumerate(self.net.features):
            if i > 0:
                h = layer(h)
        return self.net.classifier(self.net.avgpool(h))


def _check_layout(layers: nn.Module, layout: tuple[type, ...], *, where: str) -> None:
    """Refuse a Sequential whose layers are not exactly `layout`'s kinds, in order."""
    kinds = tuple(type(m) for m in layers.children()) if isinstance(layers, nn.Sequential) else (type(layers),)
    if kinds != layout:
        got, want = (", ".join(kind.__name__ for kind in ks) for ks in (kinds, layout))
        raise refuse(where, f"is [{got}], not [{want}]", SUPPORTED)


def _adopt_encoder_block(block: nn.Module, *, where: str) -> AdoptedTransformerBlock:
    if isinstance(block, AdoptedTransformerBlock):
        return block  # adapted before
    check_kind(block, EncoderBlock, where=where, supported=SUPPORTED)
    attention = block.self_attention
    check_kind(attention, nn.MultiheadAttention, where=f"{where}.self_attention", supported=SUPPORTED)
    check_unused({"bias_k/bias_v": attention.bias_k, "add_zero_attn": attention.add_zero_attn,
                  "separate q/k/v weights": not attention._qkv_same_embed_dim,
                  "batch_first=False": not attention.batch_first},
                 where=f"{where}.self_attention", supported=SUPPORTED)
    _check_layout(block.mlp, MLP_LAYOUT, where=f"{where}.mlp")
    return AdoptedTransformerBlock(block, attention_path=TvAttentionPath(_AttentionParts(block.ln_1, attention,
                                                                                         block.dropout)),
                                   mlp_path=TvMlpPath(_MlpParts(block.ln_2, block.mlp)))


def _adopt_cnblock(block: nn.Module, *, where: str) -> AdoptedCNBlock:
    if isinstance(block, AdoptedCNBlock):
        return block
    check_kind(block, CNBlock, where=where, supported=SUPPORTED)
    _check_layout(block.block, CNBLOCK_LAYOUT, where=f"{where}.block")
    return AdoptedCNBlock(block)


def _adopt_vit(net: VisionTransformer, *, mean: Sequence[float], std: Sequence[float]) -> AdoptedViT:
    layers = net.encoder.layers
    for name, block in layers.named_children():
        layers.add_module(name, _adopt_encoder_block(block, where=f"encoder.layers.{name}"))
    return AdoptedViT(net, mean=mean, std=std)


def _adopt_convnext(net: ConvNeXt, *, mean: Sequence[float], std: Sequence[float]) -> AdoptedConvNeXt:
    """`features` is the stem, then each stage followed by its downsampling layer (none after the last)."""
    for i in range(1, len(net.features), 2):
        stage = net.features[i]
        if not isinstance(stage, nn.Sequential):
            raise refuse(f"features.{i}", f"is a {type(stage).__name__}, not a stage of CNBlocks", SUPPORTED)
        for j, block in enumerate(list(stage)):
            stage[j] = _adopt_cnblock(block, where=f"features.{i}.{j}")
    return AdoptedConvNeXt(net, mean=mean, std=std)


def from_torchvision(
    net: nn.Module,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    drop_rate: float = 0.0,
) -> AdoptedNet:
    """Wrap a torchvision ResNet / Wide-ResNet / ResNeXt, VisionTransformer or ConvNeXt (weights already loaded)
    for subnet use, in place.

    The model then takes [0, 1] images and normalises with `mean`/`std` (ImageNet's by
    default, which torchvision's pretrained weights expect). `drop_rate` adds dropout
    between a ResNet's branch convs (the paper's dropout baseline); ViTs and ConvNeXts
    bring their own dropout and stochastic depth.
    """
    if isinstance(net, ResNet):
        adopt_stages(net, lambda block, where: _adopt(block, where=where, drop_rate=drop_rate),
                     family="torchvision", supported=SUPPORTED)
        return AdoptedResNet(net, mean=mean, std=std)
    if drop_rate:
        raise ConfigError(f"drop_rate adds dropout between ResNet branch convs; a {type(net).__name__} "
                          "has its own dropout options")
    if isinstance(net, VisionTransformer):
        return _adopt_vit(net, mean=mean, std=std)
    if isinstance(net, ConvNeXt):
        return _adopt_convnext(net, mean=mean, std=std)
    raise ConfigError(f"{qualified_name(net)} is not a torchvision ResNet, VisionTransformer or ConvNeXt; "
                      f"supported: {SUPPORTED}")


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


def _tv_vit(shape: dict[str, int], *, num_classes: int, image_size: int, mean: Sequence[float] = IMAGENET_MEAN,
            std: Sequence[float] = IMAGENET_STD, **kwargs) -> AdoptedViT:
    """A torchvision `VisionTransformer` of `shape`, which `kwargs` (its own arguments) may override.

    torchvision zero-initialises the classifier for fine-tuning; trained from scratch, every
    subnet would then start with the full network's output and EWS's subnet term with no
    signal, so it starts truncated-normal (std 0.02), as timm's and `ews`'s own ViTs do.
    """
    net = VisionTransformer(image_size=image_size, num_classes=num_classes, **(shape | kwargs))
    nn.init.trunc_normal_(net.heads.head.weight, std=0.02)
    return from_torchvision(net, mean=mean, std=std)


@register
def tv_vit_b_16(*, num_classes: int, image_size: int = 224, **kwargs) -> AdoptedViT:
    """torchvision's ViT-B/16 (random init): 16x16 patches, 12 layers of 12 heads, 768 wide, MLP 3072.

    Any `torchvision.models.VisionTransformer` argument (`patch_size`, `num_layers`,
    `num_heads`, `hidden_dim`, `mlp_dim`, `dropout`, ...) overrides the shape.
    """
    shape = {"patch_size": 16, "num_layers": 12, "num_heads": 12, "hidden_dim": 768, "mlp_dim": 3072}
    return _tv_vit(shape, num_classes=num_classes, image_size=image_size, **kwargs)


@register
def tv_vit_s_16(*, num_classes: int, image_size: int = 224, **kwargs) -> AdoptedViT:
    """ViT-S/16 (DeiT-S's shape) as a torchvision `VisionTransformer` (random init): 12 layers of 6 heads,
    384 wide, MLP 1536; arguments as for `tv_vit_b_16`."""
    shape = {"patch_size": 16, "num_layers": 12, "num_heads": 6, "hidden_dim": 384, "mlp_dim": 1536}
    return _tv_vit(shape, num_classes=num_classes, image_size=image_size, **kwargs)


@register
def tv_convnext_tiny(
    *,
    num_classes: int,
    widths: Sequence[int] = (96, 192, 384, 768),
    depths: Sequence[int] = (3, 3, 9, 3),
    stochastic_depth_prob: float = 0.1,
    layer_scale: float = 1e-6,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> AdoptedConvNeXt:
    """torchvision's ConvNeXt-T (random init): stages 96-192-384-768 wide, 3-3-9-3 blocks.

    Its 4x4 stem and 2x2 downsampling layers need 32 px inputs for two stages, 224 px for four.
    """
    if len(widths) != len(depths) or not widths:
        raise ConfigError(f"tv_convnext_tiny needs one width per stage, got widths={widths} and depths={depths}")
    setting = [CNBlockConfig(width, out, depth)
               for width, out, depth in zip(widths, [*widths[1:], None], depths)]
    net = ConvNeXt(setting, stochastic_depth_prob=stochastic_depth_prob, layer_scale=layer_scale,
                   num_classes=num_classes)
    return from_torchvision(net, mean=mean, std=std)
