"""ImageNet-P perturbation sequences and the user's AlexNet flip-probability table.

Two layouts per perturbation: the released videos, `ROOT/PERTURBATION/WNID/*.mp4` (any
container OpenCV reads), or one folder of frames per sequence,
`ROOT/PERTURBATION/WNID/SEQ/*.png|jpg`, in sorted file-name order. Labels are not
needed: the benchmark measures whether top-1 predictions flip along a sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import torch
import yaml
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import DataError
from .metrics import report_order

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
SequenceTransform = Callable[[torch.Tensor], torch.Tensor]  # uint8 (T, 3, H, W) -> (T, 3, H', W')


def is_noise(perturbation: str) -> bool:
    """Noise sequences compare every frame with the first: the benchmark's code tests `'noise' in name`.

    That covers gaussian_noise, shot_noise, the held-out speckle_noise and the harder
    `gaussian_noise_2`/`_3` sequences of the release.
    """
    return "noise" in perturbation


@dataclass(frozen=True)
class ImageNetP:
    """A checked ImageNet-P root: the sequences (video files or frame folders) of each perturbation."""

    root: Path
    sequences: dict[str, list[Path]]


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def _frames(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)


def _sequences(perturbation: Path) -> list[Path]:
    """Videos and frame folders under every class folder, in sorted order."""
    found = []
    for wnid in sorted(d for d in perturbation.iterdir() if d.is_dir()):
        found += [p for p in sorted(wnid.iterdir()) if _is_video(p) or (p.is_dir() and _frames(p))]
    return found


def read_imagenet_p(root: str | Path) -> ImageNetP:
    """Find the sequences of every perturbation folder under `root`; folders without any are ignored."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"ImageNet-P root {root} does not exist")
    found = {sub.name: seqs for sub in root.iterdir() if sub.is_dir() and (seqs := _sequences(sub))}
    if not found:
        raise DataError(f"ImageNet-P root {root} has no PERTURBATION/WNID/*.mp4 videos or "
                        f"PERTURBATION/WNID/SEQ/ frame folders")
    return ImageNetP(root, {name: found[name] for name in report_order(found)})


def read_sequence(path: Path) -> torch.Tensor:
    """All frames of one video file or frame folder, uint8 (T, 3, H, W) RGB."""
    if path.is_dir():
        try:
            frames = [pil_to_tensor(default_loader(str(p))) for p in _frames(path)]
        except OSError as err:
            raise DataError(f"frame folder {path} has an unreadable image: {str(err).splitlines()[0]}") from None
    else:
        capture = cv2.VideoCapture(str(path))
        frames = []
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                frames.append(torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1))
        finally:
            capture.release()
    if len(frames) < 2:
        raise DataError(f"ImageNet-P sequence {path} has {len(frames)} readable frames; at least 2 are needed")
    try:
        return torch.stack(frames)
    except RuntimeError:
        raise DataError(f"ImageNet-P sequence {path} has frames of different sizes") from None


class Sequences(Dataset):
    """One item per sequence, so decoding can run in DataLoader workers."""

    def __init__(self, paths: list[Path], transform: SequenceTransform | None = None) -> None:
        self.paths = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        frames = read_sequence(self.paths[index])
        return frames if self.transform is None else self.transform(frames)


def read_alexnet_flips(source: str | Path | Mapping[str, float]) -> dict[str, float]:
    """AlexNet's flip probability per perturbation, from a mapping or a JSON/YAML file mapping name -> FP.

    Values are probabilities in [0, 1], as the benchmark defines FP; percentages are
    rejected rather than guessed at, since FR divides by them.
    """
    table = source
    if not isinstance(source, Mapping):
        path = Path(source)
        try:
            table = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise DataError(f"AlexNet flip table {path} is not a readable JSON/YAML file: "
                            f"{str(err).splitlines()[0]}") from None
    if not isinstance(table, Mapping) or not table:
        raise DataError(f"AlexNet flip table {source} must map perturbation names to flip probabilities")
    flips = {}
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise DataError(f"AlexNet flip table {source}: {name} = {value!r}; expected a probability in (0, 1] "
                            f"(divide percentages by 100)")
        flips[str(name)] = float(value)
    return flips


def check_alexnet_flips(flips: Mapping[str, float], dataset: ImageNetP, *, source: object) -> None:
    """Every perturbation to be scored needs AlexNet's FP, checked before any video is decoded."""
    missing = [name for name in dataset.sequences if name not in flips]
    if missing:
        raise DataError(f"AlexNet flip table {source} has no entry for {', '.join(missing)} "
                        f"(found under {dataset.root})")

