"""Bad files given to `ews`: one line naming the file and the problem, exit 2, nothing written or overwritten."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ews.runs.checkpoint import FORMAT_VERSION, load_checkpoint
from ews.cli import main

from .data.fake_imagefolder import write_imagefolder

TINY = ["data.limit=120", "train.epochs=1", "log.progress=false", "model.options.width=4", "train.batch_size=32"]
TINY_ARGS = [arg for item in TINY for arg in ("--set", item)]


def error_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one stderr line of `ews ARGV`, which must exit 2."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ews: error: "), lines
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-input") / "run"
    assert main(["train", "--out", str(out), *TINY_ARGS]) == 0
    return out


# --- CIFAR-10-C style folders given to ews eval --------------------------------------------------


def _corruption_folder(root: Path, *, n: int = 4) -> Path:
    folder = root / "C"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.save(folder / "fog.npy", rng.integers(0, 256, size=(5 * n, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "labels.npy", np.tile(np.arange(n), 5))
    return folder


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "named", "problem"),
    [
        (_truncate, "fog.npy", "is not a readable .npy file (truncated or corrupt?)"),
        (lambda folder: np.save(folder / "fog.npy", np.zeros((20, 32, 32), np.uint8)), "fog.npy",
         "has shape (20, 32, 32) (3 dims), expected uint8 (5 * N, H, W, 3)"),
        (lambda folder: np.save(folder / "labels.npy", np.zeros(7, np.int64)), "fog.npy",
         "has 20 images but"),
    ],
    ids=["truncated", "wrong-shape", "labels-length"],
)
def test_bad_corruption_files_are_named_before_anything_is_written(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage, named: str, problem: str
) -> None:
    folder = _corruption_folder(tmp_path)
    damage(folder / "fog.npy" if damage is _truncate else folder)
    out = tmp_path / "eval"
    message = error_of(capsys, ["eval", "--checkpoint", str(finished_run / "checkpoint.pt"), "--corruptions",
                                str(folder), "--out", str(out), "--no-progress"])
    assert str(folder / named) in message and problem in message
    if "labels" in problem or "images but" in problem:
        assert "labels.npy has 7 labels" in message
    assert not out.exists()


# --- ImageFolder data given to ews train ----------------------------------------------------------


def _train_imagefolder(root: Path, out: Path) -> list[str]:
    return ["train", "--out", str(out), "--set", "data.name=imagefolder", "--set", f"data.root={root}",
            "--set", "data.augment=none", "--set", "model.options.width=2", "--set", "train.epochs=1",
            "--set", "log.progress=false", "--set", "method=vanilla"]


def test_an_image_folder_without_images_names_it_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "data" / "val" / "cat").mkdir(parents=True)
    out = tmp_path / "run"
    message = error_of(capsys, _train_imagefolder(tmp_path / "data", out))
    assert f"imagefolder split {tmp_path / 'data' / 'train'} has no images" in message
    assert not out.exists()


def test_an_image_that_does_not_decode_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_imagefolder(tmp_path / "data")
    bad = root / "train" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)
    out = tmp_path / "run"
    message = error_of(capsys, _train_imagefolder(root, out))
    assert f"image {bad} could not be decoded" in message
    assert not (out / "checkpoint.pt").exists() and not (out / ".lock").exists()


# --- checkpoints that do not fit --------------------------------------------------------------------


def _altered(finished_run: Path, tmp_path: Path, change) -> Path:
    """A copy of the run folder whose checkpoint went through `change(payload)`."""
    folder = tmp_path / "altered"
    folder.mkdir()
    (folder / "config.yaml").write_bytes((finished_run / "config.yaml").read_bytes())
    payload = load_checkpoint(finished_run / "checkpoint.pt")
    change(payload)
    torch.save(payload, folder / "checkpoint.pt")
    return folder


def _five_classes(payload: dict) -> None:
    """As if trained on 5 classes: the classifier's rows past the fifth are gone."""
    for key, value in payload["model"].items():
        if value.ndim >= 1 and value.shape[0] == 10 and key.split(".")[-1] in ("weight", "bias"):
            payload["model"][key] = value[:5].clone()


@pytest.mark.parametrize("command", ["eval", "resume"])
def test_a_checkpoint_of_another_number_of_classes_is_named(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    folder = _altered(finished_run, tmp_path, _five_classes)
    before = snapshot(folder)
    argv = (["eval", "--checkpoint", str(folder / "checkpoint.pt"), "--out", str(tmp_path / "eval")]
            if command == "eval" else ["train", "--out", str(folder), "--resume", "--set", "train.epochs=2"])
    message = error_of(capsys, argv)
    assert f"checkpoint {folder / 'checkpoint.pt'} does not fit" in message
    assert "fc.weight has shape (5, 16) in the checkpoint but (10, 16) in the model" in message
    assert snapshot(folder) == before and not (tmp_path / "eval").exists()


@pytest.mark.parametrize("command", ["eval", "resume", "export"])
def test_a_checkpoint_of_a_newer_format_asks_for_an_upgrade(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    folder = _altered(finished_run, tmp_path, lambda payload: payload.update(format_version=FORMAT_VERSION + 1))
    before = snapshot(folder)
    checkpoint = str(folder / "checkpoint.pt")
    argv = {"eval": ["eval", "--checkpoint", checkpoint, "--out", str(tmp_path / "eval")],
            "resume": ["train", "--out", str(folder), "--resume", "--set", "train.epochs=2"],
            "export": ["export", "--checkpoint", checkpoint, "--out", str(tmp_path / "m.safetensors")]}[command]
    message = error_of(capsys, argv)
    assert message == (f"ews: error: checkpoint {checkpoint} has format version {FORMAT_VERSION + 1}; "
                       f"this ews reads up to {FORMAT_VERSION}: upgrade ews")
    assert snapshot(folder) == before and [p.name for p in tmp_path.iterdir()] == ["altered"]
