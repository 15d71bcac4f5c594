"""ImageNet-R, -A, -Sketch and -V2 as released: labels, kept logits, and partial or foreign folders refused."""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

import pytest
import torch

from ews.data.shifts import SHIFT_SETS, read_shift
from ews.data.shifts.imagenet import V2_CLASSES
from ews.data.shifts.wnids import imagenet_wnids, subset_wnids
from ews.errors import ConfigError

from .fake_shifts import write_class_folders
from .fake_shifts import shift_error as _error




def _labels_by_folder(shift_dataset: torch.utils.data.Dataset) -> dict[str, int]:
    return {Path(path).parent.name: label for path, label in shift_dataset.samples}  # type: ignore[attr-defined]


def test_timm_lists_are_imagenets_sorted_wnids() -> None:
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and list(wnids) == sorted(wnids) and wnids[0] == "n01440764"
    for subset in ("imagenet_r", "imagenet_a"):
        assert len(subset_wnids(subset)) == 200 and set(subset_wnids(subset)) <= set(wnids)


@pytest.mark.parametrize("name", ["imagenet-r", "imagenet-a"])
def test_subsets_label_by_their_sorted_wnids_and_keep_those_logits(tmp_path: Path, name: str) -> None:
    subset = name.replace("-", "_")
    wnids = subset_wnids(subset)
    root = write_class_folders(tmp_path / name, reversed(wnids), suffix=".jpg")
    (root / "README.txt").write_text("a file beside the class folders, as in imagenet-a.tar")
    shift = read_shift(name, root)
    assert (shift.name, shift.num_classes, len(shift.dataset)) == (name, 1000, 200)
    assert _labels_by_folder(shift.dataset) == {wnid: label for label, wnid in enumerate(sorted(wnids))}
    # timm's own index file for the subset: the positions of its WNIDs among the 1000
    packaged = resources.files("timm.data").joinpath("_info", f"{subset}_indices.txt").read_text().split()
    assert shift.class_indices == tuple(int(index) for index in packaged)
    assert all(imagenet_wnids()[shift.class_indices[k]] == wnid for k, wnid in enumerate(wnids))
    assert "200" in shift.convention and "logits" in shift.convention
    image, _ = shift.dataset[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 224, 224)


def test_subset_folders_must_be_exactly_the_sets_wnids(tmp_path: Path) -> None:
    wnids = subset_wnids("imagenet_r")
    root = write_class_folders(tmp_path / "r", wnids)
    (root / "n01440764").mkdir()  # an ImageNet class, but not one of ImageNet-R's
    message = _error("imagenet-r", root, "has folder 'n01440764', which is not one of its 200 WNIDs")
    assert "expected ROOT/n01443537/*.jpg" in message
    (root / "n01440764").rmdir()
    shutil.rmtree(root / wnids[5])
    _error("imagenet-r", root, f"has 199 of its 200 class folders (first missing: {wnids[5]})")
    (root / wnids[5]).mkdir()
    _error("imagenet-r", root, f"class folder {root / wnids[5]} has no images")
    _error("imagenet-a", root, "which is not one of its 200 WNIDs")
    _error("imagenet-a", tmp_path / "nope", "ImageNet-A root")


def test_sketch_labels_by_imagenets_wnids_and_needs_all_1000(tmp_path: Path) -> None:
    wnids = imagenet_wnids()
    root = write_class_folders(tmp_path / "sketch", wnids, suffix=".JPEG")
    shift = read_shift("imagenet-sketch", root, transform=lambda image: torch.zeros(1))
    assert (shift.name, shift.num_classes, shift.class_indices, len(shift.dataset)) == ("imagenet-sketch", 1000,
                                                                                         None, 1000)
    assert _labels_by_folder(shift.dataset) == {wnid: label for label, wnid in enumerate(wnids)}
    assert torch.equal(shift.dataset[0][0], torch.zeros(1))
    shutil.rmtree(root / wnids[0])
    _error("imagenet-sketch", root, f"has 999 of its 1000 class folders (first missing: {wnids[0]})")
    (root / wnids[0]).mkdir()
    (root / "n99999999").mkdir()
    _error("imagenet-sketch", root, "'n99999999', which is not one of the 1000 ImageNet WNIDs")


def test_v2_reads_folder_names_as_class_numbers(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "imagenetv2-matched-frequency-format-val", V2_CLASSES, suffix=".jpeg")
    shift = read_shift("imagenet-v2", root)
    assert (shift.name, shift.num_classes, shift.class_indices, len(shift.dataset)) == ("imagenet-v2", 1000, None,
                                                                                        1000)
    labels = _labels_by_folder(shift.dataset)
    # a string sort would put "10" before "2" and label folder "10" as class 2
    assert (labels["0"], labels["1"], labels["2"], labels["10"], labels["999"]) == (0, 1, 2, 10, 999)
    assert all(labels[name] == int(name) for name in V2_CLASSES)
    _error("imagenet-v2", tmp_path, "'imagenetv2-matched-frequency-format-val', which is not a class number 0..999")
    for foreign in ("1000", "010", "cat"):
        (root / foreign).mkdir()
        _error("imagenet-v2", root, f"has folder {foreign!r}, which is not a class number 0..999")
        (root / foreign).rmdir()
    shutil.rmtree(root / "500")
    _error("imagenet-v2", root, "has 999 of its 1000 class folders (first missing: 500)")


def test_unknown_set_lists_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown shift set 'imagenet-o'; allowed: cifar10\.1, .*imagenet-v2"):
        read_shift("imagenet-o", tmp_path)
    assert set(SHIFT_SETS) >= {"cifar10.1", "cifar10.2", "imagenet-r", "imagenet-a", "imagenet-sketch", "imagenet-v2"}


def test_without_timm_the_wnid_sets_ask_for_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "timm.data", None)  # `import timm.data` now raises ImportError
    imagenet_wnids.cache_clear()
    subset_wnids.cache_clear()
    try:
        for name in ("imagenet-r", "imagenet-sketch"):
            with pytest.raises(ConfigError, match=r"needs timm >= 0\.9 .*pip install 'ews-robust\[timm\]'"):
                read_shift(name, tmp_path)
    finally:
        imagenet_wnids.cache_clear()
        subset_wnids.cache_clear()
