"""Import paths from before the package layout keep working, as aliases that say where the module went."""

from __future__ import annotations

import importlib
import sys

import pytest

import ews
from ews._moved import MOVED


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_module_path_is_the_new_module_with_a_deprecation_warning(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_names_import_from_an_old_path() -> None:
    sys.modules.pop("ews.checkpoint", None)
    with pytest.warns(DeprecationWarning):
        from ews.checkpoint import load_checkpoint
    from ews.runs.checkpoint import load_checkpoint as moved

    assert load_checkpoint is moved and ews.__version__
