"""benchmarks/gpu_hours.py, which docs/reproducing.md quotes for the ViT and ConvNeXt presets, runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_hours_estimates_every_beyond_preset_by_the_pages_formula(tmp_path: Path) -> None:
    out = tmp_path / "hours.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_hours.py"), "--subnets", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {row["preset"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {f"beyond_{m}_imagenet_{x}" for m in ("vit_s16", "convnext_tiny") for x in ("vanilla", "ews")}
    for row in rows.values():
        hours = 3 * row["gflops_per_image"] * 1e9 * 1_281_167 * row["epochs"] / 25e12 / 3600
        assert row["vanilla_hours"] == pytest.approx(hours, abs=0.1)
        if "ews_hours" in row:
            assert row["ews_hours"] == pytest.approx(1.714 * row["vanilla_hours"], abs=0.1)
            assert 1 < row["flop_floor"] < 2 and row["floor_hours"] < row["ews_hours"]
    # the attention matmuls are counted: ViT-S/16 is 4.6 GMACs, not the 4.2 of its linear layers alone
    assert rows["beyond_vit_s16_imagenet_vanilla"]["gflops_per_image"] == pytest.approx(9.198, abs=0.01)
