"""Training augmentation: changes images, keeps their shape and range, replays under a seed."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from ews.config import AugMixConfig
from ews.data import DatasetInfo, train_transform
from ews.errors import DataError

CIFAR_LIKE = DatasetInfo("toy", 10, 32, (0.5,) * 3, (0.25,) * 3, flip=True, crop_padding=4)
NO_FLIP = dataclasses.replace(CIFAR_LIKE, flip=False)
T = TypeVar("T")


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
    with pytest.raises(DataError, match=r"'fancy'.*standard, autoaugment, augmix, none"):
        train_transform(CIFAR_LIKE, "fancy")


# ----- AutoAugment and AugMix, on top of the standard crop/flip -----

POLICIES = [
    pytest.param("autoaugment", {"autoaugment_policy": "cifar10"}, id="autoaugment-cifar10"),
    pytest.param("autoaugment", {"autoaugment_policy": "imagenet"}, id="autoaugment-imagenet"),
    pytest.param("augmix", {"augmix": AugMixConfig(jsd=False)}, id="augmix"),
]


def _policy_of(transform: object, kind: type[T]) -> T:
    """The AutoAugment / AugMix step inside a Compose (or inside the JSD views)."""
    steps = getattr(transform, "transforms", [transform])
    found = [getattr(step, "augmix", step) for step in steps]
    return next(step for step in found if isinstance(step, kind))


@pytest.mark.parametrize("augment, options", POLICIES)
def test_policies_keep_shape_dtype_and_range_and_change_images(augment: str, options: dict) -> None:
    torch.manual_seed(0)
    image, transform = _image(), train_transform(CIFAR_LIKE, augment, **options)
    outputs = [transform(image) for _ in range(8)]
    assert all(out.shape == image.shape and out.dtype == torch.float32 for out in outputs)
    assert all(0.0 <= out.min() and out.max() <= 1.0 for out in outputs)
    crops = _crops(image, 4) + _crops(image.flip(-1), 4)
    assert any(all(not torch.equal(out, crop) for crop in crops) for out in outputs)


@pytest.mark.parametrize("augment, options", POLICIES)
def test_policies_replay_under_manual_seed(augment: str, options: dict) -> None:
    image, transform = _image(), train_transform(CIFAR_LIKE, augment, **options)
    torch.manual_seed(3)
    first = [transform(image) for _ in range(4)]
    torch.manual_seed(3)
    assert all(torch.equal(a, transform(image)) for a in first)


@pytest.mark.parametrize("augment, options", POLICIES)
def test_float_images_augment_like_their_uint8_originals(augment: str, options: dict) -> None:
    """torchvision documents uint8 input; its float path must give the same augmentation."""
    transform = train_transform(CIFAR_LIKE, augment, **options)
    diffs = []
    for seed in range(10):
        as_bytes = (_image() * 255).round().to(torch.uint8)
        torch.manual_seed(seed)
        from_float = transform(as_bytes.float() / 255)
        torch.manual_seed(seed)
        from_bytes = transform(as_bytes).float() / 255
        diffs.append((from_float - from_bytes).abs().mean().item())
    assert max(diffs) < 3 / 255  # rounding only: a pixel may cross a solarize/equalize step


def test_auto_policy_is_imagenet_for_image_folders_and_cifar10_otherwise() -> None:
    folder_like = dataclasses.replace(CIFAR_LIKE, name="imagefolder")
    auto = {info.name: train_transform(info, "autoaugment") for info in [CIFAR_LIKE, folder_like]}
    assert _policy_of(auto["toy"], v2.AutoAugment).policy == v2.AutoAugmentPolicy.CIFAR10
    assert _policy_of(auto["imagefolder"], v2.AutoAugment).policy == v2.AutoAugmentPolicy.IMAGENET
    svhn = train_transform(CIFAR_LIKE, "autoaugment", autoaugment_policy="svhn")
    assert _policy_of(svhn, v2.AutoAugment).policy == v2.AutoAugmentPolicy.SVHN


def test_augmix_takes_its_settings_from_the_config() -> None:
    config = AugMixConfig(severity=2, width=4, depth=2, alpha=0.5, all_ops=True, jsd=False)
    mix = _policy_of(train_transform(CIFAR_LIKE, "augmix", augmix=config), v2.AugMix)
    assert (mix.severity, mix.mixture_width, mix.chain_depth, mix.alpha, mix.all_ops) == (2, 4, 2, 0.5, True)
    default = _policy_of(train_transform(CIFAR_LIKE, "augmix"), v2.AugMix)
    assert (default.severity, default.mixture_width) == (AugMixConfig.severity, AugMixConfig.width)


def test_augmix_leaves_out_the_colour_ops_the_corruptions_measure_by_default() -> None:
    """AugMix's reference code trains without brightness, contrast, color and sharpness (they overlap with -C)."""
    default = _policy_of(train_transform(CIFAR_LIKE, "augmix"), v2.AugMix)
    assert not AugMixConfig().all_ops and not default.all_ops
    every = _policy_of(train_transform(CIFAR_LIKE, "augmix", augmix=AugMixConfig(all_ops=True)), v2.AugMix)
    assert every.all_ops
    # what the flag means in torchvision: its partial space is the full one without these four
    colour = {"Brightness", "Contrast", "Color", "Sharpness"}
    assert set(v2.AugMix._AUGMENTATION_SPACE) - set(v2.AugMix._PARTIAL_AUGMENTATION_SPACE) == colour


def test_augmix_jsd_views_are_the_crop_and_two_independent_draws() -> None:
    image = _image()
    views_transform = train_transform(CIFAR_LIKE, "augmix", augmix=AugMixConfig(jsd=True))
    for seed in range(3):
        torch.manual_seed(seed)
        views = views_transform(image)
        torch.manual_seed(seed)
        crop = train_transform(CIFAR_LIKE, "standard")(image)
        assert views.shape == (3, 3, 32, 32) and views.dtype == torch.float32
        assert 0.0 <= views.min() and views.max() <= 1.0
        assert torch.equal(views[0], crop)
        assert not torch.equal(views[1], views[0]) and not torch.equal(views[2], views[0])
        assert not torch.equal(views[1], views[2])


def test_bad_policy_and_severity_are_data_errors() -> None:
    with pytest.raises(DataError, match=r"'fancy'.*auto, cifar10, imagenet, svhn"):
        train_transform(CIFAR_LIKE, "autoaugment", autoaugment_policy="fancy")
    with pytest.raises(DataError, match="augmix.*severity"):
        train_transform(CIFAR_LIKE, "augmix", augmix=AugMixConfig(severity=11))
