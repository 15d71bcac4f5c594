"""benchmarks/gpu_check.sh, the prepared device check, runs end to end (its small CPU form here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the check runs full size (minutes)")
def test_gpu_check_prints_vanilla_and_ews_throughput_and_their_ratio(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PY": sys.executable, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "images/s: vanilla" in done.stdout and "EWS / vanilla" in done.stdout
    result = json.loads(out.read_text())
    assert result["channels_last"] is True
    assert result["vanilla_images_per_s_resnet20"] > 0 and result["ews_images_per_s_resnet20"] > 0
    assert result["ews_over_vanilla_resnet20"] > 0 and 0 < result["subnet_flop_fraction_resnet20"] < 1
