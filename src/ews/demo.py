"""`ews demo`: vanilla vs EWS on the embedded digits, side by side, in a few CPU minutes.

Each model is trained, then evaluated like a paper table row: clean error, digits-C
corruption error (the -C set is generated once and cached in the demo folder) and
PGD-20 error on the whole test split. Finally both models' subnets are analysed (the
paper's Fig. 1 and Fig. 7) and `report/` compares the runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from .analysis.analyze import AnalysisSettings, run_analysis
from .analysis.report import write_comparison_report, write_run_report
from .config import Config, dump_config, load_config
from .corruptions import names
from .evaluation import generated_c_set, run_evaluation
from .runs.checkpoint import atomic_write_text
from .runs.documents import counted
from .runs.run_dir import RunDir
from .training.trainer import Trainer

DEMO_METHODS = ("vanilla", "ews")
DIGITS_TEST_IMAGES = 360
# Fig. 1 and Fig. 7 with far fewer subnets and images than the paper (1,000 subnets, 100
# per block): about 35 s for both models on two CPU cores.
DEMO_ANALYSIS = AnalysisSettings(subnets=40, images=100, block_subnets=10)
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
    analysis: AnalysisSettings | None = DEMO_ANALYSIS,
) -> list[dict[str, Any]]:
    """Train (or reuse, when finished with the same config) and evaluate each demo run; return their reports.

    Then (unless `analysis` is None) the subnet analyses of both models and a comparison
    report in `out/report/`.
    """
    reports = []
    corrupted = None
    retrained = False
    for method in DEMO_METHODS:
        config = demo_config(method, epochs=epochs, progress=progress)
        run = RunDir(Path(out) / method)
        same = run.config.is_file() and run.config.read_text() == dump_config(config)
        fresh = not (run.finished and same) or overwrite  # decided before training: a resumed run is fresh
        if not fresh:
            print(f"{method}: reusing the finished run in {run.root} (pass --overwrite to retrain)")
            report = json.loads(run.report.read_text())
        else:
            print(f"{method}: training ResNet-20 on digits for {counted(epochs, 'epoch')} -> {run.root}")
            report = Trainer(config).fit(run, resume=run.started and same and not overwrite)
        if corrupted is None:
            print(f"digits-C: corrupting the test split once ({len(corruptions)} corruptions x 5 severities) "
                  f"-> {Path(out) / 'digits-c'}")
            corrupted = generated_c_set("digits", config, Path(out) / "digits-c", corruptions=corruptions,
                                        progress=progress)
        retrained = retrained or fresh
        reports.append({**report, **_evaluated(run, corrupted, fresh=fresh, examples=attack_examples,
                                               progress=progress)})
    table = results_table(reports)
    atomic_write_text(Path(out) / "results.md", table)
    atomic_write_text(Path(out) / "results.json", json.dumps(reports, indent=2) + "\n")
    if analysis is not None:
        demo_report(Path(out), dataclasses.replace(analysis, corruptions=str(corrupted)), fresh=retrained,
                    progress=progress)
    return reports


def demo_report(out: Path, settings: AnalysisSettings, *, fresh: bool, progress: bool) -> Path:
    """Fig. 1 and Fig. 7 of vanilla vs EWS (reused unless a model was retrained), then the reports."""
    folder = out / "report" / "analysis"
    if fresh or not _analysed_with(folder, settings):
        print(f"analysing subnets of both models ({settings.subnets} subnets, {settings.block_subnets} per block) "
              f"-> {folder}")
        run_analysis(out / DEMO_METHODS[0] / "checkpoint.pt", compare=out / DEMO_METHODS[1] / "checkpoint.pt",
                     out=folder, settings=settings, progress=progress)
    runs = [out / method for method in DEMO_METHODS]
    for run in runs:
        write_run_report(run)  # now with the evaluation that followed training
    return write_comparison_report(runs, out / "report")


def _analysed_with(folder: Path, settings: AnalysisSettings) -> bool:
    """Whether `folder` holds an analysis made with these settings."""
    try:
        done = json.loads((folder / "subnets.json").read_text())["settings"]
        per_block = json.loads((folder / "blocks.json").read_text())["settings"]["subnets_per_block"]
    except (OSError, ValueError, KeyError):
        return False
    wanted = {"subnets": settings.subnets, "rho": settings.rho, "bn": settings.bn, "seed": settings.seed,
              "inputs": list(settings.inputs), "corruptions": settings.corruptions}
    return ({k: done.get(k) for k in wanted} == wanted and per_block == settings.block_subnets
            and done.get("images") == min(settings.images, DIGITS_TEST_IMAGES))


def _evaluated(run: RunDir, corrupted: Path, *, fresh: bool, examples: int, progress: bool) -> dict[str, Any]:
    """Clean, digits-C and PGD-20 error of a demo run, reusing an earlier evaluation of the same weights."""
    path = run.root / "eval" / "eval.json"
    if not fresh and path.is_file():
        earlier = json.loads(path.read_text())
        if all(key in earlier for key in _EVAL_KEYS):
            return {key: earlier[key] for key in _EVAL_KEYS}
    print(f"evaluating {run.root.name}: clean, digits-C and PGD-20 error -> {path}")
    results = run_evaluation(run.checkpoint, out=path.parent, corruptions=str(corrupted), attacks=["pgd20"],
                             n_examples=examples, progress=progress, overwrite=True)  # the demo's own folder
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
