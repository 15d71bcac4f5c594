"""Module paths from before the package layout (0.1 kept the runtime, run-folder and training
modules at the top of `ews`) still import: each old name is an alias of its new module, with a
`DeprecationWarning` that names the new path. One finder serves them all; nothing is imported
until an old name is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED = {
    "ews.distributed": "ews.runtime.distributed",
    "ews.precision": "ews.runtime.precision",
    "ews.host_memory": "ews.runtime.host_memory",
    "ews.interrupts": "ews.runtime.interrupts",
    "ews.checkpoint": "ews.runs.checkpoint",
    "ews.run_dir": "ews.runs.run_dir",
    "ews.run_lock": "ews.runs.run_lock",
    "ews.provenance": "ews.training.provenance",
    "ews.trainer": "ews.training.trainer",
    "ews.epoch_state": "ews.training.epoch_state",
    "ews.divergence": "ews.training.divergence",
    "ews.export": "ews.training.export",
    "ews.evaluate": "ews.evaluation",
}
# Old module paths whose name is now a function of the package: `ews.evaluate` was a module and is
# now `ews.evaluation.evaluate`. Importing the old path must not leave the package attribute a
# plain module (the import system sets it to what `sys.modules` holds), so the alias is callable.
CALLABLE = {"ews.evaluate": "evaluate"}


class _CallableAlias(ModuleType):
    """The new module under its old name, which also calls the function the old name now means."""

    def __init__(self, name: str, target: ModuleType, function: str) -> None:
        super().__init__(name, target.__doc__)
        self._target, self._function = target, getattr(target, function)

    def __getattr__(self, attribute: str) -> object:
        return getattr(self._target, attribute)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._function(*args, **kwargs)


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Put the new module in the old name's place: the import system returns what sys.modules holds."""
        new = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} moved to {new}; import it from there", DeprecationWarning, stacklevel=2)
        target = importlib.import_module(new)
        function = CALLABLE.get(module.__name__)
        sys.modules[module.__name__] = target if function is None else _CallableAlias(module.__name__, target, function)


def install() -> None:
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.append(_OldPaths())
