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


class Counting(Constant):
    """`Constant`, counting its forward passes: a refusal before any work leaves `calls` empty."""

    def __init__(self, label: int, classes: int = 10) -> None:
        super().__init__(label, classes)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().forward(x)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"threat_model": "linf", "eps": 4 / 255}, ConfigError,
     r"eps='4/255' does not match threat_model='linf'.*8/255.*drop threat_model="),
    ({"threat_model": "l2", "norm": "linf"}, ConfigError, "norm='linf' contradicts threat_model='l2'"),
    ({"threat_model": "corruptions", "eps": 0.1}, ConfigError, "takes no eps= or norm="),
    ({"threat_model": "l1"}, ConfigError, "threat_model='l1' is not one of linf, l2, corruptions"),
    ({"attacks": ["fgsm"]}, ConfigError, "unknown attack 'fgsm' in attacks=; allowed: pgd20, autoattack"),
    ({"attacks": "pgd20,fgsm"}, ConfigError, "unknown attack 'fgsm'"),
    ({"n_examples": 0}, ConfigError, "n_examples= must be an integer >= 1"),
    ({"batch_size": "64"}, ConfigError, "batch_size= must be an integer >= 1, got '64'"),
    ({"eps": "eight"}, ConfigError, "eps= must be a finite number >= 0 or a fraction such as 8/255, got 'eight'"),
    ({"eps": -0.1}, ConfigError, "eps= must be a finite number >= 0"),
    ({"norm": "L2"}, ConfigError, "norm= must be one of linf, l2, got 'L2'"),
    ({"autoattack_attacks": ["apgd-ce"]}, ConfigError, "autoattack_attacks= .*autoattack_version='custom'"),
    ({"threat_model": "linf", "autoattack_version": "plus"}, ConfigError, "drop autoattack_version='plus'"),
    ({"shifts": [("cifar10.1", "data")]}, ConfigError, "shifts= takes a mapping of set name to folder"),
    ({"shifts": {"cifar10.3": "data"}}, ConfigError, "unknown shift set 'cifar10.3' in shifts=; allowed"),
    ({"perturbations": "/no/such/folder"}, DataError, "perturbations='/no/such/folder' does not exist"),
    ({"normalize": "bgr"}, ConfigError, "normalize='bgr' is not one of imagenet, cifar10"),
])
def test_bad_requests_fail_in_one_line_naming_the_python_argument(kwargs, error, message) -> None:
    model = Counting(0)
    with pytest.raises(error, match=message) as caught:
        evaluate(model, _dataset([0, 1]), num_classes=10, device="cpu", **kwargs)
    assert "\n" not in str(caught.value) and not model.calls
    assert "--" not in str(caught.value)  # a Python caller has no flags


def test_eps_and_attacks_are_taken_as_the_command_line_writes_them() -> None:
    request = Request(eps="8/255", attacks="pgd20", autoattack_attacks="apgd-ce, apgd-t", corruption_names="fog")
    assert request.eps == pytest.approx(8 / 255) and request.attacks == ("pgd20",)
    assert request.autoattack_attacks == ("apgd-ce", "apgd-t") and request.corruption_names == ("fog",)
    result = evaluate(Constant(0), _dataset([0, 1, 0, 1]), num_classes=10, eps="2/255", attacks="pgd20",
                      device="cpu")
    assert result.metrics["eps"] == pytest.approx(2 / 255) and result.settings["attacks"] == ["pgd20"]
    assert result.errors["pgd20"] >= result.errors["clean"] == 50.0


def test_an_unknown_measurement_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="no argument 'atacks'; measurements: threat_model, corruptions"):
        evaluate(Constant(0), _dataset([0, 1]), num_classes=10, atacks=["pgd20"], device="cpu")


def test_a_model_with_the_wrong_number_of_classes_is_refused_before_scoring() -> None:
    with pytest.raises(ConfigError, match="returns 5 outputs but TensorDataset has 10 classes"):
        evaluate(Constant(0, classes=5), _dataset([0, 1]), num_classes=10, attacks=["pgd20"], device="cpu")


def test_a_normalization_for_other_channels_is_refused_before_scoring() -> None:
    with pytest.raises(ConfigError, match=r"normalize= has 2 means and 2 stds but TensorDataset images have 3 channels"):
        evaluate(Constant(0), _dataset([0, 1]), num_classes=10, normalize=((0.5, 0.5), (0.2, 0.2)), device="cpu")


def test_a_model_that_cannot_take_the_images_fails_in_one_line() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(100, 10))  # expects 100 values, gets 3 x 8 x 8
    with pytest.raises(ConfigError, match=r"the model fails on one TensorDataset image of shape \(3, 8, 8\): mat1") \
            as caught:
        evaluate(model, _dataset([0, 1]), num_classes=10, device="cpu")
    assert "\n" not in str(caught.value)


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


