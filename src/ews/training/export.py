"""Weights-only export to safetensors, and loading it back, for sharing trained models.

A checkpoint is a pickle (read with `weights_only=True`, but still a pickle, and it
carries the optimiser, the controller and every generator). A `.safetensors` file is a
JSON header plus raw tensor bytes: nothing in it can run code when read, and it holds
only the network's weights. The header's metadata carries what rebuilding the network
needs (the resolved config, number of classes, normalisation) and where it came from.
`ews eval --checkpoint model.safetensors` reads it like a checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..config import Config, load_config
from ..data import DatasetInfo, load
from ..errors import CheckpointError, RunFolderError
from ..runs.checkpoint import atomic_write_bytes, first_line, load_checkpoint, load_model_weights
from .build import build_model

FORMAT = "ews-weights/1"
SUFFIX = ".safetensors"


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


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, overwrite: bool = False) -> dict[str, str]:
    """Write the network weights of `checkpoint` to `out` as safetensors; returns the metadata written."""
    from safetensors.torch import save

    checkpoint, out = Path(checkpoint), Path(out)
    if out.is_dir():
        raise RunFolderError(f"--out {out} is a folder; name the .safetensors file to write")
    if out.exists() and not overwrite:
        raise RunFolderError(f"--out {out} already exists; pass --overwrite to replace it")
    payload = load_checkpoint(checkpoint)
    config = load_config(base=payload.get("config", {}))
    info = dataset_info(payload, config)
    state = payload.get("model")
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"checkpoint {checkpoint} has no model weights")
    metadata = {
        "format": FORMAT,
        "model": config.model.name,
        "num_classes": str(info.num_classes),
        "mean": json.dumps(list(info.mean)),
        "std": json.dumps(list(info.std)),
        "dataset": json.dumps(_plain(dataclasses.asdict(info))),
        "config": json.dumps(config.to_dict()),
        "epoch": str(payload.get("epoch", "")),
        "ews_version": __version__,
        "exported_from_ews_version": str(payload.get("ews_version", "")),
    }
    tensors = {name: value.detach().cpu().contiguous().clone() for name, value in state.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, save(tensors, metadata=metadata))
    return metadata


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def read_exported(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A `.safetensors` export as a checkpoint-like dict: `config`, `dataset`, `model` (weights only)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = path.read_bytes()
        tensors = load(data)
        metadata = _metadata(data)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {first_line(err)}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not an ews export (metadata format {metadata.get('format')!r}, "
                              f"expected {FORMAT})")
    try:
        config, dataset = json.loads(metadata["config"]), json.loads(metadata["dataset"])
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata: {first_line(err)}") from None
    model = {name: tensor.to(map_location) for name, tensor in tensors.items()}
    return {"config": config, "dataset": dataset, "model": model, "epoch": metadata.get("epoch"), "metadata": metadata}


def _metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors header (8-byte little-endian length, then JSON)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    return dict(header.get("__metadata__") or {})


def load_weights(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint (`weights_only` pickle) or a `.safetensors` export, as a dict with `config` and `model`."""
    if Path(path).suffix == SUFFIX:
        return read_exported(path, map_location=map_location)
    return load_checkpoint(path, map_location=map_location)


def load_exported(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """The network of a `.safetensors` export, rebuilt from its metadata, in eval mode."""
    payload = read_exported(path, map_location=device)
    config = load_config(base=payload["config"])
    model = build_model(config, dataset_info(payload, config)).to(device)
    load_model_weights(model, payload["model"], path=path)
    return model.eval()

