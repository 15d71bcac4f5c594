"""The package's layers, as pyproject's `[tool.importlinter]` contracts state them (import-linter).

Lowest layers last: `errors`, `documents`, `runtime`, `models`, `subnets`, `data`,
`corruptions`, `attacks`, `search`, `objectives`, `config`, then the application
(`trainer`, `export`, `evaluate`, `analysis`, `demo`, `cli`). A module may import only
from layers below it, and no package holds an import circle, function-level imports
included: a new import that runs upwards fails here, naming the import.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_import_contracts_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out
