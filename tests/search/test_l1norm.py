"""The L1-norm baseline: lowest-norm paths and channels, deterministic tie rule."""

from __future__ import annotations

import pytest
import torch

from ews.search import L1NormSampler, l1_weakest
from ews.subnets import BRANCH, SHORTCUT, SubnetSpace

from ..conftest import tiny_model


def test_keeps_the_lowest_l1_filters_and_the_path_of_lowest_gain() -> None:
    model = tiny_model("resnet20")
    block = model.layers[0][0]
    with torch.no_grad():
        block.conv1.weight.fill_(1.0)
        block.conv1.weight[2].fill_(0.01)
        block.conv1.weight[0].fill_(0.02)
        block.conv2.weight.fill_(1.0)
        block.conv2.weight[1].fill_(1e-4)
        block.conv2.weight[3].fill_(1e-4)
        block.bn2.weight.fill_(0.5)  # branch gain 0.5 < identity gain 1
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    choice = l1_weakest(model, space).blocks[0]
    assert choice.paths == (BRANCH,)
    assert choice.channels == ((0, 2), (1, 3))


def test_the_lower_gain_path_is_kept_and_ties_go_to_the_lower_index() -> None:
    model = tiny_model("preact_resnet18")
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    block = model.layers[0][0]  # pre-activation: the branch ends in a conv without BN
    with torch.no_grad():
        block.conv2.weight.fill_(1.0)  # filter L1 = 9 * 4 > identity's 1
    assert l1_weakest(model, space).blocks[0].paths == (SHORTCUT,)
    with torch.no_grad():
        block.conv2.weight.fill_(1.0 / 36)  # exactly the identity's gain: tie -> branch (index 0)
        block.conv1.weight.fill_(0.5)
    choice = l1_weakest(model, space).blocks[0]
    assert choice.paths == (BRANCH,)
    assert choice.channels[0] == (0, 1)  # all conv1 filters tie: lowest indices
    downsampling = model.layers[1][0]  # projection shortcut: a 1x1 conv without BN
    with torch.no_grad():
        downsampling.shortcut[0].weight.fill_(1e-3)
    assert l1_weakest(model, space).blocks[2].paths == (SHORTCUT,)


def test_sampler_is_deterministic_recomputed_per_search_and_checkpointable() -> None:
    model = tiny_model("resnet18")
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    sampler = L1NormSampler(space)
    with pytest.raises(RuntimeError, match="before any search"):
        sampler.sample(torch.Generator())
    sampler.update(model, [])
    first = sampler.sample(torch.Generator().manual_seed(0))
    assert first == sampler.sample(torch.Generator().manual_seed(1)) == l1_weakest(model, space)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(torch.rand_like(p))  # new weights: a new weakest subnet
    sampler.update(model, [])
    assert sampler.sample(torch.Generator()) != first
    restored = L1NormSampler(space)
    restored.load_state_dict(sampler.state_dict())
    assert restored.sample(torch.Generator()) == sampler.sample(torch.Generator())
