"""The EWS loss (paper Eq. 2): KL(p_full || p_subnet) with the full network as detached teacher."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ews.objectives import ews_loss, subnet_kl, subnet_term
from ews.subnets import SubnetSpace

from ..conftest import tiny_model


def test_subnet_kl_is_the_batch_mean_of_kl_full_to_subnet_and_by_default_also_over_classes() -> None:
    full = torch.randn(5, 4)
    sub = torch.randn(5, 4)
    p, q = full.softmax(1), sub.softmax(1)
    expected = (p * (p.log() - q.log())).sum(1).mean()
    torch.testing.assert_close(subnet_kl(sub, full, reduction="batchmean"), expected)
    torch.testing.assert_close(subnet_kl(sub, full), expected / 4)  # nn.KLDivLoss()'s mean: the authors' scale
    assert subnet_kl(full, full).abs() < 1e-6


def test_teacher_is_detached() -> None:
    full = torch.randn(5, 4, requires_grad=True)
    sub = torch.randn(5, 4, requires_grad=True)
    subnet_kl(sub, full).backward()
    assert full.grad is None and sub.grad is not None


def test_ce_subnet_loss_uses_the_labels() -> None:
    sub, full, y = torch.randn(6, 3), torch.randn(6, 3), torch.randint(0, 3, (6,))
    torch.testing.assert_close(subnet_term(sub, full, y, kind="ce"), F.cross_entropy(sub, y))


def test_ews_loss_is_ce_plus_lambda_times_the_subnet_term() -> None:
    model = tiny_model("resnet20").eval()  # eval: the same pass twice gives the same logits
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 5, (4,))
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(torch.Generator().manual_seed(0))
    plain = ews_loss(model, x, y, subnet=None, lam=1.0)
    with_term = ews_loss(model, x, y, subnet=subnet, lam=0.5)
    torch.testing.assert_close(plain.total, F.cross_entropy(model(x), y))
    assert with_term.subnet is not None and with_term.subnet > 0
    torch.testing.assert_close(with_term.total, plain.total + 0.5 * with_term.subnet)
    zero = ews_loss(model, x, y, subnet=subnet, lam=0.0)
    torch.testing.assert_close(zero.total, plain.total)
