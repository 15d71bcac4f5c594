"""The package's layers, as pyproject's `[tool.importlinter]` contracts state them (import-linter).

Lowest layers last: `errors`, `documents`, `runtime`, `models`, `subnets`, `data`,
`corruptions`, `attacks`, `search`, `objectives`, `config`, then the application
(`trainer`, `export`, `evaluate`, `analysis`, `demo`, `cli`). A module may import only
from layers below it, and no package holds an import circle, function-level imports
included: a new import that runs upwards fails here, naming the import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# In a child process: import-linter changes process-wide state that later tests (AutoAttack's logged checks) see.
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1], " \
       "no_cache=True, no_logo=True))"


def test_import_contracts_hold() -> None:
    result = subprocess.run([sys.executable, "-c", LINT, str(PYPROJECT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
