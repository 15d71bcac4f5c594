"""Distribution-shift sets scored by their conventions: subset logits for ImageNet-R, 3DCC's 12-corruption mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

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


def test_cifar10_1_is_scored_on_all_its_images(tmp_path: Path) -> None:
    _, labels = write_cifar10_1(tmp_path / "c101", "v6", 20)
    result = evaluate(Ranked([0], 10), "digits", limit=20, shifts={"cifar10.1": tmp_path / "c101"}, device="cpu")
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
    with pytest.raises(ConfigError, match="unknown shift set 'imagenet-x'; allowed: cifar10.1"):
        evaluate(Ranked([0], 10), images, num_classes=10, shifts={"imagenet-x": tmp_path}, device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="cifar10.1") as caught:
        evaluate(Ranked([0], 10), images, num_classes=10, shifts={"cifar10.1": tmp_path / "empty"}, device="cpu")
    assert "\n" not in str(caught.value)
