"""Training augmentation: changes images, keeps their shape and range, replays under a seed."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from ews.data import DatasetInfo, train_transform
from ews.errors import DataError

CIFAR_LIKE = DatasetInfo("toy", 10, 32, (0.5,) * 3, (0.25,) * 3, flip=True, crop_padding=4)
NO_FLIP = dataclasses.replace(CIFAR_LIKE, flip=False)


def _image() -> torch.Tensor:
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))


def _crops(image: torch.Tensor, padding: int) -> list[torch.Tensor]:
    """Every crop `RandomCrop(padding=...)` can return, unflipped."""
    padded = F.pad(image, [padding] * 4)
    size = image.shape[-1]
    return [padded[:, i : i + size, j : j + size] for i in range(2 * padding + 1) for j in range(2 * padding + 1)]


def test_standard_changes_images_but_keeps_shape_and_range() -> None:
    torch.manual_seed(0)
    image, transform = _image(), train_transform(CIFAR_LIKE, "standard")
    outputs = [transform(image) for _ in range(10)]
    assert all(out.shape == image.shape and out.dtype == torch.float32 for out in outputs)
    assert all(0.0 <= out.min() and out.max() <= 1.0 for out in outputs)
    assert any(not torch.equal(out, image) for out in outputs)


def test_standard_replays_under_manual_seed() -> None:
    image, transform = _image(), train_transform(CIFAR_LIKE, "standard")
    torch.manual_seed(5)
    first = [transform(image) for _ in range(5)]
    torch.manual_seed(5)
    again = [transform(image) for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_flip_happens_only_when_the_dataset_allows_it() -> None:
    torch.manual_seed(0)
    image = _image()
    crops = _crops(image, 4)
    mirrored = _crops(image.flip(-1), 4)

    def mirrors(info: DatasetInfo) -> int:
        transform = train_transform(info, "standard")
        outs = [transform(image) for _ in range(30)]
        assert all(any(torch.equal(o, c) for c in crops + mirrored) for o in outs)
        return sum(any(torch.equal(o, m) for m in mirrored) for o in outs)

    assert mirrors(NO_FLIP) == 0
    assert mirrors(CIFAR_LIKE) > 0


def test_none_is_identity() -> None:
    image = _image()
    assert torch.equal(train_transform(CIFAR_LIKE, "none")(image), image)


def test_unknown_augmentation_names_the_allowed_ones() -> None:
    with pytest.raises(DataError, match=r"'fancy'.*standard, none"):
        train_transform(CIFAR_LIKE, "fancy")
