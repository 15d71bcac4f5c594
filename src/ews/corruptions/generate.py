"""Write -C sets of any dataset in the CIFAR-10-C layout (Hendrycks & Dietterich 2019).

A -C folder holds one `NAME.npy` per corruption, uint8 (S*N, H, W, 3) with rows
[k*N:(k+1)*N] at the k-th selected severity (ascending), and `labels.npy`, int64
(S*N,): the labels tiled S times. Images of 64 pixels or less get CIFAR-10-C's
constants (`small.py`), larger ones ImageNet-C's (the `imagecorruptions` package).
Every image draws from its own seeded generator (`seeding.py`), so a set is
byte-identical for any number of worker processes.
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
import math
import multiprocessing
import os
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..errors import ConfigError, DataError
from ..runtime.progress import progress_bar
from .names import ALL, SEVERITIES, check_corruptions, check_severities
from .seeding import image_rng, numpy_global_seed
from .small import MAX_SIDE, corrupt_small

META = "meta.json"
_NOTES = logging.getLogger(__name__)  # shown by the `ews` command; a script sees them if it configures logging

_MIN_SIDE_SMALL = 8  # the elastic warp's affine triangle needs a few pixels per side
_MIN_SIDE_LARGE = 32  # imagecorruptions refuses smaller sides
_LIBRARY_SEEDED = ("glass_blur", "impulse_noise")  # take a `seed` instead of reading np.random
_MAX_CHUNK = 128  # images per task: small enough for a smooth progress bar


def corrupt(image: np.ndarray, name: str, severity: int, *, rng: np.random.Generator) -> np.ndarray:
    """One corruption of one uint8 (H, W, 3) image at severity 1..5, as uint8 (H, W, 3).

    Images whose longer side is at most 64 pixels use CIFAR-10-C's constants, larger
    ones ImageNet-C's. All randomness comes from `rng`.
    """
    check_corruptions([name])
    check_severities([severity])
    _check_image_shape(image.shape, image.dtype, what="image")
    if max(image.shape[:2]) <= MAX_SIDE:
        return corrupt_small(image, name, severity, rng=rng)
    return _corrupt_large(image, name, severity, rng=rng)


def _corrupt_large(image: np.ndarray, name: str, severity: int, *, rng: np.random.Generator) -> np.ndarray:
    # Imported here: the package pulls in numba, which small images never need.
    from imagecorruptions import corrupt as library_corrupt

    seed = {"seed": int(rng.integers(2**31))} if name in _LIBRARY_SEEDED else {}
    with numpy_global_seed(rng):
        return library_corrupt(image, severity=severity, corruption_name=name, **seed)


def _check_image_shape(shape: tuple[int, ...], dtype: np.dtype, *, what: str, batch: bool = False) -> None:
    expected = "(N, H, W, 3)" if batch else "(H, W, 3)"
    if dtype != np.uint8 or len(shape) != 3 + batch or shape[-1] != 3:
        raise DataError(f"{what} must be uint8 {expected} RGB, got {np.dtype(dtype).name} {tuple(shape)}")
    height, width = shape[-3:-1]
    least = _MIN_SIDE_SMALL if max(height, width) <= MAX_SIDE else _MIN_SIDE_LARGE
    if min(height, width) < least:
        raise DataError(f"{what} of {height}x{width} pixels is too small: sides must be at least {least} pixels")


def dataset_to_uint8(dataset: Dataset, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """An ews dataset (float32 (3, H, W) in [0, 1], int label) -> uint8 (N, H, W, 3) images, int64 (N,) labels.

    Load it with `augment="none"`: corruption sets are built from the plain images.
    """
    images, labels = [], []
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        if x.ndim != 4 or x.shape[1] != 3:
            raise DataError(f"dataset yields images of shape {tuple(x.shape[1:])}; expected (3, H, W): load it unaugmented")
        pixels = (x * 255).round_().clamp_(0, 255).to(torch.uint8)  # (B, 3, H, W)
        images.append(pixels.permute(0, 2, 3, 1).numpy())
        labels.append(torch.as_tensor(y).numpy())
    if not images:
        raise DataError("dataset is empty: nothing to corrupt")
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def write_corrupted_set(
    images: np.ndarray | Dataset,
    labels: Sequence[int] | np.ndarray | None,
    out: str | Path,
    *,
    corruptions: Iterable[str] | None = ALL,
    severities: Iterable[int] = SEVERITIES,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    meta: dict[str, object] | None = None,
) -> list[Path]:
    """Write `out/NAME.npy` per corruption, `out/labels.npy` and `out/meta.json`; return the corruption files' paths.

    `meta` (what the images are, e.g. dataset, split and limit) is recorded in `meta.json`
    with the number of images, the seed, the severities and the corruptions.

    `images`: uint8 (N, H, W, 3), or an ews dataset (then `labels=None` takes its own).
    Severities are written in ascending order. Image i at severity s of corruption c
    draws from a generator keyed by (seed, c, s, i), so the bytes do not depend on
    `workers`: processes (None or 0: one per CPU core; 1: in this process). Each file is
    filled on disk through a memory map and renamed into place when complete, so a
    killed run never leaves a torn file and at most one corruption is in flight.
    """
    chosen, levels = check_corruptions(corruptions), check_severities(severities)
    if isinstance(images, Dataset):
        images, own_labels = dataset_to_uint8(images)
        labels = own_labels if labels is None else labels
    images = np.ascontiguousarray(images)
    _check_image_shape(images.shape, images.dtype, what="images", batch=True)
    labels = _check_labels(labels, len(images))
    workers = _check_workers(workers)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    out = _prepare_folder(out)

    write_meta(out, {**(meta or {}), "images": len(labels), "seed": seed, "severities": list(levels),
                     "corruptions": list(chosen), "parameters": "CIFAR-10-C (Hendrycks & Dietterich 2019)"})
    with _atomic_npy(out / "labels.npy", shape=(len(levels) * len(labels),), dtype=np.int64) as tiled:
        tiled[:] = np.tile(labels, len(levels))

    n = len(images)
    chunk = max(1, min(_MAX_CHUNK, math.ceil(n / (4 * workers))))
    pool = _pool(workers, images) if workers > 1 and worker_processes_can_start() else None
    paths = []
    try:
        with progress_bar(total=len(chosen) * len(levels) * n, unit="img", enabled=progress) as bar:
            for name in chosen:
                bar.set_description(name)
                paths.append(_write_one(out, images, name, levels, seed=seed, chunk=chunk, pool=pool, bar=bar))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return paths


def write_dataset_corruptions(
    dataset: str,
    out: str | Path,
    *,
    root: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    corruptions: Iterable[str] | None = None,
    severities: Iterable[int] = SEVERITIES,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """`ews corrupt`: a -C set of one split of any dataset `ews.data.load` reads (first `limit` images, stratified)."""
    from ..data import load
    from ..data.splits import stratified_subset

    if split not in ("test", "train"):
        raise ConfigError(f"split must be 'test' or 'train', got {split!r}")
    chosen, levels = check_corruptions(corruptions), check_severities(severities)
    _check_workers(workers)
    data, _ = load(dataset, root=root, train=split == "train", augment="none")
    data = stratified_subset(data, limit, what=f"the {dataset} {split} split")
    images, labels = dataset_to_uint8(data)
    meta = {"dataset": dataset, "split": split, "limit": limit}
    return write_corrupted_set(images, labels, out, corruptions=chosen, severities=levels, seed=seed, workers=workers,
                               progress=progress, meta=meta)


def write_meta(out: Path, meta: dict[str, object]) -> None:
    """`out/meta.json`: what the set was made of (dataset, split, stratified limit, seed...), written atomically."""
    temporary = out / f".meta.json.{uuid.uuid4().hex}"
    temporary.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(temporary, out / META)


def read_meta(folder: Path) -> dict[str, object]:
    """A set's `meta.json` ({} for a set without one, such as the released CIFAR-10-C)."""
    path = folder / META
    return json.loads(path.read_text()) if path.is_file() else {}


