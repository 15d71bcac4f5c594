"""Where a model to evaluate comes from: an `ews` checkpoint or a network named by a `--model` string.

This is the one step in front of `ews.evaluate`: it turns a checkpoint (or a torchvision,
timm or user model with its weights file) into a network taking [0, 1] images, the split it
is scored on and the run's own attack settings. Weights are read with `weights_only=True` or
safetensors, so a file from the internet runs no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import Config, load_config
from ..corruptions import names
from ..data import DatasetInfo, load
from ..data.splits import evaluation_split
from ..errors import CheckpointError
from ..models.external import Normalized, build_external, parse_normalization
from ..runs.checkpoint import load_model_weights, load_state_dict_file, state_dict_mismatch
from ..training.build import build_model
from .arguments import cli_remedy, missing_data_remedy
from .core import EvalData
from .corruption_sets import corrupted_split, resolve_corruption_set
from .merge import weights_fingerprint


@dataclass
class TrainedModel:
    """A checkpoint's network in eval mode, with the config and test split it was trained for."""

    model: nn.Module
    config: Config
    info: DatasetInfo
    test_set: Dataset
    checkpoint: Path

    def data(self, split: str = "test") -> EvalData:
        """The split this model is scored on, as `ews.evaluate`'s core takes it."""
        d = self.config.data
        return EvalData(d.name, self.test_set, self.info.num_classes, self.info.image_size, d.root, split)

    def attack_defaults(self) -> dict[str, Any]:
        """The run's own attack radius and norm: what its adversarial numbers mean unless asked otherwise."""
        return {"eps": self.config.adversarial.eps, "norm": self.config.adversarial.norm}


@dataclass(frozen=True)
class ExternalModel:
    """A network from outside `ews` (`torchvision:NAME`, `timm:NAME`, `package.module:factory`) to evaluate:
    its weights file, the normalisation those weights expect, and the dataset (with config overrides) to score on."""

    spec: str
    weights: Path
    normalize: str
    dataset: str
    overrides: tuple[str, ...] = ()


def load_external(source: ExternalModel, *, device: torch.device, split: str = "test") -> TrainedModel:
    """Build `source.spec` for the dataset's classes, load its weights (no code runs), normalise as stated."""
    mean, std = parse_normalization(source.normalize)
    config = load_config(overrides=[f"data.name={source.dataset}", *source.overrides])
    info, test_set = _split(config, split)
    net = build_external(source.spec, num_classes=info.num_classes)
    state = load_state_dict_file(source.weights)
    reason = state_dict_mismatch(net, state)
    if reason is not None:
        raise CheckpointError(f"weights {source.weights} do not fit {source.spec}: {reason}")
    net.load_state_dict(state)
    model = Normalized(net, mean=mean, std=std).to(device).eval()
    return TrainedModel(model, config, info, test_set, source.weights)


def load_trained(checkpoint: str | Path, *, device: torch.device, overrides: Sequence[str] = (),
                 split: str = "test") -> TrainedModel:
    """Rebuild the network a checkpoint was trained as and load its weights (no code runs).

    `test_set` is the run's test split, or with `split="val"` its held-out validation split;
    `overrides` (`data.root=DIR`, ...) change the stored config, e.g. where its data now lives.
    """
    from ..training.export import load_weights

    checkpoint = Path(checkpoint)
    payload = load_weights(checkpoint, map_location=device)  # a checkpoint or a .safetensors export
    config = load_config(base=payload.get("config", {}), overrides=overrides)
    info, test_set = _split(config, split)
    model = build_model(config, info).to(device)
    load_model_weights(model, payload.get("model"), path=checkpoint)
    model.eval()
    return TrainedModel(model, config, info, test_set, checkpoint)


def load_source(source: str | Path | ExternalModel, *, device: torch.device, split: str = "test",
                overrides: Sequence[str] = ()) -> TrainedModel:
    """A checkpoint path (with config `overrides`) or an `ExternalModel` (which holds its own), loaded."""
    if isinstance(source, ExternalModel):
        return load_external(source, device=device, split=split)
    return load_trained(source, device=device, split=split, overrides=overrides)


def _split(config: Config, split: str) -> tuple[DatasetInfo, Dataset]:
    """The dataset's facts and the split scored; missing files are answered with what works in `ews eval`."""
    d = config.data
    with missing_data_remedy(cli_remedy):
        _, info = load(d.name, root=d.root, train=False, limit=d.limit)
        return info, evaluation_split(config, split)


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
