"""The MNIST family's idx files (`train-images-idx3-ubyte[.gz]`, ...): found, checked and read as arrays.

Fashion-MNIST and MNIST ship as four idx files (LeCun's format: a big-endian magic
number giving the element type and rank, the dimensions, then the raw bytes). They are
looked for under a folder as given, or in torchvision's `FOLDER/<Name>/raw/` layout that
`--download` writes, gzipped or not. Every missing, truncated or mis-shaped file is a
one-line `DataError` naming the file and the three ways to get it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import DataError

_UBYTE = 0x08  # the only element type the MNIST family uses


def split_files(train: bool) -> tuple[str, str]:
    """The images and labels file names (without `.gz`) of one split."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def find_file(folders: list[Path], name: str) -> Path | None:
    """The first of `name`, `name.gz` in `folders`, or None."""
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path, *, rank: int, how_to_get: str) -> np.ndarray:
    """An idx file of unsigned bytes with `rank` dimensions, checked against its header and its length."""
    def bad(why: str) -> DataError:
        return DataError(f"{path}: {why}; {how_to_get}")

    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise bad(f"cannot be read ({type(err).__name__}: {err})") from None
    magic = int.from_bytes(raw[:4], "big")
    if len(raw) < 4 or magic != (_UBYTE << 8 | rank):
        raise bad(f"is not an idx file of rank {rank} unsigned bytes (magic number {magic:#010x})")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise bad(f"is truncated ({len(raw)} bytes, shorter than its {header}-byte header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise bad(f"holds {len(raw)} bytes but its header {shape} needs {expected} (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
