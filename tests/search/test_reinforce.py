"""REINFORCE baselines, checkpoint compatibility and the merging of tiny search batches."""

from __future__ import annotations

import copy
import dataclasses
import io
from typing import Sequence

import pytest
import torch
from torch import Tensor, nn

from ews.config import load_config
from ews.errors import ConfigError
from ews.search import ControllerSampler, ControllerSettings, controller_settings, reinforce
from ews.search.rewards import merge_small_batches, merged_batch_count
from ews.subnets import Subnet

from .test_controller import tiny_space


def test_leave_one_out_advantages_on_a_hand_made_step() -> None:
    rewards = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.double)
    # others' means: 11/3, 10/3, 3, 2
    expected = torch.tensor([1 - 11 / 3, 2 - 10 / 3, 0.0, 4.0], dtype=torch.double)
    torch.testing.assert_close(reinforce.leave_one_out_advantages(rewards), expected)
    with pytest.raises(ValueError, match="at least 2 rewards"):
        reinforce.leave_one_out_advantages(torch.tensor([1.0]))


def test_leave_one_out_steps_ignore_the_reward_level_and_keep_no_state() -> None:
    """Adding a constant to every reward (an easier batch) must not change the update."""
    a, b = ControllerSampler(tiny_space(), seed=4), ControllerSampler(tiny_space(), seed=4)
    rewards = torch.tensor([0.1, 0.3, 0.2, 0.5, 0.0, 0.4, 0.6, 0.2])
    a.policy_step(lambda subnets: rewards)
    b.policy_step(lambda subnets: rewards + 7.0)
    assert a.baseline is None and b.baseline is None
    for (name, pa), pb in zip(a.policy.state_dict().items(), b.policy.state_dict().values()):
        torch.testing.assert_close(pa, pb, msg=name)


def _constant_accuracy(monkeypatch: pytest.MonkeyPatch, accuracy: list[float]) -> None:
    """Every subnet scores `accuracy[0]` on every batch (change the list between rounds)."""

    def fake(model: nn.Module, subnets: Sequence[Subnet], x: Tensor, y: Tensor, **kw: bool) -> Tensor:
        return torch.full((len(subnets),), accuracy[0])

    monkeypatch.setattr(reinforce, "subnet_accuracies", fake)


def test_the_moving_average_restarts_at_every_search_round(monkeypatch: pytest.MonkeyPatch) -> None:
    accuracy = [0.2]
    _constant_accuracy(monkeypatch, accuracy)
    sampler = ControllerSampler(tiny_space(), ControllerSettings(baseline="moving-average"), seed=0)
    model, batches = nn.Linear(1, 1), [(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))] * 3
    sampler.update(model, batches)
    assert sampler.baseline == pytest.approx(-0.2)
    accuracy[0] = 0.8  # K epochs later the reward level has moved
    stats = sampler.update(model, batches[:1])
    assert stats.controller_steps == 1
    assert sampler.baseline == pytest.approx(-0.8)  # not 0.99 * -0.2 + 0.01 * -0.8: the old average is gone


@pytest.mark.parametrize("baseline", ["moving-average", "authors"])
def test_a_continued_round_keeps_the_running_baseline(monkeypatch: pytest.MonkeyPatch, baseline: str) -> None:
    """The iteration schedule's one-step rounds continue each other: one subnet per step still has an advantage."""
    accuracy = [0.2]
    _constant_accuracy(monkeypatch, accuracy)
    settings = ControllerSettings(baseline=baseline, subnets_per_step=1, baseline_decay=0.5, entropy_weight=0.0)
    continued, restarted = (ControllerSampler(tiny_space(), settings, seed=0) for _ in range(2))
    model, batch = nn.Linear(1, 1), [(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))]
    for _ in range(2):
        continued.update(model, batch, continues=True)
        restarted.update(model, batch)
    accuracy[0] = 0.6
    before = copy.deepcopy(continued.policy.state_dict())
    continued.update(model, batch, continues=True)
    moved = any(not torch.equal(before[k], v) for k, v in continued.policy.state_dict().items())
    if baseline == "moving-average":
        assert restarted.baseline == pytest.approx(-0.2)  # restarted: the step's own reward, an advantage of 0
        assert continued.baseline == pytest.approx(0.5 * -0.2 + 0.5 * -0.6)  # -0.6 against the running -0.2
    else:  # the authors': b <- 0.5 b + 0.5 (r - b) from b = 0, whatever the rounds
        assert restarted.baseline == pytest.approx(0.5 * -0.2)
        assert continued.baseline == pytest.approx(0.5 * -0.1 + 0.5 * (-0.6 + 0.1))  # b was -0.1 after two steps
    assert moved  # no entropy bonus here: only a non-zero advantage moves the policy


