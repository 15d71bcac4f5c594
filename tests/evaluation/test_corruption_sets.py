"""Which -C set is scored, and a generated one that fails leaves no half-made cache behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from ews.evaluation import corrupted_split


def test_a_failed_generation_removes_the_folders_it_created(tmp_path: Path, monkeypatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("worker died")

    monkeypatch.setattr("ews.corruptions.generate.write_corrupted_set", fail)
    images = TensorDataset(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(RuntimeError, match="worker died"):
        corrupted_split(images, tmp_path / "out" / "digits-c", dataset="digits")
    assert not (tmp_path / "out").exists()  # created for this set: removed
    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError, match="worker died"):
        corrupted_split(images, tmp_path / "kept" / "digits-c", dataset="digits")
    assert list(tmp_path.iterdir()) == [tmp_path / "kept"] and not any((tmp_path / "kept").iterdir())


def _tiny(seed: int, n: int = 6) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 3, 8, 8, generator=generator), torch.arange(n) % 2)


def test_a_cached_set_is_reused_only_for_the_images_it_was_made_from(tmp_path: Path) -> None:
    from ews.corruptions.generate import read_meta

    folder = tmp_path / "digits-c-val"
    first = corrupted_split(_tiny(0), folder, dataset="digits", corruptions=("contrast",), progress=False)
    made = (folder / "contrast.npy").read_bytes()
    assert first == folder and corrupted_split(_tiny(0), folder, dataset="digits", corruptions=("contrast",),
                                               progress=False) == folder
    other = corrupted_split(_tiny(1), folder, dataset="digits", corruptions=("contrast",), progress=False)
    assert other.parent == tmp_path and other.name.startswith("digits-c-val-") and other != folder
    assert (folder / "contrast.npy").read_bytes() == made  # the first set is left as it was
    assert read_meta(other)["images_sha256"] != read_meta(folder)["images_sha256"]
    shorter = corrupted_split(_tiny(0, n=5), folder, dataset="digits", corruptions=("contrast",), progress=False)
    assert shorter not in (folder, other)
    assert corrupted_split(_tiny(1), folder, dataset="digits", corruptions=("contrast",), progress=False) == other


def test_a_set_of_unknown_origin_is_not_taken_for_this_one(tmp_path: Path) -> None:
    folder = tmp_path / "digits-c"
    folder.mkdir()
    (folder / "labels.npy").write_bytes(b"made by something else")
    (folder / "contrast.npy").write_bytes(b"made by something else")
    found = corrupted_split(_tiny(0), folder, dataset="digits", corruptions=("contrast",), progress=False)
    assert found != folder and (found / "contrast.npy").stat().st_size > 100
    assert (folder / "labels.npy").read_bytes() == b"made by something else"
