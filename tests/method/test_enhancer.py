"""`ews.EWS` in a user's own loop: the loss, the search hooks, exact resumption and one-line refusals."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ews
from ews.config import Config
from ews.errors import CheckpointError, ConfigError, UserError
from ews.method import SearchTiming
from ews.objectives import Objective, ews_loss
from ews.search.gap import RandomBaseline

from ..conftest import tiny_model


def _data(n: int = 16, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(8, 3, 32, 32, generator=g), torch.randint(0, 5, (8,), generator=g)) for _ in range(n // 8)]


def _train(enhancer: ews.EWS, optimizer: torch.optim.Optimizer, batches, epochs: range, search) -> None:
    """The loop the README shows: a search hook per epoch, `loss(x, y).total` per step."""
    for epoch in epochs:
        for x, y in batches:
            optimizer.zero_grad()
            enhancer.loss(x, y).total.backward()
            optimizer.step()
        enhancer.on_epoch_end(epoch, search)


def _record_search_images(enhancer: ews.EWS) -> list[torch.Tensor]:
    """The images each controller step of `enhancer` scores subnets on, appended as they are scored."""
    seen: list[torch.Tensor] = []
    update = enhancer.sampler.update
    enhancer.sampler.update = lambda net, batches, **kw: update(net, (seen.append(x) or (x, y) for x, y in batches), **kw)
    return seen


def test_loss_is_cross_entropy_plus_lam_times_the_subnet_kl() -> None:
    model = tiny_model("resnet20")
    enhancer = ews.EWS(model, lam=0.7, seed=3)
    x, y = _data()[0]
    subnet = ews.EWS(model, lam=0.7, seed=3).sampler.sample(torch.Generator().manual_seed(4))  # seed + 1
    expected = ews_loss(model, x, y, subnet=subnet, lam=0.7)
    got = enhancer.loss(x, y)
    torch.testing.assert_close(got.total, expected.total)
    torch.testing.assert_close(got.base, F.cross_entropy(model(x), y))
    assert got.search is None and enhancer.iteration == 1


def test_enhance_adds_only_the_subnet_term_to_a_loss_the_caller_computes() -> None:
    model = tiny_model("resnet20")
    x, y = _data()[0]
    full = ews.EWS(model, lam=0.5, seed=1).loss(x, y)
    logits = model(x)
    term = ews.EWS(model, lam=0.5, seed=1).enhance(x, y, logits)
    torch.testing.assert_close(F.cross_entropy(logits, y) + term.total, full.total, rtol=1e-5, atol=1e-6)
    assert float(term.base) == 0.0


def test_search_hooks_follow_algorithm_1_and_ask_for_search_data_when_due() -> None:
    enhancer = ews.EWS(tiny_model("resnet20"), K=2)
    assert [enhancer.due(epoch) for epoch in range(1, 6)] == [True, True, False, True, False]
    with pytest.raises(UserError, match="search is due before epoch 1 but no search_data"):
        enhancer.on_train_start()
    stats = enhancer.on_epoch_end(0, _data(24))  # epoch 0 ended; epoch 2 (counted from 1) is a K-th one
    assert stats is not None and stats.controller_steps == 3
    assert enhancer.on_epoch_end(1, None) is None  # epoch 3 is not due: no data needed
    assert ews.EWS(tiny_model("resnet20"), strategy="random").on_train_start() is None  # random subnets never search


def test_iteration_schedule_steps_the_controller_inside_loss() -> None:
    enhancer = ews.EWS(tiny_model("resnet20"), schedule="iterations", every_iterations=2)
    searched = [enhancer.loss(x, y).search is not None for x, y in _data(40)]
    assert searched == [True, False, True, False, True]
    assert enhancer.sampler.steps == 3


def test_iteration_schedule_measures_the_search_gap_on_each_controller_steps_batch() -> None:
    measured = ews.EWS(tiny_model("resnet20"), schedule="iterations", every_iterations=2, seed=3)
    plain = ews.EWS(tiny_model("resnet20"), schedule="iterations", every_iterations=2, seed=3, measure_gap=False)
    for x, y in _data(40):
        with_gap, without = measured.loss(x, y).search, plain.loss(x, y).search
        assert (with_gap is None) == (without is None)
        if with_gap is not None:
            assert 0.0 <= with_gap.random_subnet_accuracy <= 1.0 and without.random_subnet_accuracy is None
            assert with_gap.mean_subnet_accuracy == without.mean_subnet_accuracy
    # the random subnets have their own generator: the controller learned exactly what it learns unmeasured
    for key, value in plain.sampler.state_dict()["policy"].items():
        assert torch.equal(measured.sampler.state_dict()["policy"][key], value), key


def test_a_search_step_taken_before_the_loss_counts_the_step_once() -> None:
    """A loop with AWP takes `search_step` on the unperturbed weights, then `loss(search=False)`."""
    together = ews.EWS(tiny_model("resnet20"), schedule="iterations", every_iterations=2, seed=1)
    apart = ews.EWS(tiny_model("resnet20"), schedule="iterations", every_iterations=2, seed=1)
    for x, y in _data(40):
        joint = together.loss(x, y)
        searched = apart.search_step(x, y)
        split = apart.loss(x, y, search=False)
        assert split.search is None and (joint.search is None) == (searched is None)
        torch.testing.assert_close(split.total, joint.total)
    assert together.iteration == apart.iteration == 5 and together.sampler.steps == apart.sampler.steps == 3


def test_state_dict_resumes_a_run_bit_exactly() -> None:
    batches, search = _data(16), _data(16, seed=1)

    def fresh() -> tuple[nn.Module, ews.EWS, torch.optim.Optimizer]:
        model = tiny_model("resnet20")
        enhancer = ews.EWS(model, K=1, seed=5)
        return model, enhancer, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    model, enhancer, optimizer = fresh()
    enhancer.on_train_start(search)
    _train(enhancer, optimizer, batches, range(2), search)
    state = copy.deepcopy({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "ews": enhancer.state_dict()})  # state dicts hold live tensors, as torch's do
    _train(enhancer, optimizer, batches, range(2, 4), search)

    resumed_model, resumed, resumed_optimizer = fresh()
    resumed_model.load_state_dict(state["model"])
    resumed_optimizer.load_state_dict(state["optimizer"])
    resumed.load_state_dict(state["ews"])
    _train(resumed, resumed_optimizer, batches, range(2, 4), search)
    for key, value in model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[key], value), key
    assert resumed.state_dict()["sampler"]["steps"] == enhancer.state_dict()["sampler"]["steps"] == 10


def test_a_state_saved_before_the_searched_epoch_was_kept_still_loads() -> None:
    enhancer = ews.EWS(tiny_model("resnet20"), K=1)
    enhancer.on_train_start(_data(8))
    state = enhancer.state_dict()
    assert state["searched_epoch"] == 1
    restored = ews.EWS(tiny_model("resnet20"), K=1)
    restored.load_state_dict({key: value for key, value in state.items() if key != "searched_epoch"})
    assert restored.searched_epoch is None and restored.sampler.steps == 1  # unknown, not guessed
    restored.load_state_dict(state)
    assert restored.searched_epoch == 1


def test_state_of_another_subnet_space_is_refused() -> None:
    state = ews.EWS(tiny_model("resnet20"), rho=0.5).state_dict()
    with pytest.raises(CheckpointError, match="made for subnet space"):
        ews.EWS(tiny_model("resnet20"), rho=0.7).load_state_dict(state)
    with pytest.raises(CheckpointError, match="lacks"):
        ews.EWS(tiny_model("resnet20")).load_state_dict({"sampler": {}})


def test_adversarial_objective_scores_the_search_on_pgd_images() -> None:
    model = tiny_model("resnet20")
    enhancer = ews.EWS(model, objective=Objective("at"), K=1)
    seen = _record_search_images(enhancer)
    clean = _data(8)
    enhancer.on_train_start(clean)
    assert not torch.equal(seen[0], clean[0][0])  # perturbed
    assert float((seen[0] - clean[0][0]).abs().max()) <= 8 / 255 + 1e-6
    assert torch.isfinite(enhancer.loss(*clean[0]).total)  # x' made by the objective's PGD when not given


@pytest.mark.parametrize("search_adversarial", [True, False])
def test_iteration_schedule_scores_pgd_images_only_when_searching_on_adversarial_ones(search_adversarial: bool) -> None:
    """`adversarial.search_on_adversarial` holds under `schedule: iterations` as under `epochs` (Sec. 3.4.1)."""
    enhancer = ews.EWS(tiny_model("resnet20"), objective=Objective("at"), schedule="iterations", every_iterations=1,
                       search_adversarial=search_adversarial)
    seen = _record_search_images(enhancer)
    x, y = _data(8)[0]
    assert enhancer.loss(x, y).search is not None
    assert torch.equal(seen[0], x) is not search_adversarial


def test_on_epoch_end_searches_nothing_after_the_last_epoch_when_told_how_many() -> None:
    enhancer = ews.EWS(tiny_model("resnet20"), K=2)
    search = _data(8)
    assert enhancer.on_epoch_end(2, search, epochs=3) is None  # epoch 4 would be a K-th one, but the run has 3
    assert enhancer.sampler.steps == 0
    assert enhancer.on_epoch_end(0, search, epochs=3) is not None  # epoch 2 (counted from 1) is in the run
    assert enhancer.on_epoch_end(2, search) is not None  # without epochs, as before: the next K-th epoch's round
    with pytest.raises(UserError, match=r"^on_epoch_end: epoch counts from 0 and must be < epochs \(3\), got 3$"):
        enhancer.on_epoch_end(3, search, epochs=3)
    with pytest.raises(ConfigError, match="^epochs must be a whole number >= 1, got 0$"):
        enhancer.on_epoch_end(0, search, epochs=0)


def test_l1_without_a_search_before_training_is_allowed_under_the_iteration_schedule() -> None:
    x, y = _data(8)[0]
    enhancer = ews.EWS(tiny_model("resnet20"), strategy="l1", schedule="iterations", before_training=False)
    assert enhancer.loss(x, y).search is not None  # step 0 searches before the first subnet is drawn


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rho": 1.5}, r"rho must be in \(0, 1\], got 1.5"),
    ({"rho": 0}, r"rho must be in \(0, 1\], got 0"),
    ({"lam": -1.0}, "lam must be a finite number >= 0, got -1.0"),
    ({"lam": math.nan}, "lam must be a finite number"),
    ({"strategy": "greedy"}, "strategy must be one of controller, random, l1, got 'greedy'"),
    ({"subnet_loss": "mse"}, "subnet_loss must be one of kl, ce"),
    ({"schedule": "steps"}, "search schedule must be one of epochs, iterations"),
    ({"K": 0}, "K must be a whole number >= 1, got 0"),
    ({"passes": 0}, "passes must be a whole number >= 1"),
    ({"kl_reduction": "sum"}, "kl_reduction must be one of batchmean, mean, got 'sum'"),
    ({"reading": "paper"}, "unknown reading 'paper'; allowed: default, paper-text, authors"),
    ({"strategy": "l1", "before_training": False},
     r"search strategy 'l1' under the 'epochs' schedule needs before_training .*allowed: before_training true, "
     r"schedule 'iterations', or another strategy"),
])
def test_bad_settings_are_refused_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        ews.EWS(tiny_model("resnet20"), **kwargs)
    assert "\n" not in str(error.value)


def test_a_model_without_residual_blocks_is_refused() -> None:
    with pytest.raises(ConfigError, match="Sequential has no ews PathBlock, .*supported: ResNet, ViT and ConvNeXt"):
        ews.EWS(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 5)))


def test_a_model_of_unknown_blocks_is_refused_naming_the_block_class() -> None:
    class Unknown(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.fc(x)

    with pytest.raises(ConfigError, match=r"PathBlock \(its blocks are Unknown, 3x\), .*supported: ResNet, ViT and ConvNeXt"):
        ews.EWS(nn.Sequential(Unknown(), Unknown(), Unknown()))


def test_search_timing_is_the_papers_rule() -> None:
    timing = SearchTiming(K=3, before_training=False)
    assert [timing.before_epoch(e) for e in range(1, 7)] == [False, False, True, False, False, True]
    assert timing.before_epoch(6, epochs=6) and not timing.before_epoch(6, epochs=5)  # none after the last epoch
    assert not timing.at_step(0)
    assert SearchTiming(schedule="iterations", every_iterations=4).at_step(8)


def test_kl_reduction_mean_is_the_authors_scale_lambda_over_classes() -> None:
    model = tiny_model("resnet20")  # 5 classes
    x, y = _data()[0]
    true_kl = ews.EWS(model, seed=2, kl_reduction="batchmean").loss(x, y)
    authors = ews.EWS(model, seed=2).loss(x, y)  # the default scale is the authors'
    assert ews.EWS(model).objective.kl_reduction == "mean" == Config().ews.kl_reduction
    torch.testing.assert_close(authors.subnet, true_kl.subnet / 5)
    torch.testing.assert_close(authors.total, true_kl.base + true_kl.subnet / 5)


def test_a_rounds_gap_and_entropy_are_its_last_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model("resnet20")
    search = _data(32, seed=5)  # 32 images in batches of 8 (see _data): 4 controller steps a pass
    scored = []
    original = RandomBaseline.scored

    def counting(self, model, batches, **kwargs):
        for batch in original(self, model, batches, **kwargs):
            scored.append(len(batch[0]))
            yield batch

    monkeypatch.setattr(RandomBaseline, "scored", counting)
    enhancer = ews.EWS(model, seed=1, passes=3)
    stats = enhancer.search(search)
    one_pass = len(list(search))
    assert stats.controller_steps == 3 * one_pass == enhancer.sampler.steps
    assert len(scored) == one_pass and stats.subnets_evaluated == 3 * one_pass * enhancer.sampler.subnets_per_batch
    assert stats.random_subnet_accuracy is not None and stats.mean_entropy is not None


def test_each_search_round_reports_random_subnets_on_the_same_batches() -> None:
    model = tiny_model("resnet20")
    search = _data(32, seed=5)
    stats = ews.EWS(model, seed=1).search(search)
    assert stats.mean_subnet_accuracy is not None and stats.random_subnet_accuracy is not None
    assert 0.0 <= stats.random_subnet_accuracy <= 1.0
    # its own generator: the controller and the training draws are those of a run that does not measure the gap
    plain = ews.EWS(model, seed=1, measure_gap=False)
    assert plain.search(search).random_subnet_accuracy is None
    measured = ews.EWS(model, seed=1)
    measured.search(search)
    assert measured.sampler.state_dict()["steps"] == plain.sampler.state_dict()["steps"]
    torch.testing.assert_close(measured.sampler.state_dict()["policy"], plain.sampler.state_dict()["policy"])
    assert measured.sampler.sample(torch.Generator().manual_seed(0)) == plain.sampler.sample(
        torch.Generator().manual_seed(0))
