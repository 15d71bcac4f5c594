"""One way to load a trained model: a run's checkpoint, its `.safetensors` export, or a network from outside `ews`.

Every command that scores a trained model (`ews eval`, `ews analyze`, `ews search`, a study's
scoring) starts here, so a model is rebuilt one way everywhere and its config is read once:
from the checkpoint (or the export's metadata) with the caller's overrides, or, for an
`ExternalModel`, from the defaults with its dataset. What comes back is the network in eval
mode taking [0, 1] images, its normalisation, the config (`data`: the dataset spec,
`adversarial`: the run's threat settings), the dataset's facts and the split it is scored on.
Weights are read with `weights_only=True` or safetensors, so a file from the internet runs no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import Config, load_config
from ..data import DatasetInfo, load
from ..data.splits import split_with_info
from ..errors import CheckpointError, DataError
from ..models.external import Normalized, build_external, parse_normalization
from ..runs.checkpoint import (load_checkpoint, load_model_weights, load_state_dict_file, load_weights, read_exported,
                               state_dict_mismatch)
from .build import build_model

Normalization = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class ExternalModel:
    """A network from outside `ews` (`torchvision:NAME`, `timm:NAME`, `package.module:factory`) to evaluate:
    its weights file, the normalisation those weights expect, and the dataset (with config overrides) to score on."""

    spec: str
    weights: Path
    normalize: str
    dataset: str
    overrides: tuple[str, ...] = ()


@dataclass
class LoadedModel:
    """A trained network in eval mode, with the config it was trained under and the split it is scored on."""

    model: nn.Module  # takes [0, 1] images: the normalisation is inside
    config: Config  # `config.data`: the dataset spec; `config.adversarial`: the run's threat settings
    info: DatasetInfo  # classes and image size of the dataset
    test_set: Dataset  # the split scored: the test split, or the held-out validation split
    checkpoint: Path  # the weights file read
    split: str  # `test`, `val` or `train` (`ews.data.splits.evaluation_split`)
    normalization: Normalization  # the mean and std (per channel) the network divides its input by

    def attack_defaults(self) -> dict[str, Any]:
        """The run's own attack radius and norm: what its adversarial numbers mean unless asked otherwise."""
        return {"eps": self.config.adversarial.eps, "norm": self.config.adversarial.norm}


def load_model(source: str | Path | ExternalModel, *, device: str | torch.device = "cpu", split: str = "test",
               overrides: Sequence[str] = ()) -> LoadedModel:
    """A run's checkpoint or its `.safetensors` export with config `overrides` (`data.root=DIR`, ...), or an
    `ExternalModel` (which holds its own), loaded for scoring on `split` (`test`, `val`: the held-out images, or `train`)."""
    if not isinstance(source, ExternalModel):
        return _load_trained(source, device=device, split=split, overrides=overrides)
    # a network from outside `ews`: its weights file and normalisation checked before the dataset is read, then
    # built for the dataset's classes, its weights loaded, normalised as stated
    if not Path(source.weights).exists():
        raise DataError(f"--weights {source.weights} does not exist")
    mean, std = parse_normalization(source.normalize)
    config = load_config(overrides=[f"data.name={source.dataset}", *source.overrides])
    test_set, info = split_with_info(config, split)
    net = build_external(source.spec, num_classes=info.num_classes)
    state = load_state_dict_file(source.weights)
    reason = state_dict_mismatch(net, state)
    if reason is not None:
        raise CheckpointError(f"weights {source.weights} do not fit {source.spec}: {reason}")
    net.load_state_dict(state)
    model = Normalized(net, mean=mean, std=std).to(device).eval()
    return LoadedModel(model, config, info, test_set, source.weights, split, (mean, std))


def _load_trained(checkpoint: str | Path, *, device: str | torch.device, split: str,
                  overrides: Sequence[str]) -> LoadedModel:
    """Rebuild the network a checkpoint (or export) was trained as, from its own config, and load its weights."""
    payload, config = read_trained(checkpoint, overrides=overrides, map_location=device)
    test_set, info = split_with_info(config, split)
    model = build_model(config, info).to(device)
    load_model_weights(model, payload.get("model"), path=checkpoint)
    return LoadedModel(model.eval(), config, info, test_set, Path(checkpoint), split, (info.mean, info.std))


def read_trained(path: str | Path, *, overrides: Sequence[str] = (), map_location: str | torch.device = "cpu",
                 kind: Literal["checkpoint", "export"] | None = None) -> tuple[dict[str, Any], Config]:
    """A trained model's file and its config (the stored one, then `overrides`): the one place both are read.

    `path` is a checkpoint or a `.safetensors` export, told apart by the suffix; `kind` "checkpoint" (for a
    caller that needs the training state, which an export does not hold) or "export" reads that one only.
    """
    if kind == "checkpoint":
        payload = load_checkpoint(path, map_location=map_location)
    elif kind == "export":
        payload = read_exported(path, map_location=map_location)
    else:
        payload = load_weights(path, map_location=map_location)
    return payload, load_config(base=payload.get("config", {}), overrides=overrides)


def dataset_info(payload: dict[str, Any], config: Config) -> DatasetInfo:
    """Classes and normalisation of the run: stored in newer checkpoints, else read from the dataset."""
    stored = payload.get("dataset")
    if isinstance(stored, dict):
        try:
            return DatasetInfo(**{**stored, "mean": tuple(stored["mean"]), "std": tuple(stored["std"])})
        except (KeyError, TypeError):
            pass  # an older or foreign layout: fall back to the dataset itself
    d = config.data
    return load(d.name, root=d.root, train=False, limit=d.limit)[1]


def load_exported(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """The network of a `.safetensors` export, rebuilt from its metadata (no data read), in eval mode."""
    payload, config = read_trained(path, map_location=device, kind="export")
    model = build_model(config, dataset_info(payload, config)).to(device)
    load_model_weights(model, payload["model"], path=path)
    return model.eval()
