"""Where a training epoch stands between two steps: what an interrupt saves and a resume continues.

A checkpoint written at a step boundary (on SIGINT/SIGTERM) holds, besides the usual
state, the epoch's running totals, the number of steps done and the loader's generator
as it was at the start of the epoch. Resuming rewinds that generator, so the sampler
replays the same order, draws and drops the batches already trained on (loaded, never
computed), and then puts every generator back where the interruption left it: the rest
of the epoch is bit-identical to a run that was never stopped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator

from torch import Tensor
from torch.utils.data import DataLoader

from ..errors import CheckpointError
from ..search import SearchStats


@dataclass
class EpochProgress:
    """Running totals of one epoch at a step boundary (local to this process)."""

    steps: int = 0  # training steps done, skipped ones included
    loss_sum: float = 0.0  # sum over samples of the base loss
    subnet_loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    skipped: int = 0  # steps dropped for a non-finite loss (train.on_nonfinite: skip)
    seconds: float = 0.0  # time spent so far, including the search round that opened the epoch
    searches: list[SearchStats] = field(default_factory=list)

    @classmethod
    def opening(cls, rounds: list[SearchStats]) -> EpochProgress:
        """A new epoch, after the search rounds that precede it (Algorithm 1)."""
        return cls(seconds=sum(r.seconds for r in rounds), searches=list(rounds))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochProgress:
        return cls(**{**data, "searches": [SearchStats(**s) for s in data.get("searches", [])]})


@dataclass
class ResumePoint:
    """A mid-epoch checkpoint's position: the epoch, its totals, and the generator states to replay it."""

    epoch: int
    progress: EpochProgress
    loader_state: Tensor  # the loader generator at the start of the epoch
    rng: dict[str, Any]  # every generator at the step boundary
    rank_rng: list[Tensor] = field(default_factory=list)  # under torchrun: each rank's global generator there

    @classmethod
    def from_payload(cls, data: dict[str, Any], checkpoint: dict[str, Any], *, path: Any) -> ResumePoint:
        """From a checkpoint's `progress` entry and the checkpoint's generator states."""
        try:
            fields = {k: v for k, v in data.items() if k not in ("epoch", "loader_state")}
            return cls(int(data["epoch"]), EpochProgress.from_dict(fields), data["loader_state"], checkpoint["rng"],
                       list(checkpoint.get("rank_rng", [])))
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} has a malformed mid-epoch position: {err}") from None


def skip_batches(loader: DataLoader, steps: int) -> Iterator[Any]:
    """An iterator over `loader` past its first `steps` batches (drawn and dropped, not trained on)."""
    batches = iter(loader)
    for _ in range(steps):
        next(batches, None)
    return batches
