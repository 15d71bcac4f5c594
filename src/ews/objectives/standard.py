"""The standard objective: cross-entropy plus the EWS subnet term (paper Eq. 2), and the term itself."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..subnets import SharedStem, Subnet, use_subnet


# How the KL is averaged, which sets lambda's scale: `batchmean` is the true KL (summed over classes, mean over
# the batch); `mean` is `nn.KLDivLoss()`'s default in the authors' clean/ImageNet scripts, which also divides by
# the number of classes C, so their lambda is our lambda * C.
KL_REDUCTIONS = ("batchmean", "mean")
# The default scale: the authors' code's, chosen on Fashion-MNIST's validation split (docs/evidence.md), where lambda 1
# on the true KL cost 4.9 points of clean error against lambda 1 on `mean`.
DEFAULT_KL_REDUCTION = "mean"


def subnet_kl(subnet_logits: Tensor, full_logits: Tensor, *, reduction: str = DEFAULT_KL_REDUCTION) -> Tensor:
    """KL(p_full || p_subnet), temperature 1, averaged as `reduction` says; the full network is the detached teacher."""
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"kl_reduction must be one of {', '.join(KL_REDUCTIONS)}, got {reduction!r}")
    kl = F.kl_div(
        F.log_softmax(subnet_logits, dim=1),
        F.log_softmax(full_logits.detach(), dim=1),
        log_target=True,
        reduction="batchmean",
    )
    # `mean` divided explicitly: PyTorch's own reduction="mean" warns and is announced to become batchmean
    return kl / subnet_logits.shape[1] if reduction == "mean" else kl


SUBNET_LOSSES = ("kl", "ce")  # the enhancement losses `subnet_term` knows


def subnet_term(subnet_logits: Tensor, full_logits: Tensor, targets: Tensor, *, kind: str,
                kl_reduction: str = DEFAULT_KL_REDUCTION) -> Tensor:
    """The enhancement loss: `kl` distils the full network (Eq. 2); `ce` uses the labels (Table A)."""
    if kind == "kl":
        return subnet_kl(subnet_logits, full_logits, reduction=kl_reduction)
    if kind == "ce":
        return F.cross_entropy(subnet_logits, targets)
    raise ValueError(f"subnet loss must be one of {', '.join(SUBNET_LOSSES)}, got {kind!r}")


@dataclass
class StepLosses:
    """The loss to back-propagate and its parts (the parts detached, for logging)."""

    total: Tensor
    base: Tensor
    subnet: Tensor | None
    logits: Tensor


def ews_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    subnet: Subnet | None,
    lam: float,
    subnet_loss: str = "kl",
    kl_reduction: str = DEFAULT_KL_REDUCTION,
    label_smoothing: float = 0.0,
) -> StepLosses:
    """`CE(M(x), y) + lam * L_sub(subnet(x), M(x))`; with `subnet=None` plain cross-entropy.

    Both passes share one backward: the subnet's gradients land in the shared weights. The
    subnet pass starts from the full pass's stem output (`SharedStem`).
    """
    with SharedStem(model, enabled=subnet is not None) as stem:
        logits = model(x)  # (B, num_classes)
        base = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        if subnet is None:
            return StepLosses(base, base.detach(), None, logits.detach())
        with use_subnet(model, subnet) as net:
            subnet_logits = stem.run(net, x)
    term = subnet_term(subnet_logits, logits, y, kind=subnet_loss, kl_reduction=kl_reduction)
    return StepLosses(base + lam * term, base.detach(), term.detach(), logits.detach())
