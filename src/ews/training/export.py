"""Weights-only export to safetensors, for sharing trained models.

A checkpoint is a pickle (read with `weights_only=True`, but still a pickle, and it
carries the optimiser, the controller and every generator). A `.safetensors` file is a
JSON header plus raw tensor bytes: nothing in it can run code when read, and it holds
only the network's weights. The header's metadata carries what rebuilding the network
needs (the resolved config, number of classes, normalisation) and where it came from.
`ews eval --checkpoint model.safetensors` reads it like a checkpoint: `ews.runs.checkpoint.read_exported`
reads the file, `ews.training.load` rebuilds the network, as for every other trained model.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..errors import CheckpointError, RunFolderError
from ..runs.checkpoint import EXPORT_FORMAT as FORMAT
from ..runs.checkpoint import EXPORT_SUFFIX as SUFFIX
from ..runs.checkpoint import atomic_write_bytes, load_weights, read_exported
from .load import dataset_info, load_exported, read_trained

__all__ = ["FORMAT", "SUFFIX", "dataset_info", "export_checkpoint", "load_exported", "load_weights", "read_exported"]


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, overwrite: bool = False) -> dict[str, str]:
    """Write the network weights of `checkpoint` to `out` as safetensors; returns the metadata written."""
    from safetensors.torch import save

    checkpoint, out = Path(checkpoint), Path(out)
    if out.is_dir():
        raise RunFolderError(f"--out {out} is a folder; name the .safetensors file to write")
    if out.exists() and not overwrite:
        raise RunFolderError(f"--out {out} already exists; pass --overwrite to replace it")
    payload, config = read_trained(checkpoint, kind="checkpoint")
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
