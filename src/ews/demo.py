"""`ews demo`: vanilla vs EWS on the embedded digits, side by side, in a few CPU minutes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write_text
from .config import Config, dump_config, load_config
from .run_dir import RunDir
from .trainer import Trainer

DEMO_METHODS = ("vanilla", "ews")


def demo_config(method: str, *, epochs: int, progress: bool = True) -> Config:
    """ResNet-20 on the digits; everything else at the paper's defaults (lam 1, rho 0.5)."""
    return load_config(
        overrides=[
            f"method={method}",
            "data.name=digits",
            "model.name=resnet20",
            f"train.epochs={epochs}",
            "train.batch_size=64",
            "train.lr=0.05",
            f"log.progress={str(progress).lower()}",
        ]
    )


def run_demo(out: str | Path, *, epochs: int = 15, overwrite: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Train (or reuse, when finished with the same config) each demo run and return their reports."""
    reports = []
    for method in DEMO_METHODS:
        config = demo_config(method, epochs=epochs, progress=progress)
        run = RunDir(Path(out) / method)
        same = run.config.is_file() and run.config.read_text() == dump_config(config)
        if run.finished and same and not overwrite:
            print(f"{method}: reusing the finished run in {run.root} (pass --overwrite to retrain)")
            reports.append(json.loads(run.report.read_text()))
            continue
        print(f"{method}: training ResNet-20 on digits for {epochs} epochs -> {run.root}")
        reports.append(Trainer(config).fit(run, resume=run.started and same and not overwrite))
    table = results_table(reports)
    atomic_write_text(Path(out) / "results.md", table)
    atomic_write_text(Path(out) / "results.json", json.dumps(reports, indent=2) + "\n")
    return reports


def results_table(reports: list[dict[str, Any]]) -> str:
    """A markdown table, one row per run: the numbers the paper's tables report."""
    lines = ["| method | model | dataset | epochs | clean error (%) | train time (s) |", "|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(
            f"| {r['method']} | {r['model']} | {r['dataset']} | {r['epochs']} | "
            f"{r['clean_error']:.2f} | {r['train_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"
