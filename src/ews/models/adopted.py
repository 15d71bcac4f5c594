"""Networks of other libraries, re-hosted so `ews` can run their subnets.

An adapter swaps each foreign block for one that adopts the very same submodules under the
same attribute names: a ResNet block becomes an `AdoptedBlock` (a `ResidualBlock`), a ConvNeXt
block a `StreamBlock`, and a transformer block an `AdoptedTransformerBlock` holding two
`StreamBlock`s (attention, MLP) that borrow its modules. Parameters are shared, not copied,
and `model.net.state_dict()` has exactly the original model's keys, so published weights
load into `model.net` unchanged and the full network computes what the original did (the
adapters' tests compare outputs). A block with a part the subnet space does not know is
refused by name rather than half supported.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .layers import BranchLayout, Normalize, ResidualBlock, StreamBlock
from .sliced import SLICEABLE_NORMS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class AdoptedBlock(ResidualBlock):
    """A foreign post-activation residual block (conv, norm, ReLU, ..., conv, norm; + shortcut; ReLU)."""

    def __init__(self, block: nn.Module, *, depth: int, shortcut: str | None, drop_rate: float = 0.0) -> None:
        convs = tuple(f"conv{i}" for i in range(1, depth + 1))
        norms = tuple(f"bn{i}" for i in range(1, depth + 1))
        super().__init__(BranchLayout(convs, norms, shortcut), preact=False, drop_rate=drop_rate)
        adopted = set(convs + norms + ((shortcut,) if shortcut else ()))
        for name, module in block.named_children():  # in the block's own order, so state-dict keys keep it too
            if name in adopted:
                setattr(self, name, module)


def take_over(target: nn.Module, source: nn.Module) -> None:
    """Make `source`'s own parameters, buffers and submodules `target`'s, under the same names.

    Registered in `source`'s order, so `target.state_dict()` has `source`'s keys in their order.
    """
    for name, param in source.named_parameters(recurse=False):
        target.register_parameter(name, param)
    for name, buffer in source.named_buffers(recurse=False):
        target.register_buffer(name, buffer, persistent=name not in source._non_persistent_buffers_set)
    for name, module in source.named_children():
        target.add_module(name, module)


class BorrowedStreamBlock(StreamBlock):
    """A `StreamBlock` computing with modules its parent owns (a transformer block's attention or MLP half).

    It holds them in `parts`, a tuple, not a Module attribute: it registers no parameters or
    submodules, so the parent keeps the original state-dict keys and the sub-block adds none.
    """

    def __init__(self, parts: tuple) -> None:
        super().__init__()
        self.parts = parts


class AdoptedTransformerBlock(nn.Module):
    """A foreign pre-norm transformer block as two `StreamBlock`s on its own modules: attention, then MLP.

    The block's submodules stay this module's children under their names (state-dict keys
    unchanged); `attention_path` and `mlp_path` borrow them, so a subnet may keep one
    sub-block's branch and drop the other's, as in `ews.models.vit`.
    """

    def __init__(self, block: nn.Module, *, attention_path: BorrowedStreamBlock,
                 mlp_path: BorrowedStreamBlock) -> None:
        super().__init__()
        take_over(self, block)
        self.attention_path = attention_path
        self.mlp_path = mlp_path

    def forward(self, x: Tensor) -> Tensor:  # (B, N, dim) -> (B, N, dim)
        return self.mlp_path(self.attention_path(x))


class AdoptedNet(nn.Module):
    """`Normalize` followed by a foreign network `net` whose blocks are adopted, split at its first block.

    Subclasses say where the stem ends (`stem`) and how the rest runs (`forward_from_stem`),
    which lets subnet passes reuse a full pass's stem (`ews.subnets.SharedStem`).
    """

    def __init__(self, net: nn.Module, *, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) in [0, 1] -> (B, num_classes)
        return self.forward_from_stem(self.stem(x))

    def stem(self, x: Tensor) -> Tensor:
        """Everything before the first block: outside the subnet space."""
        raise NotImplementedError

    def forward_from_stem(self, h: Tensor) -> Tensor:
        """The blocks and the classifier, from a `stem` output."""
        raise NotImplementedError


class AdoptedResNet(AdoptedNet):
    """A foreign ResNet (`net`) whose residual blocks are `AdoptedBlock`s.

    The stem is `conv1, bn1, relu (act1 in timm), maxpool`; the head is the net's own
    `forward_head` (timm) or `avgpool` + `fc` (torchvision).
    """

    chained_blocks = True  # each residual block feeds the next directly (see `use_subnet`)

    def stem(self, x: Tensor) -> Tensor:
        """Everything before the first residual block: outside the subnet space (`ews.subnets.SharedStem`)."""
        net = self.net
        act = net.relu if hasattr(net, "relu") else net.act1
        return net.maxpool(act(net.bn1(net.conv1(self.normalize(x)))))

    def forward_from_stem(self, h: Tensor) -> Tensor:
        """The residual stages and the classifier."""
        net = self.net
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            h = stage(h)
        if hasattr(net, "forward_head"):
            return net.forward_head(h)
        return net.fc(torch.flatten(net.avgpool(h), 1))


def adopt_stages(net: nn.Module, adopt: type, *, family: str, supported: str) -> None:
    """Replace, in place, every residual block of `net`'s four stages with `adopt(block)`'s result.

    `adopt` returns None for a module that is not a block of this family; a net without
    ResNet stages, or with a block of another kind or with branch norms a subnet cannot
    slice, is refused in one line naming what is supported.
    """
    stages = [getattr(net, f"layer{i}", None) for i in range(1, 5)]
    if not all(isinstance(stage, nn.Sequential) for stage in stages):
        raise ConfigError(f"{type(net).__name__} is not a {family} ResNet (it has no layer1..layer4 stages); "
                          f"supported: {supported}")
    for s, stage in enumerate(stages, start=1):
        for i, block in enumerate(stage):
            adopted = adopt(block, where=f"layer{s}.{i}")
            if adopted is None:
                raise ConfigError(f"layer{s}.{i} of {type(net).__name__} is a {type(block).__name__}, not a {family} "
                                  f"residual block; supported: {supported}")
            _check_sliceable_norms(adopted, where=f"{family} block layer{s}.{i}")
            stage[i] = adopted


def refuse(where: str, what: str, supported: str) -> ConfigError:
    """The one-line error for a part ews subnets cannot run: where it is, what it is, what is supported."""
    return ConfigError(f"{where} {what}, which ews subnets do not support; supported: {supported}")


def qualified_name(obj: object) -> str:
    """`module.Class` of `obj`, which tells a torchvision ResNet from a timm one."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def check_kind(module: object, kind: type, *, where: str, supported: str) -> None:
    """Refuse `module` unless it is exactly a `kind` (a subclass may compute something else)."""
    if type(module) is not kind:
        raise refuse(where, f"is a {type(module).__name__}, not a {kind.__module__}.{kind.__name__}", supported)


def check_unused(parts: dict[str, object], *, where: str, supported: str) -> None:
    """Refuse a block using any of `parts` (name: the part, or a flag; None, False or `nn.Identity` when unused)."""
    used = [name for name, part in parts.items()
            if part is not None and part is not False and not isinstance(part, nn.Identity)]
    if used:
        raise refuse(where, f"uses {', '.join(used)}", supported)


def _check_sliceable_norms(block: ResidualBlock, *, where: str) -> None:
    """Refuse a block whose branch norms a sliced subnet would compute wrongly (`SLICEABLE_NORMS`).

    A sliced GroupNorm, say, would be batch-normalised in training and fail in eval: better
    one line at adapter time than subnets that silently compute something else.
    """
    for name, norm in zip(block.layout.norms, block.branch_norms()):
        if norm is not None and type(norm) not in SLICEABLE_NORMS:
            allowed = ", ".join(cls.__name__ for cls in SLICEABLE_NORMS)
            raise ConfigError(f"{where} normalises with {type(norm).__name__} ({name}), which ews subnets cannot "
                              f"slice per channel; supported: {allowed}")
