"""Scoring many subnets: quantiles, confidences and errors equal a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ews.analysis.inputs import Images
from ews.analysis.scoring import quantiles, score_full, score_subnets
from ews.errors import ConfigError
from ews.subnets import SubnetSpace, use_subnet
from tests.conftest import tiny_model


def _images(n: int = 24, classes: int = 5, seed: int = 0) -> Images:
    g = torch.Generator().manual_seed(seed)
    return Images(torch.rand(n, 3, 16, 16, generator=g), torch.randint(0, classes, (n,), generator=g))


def _scored_setup(name: str, rho: float, seed: int) -> tuple[torch.nn.Module, Images, SubnetSpace, torch.Generator]:
    """A model with non-trivial running statistics, test images, its subnet space and a seeded generator."""
    model = _trained_stats(tiny_model(name))
    return model, _images(), SubnetSpace.from_model(model, rho=rho), torch.Generator().manual_seed(seed)


def _trained_stats(model: torch.nn.Module) -> torch.nn.Module:
    """Give BatchNorm non-trivial running statistics, so eval and batch modes differ."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(16, 3, 16, 16) * 2)
    return model.eval()


def test_quantiles_match_numpy() -> None:
    values = torch.rand(101, generator=torch.Generator().manual_seed(1))
    got = quantiles(values)
    for level, value in got.items():
        assert value == pytest.approx(np.quantile(values.numpy().astype(np.float64), float(level)), abs=1e-12)
    assert list(got) == ["0.0", "0.1", "0.25", "0.5", "0.75", "0.9", "1.0"]


@pytest.mark.parametrize("bn", ["eval", "batch"])
def test_subnet_scores_equal_a_direct_loop(bn: str) -> None:
    model, images, space, g = _scored_setup("resnet20", rho=0.7, seed=0)
    subnets = [space.sample(g) for _ in range(4)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = score_subnets(model, subnets, {"clean": images}, bn=bn, batch_size=10)["clean"]
    model.train(bn == "batch")
    for i, subnet in enumerate(subnets):
        with torch.no_grad(), use_subnet(model, subnet):
            # the same batches: 24 images at most 10 a batch are 3 batches of 8 (batch statistics depend on them)
            logits = torch.cat([model(x) for x in images.x.split(8)])
        probs = logits.softmax(1)[torch.arange(len(images)), images.y]
        assert scores.confidence[i].item() == pytest.approx(probs.double().mean().item(), abs=1e-6)
        error = 100 * (logits.argmax(1) != images.y).double().mean().item()
        assert scores.error[i].item() == pytest.approx(error, abs=1e-9)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed: running statistics belong to the full network"


def test_full_network_is_scored_in_eval_mode() -> None:
    model = _trained_stats(tiny_model("resnet20"))
    images = _images()
    model.train()
    full = score_full(model, {"clean": images}, batch_size=7)["clean"]
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        probs = model(images.x).softmax(1)[torch.arange(len(images)), images.y]
    assert full.confidence[0].item() == pytest.approx(probs.double().mean().item(), abs=1e-6)


@pytest.mark.parametrize("bn", ["eval", "batch"])
def test_cached_prefix_gives_identical_scores(bn: str) -> None:
    """Fig. 7's subnets keep the first blocks whole: their output is computed once, scores unchanged."""
    model, images, space, g = _scored_setup("resnet18", rho=0.5, seed=3)
    for block in (1, 5, len(space) - 1):
        subnets = [space.sample_block(block, g) for _ in range(3)]
        plain = score_subnets(model, subnets, {"x": images}, bn=bn, batch_size=8)["x"]
        cached = score_subnets(model, subnets, {"x": images}, bn=bn, batch_size=8, whole_blocks=block)["x"]
        assert torch.allclose(plain.confidence, cached.confidence, atol=1e-6)
        assert torch.equal(plain.error, cached.error)


def test_cached_prefix_refuses_subnets_that_thin_it() -> None:
    model = tiny_model("resnet20")
    space = SubnetSpace.from_model(model, rho=0.5)
    subnet = space.sample_block(0, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="whole_blocks"):
        score_subnets(model, [subnet], {"x": _images()}, whole_blocks=2)


def test_unknown_bn_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="BatchNorm mode"):
        score_subnets(tiny_model("resnet20"), [], {"x": _images()}, bn="train")


def test_repeated_subnets_are_run_once_and_scored_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    import ews.analysis.scoring as scoring

    model = _trained_stats(tiny_model("resnet20"))
    space = SubnetSpace.from_model(model, rho=0.7)
    g = torch.Generator().manual_seed(0)
    a, b = space.sample(g), space.sample(g)
    entered = []
    real = scoring.use_subnet
    monkeypatch.setattr(scoring, "use_subnet", lambda net, subnet: entered.append(subnet) or real(net, subnet))
    scores = score_subnets(model, [a, b, a, a], {"x": _images()})["x"]
    assert entered == [a, b]
    assert scores.confidence[0] == scores.confidence[2] == scores.confidence[3] != scores.confidence[1]
