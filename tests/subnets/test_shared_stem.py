"""Subnet passes reuse the full pass's stem output: same losses and gradients, one stem computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ews.objectives.adversarial import trades_kl, trades_loss
from ews.objectives.standard import ews_loss, subnet_kl, subnet_term
from ews.subnets import SharedStem, SubnetSpace, use_subnet

from ..conftest import tiny_model


def _reference(model, x, y, subnet):
    """The EWS loss with the stem computed twice."""
    logits = model(x)
    with use_subnet(model, subnet) as net:
        sub = net(x)
    return F.cross_entropy(logits, y) + 0.5 * subnet_kl(sub, logits)


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet18", "tv_resnet18"])
def test_shared_stem_changes_nothing_but_the_work(name: str) -> None:
    model = tiny_model(name).double().train()
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(torch.Generator().manual_seed(0))
    x, y = torch.rand(6, 3, 32, 32, dtype=torch.float64), torch.randint(0, 5, (6,))
    stem_calls = []
    handle = model.register_forward_hook(lambda *args: None)  # a user hook on the model must not disturb it
    conv = model.conv1 if hasattr(model, "conv1") else model.net.conv1
    counter = conv.register_forward_hook(lambda *args: stem_calls.append(1))
    shared = ews_loss(model, x, y, subnet=subnet, lam=0.5).total
    assert len(stem_calls) == 1
    reference = _reference(model, x, y, subnet)
    assert len(stem_calls) == 3
    torch.testing.assert_close(shared, reference, rtol=1e-10, atol=1e-10)
    got, want = _grads(model, shared), _grads(model, _reference(model, x, y, subnet))
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-8, atol=1e-10, msg=key)
    counter.remove()
    handle.remove()


def test_trades_reuses_the_stem_of_each_input_for_its_own_subnet_pass() -> None:
    model = tiny_model("preact_resnet18").double().train()
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(torch.Generator().manual_seed(1))
    x = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    x_adv = (x + 0.03 * torch.randn_like(x)).clamp(0, 1)
    y = torch.randint(0, 5, (4,))
    calls = []
    counter = model.conv1.register_forward_hook(lambda *args: calls.append(1))
    shared = trades_loss(model, x, x_adv, y, subnet=subnet, lam=0.5, gamma=0.25).total
    assert len(calls) == 2  # one per distinct input, none for the two subnet passes
    counter.remove()
    logits, logits_adv = model(x), model(x_adv)
    with use_subnet(model, subnet) as net:
        sub, sub_adv = net(x), net(x_adv)
    base = trades_kl(logits_adv, logits) + 0.25 * F.cross_entropy(logits, y)
    term = subnet_term(sub_adv, logits_adv, y, kind="kl") + 0.25 * subnet_term(sub, logits, y, kind="kl")
    torch.testing.assert_close(shared, base + 0.5 * term, rtol=1e-10, atol=1e-10)


def test_other_inputs_and_compiled_models_run_whole() -> None:
    model = tiny_model("resnet20").train()
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(torch.Generator().manual_seed(0))
    x = torch.rand(4, 3, 32, 32)
    with SharedStem(model) as stem:
        model(x)
        with use_subnet(model, subnet) as net:
            other = x.clone()
            assert torch.equal(stem.run(net, other), net(other))
    assert not SharedStem(torch.compile(model)).enabled
    assert not model._forward_pre_hooks and not model.layers[0][0]._forward_pre_hooks  # hooks removed
