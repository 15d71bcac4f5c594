"""The objective a run trains with, built once from its config: a base loss plus the EWS term.

One object answers the trainer's three questions per step: which inputs to attack
(adversarial modes), which loss to back-propagate (standard CE, AugMix + JSD, AT or
TRADES, each with the EWS term), and how AWP perturbs the weights around that loss.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from torch import Tensor, nn

from .. import awp
from ..attacks import EVAL_STEPS, PGDSettings, pgd
from ..subnets import Subnet
from .adversarial import TRADES_GAMMA, at_loss, trades_loss
from .augmix import augmix_loss
from .standard import DEFAULT_KL_REDUCTION, StepLosses, ews_loss


@dataclass(frozen=True)
class Objective:
    """What one training step optimises; `mode` is standard, augmix, at or trades."""

    mode: str
    lam: float = 1.0
    subnet_loss: str = "kl"
    kl_reduction: str = DEFAULT_KL_REDUCTION  # lambda's scale: batchmean (the true KL) | mean (also / classes: authors' code)
    label_smoothing: float = 0.0
    jsd_weight: float = 12.0
    attack: PGDSettings = PGDSettings()
    eval_steps: int = EVAL_STEPS
    trades_gamma: float = TRADES_GAMMA

    @property
    def adversarial(self) -> bool:
        return self.mode in ("at", "trades")

    @property
    def default_awp_gamma(self) -> float:
        return awp.DEFAULT_GAMMA[self.mode]

    def adversarial_examples(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor | None:
        """x' against the full network (eval mode, so the attack leaves BatchNorm statistics alone); None if not adversarial."""
        if not self.adversarial:
            return None
        a = self.attack
        if self.mode == "trades":
            return pgd(model, x, None, eps=a.eps, step_size=a.step_size, steps=a.steps, norm=a.norm, loss="kl",
                       random_start="normal")
        return pgd(model, x, y, eps=a.eps, step_size=a.step_size, steps=a.steps, norm=a.norm)

    def search_images(self, x: Tensor, x_adv: Tensor | None) -> Tensor:
        """The images of this step a searching sampler scores subnets on: the adversarial ones in
        adversarial modes (Sec. 3.4.1), the clean view of AugMix's (B, 3, C, H, W) views, else `x`."""
        if x_adv is not None:
            return x_adv
        return x[:, 0] if self.mode == "augmix" else x

    def evaluation_attack(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """PGD-`eval_steps` with cross-entropy, uniform start: the attack early stopping selects on."""
        a = self.attack
        return pgd(model, x, y, eps=a.eps, step_size=a.step_size, steps=self.eval_steps, norm=a.norm)

    def losses(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor, *, subnet: Subnet | None) -> StepLosses:
        """The loss of this step on clean `x` and, in adversarial modes, its adversarial `x_adv`."""
        if self.mode == "augmix":
            return augmix_loss(model, x, y, subnet=subnet, lam=self.lam, subnet_loss=self.subnet_loss,
                               kl_reduction=self.kl_reduction, jsd_weight=self.jsd_weight)
        common = {"subnet": subnet, "lam": self.lam, "subnet_loss": self.subnet_loss,
                  "kl_reduction": self.kl_reduction, "label_smoothing": self.label_smoothing}
        if self.mode == "standard":
            return ews_loss(model, x, y, **common)
        if x_adv is None:
            raise ValueError(f"mode {self.mode} needs adversarial examples")
        if self.mode == "at":
            return at_loss(model, x_adv, y, **common)
        return trades_loss(model, x, x_adv, y, gamma=self.trades_gamma, **common)

    def perturbed(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor, *, gamma: float
                  ) -> AbstractContextManager[None]:
        """AWP around this step's adversarial loss (without the EWS term), weights restored on exit."""
        if not self.adversarial:
            raise ValueError(f"AWP needs an adversarial mode, got {self.mode}")
        return awp.perturbed(model, lambda net: self.losses(net, x, x_adv, y, subnet=None).total, gamma=gamma)


def build_objective(config) -> Objective:  # noqa: ANN001 - a validated `ews.config.Config`
    """The run's objective: AugMix's JSD views when `data.augment` is augmix with jsd, else `train.mode`."""
    a, d = config.adversarial, config.data
    mode = config.train.mode
    if mode == "standard" and d.augment == "augmix" and d.augmix.jsd:
        mode = "augmix"
    return Objective(
        mode=mode,
        lam=config.ews.lam,
        subnet_loss=config.ews.subnet_loss,
        kl_reduction=config.ews.kl_reduction,
        label_smoothing=config.train.label_smoothing,
        jsd_weight=d.augmix.jsd_weight,
        attack=PGDSettings(eps=a.eps, step_size=a.step_size, steps=a.steps, norm=a.norm),
        eval_steps=a.eval_steps,
        trades_gamma=a.trades_gamma,
    )
