"""Training objectives: a base loss per training mode, each with the EWS subnet term (paper Eq. 2-4).

Every objective takes `(model, x, y, *, subnet, lam, subnet_loss, ...)` and returns
`StepLosses`; with `subnet=None` it is the plain base loss.
"""

from .standard import StepLosses, ews_loss, subnet_kl, subnet_term

__all__ = ["StepLosses", "ews_loss", "subnet_kl", "subnet_term"]
