"""`adversarial_errors`: clean, PGD-20 and AutoAttack error (%) of a model, the three columns of Table 4,
with the signs of gradient masking that say when a number should not be trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pyautoattack import checks
from torch import Tensor, nn

from ..runtime import model_mode, module_device
from ..subnets import unwrap
from .autoattack_adapter import LIBRARY_LOGGER, library_messages, run_autoattack
from .choices import EVAL_ATTACKS, EVAL_STEPS, TRAIN_EPS, check_autoattack, check_choice
from .projected_gradient import PGDSettings, pgd

# AutoAttack (APGD, Square) is strictly stronger than PGD-20; PGD-20 finding far fewer
# adversarial examples means its gradients mislead it (Croce & Hein 2020, Sec. 5).
MASKING_MARGIN = 10.0


def _predicts(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int, device: torch.device) -> Tensor:
    """(N,) bool on the CPU: whether the model classifies each image correctly."""
    with torch.no_grad():
        return torch.cat([
            (model(xb.to(device)).argmax(1) == yb.to(device)).cpu()
            for xb, yb in zip(x.split(batch_size), y.split(batch_size))
        ])


def _error(correct: Tensor) -> float:
    """Error (%) from a count, rounded to 4 places as every rate in eval.json: a float32 mean would give
    94.9999999254942 for 19 of 20."""
    return round(100.0 * int((~correct).sum()) / max(correct.numel(), 1), 4)


def _pgd_robust(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, step_size: float, norm: str,
                batch_size: int, device: torch.device, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    robust = []
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        xb, yb = xb.to(device), yb.to(device)
        adv = pgd(model, xb, yb, eps=eps, step_size=step_size, steps=EVAL_STEPS, norm=norm, generator=generator)
        with torch.no_grad():
            robust.append((model(adv).argmax(1) == yb).cpu())
    return torch.cat(robust)


def _masking_warnings(result: dict[str, Any]) -> list[str]:
    """Gradient-masking signs, in the spirit of AutoAttack's checks.py."""
    found = []
    clean, pgd20, auto = result["clean_error"], result.get("pgd20_error"), result.get("autoattack_error")
    if pgd20 is not None and auto is not None and auto - pgd20 > MASKING_MARGIN:
        found.append(f"PGD-20 error {pgd20:.2f}% is {auto - pgd20:.1f} points below AutoAttack's {auto:.2f}%: "
                     "a sign of gradient masking, trust the AutoAttack number")
    if pgd20 is not None and auto is not None and auto < pgd20:
        found.append(f"AutoAttack error {auto:.2f}% is below PGD-20's {pgd20:.2f}%: check its eps, norm and attacks")
    if pgd20 is not None and clean < 100.0 and pgd20 == clean:
        found.append("PGD-20 changed no correct prediction: zero or uninformative gradients (gradient masking?)")
    return found


def adversarial_errors(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attacks: Sequence[str] = EVAL_ATTACKS,
    eps: float = TRAIN_EPS,
    norm: str = "linf",
    step_size: float | None = None,
    version: str = "standard",
    autoattack_attacks: Sequence[str] | None = None,
    batch_size: int = 250,
    device: torch.device | str | None = None,
    state_dir: str | Path | None = None,
    seed: int = 0,
    verbose: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Clean, PGD-20 and AutoAttack error (%) of `model` on `(x, y)`: the three columns of Table 4.

    An image counts as robust only if it is classified correctly both clean and under
    attack. PGD-20 starts uniformly in the ball with step `step_size` (default eps/4,
    the paper's 2/255 at 8/255). Returns `clean_error`, `pgd20_error` /
    `autoattack_error` for the attacks asked, `adv_examples` (N) and `warnings`:
    AutoAttack's own checks (randomness across two passes in eval mode, probabilities
    instead of logits, zero gradients) and ours comparing the attacks (gradient masking).
    `version` / `autoattack_attacks`, `state_dir` (resume) and `progress` are passed to `autoattack`.
    """
    attacks = tuple(attacks)
    for attack in attacks:
        check_choice("attack", attack, EVAL_ATTACKS)
    step_size = eps / 4 if step_size is None else step_size
    PGDSettings(eps=eps, step_size=step_size, steps=EVAL_STEPS, norm=norm)
    check_autoattack(eps=eps, norm=norm, version=version, attacks=autoattack_attacks, batch_size=batch_size)
    device = module_device(model, device)
    net = unwrap(model)
    with model_mode(net, "eval"):
        clean = _predicts(net, x, y, batch_size=batch_size, device=device)
        result: dict[str, Any] = {"adv_examples": len(x), "clean_error": _error(clean)}
        with library_messages(verbose) as found:
            first, labels = x[:batch_size].to(device), y[:batch_size].to(device)
            checks.check_randomized(net, first, labels, bs=batch_size, logger=LIBRARY_LOGGER)
            checks.check_range_output(net, first, logger=LIBRARY_LOGGER)
        if "pgd20" in attacks:
            robust = _pgd_robust(net, x, y, eps=eps, step_size=step_size, norm=norm, batch_size=batch_size,
                                 device=device, seed=seed)
            result["pgd20_error"] = _error(clean & robust)
        if "autoattack" in attacks:
            _, robust, library = run_autoattack(
                net, x, y, eps=eps, norm=norm, version=version, attacks=autoattack_attacks, batch_size=batch_size, seed=seed,
                state_dir=None if state_dir is None else Path(state_dir), device=device, verbose=verbose,
                progress_bar=progress,
            )
            result["autoattack_error"] = _error(clean & robust)
            found += [message for message in library if message not in found]
    result["warnings"] = found + _masking_warnings(result)
    return result