def test_later_images_out_of_range_are_refused_before_the_model_runs() -> None:
    images = torch.rand(40, 3, 8, 8)
    images[20:] *= 255  # the second half stored as 0..255 floats
    model = Counting(0)
    with pytest.raises(DataError, match=r"TensorDataset image 21: pixels span \[.*\], not \[0, 1\]") as caught:
        evaluate(model, TensorDataset(images, torch.zeros(40, dtype=torch.long)), num_classes=10, device="cpu")
    assert "\n" not in str(caught.value) and not model.calls


def test_one_image_out_of_range_between_the_sampled_ones_is_refused_as_it_streams() -> None:
    images = torch.rand(40, 3, 8, 8)
    images[33] *= 255  # 40 images: the 16 sampled up front are 0, 3, 5, ..., 31, 34, 36, 39
    model = Counting(0)
    with pytest.raises(DataError, match=r"TensorDataset images 32\.\.39: pixels span .*not \[0, 1\]") as caught:
        evaluate(model, TensorDataset(images, torch.zeros(40, dtype=torch.long)), num_classes=10, batch_size=8,
                 attacks=["pgd20"], device="cpu")
    assert "\n" not in str(caught.value)
    assert model.calls == 1 + 4  # the one-image check and 4 clean batches: no attack ran


@pytest.mark.parametrize("images, message", [
    (torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8),
     r"is uint8 of shape \(8, 8, 3\); .*float \(C, H, W\) images in \[0, 1\]: permute \(H, W, C\) to \(C, H, W\) "
     "and divide 0..255 by 255"),
    (torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8), r"is uint8 of shape \(3, 8, 8\);.*: divide 0..255 by 255"),
    (torch.rand(4, 8, 8, 3), r"is float32 of shape \(8, 8, 3\);.*: permute \(H, W, C\) to \(C, H, W\)"),
    (torch.randint(0, 2, (4, 3, 8, 8)), r"is int64 of shape \(3, 8, 8\);.*: convert to float in \[0, 1\]"),
    (torch.rand(4, 8, 8), r"has shape \(8, 8\); ews scores float \(C, H, W\) images"),
])
def test_images_in_another_layout_or_type_are_refused_naming_what_is_expected(images, message) -> None:
    model = Counting(0)
    with pytest.raises(DataError, match=message) as caught:
        evaluate(model, TensorDataset(images, torch.zeros(4, dtype=torch.long)), num_classes=10, device="cpu")
    assert "\n" not in str(caught.value) and not model.calls


def test_a_pil_image_dataset_is_refused_naming_the_conversion() -> None:
    from PIL import Image

    data = [(Image.new("RGB", (8, 8)), 0)]
    with pytest.raises(DataError, match="image 0 is of type PIL.Image.Image, not a tensor; .*ToDtype"):
        evaluate(Constant(0), data, num_classes=10, device="cpu")


def test_a_missing_named_dataset_says_what_works_in_python(tmp_path) -> None:
    with pytest.raises(DataError) as caught:
        evaluate(Constant(0), "cifar10", root=tmp_path, device="cpu")
    message = str(caught.value)
    assert "cifar10 folder not found" in message and "pass root=" in message and "\n" not in message
    assert "ews.data.load('cifar10', root='DIR', train=False, download=True)" in message and "--" not in message
    with pytest.raises(DataError, match="needs a folder; ews.evaluate does not download: pass root="):
        evaluate(Constant(0), "cifar100", device="cpu")


def test_a_dataset_object_needs_its_class_count() -> None:
    with pytest.raises(ConfigError, match="num_classes"):
        evaluate(Constant(0), _dataset([0, 1]), device="cpu")


def test_a_generated_corruption_set_is_scored_and_the_scratch_folder_removed(tmp_path) -> None:
    result = evaluate(Constant(3), "digits", limit=20, corruptions="digits-c", severities=[1],
                      corruption_names=("gaussian_noise", "fog"), cache=tmp_path, device="cpu")
    assert set(result.corruptions) == {"gaussian_noise", "fog"}
    assert (tmp_path / "digits-c" / "fog.npy").is_file()
    assert result.errors["clean"] == pytest.approx(90.0)  # 20 stratified digits, 2 of class 3


def test_a_generated_subset_has_the_clean_error_of_its_own_images(tmp_path) -> None:
    """RobustBench scores clean and corrupted accuracy on the same images: a -C subset gets its own clean error."""
    from ews.data import load
    from ews.data.splits import stratified_subset

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    result = evaluate(model, "digits", limit=40, corruptions="digits-c", corruption_images=10, severities=[1],
                      corruption_names=("fog",), cache=tmp_path, device="cpu")
    subset = stratified_subset(load("digits", train=False, limit=40)[0], 10, what="digits")
    alone = evaluate(model, subset, num_classes=10, device="cpu").errors["clean"]
    assert result.metrics["corruption_clean_error"] == alone and result.settings["corruption_images"] == 10
    assert result.errors["clean"] != alone  # the whole split's differs here, so the two are told apart
