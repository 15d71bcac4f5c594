"""One tiny digits study (2 variants x 2 seeds) run on the local backend, the reference every backend must equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ews.analysis.study import build_spec, run_study

from ..conftest import TINY

STUDY = {
    "seeds": [1, 2],
    "reference": "vanilla",
    "base": {**{key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in TINY)},
             "train.epochs": 1},
    "variants": {"vanilla": {"method": "vanilla"}, "ews": {"method": "ews"}},
    "evaluate": {"corruptions": "digits-c", "corruption_names": ["gaussian_noise"], "corruption_images": 20,
                 "attacks": ["pgd20"], "n_examples": 16},
}


def metric_values(results: dict[str, Any]) -> dict[tuple[str, str], list[float]]:
    """Every variant's per-seed values of every metric in `study.json`: what must not depend on the backend."""
    return {(variant, metric): summary["values"] for variant, entry in results["variants"].items()
            for metric, summary in entry["metrics"].items()}


@pytest.fixture(scope="package")
def local_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`ews sweep --study ... --jobs 2`'s results (two worker processes, the default thread count)."""
    out: Path = tmp_path_factory.mktemp("local") / "study"
    return run_study(None, build_spec(STUDY), out=out, jobs=2)
