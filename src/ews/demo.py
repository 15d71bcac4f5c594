"""`ews demo`: vanilla vs EWS on the embedded digits, side by side, in a few CPU minutes.

Each model is trained, then evaluated like a paper table row: clean error, digits-C
corruption error (the -C set is generated once and cached in the demo folder) and
PGD-20 error on the whole test split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .checkpoint import atomic_write_text
from .config import Config, dump_config, load_config
from .corruptions import names
from .evaluate import generated_c_set, run_evaluation
from .run_dir import RunDir
from .trainer import Trainer

DEMO_METHODS = ("vanilla", "ews")
DIGITS_TEST_IMAGES = 360
_EVAL_KEYS = ("clean_error", "corruption_error", "pgd20_error", "adv_clean_error")


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


def run_demo(
    out: str | Path, *, epochs: int = 15, overwrite: bool = False, progress: bool = True,
    corruptions: Sequence[str] = names.ALL, attack_examples: int = DIGITS_TEST_IMAGES,
) -> list[dict[str, Any]]:
    """Train (or reuse, when finished with the same config) and evaluate each demo run; return their reports."""
    reports = []
    corrupted = None
    for method in DEMO_METHODS:
        config = demo_config(method, epochs=epochs, progress=progress)
        run = RunDir(Path(out) / method)
        same = run.config.is_file() and run.config.read_text() == dump_config(config)
        if run.finished and same and not overwrite:
            print(f"{method}: reusing the finished run in {run.root} (pass --overwrite to retrain)")
            report = json.loads(run.report.read_text())
        else:
            print(f"{method}: training ResNet-20 on digits for {epochs} epochs -> {run.root}")
            report = Trainer(config).fit(run, resume=run.started and same and not overwrite)
        if corrupted is None:
            print(f"digits-C: corrupting the test split once ({len(corruptions)} corruptions x 5 severities) "
                  f"-> {Path(out) / 'digits-c'}")
            corrupted = generated_c_set("digits", config, Path(out) / "digits-c", corruptions=corruptions,
                                        progress=progress)
        fresh = not (run.finished and same) or overwrite
        reports.append({**report, **_evaluated(run, corrupted, fresh=fresh, examples=attack_examples,
                                               progress=progress)})
    table = results_table(reports)
    atomic_write_text(Path(out) / "results.md", table)
    atomic_write_text(Path(out) / "results.json", json.dumps(reports, indent=2) + "\n")
    return reports


def _evaluated(run: RunDir, corrupted: Path, *, fresh: bool, examples: int, progress: bool) -> dict[str, Any]:
    """Clean, digits-C and PGD-20 error of a demo run, reusing an earlier evaluation of the same weights."""
    path = run.root / "eval" / "eval.json"
    if not fresh and path.is_file():
        earlier = json.loads(path.read_text())
        if all(key in earlier for key in _EVAL_KEYS):
            return {key: earlier[key] for key in _EVAL_KEYS}
    print(f"evaluating {run.root.name}: clean, digits-C and PGD-20 error -> {path}")
    results = run_evaluation(run.checkpoint, out=path.parent, corruptions=str(corrupted), attacks=["pgd20"],
                             n_examples=examples, progress=progress)
    return {key: results[key] for key in _EVAL_KEYS}


def results_table(reports: list[dict[str, Any]]) -> str:
    """A markdown table, one row per run: the numbers the paper's tables report."""
    lines = [
        "| method | model | dataset | epochs | clean error (%) | digits-C error (%) | PGD-20 error (%) | train time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        extra = " | ".join("-" if r.get(k) is None else f"{r[k]:.2f}" for k in ("corruption_error", "pgd20_error"))
        lines.append(
            f"| {r['method']} | {r['model']} | {r['dataset']} | {r['epochs']} | "
            f"{r['clean_error']:.2f} | {extra} | {r['train_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"
