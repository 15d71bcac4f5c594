"""Sliced operators: a layer computed on some of its units only, for a subnet pass at the subnet's cost.

Each takes the full layer's parameters and sorted index tensors of the kept units (None: all) and runs the
smaller operator on the gathered rows/columns, so dropped channels, hidden units and heads cost nothing. The
blocks in `layers`, `vit`, `convnext` and the adapters call them; `masked_subnet` (the 0/1-mask oracle in the
tests) computes the same values the slow way.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops.misc import FrozenBatchNorm2d

from ..runtime.precision import as_nchw, nchw_only


def sliced_conv2d(conv: nn.Conv2d, x: Tensor, *, out_idx: Tensor | None, in_idx: Tensor | None) -> Tensor:
    """Run `conv` on input channels `in_idx` producing only output channels `out_idx`.

    One gather per weight: both index sets at once when both are given. None means all.
    A grouped conv needs both index sets balanced over its groups (`SubnetSpace` keeps them so).
    """
    weight = conv.weight  # (C_out, C_in / groups, kh, kw)
    if conv.groups > 1 and in_idx is not None:
        weight = _grouped_weight(conv, out_idx, in_idx)
    elif out_idx is not None and in_idx is not None:
        weight = weight[out_idx[:, None], in_idx]
    elif out_idx is not None:
        weight = weight.index_select(0, out_idx)
    elif in_idx is not None:
        weight = weight.index_select(1, in_idx)
    bias = conv.bias
    if bias is not None and out_idx is not None:
        bias = bias.index_select(0, out_idx)
    nchw = nchw_only(x, conv.kernel_size, conv.stride)  # a oneDNN bug: see there
    if nchw:
        x, weight = as_nchw(x), as_nchw(weight)
    out = F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    return out.contiguous(memory_format=torch.channels_last) if nchw else out


def sliced_linear(linear: nn.Linear, x: Tensor, *, out_idx: Tensor | None, in_idx: Tensor | None) -> Tensor:
    """Run `linear` on input features `in_idx` producing only output features `out_idx` (None: all)."""
    return sliced_affine(x, linear.weight, linear.bias, out_idx=out_idx, in_idx=in_idx)


def sliced_affine(x: Tensor, weight: Tensor, bias: Tensor | None, *, out_idx: Tensor | None,
                  in_idx: Tensor | None) -> Tensor:
    """`sliced_linear` for a weight no `nn.Linear` holds (torchvision attention's `in_proj_weight`)."""
    if out_idx is not None:  # weight: (out, in)
        weight = weight.index_select(0, out_idx)
    if in_idx is not None:
        weight = weight.index_select(1, in_idx)
    if bias is not None and out_idx is not None:
        bias = bias.index_select(0, out_idx)
    return F.linear(x, weight, bias)


def sliced_mlp(fc1: nn.Linear | nn.Conv2d, fc2: nn.Linear | nn.Conv2d, x: Tensor, units: Tensor | None,
               between: Sequence[Callable[[Tensor], Tensor]]) -> Tensor:
    """`fc2(between(fc1(x)))` computing only the kept hidden `units` (None: all): fc1's rows, fc2's columns.

    Transformer MLPs and ConvNeXt's inverted bottleneck alike; as 1x1 convs on (B, C, H, W)
    maps (timm's `conv_mlp` ConvNeXts) the hidden units are fc1's output channels and fc2's
    input channels. `between` (the activation, then any dropout) is applied in order and
    must act on each hidden unit alone.
    """
    h = _sliced_layer(fc1, x, out_idx=units, in_idx=None)
    for layer in between:
        h = layer(h)
    return _sliced_layer(fc2, h, out_idx=None, in_idx=units)


def _sliced_layer(layer: nn.Linear | nn.Conv2d, x: Tensor, *, out_idx: Tensor | None,
                  in_idx: Tensor | None) -> Tensor:
    if isinstance(layer, nn.Conv2d):
        return sliced_conv2d(layer, x, out_idx=out_idx, in_idx=in_idx)
    return sliced_linear(layer, x, out_idx=out_idx, in_idx=in_idx)


def _grouped_weight(conv: nn.Conv2d, out_idx: Tensor | None, in_idx: Tensor) -> Tensor:
    """The weight of a grouped conv on kept inputs `in_idx`: each kept output reads its own group's kept inputs."""
    groups, per_in = conv.groups, conv.weight.shape[1]
    rows = torch.arange(conv.out_channels, device=in_idx.device) if out_idx is None else out_idx
    local = in_idx.view(groups, -1) - per_in * torch.arange(groups, device=in_idx.device)[:, None]  # (g, k_in / g)
    return conv.weight[rows[:, None], local[rows // (conv.out_channels // groups)]]


SLICEABLE_NORMS: tuple[type[nn.Module], ...] = (nn.BatchNorm2d, FrozenBatchNorm2d)
"""The norm layers `sliced_batch_norm` computes exactly on a subset of channels.

Exact classes, not subclasses: a subclass may change the computation (timm's BatchNormAct2d
adds an activation), and norms that mix channels (GroupNorm, LayerNorm) cannot be sliced
per channel at all.
"""


def sliced_batch_norm(norm: nn.Module, x: Tensor, idx: Tensor | None, *,
                      parameters: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """BatchNorm on the kept channels `idx` only, never updating running statistics.

    In training mode a subnet normalises with its own batch statistics; the running
    statistics belong to the full network (evaluation uses them). In eval mode the
    sliced running statistics are used. torchvision's `FrozenBatchNorm2d` is a fixed
    affine map in either mode, so it always uses its sliced frozen statistics.
    `parameters`: the kept weight and bias, already gathered (`GatheredNorms`).
    """
    if idx is None:
        return norm(x)  # whole width: `use_subnet` has switched off running-stat updates
    frozen = isinstance(norm, FrozenBatchNorm2d)
    batch_stats = not frozen and (norm.training or norm.running_mean is None)
    mean = None if batch_stats else norm.running_mean.index_select(0, idx)
    var = None if batch_stats else norm.running_var.index_select(0, idx)
    if parameters is None:
        parameters = tuple(None if p is None else p.index_select(0, idx) for p in (norm.weight, norm.bias))
    weight, bias = parameters
    return F.batch_norm(x, mean, var, weight, bias, training=batch_stats, momentum=0.0, eps=norm.eps)


def gatherable(norm: nn.Module | None) -> bool:
    """A norm whose kept weight and bias `GatheredNorms` may serve: a plain affine BatchNorm2d."""
    return type(norm) is nn.BatchNorm2d and norm.weight is not None and norm.bias is not None


class GatheredNorms:
    """The kept weight and bias of every sliced BatchNorm of a subnet pass, gathered by one operator per pass.

    Gathering each norm's weight and bias where it is used costs two `index_select`s and their backward (about
    30 operators) per norm: on a ResNet-50 more than any other part of what a subnet pass adds beyond a second
    pass's operators. Here the norms' parameters are concatenated, gathered by `index` (built on the host with
    the subnet's other indices) and split once per pass. Slot 0 is the first sliced norm a forward pass reaches,
    so asking for it starts a fresh gather: a later pass (another batch, another backward) never reuses a
    graph an earlier backward has freed.
    """

    def __init__(self, norms: Sequence[nn.Module], index: Tensor, kept: Sequence[int]) -> None:
        self.norms, self.index = list(norms), index
        self.sizes = [count for count in kept for _ in range(2)]  # weight, then bias, per norm
        self._slices: tuple[Tensor, ...] | None = None

    def slot(self, k: int) -> tuple[Tensor, Tensor]:
        """Norm k's kept weight and bias."""
        if k == 0 or self._slices is None:
            flat = torch.cat([p for norm in self.norms for p in (norm.weight, norm.bias)])
            self._slices = flat.index_select(0, self.index).split(self.sizes)
        return self._slices[2 * k], self._slices[2 * k + 1]


def sliced_attention(h: Tensor, qkv_weight: Tensor, qkv_bias: Tensor | None, proj: nn.Linear, *, num_heads: int,
                     heads: Tensor | None, dropout_p: float = 0.0) -> Tensor:
    """Multi-head self-attention of tokens `h` (B, N, dim) computing only the kept `heads` (sorted; None: all).

    `qkv_weight`'s rows are all q heads, then all k heads, then all v heads (timm's fused
    `qkv`, torchvision's `in_proj_weight`): the kept heads' q, k and v rows are gathered
    at once, attended over in one `scaled_dot_product_attention` call, and `proj` reads
    only their output features. `dropout_p` drops attention weights (full passes only).
    """
    b, n, _ = h.shape
    head_dim = qkv_weight.shape[0] // (3 * num_heads)
    width = num_heads * head_dim
    features = _head_features(heads, head_dim)  # columns of proj, rows of q (None: all)
    rows = None if features is None else torch.cat([features, features + width, features + 2 * width])
    kept = num_heads if heads is None else heads.numel()
    qkv = sliced_affine(h, qkv_weight, qkv_bias, out_idx=rows, in_idx=None)
    q, k, v = qkv.view(b, n, 3, kept, head_dim).permute(2, 0, 3, 1, 4).unbind(0)  # (B, kept, N, head_dim)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
    return sliced_linear(proj, out.transpose(1, 2).reshape(b, n, kept * head_dim), out_idx=None, in_idx=features)


def _head_features(heads: Tensor | None, head_dim: int) -> Tensor | None:
    """The features of the kept heads (sorted, as `heads` is), built on the heads' device."""
    if heads is None:
        return None
    offsets = torch.arange(head_dim, device=heads.device)
    return (heads[:, None] * head_dim + offsets).flatten()
