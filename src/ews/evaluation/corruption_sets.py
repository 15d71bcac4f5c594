"""Which -C set a model is scored on: a folder as given, a released set by name, or one generated once.

Finding a set knows nothing of runs or configs: the split's images come as a function, called only
when a set has to be generated (a cached set costs no pass over the data). `resolve_corruptions`
and `generated_c_set` give that function for a run's config (`ews analyze`, `ews demo`, studies).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Sequence

from torch.utils.data import Dataset

from ..config import Config
from ..corruptions import names
from ..corruptions.scoring import corruption_layout  # noqa: F401 - re-exported: its path before it joined the scorers
from ..data.splits import evaluation_split, stratified_subset
from ..errors import DataError
from .arguments import given

# Released -C sets found under the data root by name; other `<dataset>-c` names are generated.
RELEASED_C = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}


def corrupted_split(images: Dataset, folder: Path, *, dataset: str, corruptions: Sequence[str] = names.ALL,
                    seed: int = 0, progress: bool = True, split: str = "test", limit: int | None = None) -> Path:
    """The -C set of `images`, written into `folder` on first use (default: 19 corruptions x 5 severities).

    `limit` keeps the first N images, stratified, and is recorded in the set's `meta.json`.
    """
    from ..corruptions.generate import dataset_to_uint8, write_corrupted_set

    if (folder / "labels.npy").is_file() and all((folder / f"{n}.npy").is_file() for n in corruptions):
        return folder
    chosen = stratified_subset(images, limit, what=f"the {dataset} {split} split")
    pixels, labels = dataset_to_uint8(chosen)
    created = _first_missing(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_corrupted_set(pixels, labels, folder, corruptions=corruptions, seed=seed, progress=progress,
                            meta={"dataset": dataset, "split": split, "limit": limit})
    except BaseException:
        if created is not None:  # a failed or interrupted generation leaves no half-made cache behind
            shutil.rmtree(created, ignore_errors=True)
        raise
    return folder


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
