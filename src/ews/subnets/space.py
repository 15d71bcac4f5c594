"""The subnet space of a network (paper Sec. 3.1) and subnets as plain data.

A subnet keeps, in every residual block, some of the two paths (0 = residual branch,
1 = shortcut) and, in the sliced convs of a kept residual branch, `ceil(rho_channels * c)`
of its c output channels; how many paths and which convs is the reading's (`readings`).
Where channels meet a grouped conv (ResNeXt) they are kept in equal numbers per group,
`ceil(rho_channels * c / g)` of each group's c / g, so the sliced conv is still a grouped
conv. Kept counts are computed exactly (`0.7 * 10` is 7, not 8); only the `authors`
reading adds their scripts' epsilon, which keeps both paths at rho = 0.5 and rounds a whole
channel count up by one (9 of 16 at rho 0.5).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..models.layers import PathBlock
from .readings import CHANNEL_MODES, DEFAULT_READING, Reading, reading

BRANCH, SHORTCUT = 0, 1


def check_rho(name: str, rho: float) -> float:
    """A width ratio must lie in (0, 1]."""
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 < rho <= 1:
        raise ConfigError(f"{name} must be in (0, 1], got {rho!r}")
    return float(rho)


@dataclass(frozen=True)
class BlockChoice:
    """One block's part of a subnet: kept paths and, per branch conv, kept output channels.

    `channels` is empty when the residual branch is dropped.
    """

    paths: tuple[int, ...]
    channels: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Subnet:
    """A subnet: one `BlockChoice` per residual block, in forward order. Hashable, JSON-able."""

    blocks: tuple[BlockChoice, ...]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": [{"paths": list(b.paths), "channels": [list(c) for c in b.channels]} for b in self.blocks]}

    @classmethod
    def from_json(cls, text: str) -> Subnet:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subnet:
        return cls(
            tuple(
                BlockChoice(tuple(int(p) for p in b["paths"]), tuple(tuple(int(i) for i in c) for c in b["channels"]))
                for b in data["blocks"]
            )
        )


@dataclass(frozen=True)
class BlockSpec:
    """What can be chosen in one block."""

    name: str  # module path in the model, e.g. "layers.1.0"
    downsampling: bool  # the block has a projection shortcut (stride or width change)
    keep_paths: int  # of the 2 paths
    conv_channels: tuple[int, ...]  # output channels of each branch conv
    keep_channels: tuple[int, ...]  # kept output channels of each branch conv
    conv_groups: tuple[int, ...] = ()  # per branch conv: kept channels are balanced over this many groups (none: 1)

    def groups(self, j: int) -> int:
        """The number of equal groups conv j's kept output channels are balanced over (1: free choice)."""
        return self.conv_groups[j] if self.conv_groups else 1


def residual_blocks(model: nn.Module) -> list[tuple[str, PathBlock]]:
    """The model's two-path blocks in forward order (module registration order)."""
    blocks = [(name, m) for name, m in model.named_modules() if isinstance(m, PathBlock)]
    if not blocks:
        raise ConfigError(
            f"model {type(model).__name__} has no ews PathBlock{_repeated_block(model)}, so EWS cannot split it into "
            "subnets; supported: ResNet, ViT and ConvNeXt blocks (models from ews.models.create, or torchvision/timm "
            "ResNets, ViTs and ConvNeXts adapted by ews.models.from_torchvision / ews.models.from_timm)")
    return blocks


def _repeated_block(model: nn.Module) -> str:
    """`(its blocks are CLASS, Nx)`: the most repeated module class holding other modules, which is what a user's
    network is built of and the space does not know; empty when there is none."""
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    counts = Counter(type(m).__name__ for m in model.modules()
                     if m is not model and not isinstance(m, containers) and next(m.children(), None) is not None)
    name, n = counts.most_common(1)[0] if counts else ("", 0)
    return f" (its blocks are {name}, {n}x)" if n > 1 else ""


