"""Training objectives: a base loss per training mode, each with the EWS subnet term (paper Eq. 2-4).

`build_objective(config)` picks the run's objective; every loss takes the model, the
inputs and the subnet to enhance (None: the plain base loss) and returns `StepLosses`.
"""

from .augmix import augmix_loss, jsd_consistency
from .build import Objective, build_objective
from .standard import DEFAULT_KL_REDUCTION, KL_REDUCTIONS, SUBNET_LOSSES, StepLosses, ews_loss, subnet_kl, subnet_term

__all__ = [
    "DEFAULT_KL_REDUCTION",
    "KL_REDUCTIONS",
    "SUBNET_LOSSES",
    "Objective",
    "StepLosses",
    "augmix_loss",
    "build_objective",
    "ews_loss",
    "jsd_consistency",
    "subnet_kl",
    "subnet_term",
]
