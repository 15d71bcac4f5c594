"""benchmarks/profile_step.py, which says where an EWS step's time goes, runs end to end (small, on the CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_profile_step_reports_both_steps_and_the_ews_operators() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "--model", "resnet20", "--batch", "2",
         "--image-size", "16", "--steps", "1", "--rows", "3"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FLOP floor of EWS / vanilla" in done.stdout
    assert "  vanilla: wall" in done.stdout and "  ews: wall" in done.stdout
    assert "EWS / vanilla: wall" in done.stdout and "Self CPU time total" in done.stdout