class SubnetSpace:
    """All subnets of one model at given width ratios; samples, validates and enumerates them."""

    def __init__(
        self,
        blocks: tuple[BlockSpec, ...],
        *,
        rho_paths: float,
        rho_channels: float,
        channels: str = "all",
        reading: Reading | None = None,
    ) -> None:
        self.blocks = blocks
        self.rho_paths = rho_paths
        self.rho_channels = rho_channels
        self.channels = channels
        self.reading = reading  # the named reading the space was built in (None: built by hand)

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        rho: float = 0.5,
        reading: str | Reading = DEFAULT_READING,
        rho_paths: float | None = None,
        rho_channels: float | None = None,
        channels: str | None = None,
    ) -> SubnetSpace:
        """Discover the space once, in a named reading of `rho` (`ews.subnets.readings`).

        `rho_paths` (a fixed path ratio) and `channels` (all | hidden | first) override
        the reading's own rules; `rho_channels` overrides rho for channels.
        """
        check_rho("rho", rho)
        if rho_paths is not None:
            check_rho("rho_paths", rho_paths)
        chosen = reading_of(reading, rho_paths=rho_paths, channels=channels)
        rho_channels = check_rho("rho_channels", rho if rho_channels is None else rho_channels)
        keep_paths = chosen.kept_paths(rho)
        specs = []
        for name, block in residual_blocks(model):
            widths, groups = block.unit_widths(), block.unit_groups()
            keep = [g * chosen.kept_channels(rho_channels, c // g) for c, g in zip(widths, groups)]
            whole = {"all": 0, "hidden": 1, "first": len(keep) - 1}[chosen.channels]  # trailing sets kept whole
            whole = max(whole, block.whole_units)
            keep[len(keep) - whole:] = widths[len(keep) - whole:]
            specs.append(BlockSpec(name, block.downsampling, keep_paths, widths, tuple(keep),
                                   groups if any(g > 1 for g in groups) else ()))
        path_ratio = {"fixed": chosen.rho_paths, "rho": rho}.get(chosen.paths, keep_paths / 2)
        return cls(tuple(specs), rho_paths=path_ratio, rho_channels=rho_channels, channels=chosen.channels,
                   reading=chosen)

    def __len__(self) -> int:
        return len(self.blocks)

    def __repr__(self) -> str:
        return (
            f"SubnetSpace({len(self.blocks)} blocks, rho_paths={self.rho_paths}, "
            f"rho_channels={self.rho_channels}, channels={self.channels!r})"
        )

    def full(self) -> Subnet:
        """The whole network as a subnet: every path and channel kept."""
        return Subnet(
            tuple(BlockChoice((BRANCH, SHORTCUT), tuple(tuple(range(c)) for c in b.conv_channels)) for b in self.blocks)
        )

    def sample(self, generator: torch.Generator | None = None) -> Subnet:
        """A uniformly random subnet: uniform kept paths, uniform kept channels per conv.

        One draw of random keys for the whole subnet (`_draw_keys`), not a `randperm` per conv: an EWS step with
        random subnets samples every step, and hundreds of tiny operators there cost more than the choice.
        """
        counts = [_key_count(spec) for spec in self.blocks]
        keys = np.split(_draw_keys(sum(counts), generator), np.cumsum(counts)[:-1])
        return Subnet(tuple(_sample_choice(spec, block_keys) for spec, block_keys in zip(self.blocks, keys)))

    def sample_block(self, index: int, generator: torch.Generator | None = None) -> Subnet:
        """The full network except block `index`, sampled as `sample` would (paper Fig. 7).

        Thinning one block at a time measures how much each block alone matters.
        """
        if not 0 <= index < len(self.blocks):
            raise IndexError(f"block index {index} outside [0, {len(self.blocks)})")
        full = self.full().blocks
        spec = self.blocks[index]
        choice = _sample_choice(spec, _draw_keys(_key_count(spec), generator))
        return Subnet(full[:index] + (choice,) + full[index + 1:])

    def validate(self, subnet: Subnet) -> Subnet:
        """Check that `subnet` belongs to this space; raise ValueError naming the first mismatch."""
        if len(subnet.blocks) != len(self.blocks):
            raise ValueError(f"subnet has {len(subnet.blocks)} blocks, the space has {len(self.blocks)}")
        for spec, choice in zip(self.blocks, subnet.blocks):
            _check_sorted_unique(spec.name, "paths", choice.paths, 2, spec.keep_paths)
            if BRANCH not in choice.paths:
                if choice.channels:
                    raise ValueError(f"block {spec.name}: channels given for a dropped branch")
                continue
            if len(choice.channels) != len(spec.conv_channels):
                raise ValueError(f"block {spec.name}: {len(choice.channels)} channel sets for {len(spec.conv_channels)} convs")
            for j, (kept, c, k) in enumerate(zip(choice.channels, spec.conv_channels, spec.keep_channels)):
                _check_sorted_unique(spec.name, f"conv {j} channels", kept, c, k)
                _check_balanced(spec.name, f"conv {j} channels", kept, c, spec.groups(j))
        return subnet


def reading_of(name: str | Reading, *, rho_paths: float | None = None, channels: str | None = None) -> Reading:
    """A named reading with a config's explicit overrides applied (None: the reading's own rule)."""
    return reading(name).overridden(rho_paths=rho_paths, channels=channels)


def _key_count(spec: BlockSpec) -> int:
    """Random keys a block's choice reads: one per path and one per channel of every branch conv."""
    return 2 + sum(spec.conv_channels)


def _draw_keys(count: int, generator: torch.Generator | None) -> np.ndarray:
    """`count` independent uniform keys in one operator. Double precision: among thousands of float32 keys two
    would often tie, and a tie at the cut would favour the lower index."""
    return torch.rand(count, generator=generator, dtype=torch.float64).numpy()


def _sample_choice(spec: BlockSpec, keys: np.ndarray) -> BlockChoice:
    """Uniform kept paths, then uniform kept channels per conv of a kept branch (per group where grouped).

    `keys` holds `_key_count(spec)` keys, read whatever is kept: the paths' two, then each conv's run of them.
    """
    paths_keys, *conv_keys = np.split(keys, np.cumsum((2, *spec.conv_channels))[:-1])
    paths = _pick(paths_keys, spec.keep_paths)
    channels = tuple(_pick(conv, k, groups=spec.groups(j))
                     for j, (conv, k) in enumerate(zip(conv_keys, spec.keep_channels)))
    return BlockChoice(paths, channels if BRANCH in paths else ())


def _pick(keys: np.ndarray, k: int, *, groups: int = 1) -> tuple[int, ...]:
    """The k of `len(keys)` items with the lowest keys (k / groups from each of `groups` equal runs): a uniform
    choice, since every order of independent uniform keys is equally likely."""
    n = len(keys)
    if k >= n:
        return tuple(range(n))
    size = n // groups
    lowest = np.argsort(keys.reshape(groups, size), axis=1, kind="stable")[:, : k // groups]
    return tuple(np.sort((lowest + size * np.arange(groups)[:, None]).ravel()).tolist())


def _check_sorted_unique(block: str, what: str, items: tuple[int, ...], n: int, k: int) -> None:
    if list(items) != sorted(set(items)) or (items and not 0 <= items[0] <= items[-1] < n):
        raise ValueError(f"block {block}: {what} {items} must be sorted distinct indices in [0, {n})")
    if len(items) not in (k, n):
        raise ValueError(f"block {block}: {what} keeps {len(items)}, expected {k} (or all {n})")


def _check_balanced(block: str, what: str, items: tuple[int, ...], n: int, groups: int) -> None:
    if groups == 1 or len(items) == n:
        return
    counts = torch.bincount(torch.tensor(items, dtype=torch.long) // (n // groups), minlength=groups).tolist()
    if len(set(counts)) != 1:
        raise ValueError(f"block {block}: {what} must keep equally many of each of its {groups} groups, got {counts}")
