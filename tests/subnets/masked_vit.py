"""The 0/1-masking oracle's forward of transformer sub-blocks (see masking_oracle.py).

Attention is written out (softmax of scaled q k^T, times v) rather than calling
`scaled_dot_product_attention`, so the oracle shares no attention code with the blocks.
Subnet passes are deterministic, so dropout and drop-path are left out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ews.models.timm_adapters import TimmAttentionPath, TimmMlpPath
from ews.models.torchvision_adapters import TvAttentionPath, TvMlpPath
from ews.models.vit import AttentionBlock, MlpBlock
from ews.subnets import BRANCH, SHORTCUT, BlockChoice


def unit_mask(choice: BlockChoice, width: int, like: Tensor) -> Tensor:
    """1 for the kept units of the branch's first unit set (all of them when the branch is dropped), else 0."""
    kept = choice.channels[0] if BRANCH in choice.paths else range(width)
    mask = torch.zeros(width, device=like.device, dtype=like.dtype)
    mask[list(kept)] = 1.0
    return mask


def add_paths(x: Tensor, branch: Tensor, choice: BlockChoice) -> Tensor:
    return x * float(SHORTCUT in choice.paths) + branch * float(BRANCH in choice.paths)


def _masked_heads(h: Tensor, weight: Tensor, bias: Tensor | None, num_heads: int, choice: BlockChoice) -> Tensor:
    """Every head at full width from the fused [q; k; v] `weight`; dropped heads' outputs zeroed. (B, N, width)."""
    b, n, _ = h.shape
    qkv = h @ weight.T + (0 if bias is None else bias)
    q, k, v = qkv.view(b, n, 3, num_heads, -1).permute(2, 0, 3, 1, 4)  # (B, heads, N, head_dim) each
    weights = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(dim=-1)
    heads = weights @ v * unit_mask(choice, num_heads, h).view(1, -1, 1, 1)
    return heads.transpose(1, 2).reshape(b, n, -1)


def _masked_attention_forward(block: AttentionBlock, x: Tensor, choice: BlockChoice) -> Tensor:
    heads = _masked_heads(block.norm(x), block.qkv.weight, block.qkv.bias, block.num_heads, choice)
    return add_paths(x, block.proj(heads), choice)


def _masked_tv_attention_forward(block: TvAttentionPath, x: Tensor, choice: BlockChoice) -> Tensor:
    attention = block.parts.attention
    heads = _masked_heads(block.parts.norm(x), attention.in_proj_weight, attention.in_proj_bias,
                          attention.num_heads, choice)
    return add_paths(x, attention.out_proj(heads), choice)


def _masked_timm_attention_forward(block: TimmAttentionPath, x: Tensor, choice: BlockChoice) -> Tensor:
    attention = block.parts.attention
    heads = _masked_heads(block.parts.norm(x), attention.qkv.weight, attention.qkv.bias, attention.num_heads, choice)
    return add_paths(x, block.parts.scale(attention.proj(heads)), choice)


def _masked_mlp_forward(block: MlpBlock, x: Tensor, choice: BlockChoice) -> Tensor:
    """Every hidden unit; dropped ones zeroed after GELU, dropped paths times 0."""
    h = torch.nn.functional.gelu(block.fc1(block.norm(x)))
    return add_paths(x, block.fc2(h * unit_mask(choice, block.fc1.out_features, h)), choice)


def _masked_tv_mlp_forward(block: TvMlpPath, x: Tensor, choice: BlockChoice) -> Tensor:
    fc1, act, _, fc2, _ = block.parts.mlp
    h = act(fc1(block.parts.norm(x)))
    return add_paths(x, fc2(h * unit_mask(choice, fc1.out_features, h)), choice)


def _masked_timm_mlp_forward(block: TimmMlpPath, x: Tensor, choice: BlockChoice) -> Tensor:
    mlp = block.parts.mlp
    h = mlp.act(mlp.fc1(block.parts.norm(x)))
    return add_paths(x, block.parts.scale(mlp.fc2(h * unit_mask(choice, mlp.fc1.out_features, h))), choice)


MASKED = {AttentionBlock: _masked_attention_forward, MlpBlock: _masked_mlp_forward,
          TvAttentionPath: _masked_tv_attention_forward, TvMlpPath: _masked_tv_mlp_forward,
          TimmAttentionPath: _masked_timm_attention_forward, TimmMlpPath: _masked_timm_mlp_forward}
