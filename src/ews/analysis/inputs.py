"""The fixed evaluation inputs of the subnet analyses: clean, corrupted and PGD images.

Every analysis scores hundreds of subnets on the same images, so the images are
built once, moved to the device once, and reused for every subnet. Corrupted images
come from the corruption code of `ews corrupt` (generated per image) or from a
CIFAR-10-C style folder; PGD images from `ews.attacks.pgd`, against the full network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from ..attacks import EVAL_STEPS, pgd
from ..corruptions import names
from ..corruptions.cifar_c import open_npy, read_cifar_c
from ..corruptions.generate import corrupt, dataset_to_uint8
from ..corruptions.seeding import image_rng
from ..data import labels_of, stratified_limit
from ..errors import ConfigError

INPUT_KINDS = ("clean", "corrupted", "pgd")


@dataclass(frozen=True)
class Images:
    """One kind of input: images (N, C, H, W) float in [0, 1] and labels (N,), on one device."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """Known input kinds, in the given order without repeats."""
    chosen = tuple(dict.fromkeys(kinds))
    for kind in chosen:
        if kind not in INPUT_KINDS:
            raise ConfigError(f"unknown input kind {kind!r}; allowed: {', '.join(INPUT_KINDS)}")
    if not chosen:
        raise ConfigError(f"no input kind selected; allowed: {', '.join(INPUT_KINDS)}")
    return chosen


def evaluation_subset(dataset: Dataset, count: int, *, batch_size: int = 512) -> Images:
    """The first `count` images of a test split, stratified by class (the same on every call), on the CPU."""
    try:
        dataset = Subset(dataset, stratified_limit(labels_of(dataset), count))
    except TypeError:  # labels unknown without decoding: the first images, in order
        dataset = Subset(dataset, range(min(count, len(dataset))))
    xs, ys = zip(*DataLoader(dataset, batch_size=batch_size))
    return Images(torch.cat(xs), torch.cat(ys).long())


def generated_corruptions(clean: Images, *, seed: int = 0, corruptions: Sequence[str] = names.BENCHMARK,
                          severities: Sequence[int] = names.SEVERITIES) -> Images:
    """Each image under one corruption and severity, cycling through all of them.

    Image i gets corruption `corruptions[i % C]` at severity `severities[(i // C) % S]`,
    so a subset of a few hundred images covers every corruption at every severity,
    like a uniform draw from a -C set. Each image uses its own seeded generator, the
    one `ews corrupt` would use for it.
    """
    corruptions, severities = names.check_corruptions(corruptions), names.check_severities(severities)
    pixels, _ = dataset_to_uint8(TensorDataset(clean.x.cpu(), clean.y.cpu()))  # (N, H, W, 3) uint8
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        name = corruptions[i % len(corruptions)]
        severity = severities[(i // len(corruptions)) % len(severities)]
        out[i] = corrupt(image, name, severity, rng=image_rng(seed, corruption=name, severity=severity, index=i))
    return Images(_to_float(out), clean.y.cpu())


def corruptions_from_folder(folder: str | Path, count: int, *, seed: int = 0) -> Images:
    """`count` rows drawn uniformly (seeded) from every file and severity of a CIFAR-10-C style folder."""
    c_set = read_cifar_c(folder)
    files = list(c_set.files.values())
    total = len(c_set.labels)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(files) * total, size=min(count, len(files) * total), replace=False)
    order = np.argsort(picks)  # read each file front to back
    images = np.empty((len(picks), *open_npy(files[0]).shape[1:]), np.uint8)
    labels = np.empty(len(picks), np.int64)
    for slot in order:
        file, row = divmod(int(picks[slot]), total)
        images[slot] = open_npy(files[file])[row]
        labels[slot] = c_set.labels[row]
    return Images(_to_float(images), torch.from_numpy(labels))


def pgd_images(model: nn.Module, clean: Images, *, eps: float, norm: str, batch_size: int, seed: int = 0) -> Images:
    """PGD-20 examples against the full network in eval mode (step eps / 4, uniform start), as `ews eval`."""
    generator = torch.Generator().manual_seed(seed)
    adversarial = [
        pgd(model, x, y, eps=eps, step_size=eps / 4, steps=EVAL_STEPS, norm=norm, generator=generator)
        for x, y in zip(clean.x.split(batch_size), clean.y.split(batch_size))
    ]
    return Images(torch.cat(adversarial), clean.y)


def to_device(images: Images, device: torch.device) -> Images:
    return Images(images.x.to(device), images.y.to(device))


def _to_float(pixels: np.ndarray) -> Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div_(255)
