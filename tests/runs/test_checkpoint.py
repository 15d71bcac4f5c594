"""Checkpoints are written atomically and never execute code when loaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ews.runs.checkpoint import FORMAT_VERSION, atomic_write_bytes, load_checkpoint, save_checkpoint
from ews.errors import CheckpointError


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_round_trip_of_tensors_and_plain_data(tmp_path: Path) -> None:
    payload = {"epoch": 3, "model": {"w": torch.arange(4.0)}, "rng": torch.get_rng_state(), "config": {"a": [1, "b"]}}
    save_checkpoint(tmp_path / "c.pt", payload)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded["format_version"] == FORMAT_VERSION
    assert loaded["epoch"] == 3 and loaded["config"] == {"a": [1, "b"]}
    assert torch.equal(loaded["model"]["w"], torch.arange(4.0))


def test_a_checkpoint_carrying_a_pickled_callable_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"format_version": 1, "model": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert "\n" not in str(info.value) and str(tmp_path / "evil.pt") in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "could not be read"), (b"not a checkpoint at all", "could not be read")],
)
def test_torn_or_foreign_files_get_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "c.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "c.pt")


def test_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.randn(1000)}})
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(tmp_path / "c.pt")


def test_newer_format_and_non_ews_files_are_refused(tmp_path: Path) -> None:
    torch.save({"format_version": FORMAT_VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="upgrade ews"):
        load_checkpoint(tmp_path / "new.pt")
    torch.save({"model": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an ews checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_failed_write_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "c.pt"
    save_checkpoint(target, {"epoch": 1})

    class Boom:
        def __reduce__(self):
            raise OSError("disk full")

    with pytest.raises(Exception):
        save_checkpoint(target, {"epoch": 2, "x": Boom()})
    assert load_checkpoint(target)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
