"""The sampler interface and the uniform random baseline."""

from __future__ import annotations

import pytest
import torch

from ews.config import SearchConfig
from ews.errors import ConfigError
from ews.search import RandomSampler, create_sampler
from ews.subnets import SubnetSpace

from ..conftest import tiny_model


def test_random_sampler_draws_reproducible_valid_subnets_from_the_callers_generator() -> None:
    space = SubnetSpace.from_model(tiny_model("resnet18"), rho=0.5)
    sampler = create_sampler(SearchConfig(strategy="random"), space)
    assert isinstance(sampler, RandomSampler) and not sampler.searches
    a = [sampler.sample(torch.Generator().manual_seed(4)) for _ in range(2)]
    b = [sampler.sample(torch.Generator().manual_seed(4)) for _ in range(2)]
    assert a == b
    generator = torch.Generator().manual_seed(4)
    draws = {sampler.sample(generator) for _ in range(20)}
    assert len(draws) == 20  # a fresh subnet every step
    for subnet in draws:
        space.validate(subnet)


def test_random_sampler_state_round_trips_and_rejects_foreign_state() -> None:
    sampler = create_sampler(SearchConfig(strategy="random"), SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5))
    sampler.load_state_dict(sampler.state_dict())
    with pytest.raises(ValueError):
        sampler.load_state_dict({"controller": torch.zeros(1)})


def test_unknown_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="search.strategy"):
        create_sampler(SearchConfig(strategy="oracle"), SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5))
