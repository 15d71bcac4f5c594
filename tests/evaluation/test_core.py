"""`ews.evaluate(module, ...)`: any nn.Module scored in one call, under the conventions papers report."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import TensorDataset

import ews
from ews.errors import ConfigError, DataError
from ews.corruptions import names
from ews.evaluation import EvalData, EvaluationResult, Request, evaluate


class Constant(nn.Module):
    """Always predicts class `label`: its errors are known without training."""

    def __init__(self, label: int, classes: int = 10) -> None:
        super().__init__()
        self.label, self.classes = label, classes
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), self.classes, device=x.device) + 0 * self.scale * x.mean()
        logits[:, self.label] = 1.0
        return logits


def _dataset(labels: list[int], size: int = 8) -> TensorDataset:
    torch.manual_seed(0)
    return TensorDataset(torch.rand(len(labels), 3, size, size), torch.tensor(labels))


def test_a_torchvision_model_is_scored_in_one_call_with_a_json_result() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    result = ews.evaluate(model, dataset="digits", limit=50, attacks=["pgd20"], n_examples=12, device="cpu")
    assert isinstance(result, EvaluationResult)
    blob = json.loads(result.to_json())
    assert set(result.errors) == {"clean", "pgd20"} and blob["clean_error"] == result.errors["clean"]
    assert blob["settings"]["n_examples"] == 12 and blob["settings"]["images"] == 50
    assert blob["eps"] == pytest.approx(8 / 255) and blob["norm"] == "linf"  # CIFAR-sized: the field's radius
    assert result.errors["pgd20"] >= blob["adv_clean_error"]


def test_errors_are_exact_on_a_model_with_known_answers() -> None:
    data = _dataset([0, 0, 1, 2])
    result = evaluate(Constant(0), data, num_classes=10, device="cpu")
    assert result.errors == {"clean": 50.0}
    assert result.settings["images"] == 4 and result.settings["dataset"] == "TensorDataset"


def test_normalize_wraps_the_model_with_the_statistics_it_expects() -> None:
    seen: list[torch.Tensor] = []

    class Spy(Constant):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return super().forward(x)

    data = TensorDataset(torch.full((2, 3, 4, 4), 0.5), torch.tensor([0, 0]))
    evaluate(Spy(0), data, num_classes=10, normalize=((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), device="cpu")
    assert all(torch.equal(x, torch.zeros_like(x)) for x in seen)


@pytest.mark.parametrize("name, size, expected", [
    ("linf", 32, {"attacks": ("pgd20", "autoattack"), "norm": "linf", "eps": 8 / 255}),
    ("l2", 32, {"attacks": ("pgd20", "autoattack"), "norm": "l2", "eps": 0.5}),
    ("linf", 224, {"attacks": ("pgd20", "autoattack"), "norm": "linf", "eps": 4 / 255}),
    ("corruptions", 32, {"attacks": ("pgd20",), "corruptions": "digits-c", "corruption_names": names.BENCHMARK}),
])
def test_the_threat_model_fixes_the_attack_and_its_radius(name: str, size: int, expected: dict) -> None:
    data = EvalData("digits", _dataset([0]), 10, size)
    request = Request(threat_model=name, attacks=("pgd20",)).under_threat_model(data)
    assert {key: getattr(request, key) for key in expected} == expected


def test_a_threat_model_measures_standard_autoattack_only() -> None:
    with pytest.raises(ConfigError, match="standard AutoAttack"):
        evaluate(Constant(0), _dataset([0, 1]), num_classes=10, threat_model="linf", autoattack_version="custom",
                 autoattack_attacks=["apgd-ce"], device="cpu")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"threat_model": "linf", "eps": 4 / 255}, ConfigError, r"--eps 4/255 does not match --threat-model linf.*8/255"),
    ({"threat_model": "l2", "norm": "linf"}, ConfigError, "contradicts"),
    ({"threat_model": "corruptions", "eps": 0.1}, ConfigError, "takes no --eps"),
    ({"threat_model": "l1"}, ConfigError, "not one of linf, l2, corruptions"),
    ({"attacks": ["fgsm"]}, ConfigError, "unknown attack 'fgsm'"),
    ({"n_examples": 0}, ConfigError, "--n-examples must be an integer >= 1"),
    ({"perturbations": "/no/such/folder"}, DataError, "does not exist"),
])
def test_bad_requests_fail_in_one_line_before_the_model_runs(kwargs, error, message) -> None:
    calls: list[int] = []

    class Counting(Constant):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(1)
            return super().forward(x)

    with pytest.raises(error, match=message) as caught:
        evaluate(Counting(0), _dataset([0, 1]), num_classes=10, device="cpu", **kwargs)
    assert "\n" not in str(caught.value) and not calls


def test_an_unknown_measurement_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="no argument 'atacks'; measurements: threat_model, corruptions"):
        evaluate(Constant(0), _dataset([0, 1]), num_classes=10, atacks=["pgd20"], device="cpu")


def test_a_model_with_the_wrong_number_of_classes_is_refused_before_scoring() -> None:
    with pytest.raises(ConfigError, match="returns 5 outputs but TensorDataset has 10 classes"):
        evaluate(Constant(0, classes=5), _dataset([0, 1]), num_classes=10, attacks=["pgd20"], device="cpu")


def test_a_model_that_does_not_return_batch_by_class_logits_is_refused() -> None:
    class Flat(Constant):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x)[0]

    with pytest.raises(ConfigError, match=r"shape \(10,\) for one image; expected \(batch, classes\)"):
        evaluate(Flat(0), _dataset([0, 1]), num_classes=10, device="cpu")


def test_inputs_outside_the_unit_range_need_normalize() -> None:
    data = TensorDataset(torch.randn(4, 3, 8, 8) * 3, torch.tensor([0, 1, 0, 1]))
    with pytest.raises(DataError, match=r"not \[0, 1\].*normalize="):
        evaluate(Constant(0), data, num_classes=10, device="cpu")


def test_a_dataset_object_needs_its_class_count() -> None:
    with pytest.raises(ConfigError, match="num_classes"):
        evaluate(Constant(0), _dataset([0, 1]), device="cpu")


def test_a_generated_corruption_set_is_scored_and_the_scratch_folder_removed(tmp_path) -> None:
    result = evaluate(Constant(3), "digits", limit=20, corruptions="digits-c", severities=[1],
                      corruption_names=("gaussian_noise", "fog"), cache=tmp_path, device="cpu")
    assert set(result.corruptions) == {"gaussian_noise", "fog"}
    assert (tmp_path / "digits-c" / "fog.npy").is_file()
    assert result.errors["clean"] == pytest.approx(90.0)  # 20 stratified digits, 2 of class 3
