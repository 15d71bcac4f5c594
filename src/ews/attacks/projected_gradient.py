"""Our PGD (Madry et al. 2018) and its budget, `PGDSettings`: what adversarial training attacks with (paper
Sec. 4.2) and the PGD-20 column of Table 4. L-inf and L2 balls, CE or TRADES' KL loss, in pixel space [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import check_integer
from ..runtime import model_mode
from ..subnets import unwrap
from .choices import (LOSSES, NORMS, STARTS, TRADES_START_STD, TRAIN_EPS, TRAIN_STEP_SIZE, TRAIN_STEPS,
                      check_choice, check_number)


@dataclass(frozen=True)
class PGDSettings:
    """One PGD budget: the training default is PGD-10, L-inf eps 8/255, step 2/255 (Table 4)."""

    eps: float = TRAIN_EPS
    step_size: float = TRAIN_STEP_SIZE
    steps: int = TRAIN_STEPS
    norm: str = "linf"

    def __post_init__(self) -> None:
        check_number("PGD eps", self.eps)
        check_number("PGD step size", self.step_size)
        check_integer("PGD steps", self.steps, least=0)
        check_choice("PGD norm", self.norm, NORMS)


@contextmanager
def _input_gradients_only(model: nn.Module) -> Iterator[None]:
    """Autograd on (even under no_grad / inference_mode), parameters frozen: attacks need d loss / d x only."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _autograd_ready(t: Tensor | None) -> Tensor | None:
    """Detached, and copied if it was made under inference_mode (such tensors cannot enter autograd)."""
    if t is None:
        return None
    return t.clone() if t.is_inference() else t.detach()


def _per_sample(values: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, 1, ...) to broadcast over a batch shaped like `like`."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def _l2(t: Tensor) -> Tensor:
    return _per_sample(t.flatten(1).norm(dim=1), t)


def _noise(shape: tuple[int, ...], like: Tensor, kind: str, generator: torch.Generator | None) -> Tensor:
    """Uniform [0, 1) or standard normal noise placed like `like`, drawn from `generator` (global RNG if None)."""
    device = like.device if generator is None else generator.device
    draw = torch.rand if kind == "uniform" else torch.randn
    return draw(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _start(x: Tensor, *, eps: float, norm: str, kind: str, generator: torch.Generator | None) -> Tensor:
    """The first perturbation: uniform in the ball (Madry et al.'s AT), TRADES' small Gaussian, or none."""
    if kind == "none":
        return torch.zeros_like(x)
    if kind == "normal":
        return TRADES_START_STD * _noise(x.shape, x, "normal", generator)
    if norm == "linf":
        return eps * (2 * _noise(x.shape, x, "uniform", generator) - 1)
    direction = _noise(x.shape, x, "normal", generator)
    # Radius eps * U^(1/d) makes the point uniform in the d-dimensional ball, not just on its sphere.
    radius = eps * _noise((len(x),), x, "uniform", generator) ** (1 / x[0].numel())
    return direction / _l2(direction).clamp_min(1e-12) * _per_sample(radius, x)


def _project(x_adv: Tensor, x: Tensor, *, eps: float, norm: str) -> Tensor:
    """Back into the eps-ball around `x`, then into [0, 1] (which only shrinks the perturbation)."""
    if norm == "linf":
        x_adv = torch.clamp(x_adv, x - eps, x + eps)
    else:
        delta = x_adv - x
        x_adv = x + delta * (eps / _l2(delta).clamp_min(1e-12)).clamp(max=1.0)
    return x_adv.clamp(0.0, 1.0)


def _ascent_direction(grad: Tensor, norm: str) -> Tensor:
    """Steepest ascent under the norm: the sign for L-inf, the unit gradient for L2."""
    if norm == "linf":
        return grad.sign()
    return grad / _l2(grad).clamp_min(1e-12)


def _attack_loss(logits: Tensor, target: Tensor, loss: str) -> Tensor:
    """Summed over the batch, so each image's gradient is its own loss's gradient."""
    if loss == "ce":
        return F.cross_entropy(logits, target, reduction="sum")
    return F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(target, dim=1), log_target=True, reduction="sum")


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None,
    *,
    eps: float,
    step_size: float,
    steps: int,
    norm: str = "linf",
    loss: str = "ce",
    random_start: str = "uniform",
    targeted: bool = False,
    reference: Tensor | None = None,
    mode: str | None = "eval",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Projected gradient ascent on the loss within the `norm` ball of radius `eps` (Madry et al. 2018).

    `loss='ce'` attacks the labels `y` (AT); `loss='kl'` maximises KL(p(x) || p(x'))
    against `reference` logits, by default the model's own on `x` (TRADES, Zhang et al.
    2019; `y` may be None). `random_start`: 'uniform' in the ball (AT), 'normal' =
    x + 0.001 N(0, 1) (TRADES' code) or 'none'. `targeted` descends the loss towards
    `y` instead. The model runs in `mode` (None: as it is); its modes, parameters and
    their `.grad` are as before afterwards. x: (B, C, H, W) in [0, 1]; returns a
    detached tensor like `x`, in [0, 1] and within `eps` of `x`; `eps = 0` returns `x`.
    """
    PGDSettings(eps=eps, step_size=step_size, steps=steps, norm=norm)
    check_choice("PGD loss", loss, LOSSES)
    check_choice("PGD random start", random_start, STARTS)
    if loss == "ce" and y is None:
        raise ValueError("PGD with loss='ce' needs the labels y")
    if eps == 0:
        return x.detach().clone()
    net = unwrap(model)
    with model_mode(net, mode), _input_gradients_only(net):
        x, y, reference = (_autograd_ready(t) for t in (x, y, reference))
        if loss == "kl" and reference is None:
            with torch.no_grad():
                reference = net(x)
        target = y if loss == "ce" else reference.detach()
        sign = -1.0 if targeted else 1.0
        x_adv = _project(x + _start(x, eps=eps, norm=norm, kind=random_start, generator=generator), x, eps=eps, norm=norm)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(_attack_loss(net(x_adv), target, loss), x_adv)
            step = sign * step_size * _ascent_direction(grad, norm)
            x_adv = _project(x_adv.detach() + step, x, eps=eps, norm=norm)
    return x_adv.detach()
