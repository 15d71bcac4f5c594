"""The names and budgets the attacks accept, and the checks that refuse the others before any work starts.

Shared by PGD, the AutoAttack adapter, `adversarial_errors` and the callers that check a
request before loading a model (`ews.evaluation`, study files).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ConfigError, check_integer

NORMS = ("linf", "l2")
LOSSES = ("ce", "kl")
STARTS = ("uniform", "normal", "none")
TRAIN_EPS = 8 / 255  # the CIFAR-10 L-inf budget of every Table 4 row
TRAIN_STEP_SIZE = 2 / 255
TRAIN_STEPS = 10  # PGD-10 for adversarial training (Sec. 4.2)
EVAL_STEPS = 20  # the PGD-20 column of Table 4
TRADES_START_STD = 1e-3  # TRADES' own start: x + 0.001 * N(0, 1)
AUTOATTACK_VERSIONS = ("standard", "plus", "rand", "custom")
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
EVAL_ATTACKS = ("pgd20", "autoattack")


def check_choice(what: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def check_number(what: str, value: object) -> None:
    """A radius or step: a finite int or float >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number >= 0, got {value!r}")


def check_autoattack_choice(*, version: str, attacks: Sequence[str] | None) -> None:
    """AutoAttack's version and, for 'custom', its attack list: checkable before a model is loaded."""
    check_choice("AutoAttack version", version, AUTOATTACK_VERSIONS)
    if (version == "custom") != (attacks is not None):
        raise ConfigError("--autoattack-attacks: AutoAttack attacks must be given exactly when version is 'custom'")
    for attack in attacks or ():
        check_choice("AutoAttack attack", attack, AUTOATTACK_ATTACKS)


def check_autoattack(*, eps: float, norm: str, version: str, attacks: Sequence[str] | None, batch_size: int) -> None:
    """Every AutoAttack argument, before the first image is attacked."""
    check_number("AutoAttack eps", eps)
    check_choice("AutoAttack norm", norm, NORMS)
    check_autoattack_choice(version=version, attacks=attacks)
    check_integer("batch size", batch_size)
