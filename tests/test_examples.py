"""Every script in examples/ runs, on tiny data, as a user would start it (in this process, to skip a new
interpreter's imports)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def test_the_three_examples_are_there() -> None:
    assert EXAMPLES == ["finetune_torchvision.py", "lightning_module.py", "plain_loop.py"]


@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs_on_tiny_data(script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    extra = ["--out", str(tmp_path / "run")] if script == "lightning_module.py" else []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script, "--limit", "60", "--epochs", "1", *extra])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert "accuracy" in capsys.readouterr().out.splitlines()[-1]
