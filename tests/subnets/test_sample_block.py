"""`SubnetSpace.sample_block`: the paper's Fig. 7 subnets thin one block and keep the rest whole."""

from __future__ import annotations

import pytest
import torch

from ews.subnets import SubnetSpace
from tests.conftest import tiny_model


def test_only_the_chosen_block_is_sampled() -> None:
    model = tiny_model("resnet18")
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    full = space.full()
    g = torch.Generator().manual_seed(0)
    for index in range(len(space)):
        for _ in range(5):
            subnet = space.validate(space.sample_block(index, g))
            for i, (choice, whole) in enumerate(zip(subnet.blocks, full.blocks)):
                if i != index:
                    assert choice == whole
            block = subnet.blocks[index]
            assert len(block.paths) == 1  # rho 0.5 keeps one of the two paths
            spec = space.blocks[index]
            assert all(len(c) == k for c, k in zip(block.channels, spec.keep_channels))


def test_block_index_out_of_range() -> None:
    space = SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5, reading="paper-text")
    with pytest.raises(IndexError):
        space.sample_block(len(space))


def test_sample_draws_are_unchanged_by_the_refactor() -> None:
    """`sample` draws per block in the same order as before: paths, then channels of a kept branch."""
    space = SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5, reading="paper-text")
    a = space.sample(torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    b = [space.sample_block(i, g).blocks[i] for i in range(len(space))]
    assert list(a.blocks) == b
