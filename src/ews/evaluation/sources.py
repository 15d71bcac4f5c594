"""Where a model to evaluate comes from: an `ews` checkpoint or a network named by a `--model` string.

This is the one step in front of `ews.evaluate`: `ews.training.load.load_model`, the one way to
load a trained model, turns a checkpoint or its export (or a torchvision, timm or user model
with its weights file) into a network taking [0, 1] images, the split it is scored on and the
run's own attack settings; here that becomes what `ews.evaluate`'s core takes, and a missing
dataset is answered with what works in `ews eval`.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

import torch

from ..config import Config
from ..corruptions import names
from ..data.splits import evaluation_split
from ..training.load import ExternalModel, LoadedModel, load_model
from .arguments import cli_remedy, missing_data_remedy
from .core import EvalData
from .corruption_sets import corrupted_split, resolve_corruption_set
from .merge import weights_fingerprint


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
    return TrainedModel(**{field.name: getattr(loaded, field.name) for field in fields(loaded)})


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


def identity(trained: TrainedModel, source: str | Path | ExternalModel, *, split: str) -> dict[str, Any]:
    """What was evaluated, the first keys of `eval.json`: the weights by path and by content (a sha256, so
    results of a retrained file at the same path are not taken for this one's)."""
    results: dict[str, Any] = {"checkpoint": str(trained.checkpoint), "dataset": trained.config.data.name,
                               "model": trained.config.model.name, "method": trained.config.method, "split": split,
                               "weights_sha256": weights_fingerprint(trained.checkpoint)}
    if isinstance(source, ExternalModel):
        results.update(model=source.spec, method="external", normalization=source.normalize)
    return results


def resolve_corruptions(spec: str, config: Config, *, cache: Path, seed: int = 0, progress: bool = True,
                        split: str = "test", corruptions: Sequence[str] = names.ALL, limit: int | None = None) -> Path:
    """The -C set of a run's dataset and split (see `resolve_corruption_set`), its images read only if generated."""
    d = config.data
    return resolve_corruption_set(spec, dataset=d.name, root=d.root, images=lambda: evaluation_split(config, split),
                                  cache=cache, seed=seed, progress=progress, split=split, corruptions=corruptions,
                                  limit=limit, cli=True)


def generated_c_set(dataset: str, config: Config, folder: Path, *, corruptions: Sequence[str] = names.ALL,
                    seed: int = 0, progress: bool = True, split: str = "test", limit: int | None = None) -> Path:
    """The -C set of a run's test (or validation) split, generated on first use into `folder`."""
    return corrupted_split(evaluation_split(config, split), folder, dataset=dataset, corruptions=corruptions,
                           seed=seed, progress=progress, split=split, limit=limit)