def _check_labels(labels: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    if labels is None:
        raise DataError("labels are missing: pass one integer label per image")
    array = np.asarray(labels)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"labels must be {n} integers (one per image), got {array.dtype.name} {array.shape}")
    return array.astype(np.int64)


def _check_workers(workers: int | None) -> int:
    if isinstance(workers, bool) or not isinstance(workers, (int, type(None))) or (workers or 0) < 0:
        raise ConfigError(f"workers must be a positive integer (0: one per CPU core), got {workers!r}")
    return workers or os.cpu_count() or 1


def _prepare_folder(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"output {out} is a file; give a folder for the -C set")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_one(
    out: Path,
    images: np.ndarray,
    name: str,
    severities: tuple[int, ...],
    *,
    seed: int,
    chunk: int,
    pool: Executor | None,
    bar: tqdm,
) -> Path:
    path = out / f"{name}.npy"
    with _atomic_npy(path, shape=(len(severities) * len(images), *images.shape[1:]), dtype=np.uint8) as array:
        for row, corrupted in _corrupted_chunks(images, name, severities, seed=seed, chunk=chunk, pool=pool):
            array[row : row + len(corrupted)] = corrupted
            bar.update(len(corrupted))
    return path


@contextmanager
def _atomic_npy(path: Path, *, shape: tuple[int, ...], dtype: type) -> Iterator[np.ndarray]:
    """A memory-mapped temporary .npy next to `path`, flushed and renamed over `path` when the block succeeds.

    The array lives on disk, not in memory, and a killed or failed run leaves the old
    file (or none), never a torn one. (`atomic_write_bytes` would need the whole file as
    bytes in memory; its temp files are also private, where a data set should follow the umask.)
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        yield array
        array.flush()
        del array
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _corrupted_chunks(
    images: np.ndarray, name: str, severities: tuple[int, ...], *, seed: int, chunk: int, pool: Executor | None
) -> Iterator[tuple[int, np.ndarray]]:
    """(first output row, uint8 (B, H, W, 3)) for every chunk of images at every severity, in any order."""
    n = len(images)
    tasks = [(k, severity, start) for k, severity in enumerate(severities) for start in range(0, n, chunk)]
    if pool is None:
        for k, severity, start in tasks:
            yield k * n + start, _corrupt_range(images, name, severity, start, min(start + chunk, n), seed)
        return
    futures = {pool.submit(_worker_range, name, severity, start, min(start + chunk, n), seed): k * n + start
               for k, severity, start in tasks}
    for future in as_completed(futures):
        yield futures[future], future.result()


def _corrupt_range(images: np.ndarray, name: str, severity: int, start: int, stop: int, seed: int) -> np.ndarray:
    return np.stack([
        corrupt(images[index], name, severity, rng=image_rng(seed, corruption=name, severity=severity, index=index))
        for index in range(start, stop)
    ])


_WORKER_IMAGES: np.ndarray | None = None


def _init_worker(images: np.ndarray) -> None:
    """Give each worker the clean images once, not with every task."""
    global _WORKER_IMAGES
    _WORKER_IMAGES = images
    cv2.setNumThreads(1)  # one process per core already; threads inside would oversubscribe


def _worker_range(name: str, severity: int, start: int, stop: int, seed: int) -> np.ndarray:
    assert _WORKER_IMAGES is not None, "worker started without _init_worker"
    return _corrupt_range(_WORKER_IMAGES, name, severity, start, stop, seed)


def worker_processes_can_start() -> bool:
    """Whether worker processes can start here without running the caller's own code a second time.

    The fork server and `spawn` start each worker by running the main script again (as
    `__mp_main__`), skipping only what sits under `if __name__ == "__main__":`. A script
    that calls `ews` at its top level without that guard would call it again in every
    worker, where multiprocessing refuses to start processes ("bootstrapping phase").
    So that case is told apart before any process starts, and the set is then corrupted
    in this process (same bytes, one core), with a note saying how to get the workers.
    Notebooks, `python -c`, `python -m package` and guarded scripts (the `ews` command
    among them) start workers.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if main is None or path is None or spec == "__main__" or spec.endswith(".__main__"):
        return True  # workers do not run the main module again
    if _line_is_guarded(Path(path), _running_line(main)):
        return True
    _NOTES.info("corrupting in this process: worker processes would run %s again from its top; put the call "
                "under `if __name__ == \"__main__\":` to corrupt with one process per core", path)
    return False


def _running_line(main: ModuleType) -> int | None:
    """The line of the main module's top-level code that is running now (None: not on this thread's stack)."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            return frame.f_lineno
        frame = frame.f_back
    return None


def _line_is_guarded(script: Path, line: int | None) -> bool:
    """Whether `line` of `script` lies inside an `if __name__ == "__main__":` block (False when unknown)."""
    if line is None:
        return False
    try:
        tree = ast.parse(script.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and node.body[0].lineno <= line <= (node.body[-1].end_lineno or line):
            return _is_main_test(node.test)
    return False


def _is_main_test(test: ast.expr) -> bool:
    """`__name__ == "__main__"`, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, *test.comparators]
    names = [side.id for side in sides if isinstance(side, ast.Name)]
    values = [side.value for side in sides if isinstance(side, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]


def _pool(workers: int, images: np.ndarray) -> ProcessPoolExecutor:
    """Workers started from a fresh fork server, never forked from this process.

    A child forked from a process whose OpenCV thread pool has run deadlocks on its first
    OpenCV call (seen with `cv2.setNumThreads`), so plain `fork` is out. The fork server
    imports this module once; each worker then starts without importing torch again.
    """
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(images,))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(images,))
