"""Building blocks shared by every model: input normalisation, the two-path block and the residual block.

The subnet space sees a model only through its `PathBlock`s: a branch and the skip
around it, the branch computing sets of units a subnet may thin. Every residual block
of a CNN is one `ResidualBlock`: a chain of convolutions (the residual branch) plus a
shortcut (identity or projection). Describing the branch as data (`BranchLayout`) lets
one forward and one sliced subnet forward serve basic, bottleneck, pre-activation and
wide blocks alike, and lets torchvision's blocks be adopted without renaming a single
state-dict key. Transformer and ConvNeXt blocks (`ews.models.vit`, `ews.models.convnext`)
are `PathBlock`s too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sliced import GatheredNorms, sliced_batch_norm, sliced_conv2d


class Normalize(nn.Module):
    """Standardise [0, 1] pixels with per-channel mean/std held as buffers.

    Models own their normalisation so that augmentations, corruptions and attacks
    (AutoAttack requires [0, 1] input) all work on raw pixels, and a checkpoint carries
    the statistics it was trained with.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) in [0, 1]
        return (x - self.mean) / self.std


@dataclass(frozen=True)
class BranchLayout:
    """Attribute names of a block's parts, in execution order.

    `convs[i]` is followed by `norms[i]` (None: no norm) and, except after the last
    conv, by ReLU and dropout. `pre_norm` (pre-activation blocks) normalises the block
    input; a projection shortcut then reads that pre-activated input. `shortcut` is
    None for an identity shortcut.
    """

    convs: tuple[str, ...]
    norms: tuple[str | None, ...]
    shortcut: str | None
    pre_norm: str | None = None


class ActiveChoice(NamedTuple):
    """A block's part of a subnet, as tensors ready for execution.

    `channels[i]` holds the kept output channels of branch conv i (sorted long tensor on
    the model's device), or None when all are kept. `thin_output` lets the block return
    a `Thinned` output; it is set only where the next module is another residual block.
    `relu_input` says the input is a ReLU output (the previous block ends in one), so a
    block that keeps only its identity shortcut can hand it on without another ReLU.
    `norms` (when set) serves the kept weight and bias of branch norm i from the pass's one
    gather (`GatheredNorms`), at slot `norm_slots[i]` (None: the norm gathers its own).
    """

    branch: bool
    shortcut: bool
    channels: tuple[Tensor | None, ...]
    thin_output: bool = False
    relu_input: bool = False
    norms: GatheredNorms | None = None
    norm_slots: tuple[int | None, ...] = ()

    def norm_parameters(self, i: int) -> tuple[Tensor, Tensor] | None:
        """The kept weight and bias of branch norm i, if the pass's one gather holds them."""
        slot = self.norm_slots[i] if self.norm_slots else None
        return None if slot is None or self.norms is None else self.norms.slot(slot)


class Thinned(NamedTuple):
    """A block output that is zero outside `channels`, held as those channels only.

    A subnet block that keeps its residual branch but drops its shortcut outputs zeros
    in every channel its last conv dropped (ReLU keeps them zero). Handing the next
    block just the kept channels saves a full-width zero fill, scatter and ReLU, and
    the next block's convs read only those input channels.
    """

    values: Tensor  # (B, len(channels), H, W)
    channels: Tensor  # sorted long, on the values' device
    width: int  # the full channel count

    def dense(self) -> Tensor:
        """The full-width tensor, zeros in the dropped channels."""
        b, _, h, w = self.values.shape
        out = self.values.new_zeros(b, self.width, h, w)
        if self.values.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        return out.index_copy_(1, self.channels, self.values)


class PathBlock(nn.Module):
    """A block of two paths, a branch and the skip around it, whose branch computes sets of units.

    A subnet keeps some of the two paths and, in a kept branch, some units of each set:
    a conv's output channels, a transformer's attention heads or MLP hidden units. The
    subnet space, its execution, the searches and the analysis know a model only through
    this interface; `ews.subnets.use_subnet` sets `active`, and the block's forward then
    computes only the kept paths and units.
    """

    whole_units: int = 0
    """Trailing unit sets that no reading thins (a transformer's residual stream)."""

    def __init__(self) -> None:
        super().__init__()
        self.active: ActiveChoice | None = None

    @property
    def downsampling(self) -> bool:
        """True where the block changes resolution or width (its skip is a projection)."""
        return False

    def unit_widths(self) -> tuple[int, ...]:
        """The number of units in each of the branch's unit sets, in execution order."""
        raise NotImplementedError

    def unit_groups(self) -> tuple[int, ...]:
        """Per unit set, the equal groups its kept units are balanced over (1: a free choice)."""
        return (1,) * len(self.unit_widths())

    def unit_weights(self) -> tuple[Tensor, ...]:
        """Per unit set, the weights that compute each unit, one row per unit (the L1 baseline scores them)."""
        raise NotImplementedError

    def path_gains(self) -> Tensor:
        """The gains with which the branch's and the skip's outputs enter the sum, indexed by path."""
        raise NotImplementedError


