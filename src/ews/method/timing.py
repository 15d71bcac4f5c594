"""When EWS searches for weak subnets: before every K-th epoch (Algorithm 1) or every N steps.

Kept apart from the searching itself so that the rule is one small, testable piece the
`EWS` object, the `Trainer` and the Lightning callback all read.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

SCHEDULES = ("epochs", "iterations")


@dataclass(frozen=True)
class SearchTiming:
    """`epochs`: search before every K-th epoch, and before the first when `before_training`;
    `iterations`: one controller step every `every_iterations` training steps, on that step's batch."""

    schedule: str = "epochs"
    K: int = 10
    every_iterations: int = 10
    before_training: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"search schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        for name in ("K", "every_iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")

    def before_epoch(self, epoch: int) -> bool:
        """A search round is due before `epoch` (counted from 1)."""
        if self.schedule != "epochs":
            return False
        return (epoch == 1 and self.before_training) or epoch % self.K == 0

    def at_step(self, step: int) -> bool:
        """A controller step is due at training step `step` (counted from 0 over the whole run)."""
        return self.schedule == "iterations" and step % self.every_iterations == 0
