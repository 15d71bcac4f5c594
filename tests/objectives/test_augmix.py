"""AugMix's objective: CE on the clean view + weighted JSD over three views, plus the EWS term per view."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ews.objectives import subnet_term
from ews.objectives.augmix import augmix_loss, jsd_consistency
from ews.subnets import SubnetSpace, use_subnet

from ..conftest import tiny_model


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * (p.log() - q.log())).sum(1).mean()


def test_jsd_is_zero_for_identical_predictions() -> None:
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    assert jsd_consistency(logits, logits, logits).abs() < 1e-6


def test_jsd_matches_its_formula_on_a_hand_made_example() -> None:
    probs = [torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]]), torch.tensor([[0.1, 0.8, 0.1], [0.5, 0.25, 0.25]])]
    probs.append(torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.25, 0.25, 0.5]]))
    mixture = sum(probs) / 3
    expected = sum(_kl(p, mixture) for p in probs) / 3
    value = jsd_consistency(*(p.log() for p in probs))
    torch.testing.assert_close(value, expected)
    assert 0 < value < torch.log(torch.tensor(3.0))


def test_jsd_stays_finite_for_confident_disagreeing_predictions() -> None:
    confident = torch.tensor([[80.0, -80.0]])
    value = jsd_consistency(confident, -confident, confident)
    assert torch.isfinite(value) and value > 0.5


def _setup(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = tiny_model("resnet20", num_classes=5).eval()  # eval: the same image gives the same logits in any batch
    generator = torch.Generator().manual_seed(seed)
    views = torch.rand(4, 3, 3, 32, 32, generator=generator)
    return model, views, torch.randint(0, 5, (4,), generator=generator)


def test_without_a_subnet_it_is_clean_ce_plus_weighted_jsd() -> None:
    model, views, y = _setup()
    losses = augmix_loss(model, views, y, subnet=None, lam=1.0, jsd_weight=12.0)
    with torch.no_grad():
        clean, aug1, aug2 = (model(views[:, k]) for k in range(3))
    expected = F.cross_entropy(clean, y) + 12.0 * jsd_consistency(clean, aug1, aug2)
    torch.testing.assert_close(losses.total, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(losses.base, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(losses.logits, clean, rtol=1e-4, atol=1e-5)
    assert losses.subnet is None and not losses.base.requires_grad and not losses.logits.requires_grad


@pytest.mark.parametrize("kind", ["kl", "ce"])
def test_the_ews_term_is_the_mean_of_the_per_view_terms(kind: str) -> None:
    model, views, y = _setup(1)
    space = SubnetSpace.from_model(model, rho=0.5)
    subnet = space.sample(torch.Generator().manual_seed(0))
    losses = augmix_loss(model, views, y, subnet=subnet, lam=0.5, subnet_loss=kind, jsd_weight=12.0)
    with torch.no_grad():
        full = [model(views[:, k]) for k in range(3)]
        with use_subnet(model, subnet):
            sub = [model(views[:, k]) for k in range(3)]
    per_view = torch.stack([subnet_term(s, f, y, kind=kind) for s, f in zip(sub, full)])
    assert losses.subnet is not None and losses.subnet > 0
    torch.testing.assert_close(losses.subnet, per_view.mean(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(losses.total, losses.base + 0.5 * losses.subnet, rtol=1e-5, atol=1e-6)


def test_every_weight_gets_a_finite_gradient() -> None:
    model, views, y = _setup(2)
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(torch.Generator().manual_seed(1))
    augmix_loss(model, views, y, subnet=subnet, lam=1.0, jsd_weight=12.0).total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_views_must_be_three_per_sample() -> None:
    model, views, y = _setup()
    with pytest.raises(ValueError, match=r"\(B, 3, C, H, W\)"):
        augmix_loss(model, views[:, :2], y, subnet=None, lam=1.0, jsd_weight=12.0)
