"""Checkpoints and their weights-only exports: written atomically, loaded without running code.

A checkpoint is a dict of tensors and plain data only, so `torch.load(...,
weights_only=True)` can read it: a file from the internet whose pickle would call a
function is refused instead of executed. Writes go to a temporary file in the same
folder, are flushed to disk, then renamed over the old file, so a crash mid-write
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, WriteError

FORMAT_VERSION = 1
EXPORT_FORMAT = "ews-weights/1"  # the metadata format of a weights-only `.safetensors` export (`ews export`)
EXPORT_SUFFIX = ".safetensors"
_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) and put back
os.umask(_UMASK)
# Lines of torch's weights-only error that explain the policy rather than the file.
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` all at once (temp file + fsync + rename).

    A failure at any point (disk full, no permission, the process killed) leaves the
    previous `path` as it was; an `OSError` becomes a one-line `WriteError` naming `path`.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(tmp, _mode_for(path))  # mkstemp's 0600 would hide shared run folders from the group
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as err:
        raise WriteError(f"could not write {path}: {err.strerror or first_line(err)}; the previous version is intact") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or what the umask gives a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_UMASK


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable: without it a power cut can bring the old file back."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform opens folders
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` (plus the format version) atomically with `torch.save`."""
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **payload}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; every failure is a one-line `CheckpointError`."""
    payload = _read_weights_only(Path(path), map_location=map_location)
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"checkpoint {path} is not an ews checkpoint (no format_version)")
    if payload["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload['format_version']}; "
            f"this ews reads up to {FORMAT_VERSION}: upgrade ews"
        )
    return payload


def load_state_dict_file(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A state dict from any library's weights file: `.safetensors`, or a `weights_only` pickle of a state dict
    (or of a dict holding it under `state_dict` / `model`, as Lightning and many training scripts save it)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if not path.is_file():
            raise CheckpointError(f"weights file {path} does not exist")
        return load_file(str(path), device=str(map_location))
    payload = _read_weights_only(path, map_location=map_location)
    for key in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            return payload[key]
    if not isinstance(payload, dict):
        raise CheckpointError(f"weights file {path} holds a {type(payload).__name__}, not a state dict")
    return payload


def load_weights(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint (`weights_only` pickle) or a `.safetensors` export, as a dict with `config` and `model`."""
    if Path(path).suffix == EXPORT_SUFFIX:
        return read_exported(path, map_location=map_location)
    return load_checkpoint(path, map_location=map_location)


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
    if metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not an ews export (metadata format {metadata.get('format')!r}, "
                              f"expected {EXPORT_FORMAT})")
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


def _read_weights_only(path: Path, *, map_location: str | torch.device) -> Any:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        blocked = next((line for line in lines if "GLOBAL" in line), None)
        if blocked is not None:
            raise CheckpointError(
                f"checkpoint {path} refused: it holds objects other than tensors and plain data "
                f"(loading it could run code): {blocked}"
            ) from None
        reason = next((line for line in lines if not line.startswith(_TORCH_BOILERPLATE)), "not a pickle")
        raise CheckpointError(f"checkpoint {path} could not be read: {reason}") from None
    except Exception as err:  # torn, truncated or foreign files
        raise CheckpointError(f"checkpoint {path} could not be read: {type(err).__name__}: {first_line(err)}") from None
    return payload


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def state_dict_mismatch(model: torch.nn.Module, state: Any) -> str | None:
    """Why `state` cannot be loaded into `model`, in one line (the first differences), or None if it fits.

    torch's own message starts with a line that names no key; this one says which
    tensors differ and how, e.g. a classifier made for another number of classes.
    """
    if not isinstance(state, dict):
        return f"its model weights are a {type(state).__name__}, not a state dict"
    own = model.state_dict()
    shapes = [f"{key} has shape {tuple(state[key].shape)} in the checkpoint but {tuple(value.shape)} in the model"
              for key, value in own.items()
              if key in state and torch.is_tensor(state[key]) and state[key].shape != value.shape]
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    problems = shapes[:2]
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s) (e.g. {unexpected[0]})")
    return "; ".join(problems) or None


def load_model_weights(model: torch.nn.Module, state: Any, *, path: str | Path) -> None:
    """Load a checkpoint's weights into the network its config describes; a misfit names the tensors."""
    reason = state_dict_mismatch(model, state)
    if reason is not None:
        raise CheckpointError(f"checkpoint {path} does not fit its own config: {reason}")
    model.load_state_dict(state)
