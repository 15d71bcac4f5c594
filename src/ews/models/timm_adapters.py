"""timm's ResNets, Vision Transformers (DeiT included) and ConvNeXts as EWS models (optional extra `ews[timm]`).

`from_timm` adopts, keeping timm's state-dict keys and outputs:

- each ResNet `BasicBlock`/`Bottleneck` whose branch is the plain conv-norm-ReLU chain
  (resnet*, the 'd'/'c'/'s'/'t' stems and shortcuts, wide_resnet*, resnext*). Blocks with
  squeeze-excitation, anti-aliasing, DropBlock, drop-path, other activations or norms other
  than BatchNorm2d / FrozenBatchNorm2d (resnet50_gn's GroupNorm) change what a subnet
  would be, so they are refused in one line rather than silently mis-sliced;
- each `vision_transformer.Block` (attention heads and MLP hidden units thinned, layer
  scale and drop-path kept; q/k normalisation, attention output norms, gated attention
  and MLP norms refused);
- each `convnext.ConvNeXtBlock` (MLP hidden units thinned: rows and columns of its linear
  layers, or with `conv_mlp` (convnext_atto, _femto, _pico, _nano) output and input
  channels of its 1x1 convs; ConvNeXt-V2's GRN and projecting shortcuts refused).

Drop-path acts on full passes only; a subnet pass is deterministic.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

from torch import Tensor, nn

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
from .vit import head_rows

SUPPORTED = ("timm ResNets with plain blocks (resnet18..resnet200 and their d/c/s/t variants, wide_resnet50_2, "
             "wide_resnet101_2, resnext*), without SE, anti-aliasing, DropBlock or drop-path; timm "
             "VisionTransformers of plain Blocks (vit_*, deit_*, deit3_*) without q/k or attention-output norms; "
             "timm ConvNeXts (convnext_*, conv_mlp ones too; not ConvNeXt-V2's GRN)")


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
        raise refuse(f"timm block {where}", f"uses {what}", SUPPORTED)
    return AdoptedBlock(block, depth=depth, shortcut=None if block.downsample is None else "downsample")


class _AttentionParts(NamedTuple):
    norm: nn.Module  # norm1
    attention: nn.Module  # timm Attention: qkv, attn_drop, proj, proj_drop
    scale: nn.Module  # ls1: LayerScale or Identity
    drop_path: nn.Module  # drop_path1


class _MlpParts(NamedTuple):
    norm: nn.Module  # norm2
    mlp: nn.Module  # timm Mlp: fc1, act, drop1, fc2, drop2
    scale: nn.Module  # ls2
    drop_path: nn.Module  # drop_path2


def _gamma(scale: nn.Module | None) -> Tensor | None:
    """A layer scale's per-feature factors (None: no layer scale)."""
    return getattr(scale, "gamma", None)


def _timm_mlp(mlp: nn.Module, x: Tensor, units: Tensor | None) -> Tensor:
    """A timm `Mlp` (norm unused) computing only the kept hidden `units`."""
    return mlp.drop2(sliced_mlp(mlp.fc1, mlp.fc2, x, units, (mlp.act, mlp.drop1)))


class TimmAttentionPath(BorrowedStreamBlock):
    """A timm `Block`'s `x + drop_path1(ls1(attn(norm1(x))))`, thinning heads (their rows of `attn.qkv`)."""

    parts: _AttentionParts

    def hidden_units(self) -> int:
        return self.parts.attention.num_heads

    def output_layer(self) -> nn.Linear:
        return self.parts.attention.proj

    def output_scale(self) -> Tensor | None:
        return _gamma(self.parts.scale)

    def unit_weights(self) -> tuple[Tensor, ...]:
        attention = self.parts.attention
        return (head_rows(attention.qkv.weight, attention.num_heads), attention.proj.weight)

    def drop_branch(self, h: Tensor) -> Tensor:
        return self.parts.drop_path(h)

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:
        attention = self.parts.attention
        dropout_p = attention.attn_drop.p if attention.attn_drop.training else 0.0  # off in subnet passes
        h = sliced_attention(self.parts.norm(x), attention.qkv.weight, attention.qkv.bias, attention.proj,
                             num_heads=attention.num_heads, heads=units, dropout_p=dropout_p)
        return self.parts.scale(attention.proj_drop(h))


