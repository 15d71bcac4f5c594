"""`ews eval`'s files: score a checkpoint or `--model` with `ews.evaluate`'s core, then write
`eval.json` (merged with an earlier evaluation in the same folder, so corruption and attack
results can be computed in separate calls), `eval.md`, `eval.html` and, under a threat model,
`robustbench.json`. Nothing is written before every argument is checked and the model loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..corruptions import names
from ..errors import ConfigError, DataError
from ..models.external import parse_normalization
from ..runs.checkpoint import atomic_write_text
from ..runs.documents import to_html
from ..runtime.device import resolve_device
from .core import Request, score
from .report import report_blocks, results_markdown
from .robustbench import robustbench_entry
from .sources import ExternalModel, identity, load_source


def run_evaluation(
    checkpoint: str | Path | ExternalModel,
    *,
    out: str | Path,
    corruptions: str | None = None,
    severities: Sequence[int] = names.SEVERITIES,
    perturbations: str | Path | None = None,
    alexnet_fr: str | Path | None = None,
    attacks: Sequence[str] = (),
    n_examples: int | None = None,
    eps: float | None = None,
    norm: str | None = None,
    threat_model: str | None = None,
    autoattack_version: str = "standard",
    autoattack_attacks: Sequence[str] | None = None,
    shifts: Mapping[str, str | Path] | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    split: str = "test",
    corruption_images: int | None = None,
) -> dict[str, Any]:
    """Evaluate one checkpoint (or `ExternalModel`) on its test (or held-out validation) split and write the files.

    Attacks default to the run's own radius and norm; `n_examples` None attacks the whole split.
    A generated `DATASET-c` set covers the split's first `corruption_images` images, stratified.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    request = Request(threat_model=threat_model, corruptions=corruptions, corruption_images=corruption_images,
                      severities=tuple(severities), perturbations=perturbations, alexnet_fr=alexnet_fr,
                      attacks=tuple(attacks), n_examples=n_examples, eps=eps, norm=norm,
                      autoattack_version=autoattack_version, autoattack_attacks=autoattack_attacks,
                      shifts=dict(shifts or {}), batch_size=batch_size or 256, seed=seed, progress=progress)
    request.check()
    if isinstance(checkpoint, ExternalModel):
        if not Path(checkpoint.weights).exists():
            raise DataError(f"--weights {checkpoint.weights} does not exist")
        parse_normalization(checkpoint.normalize)
    torch_device = resolve_device(device)
    trained = load_source(checkpoint, device=torch_device, split=split)
    request = replace(request, batch_size=batch_size or trained.config.train.eval_batch_size)
    result = score(trained.model, trained.data(split), request, device=torch_device, cache=out,
                   defaults=trained.attack_defaults())
    results = {**identity(trained, checkpoint, split=split), **result.metrics, "settings": result.settings}
    merged = write_results(out, results)
    if threat_model is not None:
        architecture = checkpoint.spec if isinstance(checkpoint, ExternalModel) else trained.config.model.name
        entry = robustbench_entry({**merged, **results}, architecture=architecture)
        atomic_write_text(out / "robustbench.json", json.dumps(entry, indent=2) + "\n")
    return merged


def write_results(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Merge into an earlier `eval.json` in `out` (new keys win) and write it, `eval.md` and `eval.html` atomically."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "eval.json"
    merged: dict[str, Any] = {}
    if path.is_file():
        try:
            merged = json.loads(path.read_text())
        except json.JSONDecodeError:
            merged = {}
        if merged.get("checkpoint") != results["checkpoint"]:
            merged = {}  # another model's results are not mixed in
    settings = {**merged.get("settings", {}), **results.get("settings", {})}
    merged.update(results)
    if settings:
        merged["settings"] = settings
    atomic_write_text(path, json.dumps(merged, indent=2) + "\n")
    atomic_write_text(out / "eval.md", results_markdown(merged))
    atomic_write_text(out / "eval.html", to_html(report_blocks(merged), base=out, title="Evaluation"))
    return merged
