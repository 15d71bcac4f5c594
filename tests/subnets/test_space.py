"""The subnet space: exact kept counts, sampling, validation, and subnets as plain data."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ews.errors import ConfigError
from ews.subnets import BRANCH, SHORTCUT, Subnet, SubnetSpace, kept_count

from ..conftest import tiny_model


@pytest.mark.parametrize(
    ("rho", "n", "expected"),
    [(0.5, 2, 1), (0.7, 2, 2), (0.7, 10, 7), (0.1, 10, 1), (0.3, 10, 3), (0.01, 3, 1), (1.0, 5, 5), (0.5, 64, 32)],
)
def test_kept_count_is_exact_ceil(rho: float, n: int, expected: int) -> None:
    assert kept_count(rho, n) == expected


@given(st.integers(1, 100), st.integers(1, 512))
def test_kept_count_matches_rational_ceil(percent: int, n: int) -> None:
    assert kept_count(percent / 100, n) == max(1, math.ceil(percent * n / 100))


@pytest.mark.parametrize("rho", [0.0, -0.1, 1.5, float("nan")])
def test_rho_outside_unit_interval_is_a_config_error(rho: float) -> None:
    with pytest.raises(ConfigError, match="rho"):
        SubnetSpace.from_model(tiny_model("resnet20"), rho=rho, reading="paper-text")


def test_space_of_resnet18_has_its_blocks_convs_and_downsampling_flags() -> None:
    space = SubnetSpace.from_model(tiny_model("resnet18"), rho=0.5, reading="paper-text")
    assert len(space) == 8
    assert [b.downsampling for b in space.blocks] == [False, False, True, False, True, False, True, False]
    assert space.blocks[0].conv_channels == (4, 4)
    assert space.blocks[0].keep_channels == (2, 2)
    assert all(b.keep_paths == 1 for b in space.blocks)


def test_bottleneck_blocks_expose_three_convs_and_hidden_mode_keeps_the_last_whole() -> None:
    model = tiny_model("resnet50")
    assert SubnetSpace.from_model(model, rho=0.5, reading="paper-text").blocks[0].keep_channels == (2, 2, 8)
    hidden = SubnetSpace.from_model(model, rho=0.5, channels="hidden", reading="paper-text")
    assert hidden.blocks[0].keep_channels == (2, 2, 16)


def test_separate_path_and_channel_ratios() -> None:
    space = SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5, rho_paths=0.7, rho_channels=0.25,
                                   reading="paper-text")
    assert all(b.keep_paths == 2 for b in space.blocks)
    assert space.blocks[0].keep_channels == (1, 1)


def test_samples_belong_to_the_space_and_are_reproducible(model_name: str) -> None:
    space = SubnetSpace.from_model(tiny_model(model_name), rho=0.5, reading="paper-text")
    a = [space.sample(torch.Generator().manual_seed(7)) for _ in range(3)]
    b = [space.sample(torch.Generator().manual_seed(7)) for _ in range(3)]
    assert a == b
    for subnet in a:
        space.validate(subnet)
        for spec, choice in zip(space.blocks, subnet.blocks):
            assert len(choice.paths) == 1
            if BRANCH in choice.paths:
                assert tuple(len(c) for c in choice.channels) == spec.keep_channels


def test_sampling_is_uniform_over_paths_and_channels() -> None:
    space = SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5, reading="paper-text")
    generator = torch.Generator().manual_seed(0)
    paths: Counter = Counter()
    channels: Counter = Counter()
    draws = 2000
    for _ in range(draws):
        choice = space.sample(generator).blocks[0]
        paths[choice.paths] += 1
        for c in choice.channels[:1]:
            channels.update(c)
    assert abs(paths[(BRANCH,)] / draws - 0.5) < 0.05
    n_branch = paths[(BRANCH,)]
    for channel in range(4):  # each of 4 channels is kept in half of the branch draws
        assert abs(channels[channel] / n_branch - 0.5) < 0.06


def test_every_kept_channel_set_is_equally_likely() -> None:
    """Uniform per channel is not enough: each of the 6 two-of-four channel sets must be equally likely, and a
    block's choice must not depend on whether the block before kept its branch (each reads its own keys)."""
    space = SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5, reading="paper-text")
    generator = torch.Generator().manual_seed(1)
    sets: Counter = Counter()
    by_previous: dict[bool, Counter] = {True: Counter(), False: Counter()}
    for _ in range(3000):
        first, second = space.sample(generator).blocks[:2]
        if BRANCH in second.paths:
            sets[second.channels[0]] += 1
            by_previous[BRANCH in first.paths][second.channels[0]] += 1
    assert len(sets) == 6
    total = sum(sets.values())
    for count in sets.values():  # 1/6 each; 5 standard errors is about 0.034 here
        assert abs(count / total - 1 / 6) < 0.04
    for counts in by_previous.values():
        assert abs(sum(counts.values()) / total - 0.5) < 0.05
        assert max(abs(c / sum(counts.values()) - 1 / 6) for c in counts.values()) < 0.05


def test_full_subnet_keeps_everything_and_validates() -> None:
    space = SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5, reading="paper-text")
    full = space.validate(space.full())
    assert all(choice.paths == (BRANCH, SHORTCUT) for choice in full.blocks)
    assert full.blocks[0].channels == ((0, 1, 2, 3), (0, 1, 2, 3))


def test_subnet_is_hashable_and_round_trips_through_json() -> None:
    space = SubnetSpace.from_model(tiny_model("resnet18"), rho=0.5, reading="paper-text")
    subnet = space.sample(torch.Generator().manual_seed(3))
    again = Subnet.from_json(subnet.to_json())
    assert again == subnet and hash(again) == hash(subnet)
    assert len({subnet, again, space.full()}) == 2


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["blocks"].pop(),
        lambda d: d["blocks"][0].update(paths=[0, 0]),
        lambda d: d["blocks"][0].update(paths=[0], channels=[[0, 1], [3, 2]]),
        lambda d: d["blocks"][0].update(paths=[0], channels=[[0, 1], [0, 9]]),
        lambda d: d["blocks"][0].update(paths=[0], channels=[[0, 1, 2], [0, 1]]),
        lambda d: d["blocks"][0].update(paths=[1], channels=[[0, 1], [0, 1]]),
    ],
)
def test_validate_rejects_subnets_from_elsewhere(mutate) -> None:
    space = SubnetSpace.from_model(tiny_model("resnet20"), rho=0.5, reading="paper-text")
    data = space.sample(torch.Generator().manual_seed(0)).to_dict()
    data["blocks"][0] = {"paths": [0], "channels": [[0, 1], [0, 1]]}
    mutate(data)
    with pytest.raises(ValueError):
        space.validate(Subnet.from_dict(data))


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 6), rho=st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9, 1.0]), seed=st.integers(0, 2**16))
def test_any_width_and_ratio_gives_valid_runnable_subnets(width: int, rho: float, seed: int) -> None:
    from ews import models
    from ews.subnets import use_subnet

    model = models.create("resnet20", num_classes=3, width=width)
    space = SubnetSpace.from_model(model, rho=rho, reading="paper-text")
    subnet = space.validate(space.sample(torch.Generator().manual_seed(seed)))
    with use_subnet(model, subnet):
        out = model(torch.rand(2, 3, 16, 16))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
