"""Distribution-shift sets scored by their conventions: subset logits for ImageNet-R, 3DCC's 12-corruption mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ews.corruptions import names
from ews.errors import ConfigError
from ews.evaluation import evaluate
from ews.evaluation.report import benchmark_rows

from ..corruptions.synthetic import write_imagenet_c
from ..data.fake_shifts import write_cifar10_1, write_class_folders


class Ranked(nn.Module):
    """Logits that rank the classes in a fixed order, the same for every image."""

    def __init__(self, order: list[int], classes: int) -> None:
        super().__init__()
        logits = torch.zeros(classes)
        logits[order] = torch.linspace(len(order), 1, len(order))
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)


def _images(classes: int) -> TensorDataset:
    """Two [0, 1] images of a dataset `ews` does not know: shift sets are matched to it by class count."""
    return TensorDataset(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))


def test_cifar10_1_is_scored_on_all_its_images(tmp_path: Path) -> None:
    _, labels = write_cifar10_1(tmp_path / "c101", "v6", 20)
    result = evaluate(Ranked([0], 10), _images(10), num_classes=10, shifts={"cifar10.1": tmp_path / "c101"},
                      device="cpu")
    entry = result.metrics["shifts"]["cifar10.1-v6"]
    assert entry["images"] == 20 and entry["error"] == pytest.approx(100 * (labels != 0).mean())
    assert result.errors["cifar10.1-v6"] == entry["error"]


def test_imagenet_r_restricts_the_logits_to_its_200_classes(tmp_path: Path) -> None:
    pytest.importorskip("timm")
    from ews.data.shifts.wnids import imagenet_wnids, subset_wnids

    wnids = subset_wnids("imagenet_r")
    indices = [imagenet_wnids().index(w) for w in wnids]
    write_class_folders(tmp_path / "r", wnids)
    outside = next(i for i in range(1000) if i not in indices)
    model = Ranked([outside, indices[5]], 1000)  # first choice outside the 200; among them, label 5
    images = torch.utils.data.TensorDataset(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    result = evaluate(model, images, num_classes=1000, shifts={"imagenet-r": tmp_path / "r"}, device="cpu")
    entry = result.metrics["shifts"]["imagenet-r"]
    assert entry["images"] == 200 and entry["error"] == pytest.approx(100 * 199 / 200)  # not 100: restricted
    assert "200" in entry["convention"]


def test_imagenet_3dcc_reports_the_mean_over_its_12_corruptions(tmp_path: Path) -> None:
    root = write_imagenet_c(tmp_path / "3dcc", {name: {1: {"n01": [0.1], "n02": [0.2]}} for name in names.IMAGENET_3DCC})
    images = torch.utils.data.TensorDataset(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    result = evaluate(Ranked([0], 2), images, num_classes=2, shifts={"imagenet-3dcc": root}, severities=[1],
                      device="cpu")
    entry = result.metrics["shifts"]["imagenet-3dcc"]
    assert entry["error"] == pytest.approx(50.0) and set(entry["corruptions"]) == set(names.IMAGENET_3DCC)
    row = next(r for r in benchmark_rows(json.loads(result.to_json())) if r[0] == "imagenet-3dcc")
    assert "Kar et al." in row[3] and "no mCE" in row[3]


def test_an_unknown_set_or_a_wrong_layout_fails_before_scoring(tmp_path: Path) -> None:
    images = torch.utils.data.TensorDataset(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="unknown shift set 'imagenet-x' in shifts=; allowed: cifar10.1"):
        evaluate(Ranked([0], 10), images, num_classes=10, shifts={"imagenet-x": tmp_path}, device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="cifar10.1") as caught:
        evaluate(Ranked([0], 10), images, num_classes=10, shifts={"cifar10.1": tmp_path / "empty"}, device="cpu")
    assert "\n" not in str(caught.value)


class Counting(Ranked):
    """`Ranked`, counting its forward passes: a refusal before any work leaves `calls` at 0."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().forward(x)


@pytest.mark.parametrize("dataset, classes, shift, fragments", [
    ("digits", 10, "cifar10.1", ["shift set 'cifar10.1' (shifts=) is a test set for CIFAR-10 models (10 classes); "
                                 "this model is scored on digits (10 classes)"]),
    ("cifar100", 100, "cifar10.2", ["'cifar10.2' (shifts=)", "CIFAR-10 models (10 classes)", "cifar100 (100 classes)"]),
    ("user", 5, "cifar10.1", ["CIFAR-10 models (10 classes)", "scored on TensorDataset (5 classes)"]),
    ("user", 10, "imagenet-r", ["'imagenet-r'", "ImageNet models (1000 classes)", "TensorDataset (10 classes)"]),
    ("digits", 10, "imagenet-3dcc", ["'imagenet-3dcc' (shifts=) is a test set for ImageNet models; this model is "
                                     "scored on digits"]),
])
def test_a_shift_set_of_another_dataset_is_refused_before_anything_is_read(
        tmp_path: Path, dataset: str, classes: int, shift: str, fragments: list[str]) -> None:
    kwargs: dict = {"num_classes": classes} if dataset == "user" else {"limit": 20}
    if dataset == "cifar100":
        from ..data.fake_cifar import write_cifar100

        write_cifar100(tmp_path)
        kwargs = {"root": tmp_path}
    model = Counting([0], classes)
    data = _images(classes) if dataset == "user" else dataset
    with pytest.raises(ConfigError) as caught:  # the set's folder does not exist: it is never looked at
        evaluate(model, data, shifts={shift: tmp_path / "absent"}, device="cpu", **kwargs)
    message = str(caught.value)
    assert all(fragment in message for fragment in fragments), message
    assert "\n" not in message and model.calls == 0


def test_ews_eval_refuses_a_shift_set_of_another_dataset_and_scores_its_own(tmp_path: Path, monkeypatch,
                                                                             capsys) -> None:
    from ews.cli import main

    from ..data.fake_cifar import write_cifar10
    from .test_files import CONSTANT_NET

    (tmp_path / "constant_net.py").write_text(CONSTANT_NET)  # always class 9
    monkeypatch.chdir(tmp_path)  # `constant_net:build` is found in the current folder, as `python -m` finds it
    torch.save({"bias": torch.arange(10, dtype=torch.float32)}, tmp_path / "w.pt")  # its one parameter
    _, labels = write_cifar10_1(tmp_path / "c101", "v6", 12)
    common = ["eval", "--model", "constant_net:build", "--weights", "w.pt", "--normalize", "none", "--no-progress",
              "--shift", "cifar10.1=c101", "--device", "cpu"]
    assert main([*common, "--dataset", "digits", "--set", "data.limit=30", "--out", "digits-eval"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("shift set 'cifar10.1' (--shift) is a test set for CIFAR-10 models "
                                             "(10 classes); this model is scored on digits (10 classes)"), err
    assert not (tmp_path / "digits-eval").exists()
    write_cifar10(tmp_path / "data", per_batch=10)
    assert main([*common, "--dataset", "cifar10", "--set", "data.root=data", "--out", "cifar-eval"]) == 0
    results = json.loads((tmp_path / "cifar-eval" / "eval.json").read_text())
    assert results["shifts"]["cifar10.1-v6"]["error"] == pytest.approx(100 * (labels != 9).mean())
    report = (tmp_path / "cifar-eval" / "eval.md").read_text()
    assert "| cifar10.1-v6 |" in report and "Recht" in report
