"""Checkpoints: written atomically, loaded without running code.

A checkpoint is a dict of tensors and plain data only, so `torch.load(...,
weights_only=True)` can read it: a file from the internet whose pickle would call a
function is refused instead of executed. Writes go to a temporary file in the same
folder, are flushed to disk, then renamed over the old file, so a crash mid-write
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

FORMAT_VERSION = 1
# Lines of torch's weights-only error that explain the policy rather than the file.
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` all at once (temp file + fsync + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` (plus the format version) atomically with `torch.save`."""
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **payload}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`; every failure is a one-line `CheckpointError`."""
    path = Path(path)
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
        raise CheckpointError(f"checkpoint {path} could not be read: {type(err).__name__}: {_first_line(err)}") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"checkpoint {path} is not an ews checkpoint (no format_version)")
    if payload["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload['format_version']}; "
            f"this ews reads up to {FORMAT_VERSION}: upgrade ews"
        )
    return payload


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
