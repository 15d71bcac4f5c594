"""NumPy array files (`.npy`, `.npz`) read without unpickling; a bad file is a one-line `DataError`.

The released CIFAR-10-C, CIFAR-10.1 and CIFAR-10.2 files are plain arrays, so pickles are
never allowed: loading one could run code from the file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError

_UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile)


def _reason(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def open_npy(path: Path) -> np.ndarray:
    """The array in `path`, memory-mapped; a truncated or non-.npy file is a one-line `DataError`."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except _UNREADABLE as err:
        raise DataError(f"{path} is not a readable .npy file (truncated or corrupt?): {_reason(err)}") from None


def read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `keys` of the `.npz` file `path`, read into memory; a missing key is a one-line `DataError`."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in keys if key not in arrays.files]
            if missing:
                raise DataError(f"{path} lacks key {', '.join(missing)}; expected {', '.join(keys)}")
            return {key: arrays[key] for key in keys}
    except _UNREADABLE as err:
        raise DataError(f"{path} is not a readable .npz file (truncated or corrupt?): {_reason(err)}") from None
