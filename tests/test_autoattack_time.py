"""benchmarks/autoattack_time.py, which the eval docs quote for a standard AutoAttack on 10k CIFAR images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_estimate_follows_the_librarys_passes_and_one_measured_pass(tmp_path: Path) -> None:
    out = tmp_path / "aa.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "autoattack_time.py"), "--models", "resnet20", "--batch", "8",
         "--images", "1000", "--clean", "0.8", "--robust", "0.4", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.read_text())
    assert row["passes"] == pytest.approx({"apgd-ce": 100, "apgd-t": 900, "fab-t": 900, "square": 5000 / 3})
    seconds = row["ms_per_image_pass"] / 1e3 * 1000 / 3600  # per pass, for 1,000 images, in hours
    assert row["upper_bound_hours"] == pytest.approx(seconds * (100 + 900 + 900 + 5000 / 3))
    assert row["estimate_hours"] == pytest.approx(seconds * (0.8 * 100 + 0.4 * (900 + 900 + 5000 / 3)))
    assert "upper bound" in done.stdout


def test_accuracies_out_of_order_are_refused() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "autoattack_time.py"), "--clean", "0.3",
                           "--robust", "0.5"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "--robust <= --clean" in done.stderr
