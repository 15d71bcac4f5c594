"""The threat models robustness papers report, as named settings with the field's default radius per dataset.

RobustBench (Croce et al. 2021) compares models under fixed settings: L-inf 8/255 and L2 0.5
on CIFAR, L-inf 4/255 on ImageNet, and accuracy under common corruptions (15 corruptions x 5
severities). A number measured at another radius is not comparable with a leaderboard entry,
so naming a threat model fixes its radius and an `eps` that differs is refused, not used.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .arguments import argument, given

THREAT_MODELS = ("linf", "l2", "corruptions")
# RobustBench's spelling of each threat model, for robustbench.json.
ROBUSTBENCH_NAMES = {"linf": "Linf", "l2": "L2", "corruptions": "corruptions"}
# Inputs at least this large follow ImageNet's conventions; smaller ones CIFAR's.
IMAGENET_SIZE = 64
_EPS = {("cifar", "linf"): 8 / 255, ("cifar", "l2"): 0.5, ("imagenet", "linf"): 4 / 255, ("imagenet", "l2"): 3.0}


@dataclass(frozen=True)
class ThreatModel:
    """One named setting: the attack norm and radius (None for corruptions) and what is measured under it."""

    name: str
    norm: str | None
    eps: float | None

    @property
    def adversarial(self) -> bool:
        return self.norm is not None


def family(image_size: int) -> str:
    """`imagenet` for ImageNet-sized inputs, else `cifar`: whose default radii apply."""
    return "imagenet" if image_size >= IMAGENET_SIZE else "cifar"


def default_eps(norm: str, image_size: int) -> float:
    """The field's radius for `norm` on inputs of this size (L2 on ImageNet: 3.0, as in Salman et al. 2020)."""
    return _EPS[(family(image_size), norm)]


def threat_model(name: str, *, image_size: int, eps: float | None = None, norm: str | None = None,
                 cli: bool = False) -> ThreatModel:
    """The named setting for this dataset; an `eps` or `norm` that contradicts it is a `ConfigError`
    (naming `--flags` when `cli`, else Python arguments)."""
    chosen = given("threat_model", name, cli=cli)
    if name not in THREAT_MODELS:
        raise ConfigError(f"{chosen} is not one of {', '.join(THREAT_MODELS)}")
    if name == "corruptions":
        if eps is not None or norm is not None:
            raise ConfigError(f"{chosen} takes no {argument('eps', cli=cli)} or {argument('norm', cli=cli)} "
                              "(it attacks nothing)")
        return ThreatModel(name, None, None)
    fixed = default_eps(name, image_size)
    if norm is not None and norm != name:
        raise ConfigError(f"{given('norm', norm, cli=cli)} contradicts {chosen}; drop one of them")
    if eps is not None and abs(eps - fixed) > 1e-9:
        raise ConfigError(f"{given('eps', eps_text(eps), cli=cli)} does not match {chosen} on "
                          f"{family(image_size)}-sized inputs (eps {eps_text(fixed)}); drop "
                          f"{argument('threat_model', cli=cli)} to attack at another radius")
    return ThreatModel(name, name, fixed)


def eps_text(eps: float) -> str:
    """`8/255` for a multiple of 1/255 (as papers and RobustBench write it), else the number."""
    scaled = eps * 255
    return f"{round(scaled)}/255" if eps < 1 and abs(scaled - round(scaled)) < 1e-6 else f"{eps:g}"
