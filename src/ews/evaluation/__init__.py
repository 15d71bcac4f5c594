"""Evaluation: `ews.evaluate` on any `nn.Module` (`core`), the threat models and conventions papers report
(`threat_models`, `robustbench`), where a model comes from (`sources`) and `ews eval`'s files (`files`, `report`)."""

from .core import EvalData, Request, evaluate, evaluation_data
from .corruption_sets import corruption_layout, corrupted_split, resolve_corruption_set
from .files import run_evaluation, write_results
from .report import benchmark_rows, evaluation_blocks, results_markdown
from .result import EvaluationResult
from .robustbench import robustbench_entry
from .sources import (ExternalModel, TrainedModel, generated_c_set, load_external, load_source, load_trained,
                      resolve_corruptions)
from .threat_models import THREAT_MODELS, ThreatModel, threat_model

__all__ = [
    "EvalData", "EvaluationResult", "ExternalModel", "Request", "THREAT_MODELS", "ThreatModel", "TrainedModel",
    "benchmark_rows", "corrupted_split", "corruption_layout", "evaluate", "evaluation_blocks", "evaluation_data",
    "generated_c_set", "load_external", "load_source", "load_trained", "resolve_corruption_set",
    "resolve_corruptions", "results_markdown", "robustbench_entry", "run_evaluation", "threat_model",
    "write_results",
]
