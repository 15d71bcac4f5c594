"""`run_search`: steps are controller steps, repeated subnets are scored once, the gap has an error."""

from __future__ import annotations

from typing import Iterable

import pytest
import torch
from torch import Tensor, nn

from ews.search import SearchStats, SubnetSampler, compare
from ews.subnets import Subnet, SubnetSpace

from ..conftest import tiny_model


class Recorder(SubnetSampler):
    """Takes one 'step' per batch it is given and always proposes the full network."""

    searches = True

    def __init__(self, space: SubnetSpace) -> None:
        super().__init__(space)
        self.sizes: list[int] = []

    def update(self, model: nn.Module, search_batches: Iterable[tuple[Tensor, Tensor]]) -> SearchStats:
        self.sizes = [len(y) for _, y in search_batches]
        return SearchStats(seconds=0.0, subnets_evaluated=0, controller_steps=len(self.sizes))

    def sample(self, generator: torch.Generator) -> Subnet:
        return self.space.full()


def test_steps_are_controller_steps_with_the_tiny_tail_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model("resnet20")
    sampler = Recorder(SubnetSpace.from_model(model, rho=0.5))
    scored: list[int] = []
    real = compare.subnet_accuracies

    def counted(m: nn.Module, subnets: list[Subnet], x: Tensor, y: Tensor) -> Tensor:
        scored.append(len(subnets))
        return real(m, subnets, x, y)

    monkeypatch.setattr(compare, "subnet_accuracies", counted)
    batches = [(torch.rand(n, 3, 32, 32), torch.randint(0, 5, (n,))) for n in (12, 12, 3)]
    held_out = [(torch.rand(8, 3, 32, 32), torch.randint(0, 5, (8,)))]
    result = compare.run_search(model, sampler, strategy="fixed", search_batches=batches, eval_batches=held_out,
                                steps=5, subnets=6, seed=0)
    assert sampler.sizes == [12, 15, 12, 15, 12]
    assert result["controller_steps"] == 5
    assert scored[0] == 1  # six copies of the full network, scored once
    fixed = result["strategies"]["fixed"]
    assert fixed["subnets_evaluated"] == 6 and fixed["std_subnet_accuracy"] == 0.0
    random = result["strategies"]["random"]
    expected = 100 * random["std_subnet_accuracy"] / 6**0.5
    assert result["gap_standard_error_points"] == pytest.approx(expected, abs=1e-3)
