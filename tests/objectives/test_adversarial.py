"""AT and TRADES with the EWS term (paper Eq. 3-4), checked against the formulas on fixed adversarial images."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ews import awp
from ews.attacks import pgd
from ews.objectives.adversarial import TRADES_GAMMA, at_loss, trades_loss
from ews.subnets import SubnetSpace, use_subnet

from ..conftest import tiny_model


@pytest.fixture
def case():
    """A tiny ResNet in eval mode (the same input gives the same logits twice), a batch, its x' and a subnet."""
    model = tiny_model("resnet20").eval()
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32, generator=generator), torch.randint(0, 5, (4,), generator=generator)
    x_adv = (x + 0.03 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(generator)
    return model, x, x_adv, y, subnet


def _kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(p || q), batch mean, written out."""
    p, q = p_logits.softmax(1), q_logits.softmax(1)
    return (p * (p.log() - q.log())).sum(1).mean()


def test_at_loss_is_ce_on_x_adv_plus_lambda_times_the_subnet_kl(case) -> None:
    model, _, x_adv, y, subnet = case
    losses = at_loss(model, x_adv, y, subnet=subnet, lam=0.5, kl_reduction="batchmean", label_smoothing=0.1)
    logits = model(x_adv)
    with use_subnet(model, subnet):
        sub = model(x_adv)
    base = F.cross_entropy(logits, y, label_smoothing=0.1)
    torch.testing.assert_close(losses.total, base + 0.5 * _kl(logits, sub))
    torch.testing.assert_close(losses.base, base)
    torch.testing.assert_close(losses.logits, logits)


def test_trades_loss_is_eq4_with_kl_and_the_clean_term(case) -> None:
    model, x, x_adv, y, subnet = case
    losses = trades_loss(model, x, x_adv, y, subnet=subnet, lam=0.7, kl_reduction="batchmean")
    clean, adv = model(x), model(x_adv)
    with use_subnet(model, subnet):
        sub_clean, sub_adv = model(x), model(x_adv)
    base = _kl(clean, adv) + TRADES_GAMMA * F.cross_entropy(clean, y)
    term = _kl(adv, sub_adv) + TRADES_GAMMA * _kl(clean, sub_clean)
    torch.testing.assert_close(losses.base, base)
    torch.testing.assert_close(losses.subnet, term)
    torch.testing.assert_close(losses.total, base + 0.7 * term)
    torch.testing.assert_close(losses.logits, adv)
    assert not (losses.base.requires_grad or losses.subnet.requires_grad or losses.logits.requires_grad)
    plain = trades_loss(model, x, x_adv, y, subnet=None, lam=0.7, gamma=0.0)
    torch.testing.assert_close(plain.total, _kl(clean, adv))


@pytest.mark.parametrize("objective", ["at", "trades"])
def test_the_ews_term_on_x_adv_changes_the_gradient(case, objective: str) -> None:
    model, x, x_adv, y, subnet = case

    def gradient(lam: float) -> torch.Tensor:
        model.zero_grad()
        if objective == "at":
            at_loss(model, x_adv, y, subnet=subnet, lam=lam).total.backward()
        else:
            trades_loss(model, x, x_adv, y, subnet=subnet, lam=lam).total.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    assert not torch.allclose(gradient(1.0), gradient(0.0))


def test_attack_awp_and_objective_compose_into_one_training_step(case) -> None:
    model, x, _, y, subnet = case
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x_adv = pgd(model, x, None, eps=8 / 255, step_size=2 / 255, steps=2, loss="kl", random_start="normal",
                generator=torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in model.parameters()]

    def adversarial_loss(net: torch.nn.Module) -> torch.Tensor:
        return trades_loss(net, x, x_adv, y, subnet=None, lam=0.0).total

    with awp.perturbed(model, adversarial_loss, gamma=awp.DEFAULT_GAMMA["trades"]):
        losses = trades_loss(model, x, x_adv, y, subnet=subnet, lam=1.0)
        losses.total.backward()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    optimizer.step()
    assert torch.isfinite(losses.total) and model.training
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before))
