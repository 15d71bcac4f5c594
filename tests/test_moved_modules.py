"""Import paths from before the package layout keep working, as aliases that say where the module went."""

from __future__ import annotations

import importlib
import sys

import pytest

import ews
from ews._moved import CALLABLE, MOVED


@pytest.mark.parametrize("old, new", sorted((old, new) for old, new in MOVED.items() if old not in CALLABLE))
def test_old_module_path_is_the_new_module_with_a_deprecation_warning(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_the_old_evaluate_module_still_imports_and_ews_evaluate_stays_the_function() -> None:
    sys.modules.pop("ews.evaluate", None)
    with pytest.warns(DeprecationWarning, match="ews.evaluate moved to ews.evaluation"):
        from ews.evaluate import run_evaluation
    from ews.evaluation import evaluate, run_evaluation as moved

    assert run_evaluation is moved
    # the import system set ews.evaluate to the old path's module: it still calls the function
    assert callable(ews.evaluate) and ews.evaluate._function is evaluate


def test_names_import_from_an_old_path() -> None:
    sys.modules.pop("ews.checkpoint", None)
    with pytest.warns(DeprecationWarning):
        from ews.checkpoint import load_checkpoint
    from ews.runs.checkpoint import load_checkpoint as moved

    assert load_checkpoint is moved and ews.__version__


def test_the_folded_evaluation_sources_module_still_imports_its_names() -> None:
    sys.modules.pop("ews.evaluation.sources", None)
    with pytest.warns(DeprecationWarning, match="ews.evaluation.sources is deprecated"):
        from ews.evaluation.sources import identity, load_trained, resolve_corruptions
    from ews.evaluation import files, load_trained as moved, resolve_corruptions as moved_set

    assert load_trained is moved and resolve_corruptions is moved_set and identity is files.identity
