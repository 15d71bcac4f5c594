"""`ews eval`: load a checkpoint or `--model`, score it with `ews.evaluate`'s core, then write
`eval.json`, `eval.md`, `eval.html` and, under a threat model, `robustbench.json`.

The model comes from `ews.training.load.load_model`, the one way to load a trained model: a
checkpoint or its export, or a torchvision, timm or user network with its weights file, becomes a
network taking [0, 1] images with the split it is scored on and the run's own attack settings;
here a missing dataset is answered with what works in `ews eval`.

An earlier evaluation in the same folder is added to, so corruption and attack results can
be computed in separate calls, but only when every setting both record agrees (`merge`);
otherwise the call is refused before any work. Nothing is written before every argument
and the folder's earlier results are checked and the model loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..corruptions import names
from ..errors import check_out_folder
from ..runs.checkpoint import atomic_write_text
from ..runs.documents import to_html
from ..runtime.device import resolve_device
from ..training.load import ExternalModel, LoadedModel, load_model
from .arguments import cli_remedy, missing_data_remedy
from .core import EvalData, Request, measurement_settings, resolve, score
from .merge import earlier_results, merged_results, weights_fingerprint
from .report import report_blocks, results_markdown
from .robustbench import robustbench_entry


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
    overrides: Sequence[str] = (),
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate one checkpoint (or `ExternalModel`) on its test (or held-out validation) split and write the files.

    Attacks default to the run's own radius and norm; `n_examples` None attacks the whole split.
    A generated `DATASET-c` set covers the split's first `corruption_images` images, stratified.
    `overrides` (`data.root=DIR`, ...) change a checkpoint's stored config. Errors name `ews eval`'s flags.
    Results already in `out` are kept beside the new ones when measured on the same weights under the same
    settings, else the call is refused; `overwrite` replaces them. Returns what `eval.json` now holds.
    """
    out = check_out_folder(out)
    request = Request(threat_model=threat_model, corruptions=corruptions, corruption_images=corruption_images,
                      severities=tuple(severities), perturbations=perturbations, alexnet_fr=alexnet_fr,
                      attacks=tuple(attacks), n_examples=n_examples, eps=eps, norm=norm,
                      autoattack_version=autoattack_version, autoattack_attacks=autoattack_attacks,
                      shifts=dict(shifts or {}), batch_size=batch_size or 256, seed=seed, progress=progress,
                      cli=True)
    request.check()
    torch_device = resolve_device(device)
    trained = load_source(checkpoint, device=torch_device, split=split, overrides=overrides)
    request = replace(request, batch_size=batch_size or trained.config.train.eval_batch_size)
    data, defaults = trained.data(split), trained.attack_defaults()
    evaluated = identity(trained, checkpoint, split=split)
    planned = measurement_settings(resolve(request, data, defaults), data)
    earlier = earlier_results(out, evaluated, planned, overwrite=overwrite)  # refused here, before any long work
    result = score(trained.model, data, request, device=torch_device, cache=out, defaults=defaults)
    merged = merged_results(earlier, {**evaluated, **result.metrics, "settings": result.settings})
    write_results(out, merged)
    architecture = checkpoint.spec if isinstance(checkpoint, ExternalModel) else trained.config.model.name
    _write_robustbench(out, merged, architecture=architecture)
    return merged


def identity(trained: TrainedModel, source: str | Path | ExternalModel, *, split: str) -> dict[str, Any]:
    """What was evaluated, the first keys of `eval.json`: the weights by path and by content (a sha256, so
    results of a retrained file at the same path are not taken for this one's)."""
    results: dict[str, Any] = {"checkpoint": str(trained.checkpoint), "dataset": trained.config.data.name,
                               "model": trained.config.model.name, "method": trained.config.method, "split": split,
                               "weights_sha256": weights_fingerprint(trained.checkpoint)}
    if isinstance(source, ExternalModel):
        results.update(model=source.spec, method="external", normalization=source.normalize)
    return results


def write_results(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Write `results` as `out/eval.json`, `eval.md` and `eval.html`, each atomically (replacing earlier ones)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "eval.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "eval.md", results_markdown(results))
    atomic_write_text(out / "eval.html", to_html(report_blocks(results), base=out, title="Evaluation"))
    return results


def _write_robustbench(out: Path, results: Mapping[str, Any], *, architecture: str) -> None:
    """`robustbench.json` for results under a threat model, from what `eval.json` now holds; without one, an
    older entry (of results just replaced) is removed rather than left beside numbers it does not describe."""
    path = out / "robustbench.json"
    if results.get("settings", {}).get("threat_model") is None:
        path.unlink(missing_ok=True)
        return
    entry = robustbench_entry(results, architecture=architecture)
    atomic_write_text(path, json.dumps(entry, indent=2) + "\n")


class TrainedModel(LoadedModel):
    """A loaded network (see `ews.training.load`) with the split it is scored on, as `ews.evaluate`'s core takes it."""

    def data(self, split: str = "test") -> EvalData:
        """The split this model is scored on, as `ews.evaluate`'s core takes it."""
        d = self.config.data
        return EvalData(d.name, self.test_set, self.info.num_classes, self.info.image_size, d.root, split)


def load_source(source: str | Path | ExternalModel, *, device: torch.device, split: str = "test",
                overrides: Sequence[str] = ()) -> TrainedModel:
    """A checkpoint or its export (with config `overrides`) or an `ExternalModel` (which holds its own),
    loaded by `ews.training.load.load_model`; a missing dataset is answered with what works in `ews eval`."""
    with missing_data_remedy(cli_remedy):
        loaded = load_model(source, device=device, split=split, overrides=overrides)
    return TrainedModel(**vars(loaded))


def load_external(source: ExternalModel, *, device: torch.device, split: str = "test") -> TrainedModel:
    """Build `source.spec` for the dataset's classes, load its weights (no code runs), normalise as stated."""
    return load_source(source, device=device, split=split)


def load_trained(checkpoint: str | Path, *, device: torch.device, overrides: Sequence[str] = (),
                 split: str = "test") -> TrainedModel:
    """Rebuild the network a checkpoint (or export) was trained as and load its weights (no code runs).

    `test_set` is the run's test split, or with `split="val"` its held-out validation split;
    `overrides` (`data.root=DIR`, ...) change the stored config, e.g. where its data now lives.
    """
    return load_source(checkpoint, device=device, split=split, overrides=overrides)
