"""Adversarial attacks on [0, 1] images: our PGD and an AutoAttack adapter (paper Sec. 3.4, Table 4).

Models take pixels in [0, 1] and normalise inside (their own `Normalize` layer), so every attack
works in pixel space and every adversarial image stays in [0, 1] and in the eps-ball
around its clean image. Errors are in percent.

- `choices`: the norms, losses, budgets and attack names allowed, and their checks;
- `projected_gradient`: `pgd` and its budget `PGDSettings`;
- `autoattack_adapter`: `autoattack` through the `pyautoattack` package, with its time estimate;
- `resume`: AutoAttack's progress on disk, so an interrupted evaluation resumes;
- `error_rates`: `adversarial_errors`, the clean / PGD-20 / AutoAttack columns and masking signs.
"""

from .autoattack_adapter import RobustnessWarning, autoattack, library_adversary, passes_per_image, seconds_per_pass
from .choices import (AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS, EVAL_ATTACKS, EVAL_STEPS, LOSSES, NORMS, STARTS,
                      TRADES_START_STD, TRAIN_EPS, TRAIN_STEP_SIZE, TRAIN_STEPS, check_autoattack_choice)
from .error_rates import MASKING_MARGIN, adversarial_errors
from .projected_gradient import PGDSettings, pgd
from .resume import STATE_FILE

__all__ = [
    "AUTOATTACK_ATTACKS", "AUTOATTACK_VERSIONS", "EVAL_ATTACKS", "EVAL_STEPS", "LOSSES", "MASKING_MARGIN", "NORMS",
    "PGDSettings", "RobustnessWarning", "STARTS", "STATE_FILE", "TRADES_START_STD", "TRAIN_EPS", "TRAIN_STEPS",
    "TRAIN_STEP_SIZE", "adversarial_errors", "autoattack", "check_autoattack_choice", "library_adversary",
    "passes_per_image", "pgd", "seconds_per_pass",
]
