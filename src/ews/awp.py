"""Adversarial weight perturbation (Wu et al. 2020, "AWP"): the "+ AWP" rows of the paper's Table 4.

AWP trains the weights at the worst point of a small neighbourhood: before each step it
moves every weight matrix by `v_l = gamma * ||w_l|| * d_l / ||d_l||`, d the gradient
ascent direction of the adversarial loss, takes the gradient there and removes v again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .errors import ConfigError
from .runtime import distributed
from .subnets import unwrap

DEFAULT_GAMMA = {"at": 1e-2, "trades": 5e-3}  # AWP's gamma per adversarial mode (Wu et al.; EWS authors' scripts)

LossFn = Callable[[nn.Module], Tensor]


@contextmanager
def _running_stats_frozen(model: nn.Module) -> Iterator[None]:
    """BatchNorm normalises as usual (batch statistics in train mode) but keeps its running statistics."""
    norms = [(m, m.track_running_stats) for m in model.modules() if isinstance(m, _BatchNorm)]
    try:
        for m, _ in norms:
            m.track_running_stats = False
        yield
    finally:
        for m, flag in norms:
            m.track_running_stats = flag


def weight_perturbation(model: nn.Module, loss_fn: LossFn, *, gamma: float) -> dict[str, Tensor]:
    """AWP's layer-wise perturbation v, by parameter name, for every weight with more than one dimension.

    One ascent step on `loss_fn(model)` (the adversarial loss, e.g. CE on x' for AT)
    gives the direction d; the perturbation is scaled relative to each layer's norm, as
    in AWP. Only input gradients of the weights are taken: `.grad`, BatchNorm running
    statistics and the weights themselves are left as they were. The model runs in its
    current mode (AWP uses train mode); pass the unwrapped module under DDP.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0:
        raise ConfigError(f"AWP gamma must be a number >= 0, got {gamma!r}")
    net = unwrap(model)
    weights = {name: p for name, p in net.named_parameters() if p.dim() > 1 and p.requires_grad}
    if gamma == 0 or not weights:
        return {}
    with torch.enable_grad(), _running_stats_frozen(net):
        grads = torch.autograd.grad(loss_fn(net), list(weights.values()), allow_unused=True)
    perturbation = {}
    for (name, w), d in zip(weights.items(), grads):
        if d is not None:
            d = distributed.sum_across_ranks(d)  # under torchrun: the global batch's direction, same on every rank
            perturbation[name] = gamma * w.detach().norm() * d / (d.norm() + 1e-20)
    return perturbation


@contextmanager
def perturbed(model: nn.Module, loss_fn: LossFn, *, gamma: float) -> Iterator[dict[str, Tensor]]:
    """Within the block the model's weights are w + v (`weight_perturbation`); on exit exactly w again.

    Run forward and backward inside the block; the gradients (taken at w + v) stay in
    `.grad` and `optimizer.step()` after the block applies them at w. That equals AWP's
    "step at w + v, then subtract v" except that weight decay sees w rather than w + v.
    The weights are copied back, not v subtracted, so they are bit-exact on every exit
    path, exceptions included. Yields v by parameter name.
    """
    perturbation = weight_perturbation(model, loss_fn, gamma=gamma)
    params = dict(unwrap(model).named_parameters())
    saved = {name: params[name].detach().clone() for name in perturbation}
    try:
        with torch.no_grad():
            for name, v in perturbation.items():
                params[name].add_(v)
        yield perturbation
    finally:
        with torch.no_grad():
            for name, original in saved.items():
                params[name].copy_(original)