def test_a_restarted_one_subnet_moving_average_has_no_advantage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the iteration schedule must not restart it: without an entropy bonus such a step changes nothing."""
    _constant_accuracy(monkeypatch, [0.3])
    settings = ControllerSettings(baseline="moving-average", subnets_per_step=1, entropy_weight=0.0)
    sampler = ControllerSampler(tiny_space(), settings, seed=0)
    before = copy.deepcopy(sampler.policy.state_dict())
    sampler.update(nn.Linear(1, 1), [(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))])
    assert all(torch.equal(before[k], v) for k, v in sampler.policy.state_dict().items())


def test_the_authors_baseline_follows_their_update_rule() -> None:
    """Their scripts: advantage = r - b; b <- decay b + (1 - decay) (r - b), from b = 0 (train_cifar.py)."""
    sampler = ControllerSampler(tiny_space(), ControllerSettings(baseline="authors", subnets_per_step=1), seed=0)
    b = 0.0
    for r in (-0.9, -0.8, -0.95, -0.7):
        advantage = sampler._advantages(torch.tensor([r], dtype=torch.double))
        assert float(advantage) == pytest.approx(r - b)
        sampler.policy_step(lambda subnets, r=r: torch.full((len(subnets),), r))
        b = 0.99 * b + 0.01 * (r - b)
        assert sampler.baseline == pytest.approx(b)


def test_the_moving_average_carries_over_steps_within_a_round() -> None:
    sampler = ControllerSampler(tiny_space(), ControllerSettings(baseline="moving-average", baseline_decay=0.5), seed=0)
    sampler.policy_step(lambda subnets: torch.full((len(subnets),), 1.0))
    sampler.policy_step(lambda subnets: torch.full((len(subnets),), 3.0))
    assert sampler.baseline == pytest.approx(2.0)


@pytest.mark.parametrize("saved", [0.25, None])
@pytest.mark.parametrize("baseline", ["leave-one-out", "moving-average"])
def test_older_controller_states_load(saved: float | None, baseline: str) -> None:
    """Checkpoints written before `search.baseline` existed hold a float (or None) baseline."""
    old = ControllerSampler(tiny_space(), ControllerSettings(baseline="moving-average"), seed=1)
    state = old.state_dict()
    state["baseline"] = saved
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    new = ControllerSampler(tiny_space(), ControllerSettings(baseline=baseline), seed=2)
    new.load_state_dict(torch.load(buffer, weights_only=True))
    assert new.baseline == saved
    assert new.sample(torch.Generator().manual_seed(0)) == old.sample(torch.Generator().manual_seed(0))


def _batches(*sizes: int) -> list[tuple[Tensor, Tensor]]:
    start = 0
    batches = []
    for n in sizes:
        y = torch.arange(start, start + n)
        batches.append((y[:, None].float(), y))
        start += n
    return batches


@pytest.mark.parametrize(
    ("sizes", "merged"),
    [((128, 14), (142,)), ((64, 64, 16), (64, 80)), ((64, 40), (64, 40)), ((10,), (10,)), ((128, 8, 128, 8), (136, 136))],
)
def test_tiny_batches_join_the_batch_before_them(sizes: tuple[int, ...], merged: tuple[int, ...]) -> None:
    out = list(merge_small_batches(_batches(*sizes)))
    assert tuple(len(y) for _, y in out) == merged
    assert torch.equal(torch.cat([y for _, y in out]), torch.arange(sum(sizes)))  # every image, in order
    assert all(torch.equal(x[:, 0].long(), y) for x, y in out)


def test_the_merged_batch_count_is_known_before_loading() -> None:
    """`merged_batch_count` says how many controller steps a round over D_s takes, as the merging does."""
    for images in range(1, 60):
        for batch_size in range(1, 20):
            sizes = [batch_size] * (images // batch_size) + ([images % batch_size] if images % batch_size else [])
            assert merged_batch_count(images, batch_size) == len(list(merge_small_batches(_batches(*sizes)))), (
                images, batch_size)


def test_every_controller_setting_but_adams_betas_comes_from_the_search_config() -> None:
    settings = controller_settings(load_config(overrides=["search.lr=0.01", "search.hidden_size=7",
                                                          "search.temperature=5"]).search)
    assert (settings.lr, settings.hidden_size, settings.temperature) == (0.01, 7, 5)
    configurable = {f.name for f in dataclasses.fields(load_config().search)}
    assert {f.name for f in dataclasses.fields(ControllerSettings)} - configurable == {"betas"}


def test_search_baseline_option_is_validated_and_mapped() -> None:
    config = load_config(overrides=["search.baseline=moving-average"])
    assert controller_settings(config.search).baseline == "moving-average"
    assert load_config().search.baseline == "leave-one-out"
    allowed = "leave-one-out, moving-average, authors"
    with pytest.raises(ConfigError, match=rf"search.baseline must be one of {allowed}, got 'ema'"):
        load_config(overrides=["search.baseline=ema"])
    with pytest.raises(ConfigError, match="search.subnets_per_step must be >= 2 with search.baseline leave-one-out"):
        load_config(overrides=["search.subnets_per_step=1"])
    load_config(overrides=["search.subnets_per_step=1", "search.baseline=moving-average"])
    with pytest.raises(ValueError, match="baseline must be one of"):
        ControllerSettings(baseline="ema")
