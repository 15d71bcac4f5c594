"""Deprecated import path: `ews.evaluation.sources` was folded into its callers; import these names from `ews.evaluation`.

A model is loaded by `ews.training.load.load_model`; `ews eval`'s wrappers around it (`TrainedModel`,
`load_source`, `load_trained`, `load_external`, `identity`) are in `ews.evaluation.files`, and the -C set of a
run's config (`resolve_corruptions`, `generated_c_set`) in `ews.evaluation.corruption_sets`.
"""

from __future__ import annotations

import warnings

from ..training.load import ExternalModel
from .corruption_sets import generated_c_set, resolve_corruptions
from .files import TrainedModel, identity, load_external, load_source, load_trained

__all__ = ["ExternalModel", "TrainedModel", "generated_c_set", "identity", "load_external", "load_source",
           "load_trained", "resolve_corruptions"]

warnings.warn("ews.evaluation.sources is deprecated: import its names from ews.evaluation "
              "(identity from ews.evaluation.files)", DeprecationWarning, stacklevel=2)
