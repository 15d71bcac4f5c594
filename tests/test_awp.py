"""AWP: a layer-wise relative ascent step on the weights, removed bit-exactly on every exit path."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ews import awp
from ews.errors import ConfigError

GAMMA = 0.01


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 5)).train()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(8, 3, 6, 6, generator=generator), torch.randint(0, 5, (8,), generator=generator)


def _loss_fn(x: torch.Tensor, y: torch.Tensor):
    return lambda net: F.cross_entropy(net(x), y)


def test_perturbation_is_gamma_times_each_weight_norm_and_ascends_the_loss() -> None:
    model, (x, y) = _model(), _batch()
    state = copy.deepcopy(model.state_dict())
    v = awp.weight_perturbation(model, _loss_fn(x, y), gamma=GAMMA)
    params = dict(model.named_parameters())
    assert sorted(v) == ["0.weight", "4.weight"]  # weight tensors only: no biases, no BatchNorm affine
    for name, delta in v.items():
        torch.testing.assert_close(delta.norm() / params[name].norm(), torch.tensor(GAMMA))
    # Nothing changed: weights, BatchNorm running statistics (and their counter), .grad.
    assert all(torch.equal(a, b) for a, b in zip(state.values(), model.state_dict().values()))
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        before = F.cross_entropy(model.eval()(x), y)
        for name, delta in v.items():
            params[name].add_(delta)
        assert F.cross_entropy(model(x), y) > before


def test_weights_are_perturbed_inside_and_restored_exactly_with_the_gradients_kept() -> None:
    model, (x, y) = _model(), _batch()
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    with awp.perturbed(model, _loss_fn(x, y), gamma=GAMMA) as v:
        for name, p in model.named_parameters():
            assert torch.equal(p, original[name] + v[name]) if name in v else torch.equal(p, original[name])
        perturbed = copy.deepcopy(model)
        F.cross_entropy(model(x), y).backward()
    assert all(torch.equal(p, original[n]) for n, p in model.named_parameters())
    F.cross_entropy(perturbed(x), y).backward()  # the gradient AWP wants: taken at w + v
    for p, q in zip(model.parameters(), perturbed.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_weights_are_restored_exactly_after_an_exception() -> None:
    model, (x, y) = _model(), _batch()
    original = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="boom"), awp.perturbed(model, _loss_fn(x, y), gamma=GAMMA):
        assert not torch.equal(model[0].weight, original[0])
        raise RuntimeError("boom")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), original))


def test_zero_gamma_changes_nothing_and_negative_gamma_is_refused() -> None:
    model, (x, y) = _model(), _batch()
    with awp.perturbed(model, _loss_fn(x, y), gamma=0.0) as v:
        assert v == {}
    with pytest.raises(ConfigError, match="AWP gamma must be a number >= 0, got -0.1"):
        awp.weight_perturbation(model, _loss_fn(x, y), gamma=-0.1)
