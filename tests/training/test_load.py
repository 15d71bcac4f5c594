"""`ews.training.load`: one way to load a trained model, a checkpoint and its export alike, its config read once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

import ews.training.load as load_module
from ews.config import load_config
from ews.data.splits import evaluation_split
from ews.errors import CheckpointError, DataError
from ews.models.external import NORMALIZATIONS
from ews.runs.checkpoint import save_checkpoint
from ews.training.build import build_model
from ews.training.export import export_checkpoint
from ews.training.load import ExternalModel, LoadedModel, load_model, read_trained

SETTINGS = ["data.name=digits", "data.limit=60", "model.options.width=4", "adversarial.eps=0.01", "adversarial.norm=l2"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run's checkpoint as training writes one (config and weights), without training."""
    config = load_config(overrides=SETTINGS)
    torch.manual_seed(0)
    _, info = load_module.split_with_info(config, "test")
    model = build_model(config, info)
    path = tmp_path_factory.mktemp("load") / "run" / "checkpoint.pt"
    path.parent.mkdir()
    save_checkpoint(path, {"config": config.to_dict(), "model": model.state_dict(), "epoch": 1})
    return path


@pytest.fixture(scope="module")
def exported(checkpoint: Path) -> Path:
    out = checkpoint.parent / "model.safetensors"
    export_checkpoint(checkpoint, out)
    return out


def _counting_config_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return load_config(*args, **kwargs)

    monkeypatch.setattr(load_module, "load_config", counted)
    return calls


@pytest.mark.parametrize("split", ["test", "val"])
def test_a_checkpoint_and_its_export_load_as_the_same_model(checkpoint: Path, exported: Path, split: str) -> None:
    overrides = ["data.val_images=20"] if split == "val" else []
    a, b = (load_model(path, split=split, overrides=overrides) for path in (checkpoint, exported))
    assert isinstance(a, LoadedModel) and (a.checkpoint, b.checkpoint) == (checkpoint, exported)
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(a.model(x), b.model(x))
    assert not a.model.training and not b.model.training
    assert a.normalization == b.normalization == (a.info.mean, a.info.std)
    assert a.info == b.info and a.split == b.split == split
    assert a.config.data == b.config.data and a.config.data.name == "digits"
    assert a.attack_defaults() == b.attack_defaults() == {"eps": 0.01, "norm": "l2"}
    expected = evaluation_split(a.config, split)
    assert len(a.test_set) == len(b.test_set) == len(expected)
    assert [int(a.test_set[i][1]) for i in range(len(expected))] == [int(expected[i][1]) for i in range(len(expected))]


@pytest.mark.parametrize("which", ["checkpoint", "exported"])
def test_the_config_is_read_once(checkpoint: Path, exported: Path, which: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_config_reads(monkeypatch)
    loaded = load_model(checkpoint if which == "checkpoint" else exported, overrides=["data.limit=30"])
    assert len(calls) == 1 and loaded.config.data.limit == 30  # the overrides applied to the stored config


def test_an_external_model_reads_the_config_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    save_file(net.state_dict(), str(tmp_path / "resnet18.safetensors"))
    calls = _counting_config_reads(monkeypatch)
    external = ExternalModel("torchvision:resnet18", tmp_path / "resnet18.safetensors", "cifar10", "digits",
                             ("data.limit=40",))
    loaded = load_model(external)
    assert len(calls) == 1 and loaded.normalization == NORMALIZATIONS["cifar10"] and len(loaded.test_set) == 40
    x = torch.rand(2, 3, 32, 32)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in NORMALIZATIONS["cifar10"])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net((x - mean) / std))


def test_a_caller_that_needs_the_training_state_is_refused_an_export(exported: Path) -> None:
    with pytest.raises(CheckpointError, match=f"checkpoint {exported}"):
        read_trained(exported, kind="checkpoint")


def test_an_external_model_without_its_weights_file_is_refused_before_the_dataset_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_module, "split_with_info", lambda *args, **kwargs: pytest.fail("the dataset was read"))
    missing = tmp_path / "resnet18.pt"
    with pytest.raises(DataError, match=re.escape(f"--weights {missing} does not exist")):
        load_model(ExternalModel("torchvision:resnet18", missing, "imagenet", "digits"))
