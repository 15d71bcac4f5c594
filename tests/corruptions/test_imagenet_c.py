"""ImageNet-C folder reading: corruption discovery, the shared class list, structure errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from ews.corruptions import names
from ews.corruptions.imagenet_c import default_transform, read_imagenet_c, severity_images
from ews.errors import ConfigError, DataError

from .synthetic import write_imagenet_c, write_png


def _root(tmp_path: Path) -> Path:
    # Every severity folder holds the same three classes, as a complete copy does.
    classes = {"n01": [0.1], "n02": [0.2], "n03": [0.3, 0.4]}
    corruptions = ("fog", "mine", "gaussian_noise")
    return write_imagenet_c(tmp_path / "c", {name: {1: classes, 2: classes} for name in corruptions})


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
    assert [label for _, label in images.samples] == [0, 1, 2, 2]
    # the model's classes, in its label order, may be more than the copy holds
    given = read_imagenet_c(_root(tmp_path / "x"), severities=(2,), classes=["n00", "n03", "n01", "n02"])
    assert [label for _, label in severity_images(given, "fog", 2, transform=torch.zeros).samples] == [2, 3, 1, 1]


def test_a_partial_copy_is_refused_by_name(tmp_path: Path) -> None:
    root = _root(tmp_path)
    shutil.rmtree(root / "mine" / "2" / "n02")
    message = _error(root, severities=(1, 2)).replace("\\", "/")
    assert "mine/2 has 2 of the 3 class folders" in message and "(first missing: n02)" in message
    assert list(read_imagenet_c(root, severities=(1,)).folders) == ["gaussian_noise", "fog", "mine"]
    (root / "mine" / "2" / "n02").mkdir()
    data = read_imagenet_c(root, severities=(2,))
    with pytest.raises(DataError, match="class folder .*n02 has no images"):
        severity_images(data, "mine", 2, transform=torch.zeros)


def test_imagenet_3dcc_uses_the_same_layout_with_its_own_corruptions(tmp_path: Path) -> None:
    assert len(set(names.IMAGENET_3DCC)) == 12 and not set(names.IMAGENET_3DCC) & set(names.ALL)
    classes = {"n01": [0.1], "n02": [0.2]}
    root = write_imagenet_c(tmp_path / "3dcc", {name: {3: classes} for name in ("fog", "z_motion_blur", "near_focus")})
    data = read_imagenet_c(root, severities=(3,), benchmark="imagenet-3dcc")
    assert list(data.folders) == ["near_focus", "z_motion_blur", "fog"] and data.benchmark == "imagenet-3dcc"
    assert [label for _, label in severity_images(data, "near_focus", 3, transform=torch.zeros).samples] == [0, 1]
    assert "ImageNet-3DCC folder" in _error(root, severities=(3, 4), benchmark="imagenet-3dcc")
    with pytest.raises(ConfigError, match="benchmark 'imagenet-p'; allowed: imagenet-c, imagenet-3dcc"):
        read_imagenet_c(root, severities=(3,), benchmark="imagenet-p")


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
