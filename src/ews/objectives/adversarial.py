"""Adversarial objectives with the EWS term (paper Sec. 3.4, Eq. 3-4): PGD-AT and TRADES.

Eq. 4 trains on `L_a(x', y) + gamma * L_c(x, y)`, where `L_a = phi(x', y) + lam *
L_sub(alpha(x'), M(x'))` and `L_c = CE(M(x), y) + lam * L_sub(alpha(x), M(x))`; the
subnet alpha is the same in both terms. AT: phi = CE(M(x'), y), gamma = 0. TRADES:
phi = KL(p(x) || p(x')), gamma = 1/6 (TRADES' CE + 6 KL divided by 6, so the same
learning rate takes a step 1/6 as large as TRADES' own code would).

The attack and AWP are the caller's: x' = `attacks.pgd(...)` against the full network
(loss 'ce' for AT; loss 'kl' with random_start 'normal' for TRADES), then the loss
here, inside `awp.perturbed(...)` for the AWP rows of Table 4.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..subnets import SharedStem, Subnet, use_subnet
from .standard import DEFAULT_KL_REDUCTION, StepLosses, ews_loss, subnet_term

TRADES_GAMMA = 1 / 6  # gamma of Eq. 4 for TRADES: its beta = 6 moved onto the clean term


def at_loss(
    model: nn.Module, x_adv: Tensor, y: Tensor, *, subnet: Subnet | None, lam: float, subnet_loss: str = "kl",
    kl_reduction: str = DEFAULT_KL_REDUCTION, label_smoothing: float = 0.0,
) -> StepLosses:
    """Madry et al.'s AT with EWS: the standard objective evaluated on the adversarial images x'."""
    return ews_loss(model, x_adv, y, subnet=subnet, lam=lam, subnet_loss=subnet_loss, kl_reduction=kl_reduction,
                    label_smoothing=label_smoothing)


def trades_kl(logits_adv: Tensor, logits_clean: Tensor) -> Tensor:
    """KL(p(x) || p(x')), batch mean; gradients flow into both (TRADES' regulariser)."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), F.log_softmax(logits_clean, dim=1), log_target=True,
                    reduction="batchmean")


def trades_loss(
    model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, *, subnet: Subnet | None, lam: float,
    gamma: float = TRADES_GAMMA, subnet_loss: str = "kl", kl_reduction: str = DEFAULT_KL_REDUCTION,
    label_smoothing: float = 0.0,
) -> StepLosses:
    """Eq. 4 with phi = TRADES' KL: `[KL + lam L_sub(x')] + gamma [CE(x) + lam L_sub(x)]`.

    The clean and adversarial batches go through the network separately, so each
    BatchNorm pass sees one kind of image, as in TRADES' code. `logits` are the
    adversarial ones (training accuracy under attack).
    """
    with SharedStem(model, enabled=subnet is not None) as stem:
        logits = model(x)  # (B, num_classes)
        logits_adv = model(x_adv)
        base = trades_kl(logits_adv, logits)
        if gamma > 0:
            base = base + gamma * F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        if subnet is None:
            return StepLosses(base, base.detach(), None, logits_adv.detach())
        with use_subnet(model, subnet) as net:
            term = subnet_term(stem.run(net, x_adv), logits_adv, y, kind=subnet_loss, kl_reduction=kl_reduction)
            if gamma > 0:
                term = term + gamma * subnet_term(stem.run(net, x), logits, y, kind=subnet_loss,
                                                  kl_reduction=kl_reduction)
    return StepLosses(base + lam * term, base.detach(), term.detach(), logits_adv.detach())
