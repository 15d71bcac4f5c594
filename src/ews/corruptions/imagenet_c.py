"""ImageNet-C and ImageNet-3DCC folders: `ROOT/CORRUPTION/SEVERITY/WNID/*.JPEG`, structure checked up front.

Both benchmarks (Hendrycks & Dietterich 2019; Kar et al. 2022) ship this layout, so one
reader serves both; `benchmark` names which, for the report order of its corruptions and
its name in errors. Labels are the index of the WNID in one class list shared by every
corruption and severity (the sorted order `ImageFolder` gives the training set), never
a per-folder order. Every severity folder must hold the same class folders: a copy
missing some is refused by name, since its error would be measured on other images
than the benchmark's. Images are listed only when their folder is scored, as listing
all 3.75M files of the full benchmark takes long on network storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..data.eval_images import ImageTransform as Transform
from ..data.eval_images import LabelledImages, folder_images
from ..data.eval_images import eval_transform as default_transform
from ..errors import ConfigError, DataError
from . import names
from .metrics import report_order

__all__ = ["ImageNetC", "Transform", "default_transform", "read_imagenet_c", "severity_images"]


@dataclass(frozen=True)
class ImageNetC:
    """A checked root: severity folders per corruption (report order), the class list, and which benchmark."""

    root: Path
    folders: dict[str, dict[int, Path]]
    classes: tuple[str, ...]
    benchmark: str = "imagenet-c"  # a key of `names.FOLDER_BENCHMARKS`


def _corruption_folders(root: Path) -> list[Path]:
    """Sub-folders of `root` holding numbered severity folders; anything else is ignored."""
    return [sub for sub in root.iterdir()
            if sub.is_dir() and any(child.is_dir() and child.name.isdigit() for child in sub.iterdir())]


def _folder_benchmark(benchmark: str) -> names.FolderBenchmark:
    if benchmark not in names.FOLDER_BENCHMARKS:
        raise ConfigError(f"unknown corruption benchmark {benchmark!r}; allowed: {', '.join(names.FOLDER_BENCHMARKS)}")
    return names.FOLDER_BENCHMARKS[benchmark]


def _check_complete(wnids: dict[Path, set[str]], *, title: str) -> set[str]:
    """The classes found; every severity folder must hold all of them, or the copy is partial."""
    found = set().union(*wnids.values())
    for folder, present in wnids.items():
        missing = sorted(found - present)
        if missing:
            raise DataError(f"{title} folder {folder} has {len(present)} of the {len(found)} class folders the "
                            f"other severity folders have (first missing: {missing[0]}); a partial copy is not "
                            f"the benchmark, so complete it or leave the corruption out")
    return found


def read_imagenet_c(
    root: str | Path,
    *,
    severities: Sequence[int],
    classes: Sequence[str] | None = None,
    benchmark: str = "imagenet-c",
) -> ImageNetC:
    """Find the corruptions under `root`, check each has every requested severity and class, and fix the classes.

    `benchmark` ("imagenet-c" or "imagenet-3dcc") orders its own corruptions first, in
    its report order; any other corruption folder is scored after them under its name.
    Every requested severity folder must hold the same class folders. `classes` (the
    model's WNIDs in label order) defaults to the sorted class folders found; a class
    folder outside a given list is a `DataError`, while a given list may be longer than
    the folders (a model with more classes than the copy).
    """
    spec = _folder_benchmark(benchmark)
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{spec.title} root {root} does not exist")
    found = {sub.name: sub for sub in _corruption_folders(root)}
    if not found:
        raise DataError(f"{spec.title} root {root} has no CORRUPTION/SEVERITY folders "
                        f"(e.g. {root}/{spec.corruptions[0]}/3/n01440764)")
    folders: dict[str, dict[int, Path]] = {}
    wnids: dict[Path, set[str]] = {}
    for name in report_order(found, known=spec.corruptions):
        folders[name] = {}
        for severity in severities:
            folder = found[name] / str(severity)
            wnids[folder] = {d.name for d in folder.iterdir() if d.is_dir()} if folder.is_dir() else set()
            if not wnids[folder]:
                raise DataError(f"{spec.title} folder {folder} is missing or has no class folders; "
                                f"choose severities that every corruption has")
            folders[name][severity] = folder
    seen = _check_complete(wnids, title=spec.title)
    if classes is None:
        classes = sorted(seen)
    unknown = sorted(seen - set(classes))
    if unknown:
        raise DataError(f"{spec.title} root {root} has class folder {unknown[0]!r} that is not among the "
                        f"{len(classes)} model classes")
    return ImageNetC(root, folders, tuple(classes), benchmark)


def severity_images(dataset: ImageNetC, corruption: str, severity: int, *, transform: Transform) -> LabelledImages:
    """The images of one corruption at one severity, labelled by the shared class list."""
    title = names.FOLDER_BENCHMARKS[dataset.benchmark].title
    return folder_images(dataset.folders[corruption][severity], dataset.classes, transform=transform, title=title)
