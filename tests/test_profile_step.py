"""benchmarks/profile_step.py, which says where an EWS step's time goes, runs end to end (small, on the CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_profile_step_reports_both_steps_and_the_ews_operators(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "--model", "resnet20", "--batch", "2",
         "--image-size", "16", "--steps", "1", "--rows", "3", "--json", str(tmp_path / "p.json")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FLOP floor of EWS / vanilla" in done.stdout
    assert "  vanilla: " in done.stdout and "  ews: " in done.stdout and "operators, wall" in done.stdout
    assert "EWS / vanilla: operators" in done.stdout and "Self CPU time total" in done.stdout
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["reading"] == "default" and result["device"] == "cpu"
    # An EWS step is a vanilla step plus one subnet pass: it runs no more than twice the operators (counts, not time).
    ratio = result["ews"]["ops"] / result["vanilla"]["ops"]
    assert ratio == pytest.approx(result["ops_ratio"], abs=1e-3) and 1.0 < ratio <= 2.0
    # Time by kind of work: a subnet pass adds products and other operators, so both kinds add time, and the
    # floor counting both kinds lies above 1 and is printed with the FLOP fraction it starts from.
    assert 0.0 < result["product_share"] < 1.0 and result["element_fraction"] > 0.0
    assert result["product_extra"] > 0.0 and result["other_extra"] > 0.0 and result["time_floor"] > 1.0
    assert result["ews"]["other_elements"] > result["vanilla"]["other_elements"] > 0
    assert f"for a FLOP fraction of {result['flop_floor'] - 1:.3f}" in done.stdout
    assert f"floor counting both at the vanilla step's speed {result['time_floor']:.3f}" in done.stdout