class TimmMlpPath(BorrowedStreamBlock):
    """A timm `Block`'s `x + drop_path2(ls2(mlp(norm2(x))))`, thinning the MLP's hidden units."""

    parts: _MlpParts

    def hidden_units(self) -> int:
        return self.parts.mlp.fc1.out_features

    def output_layer(self) -> nn.Linear:
        return self.parts.mlp.fc2

    def output_scale(self) -> Tensor | None:
        return _gamma(self.parts.scale)

    def unit_weights(self) -> tuple[Tensor, ...]:
        return (self.parts.mlp.fc1.weight, self.parts.mlp.fc2.weight)

    def drop_branch(self, h: Tensor) -> Tensor:
        return self.parts.drop_path(h)

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:
        return self.parts.scale(_timm_mlp(self.parts.mlp, self.parts.norm(x), units))


class AdoptedTimmConvNeXtBlock(StreamBlock):
    """timm's `ConvNeXtBlock` on its own modules, thinning MLP hidden units; drop-path on full passes.

    With `conv_mlp` the MLP is two 1x1 convs on (B, C, H, W) after a channels-first
    LayerNorm, as timm computes it; else two linear layers on (B, H, W, C).
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        take_over(self, block)
        self.use_conv_mlp = bool(block.use_conv_mlp)

    def hidden_units(self) -> int:
        return self.mlp.fc1.weight.shape[0]

    def output_layer(self) -> nn.Linear | nn.Conv2d:
        return self.mlp.fc2

    def output_scale(self) -> Tensor | None:
        return self.gamma

    def unit_weights(self) -> tuple[Tensor, ...]:
        return (self.mlp.fc1.weight, self.mlp.fc2.weight)

    def drop_branch(self, h: Tensor) -> Tensor:
        return self.drop_path(h)

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        if self.use_conv_mlp:
            h = _timm_mlp(self.mlp, self.norm(self.conv_dw(x)), units)
        else:
            h = _timm_mlp(self.mlp, self.norm(self.conv_dw(x).permute(0, 2, 3, 1)), units).permute(0, 3, 1, 2)
        return h if self.gamma is None else h.mul(self.gamma.reshape(1, -1, 1, 1))


class AdoptedTimmViT(AdoptedNet):
    """A timm `VisionTransformer` whose `Block`s are `AdoptedTransformerBlock`s.

    The stem is patch embedding, position embedding (and prefix tokens), patch dropout and
    `norm_pre`; the rest is the blocks, `norm` and the net's own `forward_head`.
    """

    def stem(self, x: Tensor) -> Tensor:
        net = self.net
        return net.norm_pre(net.patch_drop(net._pos_embed(net.patch_embed(self.normalize(x)))))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        return self.net.forward_head(self.net.norm(self.net.blocks(h)))


class AdoptedTimmConvNeXt(AdoptedNet):
    """A timm `ConvNeXt` whose blocks are `AdoptedTimmConvNeXtBlock`s: the stem ends before the first block
    (after the first stage's downsampling, an identity in timm's ConvNeXts)."""

    def stem(self, x: Tensor) -> Tensor:
        return self.net.stages[0].downsample(self.net.stem(self.normalize(x)))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        net = self.net
        for i, stage in enumerate(net.stages):
            h = stage.blocks(h) if i == 0 else stage(h)
        return net.forward_head(net.norm_pre(h))


def _check_timm_mlp(mlp: nn.Module, kind: type, *, where: str, conv: bool = False) -> None:
    """A timm `Mlp` of two linear layers, or (`conv`) of two plain 1x1 convs, without a hidden norm."""
    check_kind(mlp, kind, where=where, supported=SUPPORTED)
    check_unused({"norm": mlp.norm}, where=where, supported=SUPPORTED)
    for name in ("fc1", "fc2"):
        layer = getattr(mlp, name)
        check_kind(layer, nn.Conv2d if conv else nn.Linear, where=f"{where}.{name}", supported=SUPPORTED)
        if conv and (layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.groups) != (
                (1, 1), (1, 1), (0, 0), (1, 1), 1):
            raise refuse(f"{where}.{name}", "is not a plain 1x1 conv", SUPPORTED)


def _adopt_vit_block(block: nn.Module, *, where: str, kinds: dict[str, type]) -> AdoptedTransformerBlock:
    """`kinds`: timm's Block, Attention, Mlp and LayerScale classes."""
    if isinstance(block, AdoptedTransformerBlock):
        return block
    check_kind(block, kinds["Block"], where=where, supported=SUPPORTED)
    attention = block.attn
    check_kind(attention, kinds["Attention"], where=f"{where}.attn", supported=SUPPORTED)
    check_unused({"q_norm": attention.q_norm, "k_norm": attention.k_norm, "norm": attention.norm,
                  "gate": getattr(attention, "gate", None)}, where=f"{where}.attn", supported=SUPPORTED)
    _check_timm_mlp(block.mlp, kinds["Mlp"], where=f"{where}.mlp")
    for name in ("ls1", "ls2"):
        scale = getattr(block, name)
        if not isinstance(scale, nn.Identity):
            check_kind(scale, kinds["LayerScale"], where=f"{where}.{name}", supported=SUPPORTED)
    attention_path = TimmAttentionPath(_AttentionParts(block.norm1, attention, block.ls1, block.drop_path1))
    mlp_path = TimmMlpPath(_MlpParts(block.norm2, block.mlp, block.ls2, block.drop_path2))
    return AdoptedTransformerBlock(block, attention_path=attention_path, mlp_path=mlp_path)


