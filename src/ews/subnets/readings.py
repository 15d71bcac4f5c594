"""The named readings of rho: which paths and which channels a subnet at width rho keeps.

The paper's text, the authors' code and our default read "keep a fraction rho of the
paths and channels" differently; each reading is defined once here and every user of a
subnet space (`SubnetSpace.from_model`, `EWS`, the config, `ews analyze`, the study's
Fig. 1 scoring, the benchmarks) names one of them:

- `default`: both paths of every block, every conv of a branch but its last sliced
  (a bottleneck's conv1 and conv2). Chosen on the digits study's `val` split.
- `paper-text`: `ceil(2 rho)` of the two paths (one at rho 0.5), every branch conv sliced
  (Supp. Fig. A, "selecting one path").
- `authors`: the authors' scripts: `ceil(2 (rho + 1e-6))` paths (both at rho >= 0.5),
  only a branch's first conv sliced (their `MaskBottleneck` slices conv1's outputs only), and
  `ceil(c (rho + 1e-6))` of its c channels: 9 of 16 at rho 0.5 where the exact count is 8.

A config may override a reading's paths (`rho_paths`) or channels; the result records
both the name and the overrides, so a probe says exactly what it measured.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from ..errors import ConfigError

ChannelMode = Literal["all", "hidden", "first"]
CHANNEL_MODES = ("all", "hidden", "first")  # sliced branch convs: every one | all but the last | the first only
PATH_RULES = ("rho", "both", "authors", "fixed")  # ceil(2 rho) | 2 | ceil(2 (rho + 1e-6)) | ceil(2 rho_paths)
AUTHORS_EPSILON = 1e-6  # the authors' scripts add it before every ceil: both paths at rho = 0.5, one channel more
ROUNDINGS = ("exact", "authors")  # kept channels: ceil(rho c) on rho's decimal value | ceil(c (rho + 1e-6)) in floats


def kept_count(rho: float, n: int) -> int:
    """`ceil(rho * n)` computed on the decimal value of rho, at least 1."""
    return max(1, math.ceil(Fraction(str(rho)) * n))


def authors_kept_count(rho: float, n: int) -> int:
    """The authors' scripts' count, `ceil(n * (rho + 1e-6))` in floating point as they compute it, at most n.

    Their epsilon keeps one channel more wherever `rho * n` is whole (9 of 16 at rho 0.5); the cap keeps
    rho = 1 at n, where their formula asks for n + 1 of n.
    """
    return max(1, min(n, math.ceil(n * (rho + AUTHORS_EPSILON))))


@dataclass(frozen=True)
class Reading:
    """One reading of rho: how many of a block's two paths and which of its branch convs' channels are kept."""

    name: str
    paths: str  # one of PATH_RULES, or "fixed" with `rho_paths`
    channels: str  # one of CHANNEL_MODES
    rho_paths: float | None = None  # the fixed path ratio when paths == "fixed"
    rounding: str = "exact"  # one of ROUNDINGS: how a kept channel count is rounded

    def kept_channels(self, rho: float, n: int) -> int:
        """How many of a sliced conv's n channels (or of one group's n) a subnet at channel width `rho` keeps."""
        return authors_kept_count(rho, n) if self.rounding == "authors" else kept_count(rho, n)

    def kept_paths(self, rho: float) -> int:
        """How many of the two paths a subnet at width `rho` keeps."""
        if self.paths == "both":
            return 2
        if self.paths == "authors":
            return min(2, math.ceil(2 * (rho + AUTHORS_EPSILON)))
        return kept_count(rho if self.paths == "rho" else self.rho_paths, 2)

    def overridden(self, *, rho_paths: float | None = None, channels: str | None = None) -> Reading:
        """This reading with a fixed path ratio and/or another channel mode (a config's explicit keys)."""
        if channels is not None and channels not in CHANNEL_MODES:
            raise ConfigError(f"ews.channels must be one of {', '.join(CHANNEL_MODES)} or null, got {channels!r}")
        reading = self
        if rho_paths is not None:
            reading = dataclasses.replace(reading, paths="fixed", rho_paths=float(rho_paths))
        if channels is not None:
            reading = dataclasses.replace(reading, channels=channels)
        return reading

    def to_dict(self) -> dict[str, Any]:
        """What a probe or a run records: the name, and the rules it stands for (rho-independent)."""
        return {"name": self.name, "paths": self.paths, "rho_paths": self.rho_paths, "channels": self.channels,
                "rounding": self.rounding}


READINGS: dict[str, Reading] = {
    "default": Reading("default", paths="both", channels="hidden"),
    "paper-text": Reading("paper-text", paths="rho", channels="all"),
    "authors": Reading("authors", paths="authors", channels="first", rounding="authors"),
}
DEFAULT_READING = "default"
READING_NAMES = tuple(READINGS)


def reading(name: str | Reading) -> Reading:
    """The reading of that name (a `Reading` is returned as it is); one-line error for an unknown name."""
    if isinstance(name, Reading):
        return name
    if name not in READINGS:
        raise ConfigError(f"unknown reading {name!r}; allowed: {', '.join(READING_NAMES)}")
    return READINGS[name]
