"""`ews export`: weights-only safetensors that load back into the same network and never run code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from ews import __version__
from ews.runs.checkpoint import load_checkpoint
from ews.cli import main
from ews.errors import CheckpointError
from ews.evaluation import load_trained
from ews.training.export import load_exported, read_exported

TINY = ["data.limit=120", "train.epochs=1", "log.progress=false", "model.options.width=4", "train.batch_size=32"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["train", "--out", str(out), *[a for t in TINY for a in ("--set", t)]]) == 0
    return out


@pytest.fixture(scope="module")
def exported(run: Path) -> Path:
    out = run.parent / "model.safetensors"
    assert main(["export", "--checkpoint", str(run / "checkpoint.pt"), "--out", str(out)]) == 0
    return out


def test_export_loads_back_into_the_same_network(run: Path, exported: Path) -> None:
    model = load_exported(exported)
    trained = load_trained(run / "checkpoint.pt", device=torch.device("cpu"))
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), trained.model(x))
    weights = load_checkpoint(run / "checkpoint.pt")["model"]
    assert set(read_exported(exported)["model"]) == set(weights)


def test_export_metadata_says_what_the_network_is_and_where_it_came_from(exported: Path) -> None:
    metadata = read_exported(exported)["metadata"]
    assert metadata["format"] == "ews-weights/1" and metadata["model"] == "resnet20"
    assert metadata["num_classes"] == "10" and metadata["ews_version"] == __version__
    assert len(json.loads(metadata["mean"])) == 3 and len(json.loads(metadata["std"])) == 3
    assert json.loads(metadata["config"])["model"]["options"] == {"width": 4}


def test_eval_reads_an_export_like_a_checkpoint(run: Path, exported: Path, tmp_path: Path) -> None:
    assert main(["eval", "--checkpoint", str(run / "checkpoint.pt"), "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert main(["eval", "--checkpoint", str(exported), "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    a, b = (json.loads((tmp_path / name / "eval.json").read_text()) for name in "ab")
    assert a["clean_error"] == b["clean_error"]


def test_an_existing_out_is_kept_without_overwrite(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"keep me")
    assert main(["export", "--checkpoint", str(run / "checkpoint.pt"), "--out", str(out)]) == 2
    assert f"--out {out} already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["export", "--checkpoint", str(run / "checkpoint.pt"), "--out", str(out), "--overwrite"]) == 0
    load_exported(out)


class _RunsCode:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_exporting_a_checkpoint_whose_pickle_would_run_code_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"format_version": 1, "model": _RunsCode(f"touch {marker}")}, evil)
    assert main(["export", "--checkpoint", str(evil), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert f"checkpoint {evil} refused" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "m.safetensors").exists()


def test_foreign_or_damaged_safetensors_are_refused(exported: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match=f"checkpoint {foreign} is not an ews export"):
        load_exported(foreign)
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(exported.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=f"checkpoint {torn} is not a readable safetensors file"):
        load_exported(torn)
