"""Every script in examples/ runs, on tiny data, as a user would start it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def test_the_three_examples_are_there() -> None:
    assert EXAMPLES == ["finetune_torchvision.py", "lightning_module.py", "plain_loop.py"]


@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs_on_tiny_data(script: str, tmp_path: Path) -> None:
    extra = ["--out", str(tmp_path / "run")] if script == "lightning_module.py" else []
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--limit", "60", "--epochs", "1", *extra],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "accuracy" in done.stdout.splitlines()[-1]