class StreamBlock(PathBlock):
    """`x + branch(x)` on a residual stream that stays whole: transformer sub-blocks and ConvNeXt blocks.

    The branch's one thinnable unit set (attention heads, MLP hidden units) comes first,
    then the stream itself, which no reading thins (`whole_units = 1`): the LayerNorms
    on it mix all of its features. The full forward runs the same branch code with
    every unit kept, so a full subnet is bit-identical to it.
    """

    whole_units = 1

    def hidden_units(self) -> int:
        """The number of units of the branch's thinnable set."""
        raise NotImplementedError

    def output_layer(self) -> nn.Linear | nn.Conv2d:
        """The layer whose outputs the branch adds to the stream: linear, or a 1x1 conv on (B, C, H, W) maps."""
        raise NotImplementedError

    def branch(self, x: Tensor, units: Tensor | None) -> Tensor:
        """The branch computing only the kept `units` (None: all)."""
        raise NotImplementedError

    def output_scale(self) -> Tensor | None:
        """Per stream feature, the layer scale on the output layer's outputs (None: none)."""
        return None

    def drop_branch(self, h: Tensor) -> Tensor:
        """Stochastic depth on a full pass's branch output (none by default).

        Subnet passes never drop: like dropout, it would make a subnet's output random.
        """
        return h

    def unit_widths(self) -> tuple[int, ...]:
        return (self.hidden_units(), self.output_layer().weight.shape[0])

    def path_gains(self) -> Tensor:
        """Branch: the mean over stream features of |layer scale| times the L1 norm of the output layer's row
        (a conv filter's gain); identity skip: 1."""
        rows = self.output_layer().weight.detach().abs().flatten(1).sum(dim=1)
        scale = self.output_scale()
        branch = (rows if scale is None else scale.detach().abs().flatten() * rows).mean()
        return torch.stack([branch, torch.ones_like(branch)])

    def forward(self, x: Tensor) -> Tensor:
        if self.active is None:
            return x + self.drop_branch(self.branch(x, None))
        if not self.active.branch:
            return x
        units, stream = self.active.channels
        if stream is not None:
            raise ValueError(f"a {type(self).__name__} keeps its residual stream whole (whole_units = 1)")
        h = self.branch(x, units)
        return x + h if self.active.shortcut else h


