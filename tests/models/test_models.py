"""Every registered model builds, runs forward/backward, and normalises its own input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ews import models
from ews.errors import ConfigError
from ews.models import Normalize, PathBlock

from ..conftest import tiny_model


def test_forward_backward_shape_finite_and_every_parameter_gets_a_gradient(model_name: str) -> None:
    model = tiny_model(model_name, num_classes=7)
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no/invalid gradient for {missing[:5]}"


def test_every_model_starts_with_its_own_normalize(model_name: str) -> None:
    model = tiny_model(model_name)
    first = next(m for m in model.modules() if m is not model)
    assert isinstance(first, Normalize)
    assert "normalize.mean" in model.state_dict() and "normalize.std" in model.state_dict()


def test_every_model_is_made_of_residual_blocks(model_name: str) -> None:
    model = tiny_model(model_name)
    assert sum(isinstance(m, PathBlock) for m in model.modules()) >= 3


def test_normalize_standardises_per_channel() -> None:
    norm = Normalize((0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    x = torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(norm(x), torch.zeros(1, 3, 2, 2))


def test_unknown_model_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="resnet18"):
        models.create("resnet1000", num_classes=10)


@pytest.mark.parametrize(("options", "message"), [
    ({"heads": 5}, r"^model option heads=5 must divide the width dim=96 .*allowed with dim=96: 1, 2, 3, 4, 6, 8, 12, "),
    ({"heads": 0}, r"^model option heads=0 must be a positive integer$"),
    ({"patch": 5}, r"^model option patch=5 must divide image_size=32; allowed: 1, 2, 4, 8, 16, 32$"),
    ({"dim": 8, "mlp_ratio": 0.0}, r"^model option mlp_ratio=0.0 must be a number with dim \* mlp_ratio >= 1$"),
])
def test_a_vit_shape_that_cannot_be_built_is_one_config_error(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        models.create("vit_cifar", num_classes=10, **options)
    assert "\n" not in str(error.value)


def test_every_registered_model_is_in_the_models_page() -> None:
    """docs/models.md's table is where users look a `model.name` up: a factory missing there is invisible."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    assert [name for name in models.list_models() if f"`{name}`" not in page] == []


def test_paper_sizes_are_the_published_architectures() -> None:
    """Parameter counts of the full-size models match the well-known figures."""
    counts = {
        name: sum(p.numel() for p in models.create(name, num_classes=10).parameters()) / 1e6
        for name in ("resnet18", "preact_resnet18", "wrn28_10", "resnet20")
    }
    assert counts["resnet18"] == pytest.approx(11.17, abs=0.01)
    assert counts["preact_resnet18"] == pytest.approx(11.17, abs=0.01)
    assert counts["wrn28_10"] == pytest.approx(36.48, abs=0.01)
    assert counts["resnet20"] == pytest.approx(0.27, abs=0.005)


def test_torchvision_adapter_keeps_torchvision_state_dict_keys() -> None:
    import torchvision

    reference = torchvision.models.resnet18(weights=None, num_classes=10)
    adapted = models.create("tv_resnet18", num_classes=10)
    adapted.net.load_state_dict(reference.state_dict())
    reference.eval(), adapted.eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(adapted(x), reference((x - adapted.normalize.mean) / adapted.normalize.std), atol=1e-5)
