"""Non-finite losses during training: stop before they reach a checkpoint, or skip the step.

`train.on_nonfinite` chooses:
- `stop` (default): the loss is tested on the device every step, and the host reads the
  result only every `CHECK_EVERY` steps and at the end of the epoch, so the guard adds no
  per-step synchronisation on a GPU. Training stops within `CHECK_EVERY` steps of the
  first bad one; the weights it may have spoilt are never saved, so the last checkpoint
  is the last good state.
- `skip`: the loss is read every step (one host sync per step, the price of the
  choice). A bad step's update is not applied, the BatchNorm running statistics its
  forward pass changed are put back, and it is counted; more than `max_skipped` in one
  epoch means the run has diverged for good and stops it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..runtime import distributed

CHECK_EVERY = 20  # steps between host reads of the device-side flag in `stop` mode


class NonFiniteGuard:
    """Watches each training step's loss under one `train.on_nonfinite` policy."""

    def __init__(self, model: nn.Module, *, policy: str, max_skipped: int, device: torch.device, skipped: int = 0) -> None:
        self.policy = policy
        self.max_skipped = max_skipped
        self.skipped = skipped
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)  # step index; -1: none yet
        self._buffers = [b for b in model.buffers()] if policy == "skip" else []
        self._saved: list[Tensor] = []
        self._exhausted_at: int | None = None

    def before_step(self) -> None:
        """`skip`: remember the BatchNorm statistics, which the forward pass updates in place."""
        if self._buffers:
            self._saved = [b.detach().clone() for b in self._buffers]

    def drop(self, loss: Tensor, step: int) -> bool:
        """Whether this step's update must not be applied (`skip` and a non-finite loss)."""
        if self.policy != "skip":
            bad = ~torch.isfinite(loss.detach())
            self._first_bad = torch.where(bad & (self._first_bad < 0), step, self._first_bad)
            return False
        if not distributed.any_rank(not bool(torch.isfinite(loss.detach())), loss.device):
            return False  # under DDP every rank skips together: one rank's NaN spoils the averaged gradients
        with torch.no_grad():
            for buffer, saved in zip(self._buffers, self._saved):
                buffer.copy_(saved)
        self.skipped += 1
        if self.skipped > self.max_skipped and self._exhausted_at is None:
            self._exhausted_at = step
        return True

    def should_stop(self, step: int) -> bool:
        """Whether training must stop now; in `stop` mode the device flag is read every `CHECK_EVERY` steps."""
        if self.policy == "skip":
            return self._exhausted_at is not None
        if (step + 1) % CHECK_EVERY:
            return False
        return distributed.any_rank(int(self._first_bad) >= 0, self._first_bad.device)

    @property
    def bad_step(self) -> int | None:
        """The step (0-based) that stopped training: the first non-finite one, or the one past `max_skipped`."""
        if self.policy == "skip":
            return self._exhausted_at
        first = int(self._first_bad)
        return None if first < 0 else first