def _adopt_convnext_block(block: nn.Module, *, where: str, kinds: dict[str, type]) -> AdoptedTimmConvNeXtBlock:
    """`kinds`: timm's ConvNeXtBlock and Mlp classes."""
    if isinstance(block, AdoptedTimmConvNeXtBlock):
        return block
    check_kind(block, kinds["ConvNeXtBlock"], where=where, supported=SUPPORTED)
    check_unused({"a projecting shortcut": block.shortcut}, where=where, supported=SUPPORTED)
    _check_timm_mlp(block.mlp, kinds["Mlp"], where=f"{where}.mlp", conv=block.use_conv_mlp)
    return AdoptedTimmConvNeXtBlock(block)


def _adopt_vit(net: nn.Module, kinds: dict[str, type], *, mean: Sequence[float],
               std: Sequence[float]) -> AdoptedTimmViT:
    for i, block in enumerate(list(net.blocks)):
        net.blocks[i] = _adopt_vit_block(block, where=f"blocks.{i}", kinds=kinds)
    return AdoptedTimmViT(net, mean=mean, std=std)


def _adopt_convnext(net: nn.Module, kinds: dict[str, type], *, mean: Sequence[float],
                    std: Sequence[float]) -> AdoptedTimmConvNeXt:
    for s, stage in enumerate(net.stages):
        for i, block in enumerate(list(stage.blocks)):
            stage.blocks[i] = _adopt_convnext_block(block, where=f"stages.{s}.blocks.{i}", kinds=kinds)
    return AdoptedTimmConvNeXt(net, mean=mean, std=std)


def _timm_kinds() -> dict[str, type]:
    """timm's model and block classes by name; a clear error without timm."""
    try:
        from timm.layers import Attention, LayerScale, Mlp
        from timm.models.convnext import ConvNeXt, ConvNeXtBlock
        from timm.models.resnet import BasicBlock, Bottleneck, ResNet
        from timm.models.vision_transformer import Block, VisionTransformer
    except ImportError:
        raise ConfigError("from_timm needs timm: pip install 'ews-robust[timm]'") from None
    return {"ResNet": ResNet, "BasicBlock": BasicBlock, "Bottleneck": Bottleneck,
            "VisionTransformer": VisionTransformer, "Block": Block, "Attention": Attention, "Mlp": Mlp,
            "LayerScale": LayerScale, "ConvNeXt": ConvNeXt, "ConvNeXtBlock": ConvNeXtBlock}


def from_timm(net: nn.Module, *, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> AdoptedNet:
    """Wrap a timm ResNet, VisionTransformer (DeiT included) or ConvNeXt (weights already loaded) for subnet use,
    in place; it then takes [0, 1] images.

    Pass the `mean`/`std` the weights were trained with (timm's `pretrained_cfg` has them).
    """
    kinds = _timm_kinds()
    if isinstance(net, kinds["ResNet"]):
        adopt_stages(net, partial(_adopt, kinds=(kinds["BasicBlock"], kinds["Bottleneck"])), family="timm",
                     supported=SUPPORTED)
        return AdoptedResNet(net, mean=mean, std=std)
    if isinstance(net, kinds["VisionTransformer"]):
        return _adopt_vit(net, kinds, mean=mean, std=std)
    if isinstance(net, kinds["ConvNeXt"]):
        return _adopt_convnext(net, kinds, mean=mean, std=std)
    raise ConfigError(f"{qualified_name(net)} is not a timm ResNet, VisionTransformer or ConvNeXt; "
                      f"supported: {SUPPORTED}")
