"""One distribution-shift test set, with the label convention its scores depend on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset


@dataclass(frozen=True)
class ShiftSet:
    """A checked shift test set: its images and how its labels meet the model's logits.

    Subset benchmarks (ImageNet-R, ImageNet-A) label 200 of ImageNet's classes 0..199 and
    are scored on the model's logits of those classes only (Hendrycks et al. 2021): label
    k of `dataset` is logit `class_indices[k]`, and the prediction is the arg-max over
    `logits[:, class_indices]`. Scoring over all 1000 logits instead would count every
    prediction outside the 200 as an error and give a different, unpublished number.
    """

    name: str  # registry name, e.g. "imagenet-r"; "cifar10.1-v6" names the version read
    root: Path  # the folder it was read from
    dataset: Dataset[tuple[Tensor, int]]  # (image, label); uint8 (3, H, W) images unless a transform says otherwise
    class_indices: tuple[int, ...] | None  # logits to keep, in label order; None: labels index all logits
    num_classes: int  # outputs the model must have: 10 for CIFAR-10.x, 1000 for the ImageNet sets
    convention: str  # one line for reports: the classes, how labels meet logits, the paper
