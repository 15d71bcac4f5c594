"""Which -C set a model is scored on: a folder as given, a released set by name, or one generated once.

Finding a set knows nothing of runs or configs: the split's images come as a function. A cached
set is used only if it was made from the same images (a fingerprint of up to 256 of them, read on
each call, not a pass over the data): the cache name says the dataset, split and limit, but other
settings (`data.limit`, `data.train_limit`, `data.val_images`) pick other images under that name.
`resolve_corruptions` and `generated_c_set` give that function for a run's config (`ews analyze`,
`ews demo`, studies).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from torch.utils.data import Dataset, Subset

from ..config import Config
from ..corruptions import names
from ..corruptions.scoring import corruption_layout  # noqa: F401 - re-exported: its path before it joined the scorers
from ..data.splits import evaluation_split, stratified_subset
from ..errors import DataError
from .arguments import given

# Released -C sets found under the data root by name; other `<dataset>-c` names are generated.
RELEASED_C = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}
FINGERPRINT_IMAGES = 256  # images of a split hashed, evenly spread, to tell a cached set's source apart


def corrupted_split(images: Dataset, folder: Path, *, dataset: str, corruptions: Sequence[str] = names.ALL,
                    seed: int = 0, progress: bool = True, split: str = "test", limit: int | None = None) -> Path:
    """The -C set of `images`, written into `folder` on first use (default: 19 corruptions x 5 severities).

    `limit` keeps the first N images, stratified, and is recorded in the set's `meta.json` with the
    images' fingerprint. A set in `folder` made from other images is left as it is: this set is then
    made (or found) beside it, in `folder` + `-` + the fingerprint's first 12 digits; the path returned
    is the one that holds this set.
    """
    from ..corruptions.generate import dataset_to_uint8, write_corrupted_set

    chosen = stratified_subset(images, limit, what=f"the {dataset} {split} split")
    fingerprint = images_fingerprint(chosen)
    folder = _folder_for(folder, fingerprint)
    if (folder / "labels.npy").is_file() and all((folder / f"{n}.npy").is_file() for n in corruptions):
        return folder
    pixels, labels = dataset_to_uint8(chosen)
    created = _first_missing(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_corrupted_set(pixels, labels, folder, corruptions=corruptions, seed=seed, progress=progress,
                            meta={"dataset": dataset, "split": split, "limit": limit, "images_sha256": fingerprint})
    except BaseException:
        if created is not None:  # a failed or interrupted generation leaves no half-made cache behind
            shutil.rmtree(created, ignore_errors=True)
        raise
    return folder


def images_fingerprint(images: Dataset) -> str:
    """sha256 of a split's size and the pixels and labels of up to `FINGERPRINT_IMAGES` of its images, evenly spread.

    Two splits that differ in size, order or any sampled image get other fingerprints, at the
    cost of reading a few hundred images rather than the whole split on every cache hit.
    """
    from ..corruptions.generate import dataset_to_uint8

    n = len(images)
    picks = np.unique(np.linspace(0, n - 1, min(n, FINGERPRINT_IMAGES)).round().astype(int))
    pixels, labels = dataset_to_uint8(Subset(images, picks.tolist()))
    digest = hashlib.sha256(str(n).encode())
    digest.update(pixels.tobytes())
    digest.update(labels.tobytes())
    return digest.hexdigest()


def _folder_for(folder: Path, fingerprint: str) -> Path:
    """`folder`, unless it holds a set made from other images (or of unknown origin): then its sibling for these."""
    from ..corruptions.generate import read_meta

    if not folder.is_dir() or not any(folder.iterdir()) or read_meta(folder).get("images_sha256") == fingerprint:
        return folder
    return folder.with_name(f"{folder.name}-{fingerprint[:12]}")


def _first_missing(folder: Path) -> Path | None:
    """The outermost of `folder` and its parents that does not exist yet (None: `folder` exists)."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists():
            return missing
        missing = path
    return missing


def resolve_corruption_set(spec: str | Path, *, dataset: str, root: str | Path | None, images: Callable[[], Dataset],
                           cache: Path, seed: int = 0, progress: bool = True, split: str = "test",
                           corruptions: Sequence[str] = names.ALL, limit: int | None = None,
                           cli: bool = False) -> Path:
    """A path as given; `cifar10-c`/`cifar100-c` under `root`; `<dataset>-c` generated once into `cache`.

    For the validation split (`split="val"`) only a generated set or a given folder fits.
    Errors name `spec` as `--corruptions` when `cli`, else as `corruptions=`.
    """
    path = Path(spec)
    if path.exists():
        return path
    if str(spec).lower() != f"{dataset}-c":
        raise DataError(f"{given('corruptions', str(spec), cli=cli)} is neither an existing folder nor {dataset}-c "
                        "(this model's dataset)")
    if dataset in RELEASED_C and split == "test":
        released = Path(root or ".") / RELEASED_C[dataset]
        if not released.is_dir():
            raise DataError(f"{given('corruptions', str(spec), cli=cli)}: {released} does not exist; "
                            f"download {RELEASED_C[dataset]} there")
        return released
    name = f"{dataset}-c" + ("" if split == "test" else f"-{split}") + ("" if limit is None else f"-{limit}")
    return corrupted_split(images(), cache / name, dataset=dataset, corruptions=corruptions, seed=seed,
                           progress=progress, split=split, limit=limit)


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