def trunc_normal_init(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) conv and linear weights and zero biases (ConvNeXt's and ViT's usual start)."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ResidualBlock(PathBlock):
    """`out = act(branch(x) + shortcut(x))`, runnable whole or as a sliced subnet.

    Under a subnet (`ews.subnets.use_subnet` sets `active`), dropped paths are not
    computed, each branch conv computes only its kept output channels from the kept
    channels of the conv before it, and the last conv's kept outputs are added onto the
    shortcut at their channel positions (the other channels carry the shortcut alone);
    without a shortcut they leave the block as a `Thinned` output when the next block
    reads it. Weights are indexed, not copied into new parameters, so gradients flow
    into the shared full weights.
    """

    layout: BranchLayout
    preact: bool

    def __init__(self, layout: BranchLayout, *, preact: bool, drop_rate: float = 0.0) -> None:
        super().__init__()
        if len(layout.convs) != len(layout.norms):
            raise ValueError("BranchLayout needs one norm entry per conv")
        self.layout = layout
        self.preact = preact
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()

    # Structure, for the subnet space and the tests' masking oracle.
    def unit_widths(self) -> tuple[int, ...]:
        return tuple(conv.out_channels for conv in self.branch_convs())

    def unit_groups(self) -> tuple[int, ...]:
        """A conv's outputs stay balanced over its own groups and those of the conv it feeds (ResNeXt)."""
        convs = self.branch_convs()
        feeds = [conv.groups for conv in convs[1:]] + [1]
        return tuple(math.lcm(conv.groups, after) for conv, after in zip(convs, feeds))

    def unit_weights(self) -> tuple[Tensor, ...]:
        return tuple(conv.weight for conv in self.branch_convs())

    def path_gains(self) -> Tensor:
        """Mean |weight| of each path's last BatchNorm (its scale) or else conv; an identity skip has gain 1."""
        norm = self.branch_norms()[-1]
        branch = _output_gain([self.branch_convs()[-1]] + ([norm] if norm is not None else []))
        projection = self.projection()
        skip = torch.ones((), device=branch.device) if projection is None else _output_gain(list(projection.modules()))
        return torch.stack([branch, skip])

    def branch_convs(self) -> list[nn.Conv2d]:
        return [getattr(self, name) for name in self.layout.convs]

    def branch_norms(self) -> list[nn.Module | None]:
        return [None if name is None else getattr(self, name) for name in self.layout.norms]

    def projection(self) -> nn.Module | None:
        return None if self.layout.shortcut is None else getattr(self, self.layout.shortcut)

    @property
    def downsampling(self) -> bool:
        return self.projection() is not None

    def pre_activation(self, x: Tensor | Thinned) -> Tensor | Thinned:
        if self.layout.pre_norm is None:
            return x
        return F.relu(getattr(self, self.layout.pre_norm)(x))

    def shortcut_path(self, x: Tensor, pre: Tensor) -> Tensor:
        projection = self.projection()
        if projection is None:
            return x
        return projection(pre if self.preact else x)

    def finish(self, out: Tensor) -> Tensor:
        return out if self.preact else F.relu(out)

    def forward(self, x: Tensor | Thinned) -> Tensor | Thinned:  # (B, C_in, H, W) -> (B, C_out, H', W')
        if self.active is not None:
            return self._forward_subnet(x, self.active)
        pre = self.pre_activation(x)
        h = pre
        last = len(self.layout.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.branch_convs(), self.branch_norms())):
            h = conv(h)
            if norm is not None:
                h = norm(h)
            if i < last:
                h = self.drop(F.relu(h))
        return self.finish(h + self.shortcut_path(x, pre))

    def _forward_subnet(self, x: Tensor | Thinned, choice: ActiveChoice) -> Tensor | Thinned:
        if isinstance(x, Thinned) and self.layout.pre_norm is not None:
            x = x.dense()  # normalising a zero channel makes it non-zero
        pre = self.pre_activation(x)
        out = self._subnet_shortcut(x, pre) if choice.shortcut else None
        if choice.branch:
            h, kept = self._subnet_branch(pre, choice)
            if out is None:
                out = h if kept is None else Thinned(h, kept, self.branch_convs()[-1].out_channels)
            else:
                out = out.dense() if isinstance(out, Thinned) else out
                out = out + h if kept is None else out.index_add(1, kept, h)
        # A subnet always keeps at least one path, so `out` is set here.
        finished = choice.relu_input and not choice.branch and self.layout.shortcut is None  # relu(relu(x))
        if not isinstance(out, Thinned):
            return out if finished else self.finish(out)
        if not finished:
            out = out._replace(values=self.finish(out.values))  # ReLU keeps the dropped channels zero
        return out if choice.thin_output else out.dense()

    def _subnet_shortcut(self, x: Tensor | Thinned, pre: Tensor | Thinned) -> Tensor | Thinned:
        projection = self.projection()
        if projection is None:
            return x
        source = pre if self.preact else x
        if not isinstance(source, Thinned):
            return projection(source)
        parts = list(projection) if isinstance(projection, nn.Sequential) else []
        if not parts or not isinstance(parts[0], nn.Conv2d):
            return projection(source.dense())
        h = sliced_conv2d(parts[0], source.values, out_idx=None, in_idx=source.channels)
        for module in parts[1:]:
            h = module(h)
        return h

    def _subnet_branch(self, pre: Tensor | Thinned, choice: ActiveChoice) -> tuple[Tensor, Tensor | None]:
        """The kept channels of the branch output, and which they are (None: all)."""
        convs = self.branch_convs()
        if isinstance(pre, Thinned) and convs[0].groups > 1:
            pre = pre.dense()  # a grouped conv reads its input in equal groups; a thinned one is not balanced
        h, in_idx = (pre.values, pre.channels) if isinstance(pre, Thinned) else (pre, None)
        last = len(convs) - 1
        for i, (conv, norm, idx) in enumerate(zip(convs, self.branch_norms(), choice.channels)):
            h = sliced_conv2d(conv, h, out_idx=idx, in_idx=in_idx)
            if norm is not None:
                h = sliced_batch_norm(norm, h, idx, parameters=choice.norm_parameters(i))
            if i < last:
                h = self.drop(F.relu(h))
            in_idx = idx
        return h, in_idx


def _output_gain(layers: list[nn.Module]) -> Tensor:
    """Mean |weight| per output channel of the last BatchNorm or conv among `layers`.

    A BatchNorm output's magnitude does not depend on the conv weights before it, so its
    scale is the gain; a conv's gain is its mean filter L1 norm.
    """
    last = [m for m in layers if isinstance(m, (nn.Conv2d, nn.modules.batchnorm._BatchNorm))][-1]
    if isinstance(last, nn.Conv2d):
        return last.weight.detach().abs().sum(dim=(1, 2, 3)).mean()
    return last.weight.detach().abs().mean()
