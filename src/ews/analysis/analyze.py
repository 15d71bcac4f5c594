"""`ews analyze`: the paper's Fig. 1 (subnet confidence) and Fig. 7 (per-block vulnerability) for any checkpoint.

Fig. 1: N random subnets of width rho (paper: 1,000 at rho = 0.7), each one's mean
true-class confidence on a fixed evaluation subset of clean, corrupted and PGD images,
and the full network's. Fig. 7: per block, subnets that thin that block only (rho = 0.5,
100 per block) and their mean error. With a second checkpoint both models are scored on
the same subnets and drawn side by side (vanilla vs EWS, as in the paper). Writes
`subnets.json`, `blocks.json`, `figure1.png` and `figure7.png`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import ConfigError, DataError, check_out_folder
from ..evaluation import TrainedModel, corruption_layout, load_trained, resolve_corruptions
from ..runs.checkpoint import atomic_write_text
from ..subnets import Reading, SubnetSpace, reading_of
from ..subnets.space import check_rho
from ..runtime.device import resolve_device
from . import figures
from .inputs import (Images, check_kinds, corruptions_from_folder, evaluation_subset, generated_corruptions,
                     pgd_images, to_device)
from .scoring import check_bn, quantiles, score_full, score_subnets

BLOCK_RHO = 0.5  # Fig. 7: "50% of paths/channels" in the one sampled block


@dataclass(frozen=True)
class AnalysisSettings:
    """What `ews analyze` measures; checked before any model is loaded."""

    subnets: int = 1000  # Fig. 1 subnets per model
    rho: float = 0.7  # Fig. 1 width
    inputs: tuple[str, ...] = ("clean", "corrupted", "pgd")
    images: int = 500  # evaluation subset (first N test images, stratified)
    block_subnets: int = 100  # Fig. 7 subnets per block
    corruptions: str | None = None  # a -C folder / name; None: generated per image
    reading: str | None = None  # the reading every model is probed in (None: the first checkpoint's trained one)
    bn: str = "batch"  # BatchNorm of subnet passes: batch statistics (as trained) | eval (running stats, sliced)
    batch_size: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("subnets", "images", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.block_subnets < 0:
            raise ConfigError(f"--block-subnets must be >= 0 (0 skips Fig. 7), got {self.block_subnets}")
        check_rho("--rho", self.rho)
        if self.reading is not None:
            reading_of(self.reading)
        object.__setattr__(self, "inputs", check_kinds(self.inputs))
        check_bn(self.bn)


def model_labels(models: Sequence[TrainedModel]) -> list[str]:
    """Short distinct names: the method, else the run folder, else a number."""
    for labels in ([m.config.method for m in models], [m.checkpoint.parent.name for m in models]):
        if len(set(labels)) == len(labels):
            return labels
    return [f"{m.config.method}-{i + 1}" for i, m in enumerate(models)]


def shared_inputs(trained: TrainedModel, settings: AnalysisSettings, clean: Images, *, cache: Path,
                  progress: bool) -> dict[str, Images]:
    """The clean and corrupted images (CPU), the same for every model compared."""
    inputs: dict[str, Images] = {}
    if "clean" in settings.inputs:
        inputs["clean"] = clean
    if "corrupted" in settings.inputs and settings.corruptions is None:
        inputs["corrupted"] = generated_corruptions(clean, seed=settings.seed)
    elif "corrupted" in settings.inputs:
        folder = resolve_corruptions(settings.corruptions, trained.config, cache=cache, seed=settings.seed, progress=progress)
        if corruption_layout(folder) != "cifar":
            raise DataError(f"--corruptions {folder}: ews analyze reads CIFAR-10-C style NAME.npy folders only")
        inputs["corrupted"] = corruptions_from_folder(folder, len(clean), seed=settings.seed)
    return inputs


def model_inputs(trained: TrainedModel, settings: AnalysisSettings, shared: dict[str, Images], clean: Images,
                 *, device: torch.device) -> dict[str, Images]:
    """All input kinds asked for, on `device`, in the asked order; PGD examples are computed against this model."""
    inputs = {kind: to_device(images, device) for kind, images in shared.items()}
    if "pgd" in settings.inputs:
        a = trained.config.adversarial
        inputs["pgd"] = pgd_images(trained.model, to_device(clean, device), eps=a.eps, norm=a.norm,
                                   batch_size=settings.batch_size, seed=settings.seed)
    return {kind: inputs[kind] for kind in settings.inputs}


def subnet_confidence(trained: TrainedModel, space: SubnetSpace, inputs: dict[str, Images],
                      settings: AnalysisSettings, *, progress: bool) -> dict[str, Any]:
    """Fig. 1 for one model: per input kind `full`, `scores` (one per subnet), `quantiles`, `mean`, errors."""
    generator = torch.Generator().manual_seed(settings.seed)
    subnets = [space.sample(generator) for _ in range(settings.subnets)]
    scores = score_subnets(trained.model, subnets, inputs, bn=settings.bn, batch_size=settings.batch_size,
                           progress=progress, desc="Fig. 1 subnets")
    full = score_full(trained.model, inputs, batch_size=settings.batch_size)
    return {
        kind: {
            "full": float(full[kind].confidence[0]),
            "scores": [round(float(v), 6) for v in s.confidence],
            "quantiles": quantiles(s.confidence),
            "mean": float(s.confidence.mean()),
            "full_error": float(full[kind].error[0]),
            "mean_subnet_error": float(s.error.mean()),
        }
        for kind, s in scores.items()
    }


def block_vulnerability(trained: TrainedModel, space: SubnetSpace, images: Images, settings: AnalysisSettings,
                        *, progress: bool) -> list[dict[str, Any]]:
    """Fig. 7 for one model: per block, the mean error (%) of subnets thinned in that block only."""
    generator = torch.Generator().manual_seed(settings.seed)
    rows = []
    for index, spec in enumerate(space.blocks):
        subnets = [space.sample_block(index, generator) for _ in range(settings.block_subnets)]
        errors = score_subnets(trained.model, subnets, {"clean": images}, bn=settings.bn,
                               batch_size=settings.batch_size, progress=progress, whole_blocks=index,
                               desc=f"Fig. 7 block {index + 1}/{len(space)}")["clean"].error
        rows.append({"block": spec.name, "downsampling": spec.downsampling, "mean_error": float(errors.mean()),
                     "std_error": float(errors.std()) if len(errors) > 1 else 0.0,
                     "errors": [round(float(e), 4) for e in errors]})
    return rows


def probe_reading(settings: AnalysisSettings, first: TrainedModel) -> Reading:
    """The one reading every compared model is probed in: the asked one, else the first model's trained one.

    Probing each model in its own training reading would compare different subnet families
    (a vanilla model has none of its own), so a comparison never does.
    """
    if settings.reading is not None:
        return reading_of(settings.reading)
    return first.config.ews.subnet_reading()


def run_analysis(
    checkpoint: str | Path,
    *,
    out: str | Path,
    compare: str | Path | None = None,
    settings: AnalysisSettings = AnalysisSettings(),
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Score one or two checkpoints and write `subnets.json`, `blocks.json`, `figure1.png`, `figure7.png` to `out`."""
    out = check_out_folder(out)
    torch_device = resolve_device(device)
    paths = [Path(checkpoint)] + ([Path(compare)] if compare is not None else [])
    models = [load_trained(path, device=torch_device) for path in paths]
    probe = probe_reading(settings, models[0])
    spaces = [SubnetSpace.from_model(m.model, rho=settings.rho, reading=probe) for m in models]
    block_spaces = [SubnetSpace.from_model(m.model, rho=BLOCK_RHO, reading=probe) for m in models]
    if len(models) == 2 and spaces[0].blocks != spaces[1].blocks:
        raise ConfigError(f"--compare {compare}: its subnet space differs from {checkpoint}'s (another architecture)")
    labels = model_labels(models)
    clean = evaluation_subset(models[0].test_set, settings.images)
    clean_on_device = to_device(clean, torch_device)
    confidence: dict[str, Any] = {}
    blocks: dict[str, list[dict[str, Any]]] = {}
    full_errors: dict[str, float] = {}
    shared = shared_inputs(models[0], settings, clean, cache=out, progress=progress)  # writes only under --out
    for label, trained, space, block_space in zip(labels, models, spaces, block_spaces):
        inputs = model_inputs(trained, settings, shared, clean, device=torch_device)
        confidence[label] = {"checkpoint": str(trained.checkpoint),
                             **subnet_confidence(trained, space, inputs, settings, progress=progress)}
        if settings.block_subnets:
            full = score_full(trained.model, {"clean": clean_on_device}, batch_size=settings.batch_size)
            full_errors[label] = float(full["clean"].error[0])
            blocks[label] = block_vulnerability(trained, block_space, clean_on_device, settings, progress=progress)
    common = {"images": len(clean), "bn": settings.bn, "seed": settings.seed, "dataset": models[0].config.data.name,
              "model": models[0].config.model.name, "reading": probe.to_dict()}
    subnets_json = {"settings": {**common, "subnets": settings.subnets, "rho": settings.rho,
                                 "inputs": list(settings.inputs), "corruptions": settings.corruptions or "generated"},
                    "models": confidence}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "subnets.json", json.dumps(subnets_json, indent=2) + "\n")
    figures.save(figures.subnet_confidence_figure(confidence, settings.inputs, rho=settings.rho), out / "figure1.png")
    result = {"subnets": subnets_json, "out": str(out)}
    if blocks:
        blocks_json = {"settings": {**common, "subnets_per_block": settings.block_subnets, "rho": BLOCK_RHO},
                       "full_error": full_errors, "models": blocks}
        atomic_write_text(out / "blocks.json", json.dumps(blocks_json, indent=2) + "\n")
        figures.save(figures.block_figure(blocks, full_errors), out / "figure7.png")
        result["blocks"] = blocks_json
    return result
