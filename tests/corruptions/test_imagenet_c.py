"""ImageNet-C folder reading: corruption discovery, the shared class list, structure errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from ews.corruptions.imagenet_c import default_transform, read_imagenet_c, severity_images
from ews.errors import DataError

from .synthetic import write_imagenet_c, write_png


def _root(tmp_path: Path) -> Path:
    # "fog" at severity 2 lacks class n02: its n03 images must still get label 2.
    return write_imagenet_c(tmp_path / "c", {
        "fog": {1: {"n01": [0.1], "n02": [0.2], "n03": [0.3]}, 2: {"n01": [0.1], "n03": [0.3, 0.4]}},
        "mine": {1: {"n01": [0.5]}, 2: {"n03": [0.5]}},
        "gaussian_noise": {1: {"n02": [0.5]}, 2: {"n02": [0.5]}},
    })


def test_corruptions_in_report_order_with_the_union_of_classes(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "notes").mkdir()  # a folder without severity folders is not a corruption
    data = read_imagenet_c(root, severities=(1, 2))
    assert list(data.folders) == ["gaussian_noise", "fog", "mine"]
    assert data.classes == ("n01", "n02", "n03")
    assert data.folders["fog"][2] == root / "fog" / "2"


def test_labels_follow_the_shared_class_list_not_the_folder(tmp_path: Path) -> None:
    data = read_imagenet_c(_root(tmp_path), severities=(2,))
    images = severity_images(data, "fog", 2, transform=lambda image: torch.zeros(1))
    assert [label for _, label in images.samples] == [0, 2, 2]
    given = read_imagenet_c(_root(tmp_path / "x"), severities=(2,), classes=["n00", "n01", "n02", "n03"])
    assert [label for _, label in severity_images(given, "fog", 2, transform=torch.zeros).samples] == [1, 3, 3]


def test_default_transform_is_resize_256_centre_crop_224_as_uint8(tmp_path: Path) -> None:
    out = default_transform()(Image.new("RGB", (300, 260), (10, 20, 30)))
    assert out.shape == (3, 224, 224) and out.dtype == torch.uint8
    assert out[:, 100, 100].tolist() == [10, 20, 30]


def _error(root: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_imagenet_c(root, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    return str(info.value)


def test_structure_errors_name_the_folder(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope", severities=(1,))
    (tmp_path / "flat").mkdir()
    write_png(tmp_path / "flat" / "fog" / "x.png", 0.5)
    assert "no CORRUPTION/SEVERITY folders" in _error(tmp_path / "flat", severities=(1,))
    root = _root(tmp_path)
    message = _error(root, severities=(1, 3))
    assert "gaussian_noise/3 is missing or has no class folders" in message.replace("\\", "/")
    assert "'n03' that is not among the 2 model classes" in _error(root, severities=(1,), classes=["n01", "n02"])


def test_a_severity_folder_without_images(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "fog" / "1" / "n01").mkdir(parents=True)
    (root / "fog" / "1" / "n01" / "readme.txt").write_text("no image")
    data = read_imagenet_c(root, severities=(1,))
    with pytest.raises(DataError, match="has no images"):
        severity_images(data, "fog", 1, transform=torch.zeros)
