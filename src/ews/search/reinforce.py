"""Training the controller by policy gradient to find weak subnets (paper Sec. 3.2).

Each controller step samples C subnets, measures their accuracy on one search batch,
and follows REINFORCE with reward = -accuracy (a weaker subnet is a better find), a
baseline and an entropy bonus that keeps the policy exploring; Adam with gradient clipping.

The default baseline is leave-one-out: each subnet is compared with the mean reward of
the step's other C - 1 subnets, scored on the same images. The batch's difficulty then
cancels out of the advantage, the baseline is unbiased, and there is no state that would
have to catch up with a new reward level after the K epochs of training between two
search rounds. `moving-average` is a running mean of the rewards, restarted at every round
of the epoch schedule for that reason and kept over the whole run under the iteration
schedule, whose rounds are single steps (see `ControllerSampler.update`). `authors` is the
authors' scripts' rule: their running mean is fed the advantage `r - b`, not the reward `r`
(`b <- 0.99 b + 0.01 (r - b)`, from b = 0), so with one subnet per step it settles at half
the mean reward and each advantage is about half a reward: negative for every subnet.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from ..subnets import Subnet, SubnetSpace
from .base import SearchStats, SubnetSampler
from .controller import INITS, ControllerPolicy, authors_init
from .rewards import merge_small_batches, subnet_accuracies

BASELINES = ("leave-one-out", "moving-average", "authors")


@dataclass(frozen=True)
class ControllerSettings:
    """Hyper-parameters of the controller and its optimiser.

    The defaults are the authors' code's but for C (they sample 1), the baseline and the
    initialisation; `configs/authors/` sets those to theirs too.
    """

    subnets_per_step: int = 8  # C, subnets per policy-gradient step
    lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.999)
    entropy_weight: float = 0.005
    baseline: str = "leave-one-out"  # one of BASELINES
    baseline_decay: float = 0.99  # moving-average and authors only
    grad_clip: float = 3.0
    hidden_size: int = 100
    embedding_size: int = 100
    temperature: float | None = None
    tanh_constant: float | None = None
    init: str = "default"  # one of INITS: PyTorch's initialisation, or the authors' (`controller.authors_init`)

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, got {self.baseline!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.baseline == "leave-one-out" and self.subnets_per_step < 2:
            raise ValueError(f"a leave-one-out baseline needs at least 2 subnets per step, got {self.subnets_per_step}")


@dataclass(frozen=True)
class StepResult:
    mean_reward: float
    mean_accuracy: float
    entropy: float
    skipped: bool = False  # non-finite: the policy, its optimiser and the baseline were left alone


RewardFn = Callable[[Sequence[Subnet]], Tensor]  # subnets -> rewards, shape (C,)


def leave_one_out_advantages(rewards: Tensor) -> Tensor:
    """Each reward minus the mean of the other rewards of its step, shape (C,); C >= 2.

    Unlike the step's plain mean, the baseline of a subnet then does not contain its own
    reward, so the policy gradient stays unbiased; it is the plain mean's advantage times
    C / (C - 1).
    """
    count = rewards.numel()
    if count < 2:
        raise ValueError(f"a leave-one-out baseline needs at least 2 rewards, got {count}")
    return rewards - (rewards.sum() - rewards) / (count - 1)


class ControllerSampler(SubnetSampler):
    """Samples subnets from the LSTM policy; `update` trains the policy on the search set.

    The controller is small and lives on the CPU with its own generator, so its
    decisions never synchronise with an accelerator and are checkpointed exactly.
    """

    searches = True

    def __init__(self, space: SubnetSpace, settings: ControllerSettings = ControllerSettings(), *, seed: int = 0) -> None:
        super().__init__(space)
        self.settings = settings
        with torch.random.fork_rng(devices=[]):  # initialise without consuming the global stream
            torch.manual_seed(seed)
            self.policy = ControllerPolicy(
                space,
                hidden_size=settings.hidden_size,
                embedding_size=settings.embedding_size,
                temperature=settings.temperature,
                tanh_constant=settings.tanh_constant,
            )
            if settings.init == "authors":
                authors_init(self.policy)  # from the seeded stream above: the same draws for the same seed
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=settings.lr, betas=settings.betas)
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.steps = 0

    @property
    def subnets_per_batch(self) -> int:
        return self.settings.subnets_per_step

    def sample(self, generator: torch.Generator) -> Subnet:
        with torch.no_grad():
            return self.policy.sample(generator).subnet

    def policy_step(self, reward_fn: RewardFn) -> StepResult:
        """One REINFORCE step on C subnets sampled with the controller's own generator.

        A non-finite reward, loss or gradient norm skips the update (policy, Adam state and
        baseline unchanged) and is reported, so one bad batch cannot poison the policy;
        the trainer stops or carries on as `train.on_nonfinite` says.
        """
        samples = self.policy.sample_many(self.settings.subnets_per_step, self.generator)
        rewards = reward_fn([s.subnet for s in samples]).detach().double().cpu()
        mean_reward = float(rewards.mean())
        advantage = self._advantages(rewards)
        log_probs = torch.stack([s.log_prob for s in samples])
        entropy = torch.stack([s.entropy for s in samples]).mean()
        loss = -(advantage.float() * log_probs).mean() - self.settings.entropy_weight * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.policy.parameters(), self.settings.grad_clip)
        if not (math.isfinite(mean_reward) and torch.isfinite(loss) and torch.isfinite(norm)):
            self.optimizer.zero_grad(set_to_none=True)
            return StepResult(mean_reward, -mean_reward, float(entropy.detach()), skipped=True)
        self.optimizer.step()
        self._update_baseline(mean_reward, float(advantage.mean()))
        self.steps += 1
        return StepResult(mean_reward, -mean_reward, float(entropy.detach()))

    def _advantages(self, rewards: Tensor) -> Tensor:
        """Rewards minus the baseline `settings.baseline` names; a new moving average starts at the step's mean,
        the authors' at 0."""
        if self.settings.baseline == "leave-one-out":
            return leave_one_out_advantages(rewards)
        if self.settings.baseline == "authors":
            return rewards - (self.baseline or 0.0)
        return rewards - (float(rewards.mean()) if self.baseline is None else self.baseline)

    def _update_baseline(self, mean_reward: float, mean_advantage: float) -> None:
        """After a step taken: the moving average of the rewards, or the authors' moving average of the advantages."""
        if self.settings.baseline == "leave-one-out":
            return
        decay = self.settings.baseline_decay
        if self.settings.baseline == "authors":
            self.baseline = decay * (self.baseline or 0.0) + (1 - decay) * mean_advantage
        else:
            self.baseline = mean_reward if self.baseline is None else decay * self.baseline + (1 - decay) * mean_reward

    def update(self, model: nn.Module, search_batches: Iterable[tuple[Tensor, Tensor]], *,
               batch_on_every_rank: bool = False, continues: bool = False) -> SearchStats:
        """One search round: one controller step per search batch; reward = -(subnet accuracy on that batch).

        A running baseline (moving-average, authors) restarts here unless the round `continues`
        the last one: between two rounds of the epoch schedule the model trained for K epochs,
        so the old average says little about the new reward level, and a decay of 0.99 would
        take ~100 steps (more than a round) to forget it. The iteration schedule's rounds are
        single steps ten training steps apart: they continue each other, so the average runs
        over the whole run as in the authors' code (restarted, a one-subnet step's advantage
        would be its reward minus itself, always 0). A loader's tiny trailing batch is merged
        into the batch before it (`merge_small_batches`) rather than scored on its own.
        """
        start = time.perf_counter()
        device = next(model.parameters()).device
        if not continues:
            self.baseline = None
        results = []
        for x, y in merge_small_batches(search_batches):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            results.append(self.policy_step(
                lambda subnets: -subnet_accuracies(model, subnets, x, y, batch_on_every_rank=batch_on_every_rank)))
        taken = [r for r in results if not r.skipped]
        n = max(len(taken), 1)
        return SearchStats(
            seconds=time.perf_counter() - start,
            subnets_evaluated=len(results) * self.settings.subnets_per_step,
            mean_subnet_accuracy=sum(r.mean_accuracy for r in taken) / n if taken else None,
            controller_steps=len(taken),
            mean_entropy=sum(r.entropy for r in taken) / n if taken else None,
            skipped_steps=len(results) - len(taken),
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "steps": self.steps,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])  # a float in older checkpoints too
        self.steps = int(state["steps"])
        self.generator.set_state(state["generator"])
