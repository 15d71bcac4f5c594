"""Subnet accuracies for the search: the shared stem changes nothing but the work."""

from __future__ import annotations

import torch

from ews.search.rewards import subnet_accuracies
from ews.subnets import SubnetSpace, use_subnet

from ..conftest import tiny_model


def test_accuracies_match_whole_subnet_passes_and_leave_the_model_alone(model_name: str) -> None:
    model = tiny_model(model_name).eval()
    space = SubnetSpace.from_model(model, rho=0.5)
    subnets = [space.sample(torch.Generator().manual_seed(seed)) for seed in range(4)]
    x, y = torch.rand(16, 3, 32, 32), torch.randint(0, 5, (16,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stems = []
    first = model.normalize  # every model's stem starts with its own Normalize
    handle = first.register_forward_hook(lambda *args: stems.append(1))
    got = subnet_accuracies(model, subnets, x, y)
    handle.remove()
    assert len(stems) == 1  # the stem ran once for all four subnets
    assert not model.training  # the mode is restored
    model.train()
    want = []
    with torch.no_grad():
        for subnet in subnets:
            with use_subnet(model, subnet) as net:
                want.append((net(x).argmax(1) == y).float().mean())
    torch.testing.assert_close(got, torch.stack(want))
    for key, value in before.items():
        assert torch.equal(model.state_dict()[key], value), key  # running statistics untouched
