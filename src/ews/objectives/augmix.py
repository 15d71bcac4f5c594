"""The AugMix objective: cross-entropy on the clean view plus the Jensen-Shannon consistency
over (clean, augmix, augmix) views (Hendrycks et al. 2020, Sec. 3), with the EWS subnet term
(paper Eq. 2; Table 1's AugMix rows train this way, severity 5 with the JSD loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..subnets import SharedStem, Subnet, use_subnet
from .standard import DEFAULT_KL_REDUCTION, StepLosses, subnet_term

VIEWS = 3  # clean, AugMix draw 1, AugMix draw 2


def jsd_consistency(logits_clean: Tensor, logits_aug1: Tensor, logits_aug2: Tensor) -> Tensor:
    """Jensen-Shannon divergence of the three predictions, batch mean.

    JS = (KL(p_c || M) + KL(p_1 || M) + KL(p_2 || M)) / 3 with M their mean, clamped to
    [1e-7, 1] before the log as in AugMix's reference, so a confident mixture stays finite.
    Gradients flow into all three predictions (none is a detached teacher).
    """
    probs = [F.softmax(logits, dim=1) for logits in (logits_clean, logits_aug1, logits_aug2)]
    log_mixture = torch.stack(probs).mean(0).clamp(1e-7, 1.0).log()
    return torch.stack([F.kl_div(log_mixture, p, reduction="batchmean") for p in probs]).mean()


def augmix_loss(
    model: nn.Module,
    views: Tensor,
    y: Tensor,
    *,
    subnet: Subnet | None,
    lam: float,
    subnet_loss: str = "kl",
    kl_reduction: str = DEFAULT_KL_REDUCTION,
    jsd_weight: float,
) -> StepLosses:
    """`CE(M(x_clean), y) + jsd_weight * JS + lam * L_sub`, on views (B, 3, C, H, W) in [0, 1].

    The full network sees the three views in one forward pass of 3B images, so in training
    mode BatchNorm normalises with statistics shared across the views, as AugMix's
    reference code does. The EWS term runs one subnet pass on the same 3B images and is
    the average of the per-view terms: with `kl` (batch mean over 3B, each image against
    the full network's prediction on that same image) and with `ce` (labels repeated per
    view) the mean over 3B equals the mean of the three per-view means. `logits` are the
    clean view's (for training accuracy); `base` is CE + jsd_weight * JS.
    """
    if views.ndim != 5 or views.shape[1] != VIEWS:
        raise ValueError(f"augmix_loss needs views shaped (B, {VIEWS}, C, H, W), got {tuple(views.shape)}")
    batch = views.transpose(0, 1).flatten(0, 1)  # (3B, C, H, W): all clean, then draw 1, then draw 2
    with SharedStem(model, enabled=subnet is not None) as stem:
        logits = model(batch)  # (3B, num_classes)
        clean, aug1, aug2 = logits.chunk(VIEWS)
        base = F.cross_entropy(clean, y) + jsd_weight * jsd_consistency(clean, aug1, aug2)
        if subnet is None:
            return StepLosses(base, base.detach(), None, clean.detach())
        with use_subnet(model, subnet) as net:
            subnet_logits = stem.run(net, batch)
    term = subnet_term(subnet_logits, logits, y.repeat(VIEWS), kind=subnet_loss, kl_reduction=kl_reduction)
    return StepLosses(base + lam * term, base.detach(), term.detach(), clean.detach())
