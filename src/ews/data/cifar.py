"""CIFAR-10/100 in the standard python pickle format, read by torchvision's reader."""

from __future__ import annotations

import pickle
from pathlib import Path

from torchvision.datasets import CIFAR10, CIFAR100

from ..errors import DataError, MissingDataError
from .types import Transform


class _FilesExist:
    """Accept a CIFAR folder whose files all exist, whatever their md5.

    torchvision compares every file with the md5 of the official release, which
    rejects the small regenerated folders that tests and smoke runs write; a
    malformed file still fails when the pickles are read.
    """

    base_folder: str
    train_list: list[list[str]]
    test_list: list[list[str]]
    meta: dict[str, str | None]
    root: str

    @classmethod
    def missing_files(cls, root: str | Path) -> list[str]:
        """Names of the files this split set needs that are not under `root`."""
        folder = Path(root, cls.base_folder)
        names = [name for name, _ in cls.train_list + cls.test_list] + [str(cls.meta["filename"])]
        return [name for name in names if not (folder / name).is_file()]

    def _check_integrity(self) -> bool:
        return not self.missing_files(self.root)


class CIFAR10Files(_FilesExist, CIFAR10):
    """CIFAR-10 without md5 checks."""

    meta = {**CIFAR10.meta, "md5": None}  # md5 None: the meta file need only exist


class CIFAR100Files(_FilesExist, CIFAR100):
    """CIFAR-100 (fine labels) without md5 checks."""

    meta = {**CIFAR100.meta, "md5": None}  # md5 None: the meta file need only exist


_READERS: dict[str, type[CIFAR10Files] | type[CIFAR100Files]] = {"cifar10": CIFAR10Files, "cifar100": CIFAR100Files}


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def read_cifar(
    name: str, root: str | Path, *, train: bool, num_classes: int, transform: Transform, download: bool
) -> CIFAR10:
    """Read one split, turning every missing or malformed file into a one-line DataError."""
    reader = _READERS[name]
    folder = Path(root, reader.base_folder)
    if not download:
        if not folder.is_dir():
            raise MissingDataError(f"{name} folder not found: {folder}",
                                   "pass data.root (its parent folder) or --download", dataset=name)
        missing = reader.missing_files(root)
        if missing:
            raise MissingDataError(f"{name} folder {folder} lacks {', '.join(missing)}",
                                   "re-create it or pass --download", dataset=name)
    try:
        dataset = reader(str(root), train=train, transform=transform, download=download)
    except (OSError, RuntimeError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as err:
        raise DataError(f"cannot read {name} from {folder}: {_one_line(err)}") from None
    bad = sorted({t for t in dataset.targets if not 0 <= t < num_classes})
    if bad:
        raise DataError(f"{name} in {folder} has labels {bad[:5]} outside 0..{num_classes - 1}")
    return dataset
