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
