"""Evaluation: `ews.evaluate` on any `nn.Module` (`core`), the threat models and conventions papers report
(`threat_models`, `robustbench`), the -C sets (`corruption_sets`) and `ews eval`: its model loaded by
`ews.training.load`, its files (`files`, `report`)."""

from ..training.load import ExternalModel
from .core import EvalData, Request, evaluate, evaluation_data
from .corruption_sets import (corruption_layout, corrupted_split, generated_c_set, resolve_corruption_set,
                              resolve_corruptions)
from .files import TrainedModel, load_external, load_source, load_trained, run_evaluation, write_results
from .report import benchmark_rows, evaluation_blocks, results_markdown
from .result import EvaluationResult
from .robustbench import robustbench_entry
from .threat_models import THREAT_MODELS, ThreatModel, threat_model

__all__ = [
    "EvalData", "EvaluationResult", "ExternalModel", "Request", "THREAT_MODELS", "ThreatModel", "TrainedModel",
    "benchmark_rows", "corrupted_split", "corruption_layout", "evaluate", "evaluation_blocks", "evaluation_data",
    "generated_c_set", "load_external", "load_source", "load_trained", "resolve_corruption_set",
    "resolve_corruptions", "results_markdown", "robustbench_entry", "run_evaluation", "threat_model",
    "write_results",
]
