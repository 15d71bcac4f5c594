"""When EWS searches for weak subnets: before every K-th epoch (Algorithm 1) or every N steps.

Kept apart from the searching itself so that the rule is one small, testable piece the
`EWS` object, the `Trainer` and the Lightning callback all read.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

SCHEDULES = ("epochs", "iterations")


def check_count(name: str, value: object) -> None:
    """A one-line ConfigError unless `value` is a whole number >= 1 (bools, which are ints, refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")


def check_first_search(*, strategy: str, schedule: str, before_training: bool) -> None:
    """Refuse an L1 search that would leave training without a subnet until epoch K.

    The L1 sampler has no subnet before its first search; under the epoch schedule that search
    comes before epoch 1 only with `before_training`, while the iteration schedule searches at step 0.
    """
    if strategy == "l1" and schedule == "epochs" and not before_training:
        raise ConfigError("search strategy 'l1' under the 'epochs' schedule needs before_training (it has no "
                          "subnet before its first search); allowed: before_training true, schedule 'iterations', "
                          "or another strategy")


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
            check_count(name, getattr(self, name))

    def before_epoch(self, epoch: int, *, epochs: int | None = None) -> bool:
        """A search round is due before `epoch` (counted from 1).

        `epochs` is the run's length T when the caller knows it: no round is due before an
        epoch past it (after the last epoch no training would use the subnets found).
        """
        if epochs is not None:
            check_count("epochs", epochs)
        if self.schedule != "epochs" or (epochs is not None and epoch > epochs):
            return False
        return (epoch == 1 and self.before_training) or epoch % self.K == 0

    def at_step(self, step: int) -> bool:
        """A controller step is due at training step `step` (counted from 0 over the whole run)."""
        return self.schedule == "iterations" and step % self.every_iterations == 0
