"""`EWS`: the whole method as one object any training loop can call (paper Sec. 3, Algorithm 1).

Like timm's `Mixup` or `ModelEmaV3`, it holds everything EWS adds to training (the subnet
space, the weak-subnet sampler with its controller, the generator that draws each step's
subnet, the search schedule) and checkpoints it with `state_dict`. The caller keeps its
data, optimiser, precision and distribution; `ews.training.Trainer` is one such caller.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError, UserError
from ..objectives import DEFAULT_KL_REDUCTION, KL_REDUCTIONS, SUBNET_LOSSES, Objective, StepLosses, subnet_term
from ..runtime import distributed
from ..search import STRATEGIES, ControllerSettings, SearchStats, SubnetSampler, controller_settings, make_sampler
from ..search.gap import RandomBaseline
from ..subnets import DEFAULT_READING, SubnetSpace, check_rho, unwrap, use_subnet
from .settings import RunSettings
from .timing import SearchTiming, check_count, check_first_search

Batches = Iterable[tuple[Tensor, Tensor]]


@dataclass
class EWSLoss(StepLosses):
    """A step's loss: `total` to back-propagate, its detached parts, and the search it ran (if any)."""

    search: SearchStats | None = None


class EWS:
    """Enhance weak subnets of `model` in any training loop.

    Per step, `loss(x, y)` returns `CE(M(x), y) + lam * KL(p_full || p_subnet)` for a subnet
    the sampler proposes (or the objective's base loss: AugMix, AT, TRADES); `enhance(x, y,
    logits)` adds only the subnet term to a loss the caller computed. Searches for weak
    subnets run through `on_train_start` / `on_epoch_end` (`schedule="epochs"`: before every
    K-th epoch, on the search data given) or inside `loss` (`schedule="iterations"`: every
    `every_iterations` steps on that step's batch). Settings mirror the `ews:` and `search:`
    config sections and their defaults (`EWS.from_config` reads them).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        rho: float = 0.5,
        reading: str = DEFAULT_READING,
        rho_paths: float | None = None,
        rho_channels: float | None = None,
        channels: str | None = None,
        lam: float = 1.0,
        subnet_loss: str = "kl",
        kl_reduction: str = DEFAULT_KL_REDUCTION,
        strategy: str = "controller",
        K: int = 10,
        schedule: str = "epochs",
        every_iterations: int = 10,
        before_training: bool = True,
        passes: int = 1,
        controller: ControllerSettings | None = None,
        objective: Objective | None = None,
        search_adversarial: bool = True,
        measure_gap: bool = True,
        seed: int = 0,
    ) -> None:
        _check_settings(rho=rho, lam=lam, subnet_loss=subnet_loss, kl_reduction=kl_reduction, strategy=strategy,
                        passes=passes, schedule=schedule, before_training=before_training)
        self.model = model
        self.space = SubnetSpace.from_model(unwrap(model), rho=rho, reading=reading, rho_paths=rho_paths,
                                            rho_channels=rho_channels, channels=channels)
        self.timing = SearchTiming(schedule=schedule, K=K, every_iterations=every_iterations,
                                   before_training=before_training)
        self.sampler: SubnetSampler = make_sampler(strategy, self.space, controller, seed=seed + 2)
        self.objective = _with_term(objective or Objective("standard"), lam=lam, subnet_loss=subnet_loss,
                                    kl_reduction=kl_reduction)
        self.passes = passes
        self.search_adversarial = search_adversarial
        self.generator = torch.Generator().manual_seed(seed + 1)  # draws each step's subnet
        self.iteration = 0  # training steps taken through `loss` / `enhance` (the iteration schedule counts them)
        # The epoch (from 1) whose round `before_epoch` ran last; 0 before any, None when restored from a state
        # that did not record it. Lets a loop resumed mid-run tell whether the current epoch's round has run.
        self.searched_epoch: int | None = 0
        self.measure_gap, self.seed = measure_gap, seed  # measure_gap: score random subnets beside each round's

    @classmethod
    def from_config(cls, model: nn.Module, config: RunSettings, *, objective: Objective | None = None) -> EWS:
        """EWS as a run's config describes it (`ews:`, `search:`, `seed`, and the adversarial D_s' switch)."""
        e, s = config.ews, config.search
        return cls(model, rho=e.rho, reading=e.reading, rho_paths=e.rho_paths, rho_channels=e.rho_channels,
                   channels=e.channels, lam=e.lam, subnet_loss=e.subnet_loss, kl_reduction=e.kl_reduction,
                   strategy=s.strategy, K=e.K, schedule=s.schedule, every_iterations=s.every_iterations,
                   before_training=s.before_training, passes=s.passes,
                   controller=controller_settings(s), objective=objective,
                   search_adversarial=config.adversarial.search_on_adversarial, measure_gap=s.measure_gap,
                   seed=config.seed)

    @property
    def lam(self) -> float:
        return self.objective.lam

    @property
    def searches(self) -> bool:
        """True when the sampler learns from search data (the controller, L1); False for random subnets."""
        return self.sampler.searches

    # --- per training step -------------------------------------------------------------------------------
    def loss(self, x: Tensor, y: Tensor, *, x_adv: Tensor | None = None, model: nn.Module | None = None,
             search: bool = True) -> EWSLoss:
        """The step's loss with the EWS term, for a freshly sampled subnet.

        Costs one full forward pass (kept for the caller's backward) and one subnet forward
        (about rho of the full FLOPs at the default reading), plus a controller step when the
        iteration schedule makes one due. `model` (default: the model EWS was built on) may
        be its DistributedDataParallel or compiled wrapper. In adversarial objectives `x_adv`
        defaults to the objective's PGD against the full network. `search=False`: the caller
        already took this step's `search_step` (before perturbing the weights, for AWP).
        """
        net = self.model if model is None else model
        if self.objective.adversarial and x_adv is None:
            x_adv = self.objective.adversarial_examples(unwrap(net), x, y)
        stats = self.search_step(x, y, x_adv=x_adv) if search else None
        losses = self.objective.losses(net, x, x_adv, y, subnet=self.sampler.sample(self.generator))
        return EWSLoss(**vars(losses), search=stats)

    def enhance(self, x: Tensor, y: Tensor, logits: Tensor, *, model: nn.Module | None = None,
                search: bool = True) -> EWSLoss:
        """Only the EWS term, `lam * L_sub(subnet(x), logits)`, for a loss the caller computes on `logits = model(x)`.

        Costs one subnet forward (the full pass is the caller's); add `.total` to your loss.
        `base` is zero: the caller's own loss is not known here. `search` as in `loss`.
        """
        stats = self.search_step(x, y) if search else None
        with use_subnet(self.model if model is None else model, self.sampler.sample(self.generator)) as net:
            term = subnet_term(net(x), logits, y, kind=self.objective.subnet_loss,
                               kl_reduction=self.objective.kl_reduction)
        return EWSLoss(self.lam * term, logits.new_zeros(()).detach(), term.detach(), logits.detach(), search=stats)

    def search_step(self, x: Tensor, y: Tensor, *, x_adv: Tensor | None = None) -> SearchStats | None:
        """Count one training step; under the iteration schedule, when due, one controller step on its batch.

        `loss` and `enhance` call it. A loop that perturbs the weights before its loss (AWP)
        calls it first, so the rewards are measured on the weights being trained, as the
        authors' scripts do, then passes `search=False`. Subnets are scored on `x_adv` in
        adversarial objectives with `search_adversarial`, else on `x` (AugMix: its clean view);
        the running baseline carries over from the previous step, and with `measure_gap` as
        many random subnets are scored on the same batch.
        """
        step, self.iteration = self.iteration, self.iteration + 1
        if not (self.searches and self.timing.at_step(step)):
            return None
        images = self.objective.search_images(x, x_adv if self.search_adversarial else None)
        return self._update_with_gap(unwrap(self.model), [(images, y)], continues=True)

    # --- search rounds -----------------------------------------------------------------------------------
    def due(self, epoch: int, *, epochs: int | None = None) -> bool:
        """A search round is due before `epoch` (counted from 1): Algorithm 1's every K-th epoch.

        With the run's length `epochs` (T), none is due past the last epoch.
        """
        return self.searches and self.timing.before_epoch(epoch, epochs=epochs)

    def on_train_start(self, search_data: Batches | None = None, *,
                       batch_on_every_rank: bool = False) -> SearchStats | None:
        """Search before the first epoch when due (`before_training`), so training starts from a searched policy."""
        return self.before_epoch(1, search_data, batch_on_every_rank=batch_on_every_rank)

    def on_epoch_end(self, epoch: int, search_data: Batches | None = None, *, epochs: int | None = None,
                     batch_on_every_rank: bool = False) -> SearchStats | None:
        """After epoch `epoch` (counted from 0, like `range(epochs)` and Lightning): search when the next one is due.

        Pass the run's length `epochs` and no round runs after the last epoch, where nothing
        would train on its subnets. It is an argument of this call, not a setting of `EWS`,
        because only the end-of-epoch hook needs it and a resumed run may train longer.
        """
        if epochs is not None:
            check_count("epochs", epochs)
            if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < epochs:
                raise UserError(f"on_epoch_end: epoch counts from 0 and must be < epochs ({epochs}), got {epoch!r}")
        return self.before_epoch(epoch + 2, search_data, epochs=epochs, batch_on_every_rank=batch_on_every_rank)

    def before_epoch(self, epoch: int, search_data: Batches | None, *, epochs: int | None = None,
                     batch_on_every_rank: bool = False) -> SearchStats | None:
        """Run the search round due before `epoch` (counted from 1), if any; None when none is due.

        `search_data` may be None when no search is due; `epochs` as in `due`; see `search` for the rest.
        """
        if not self.due(epoch, epochs=epochs):
            return None
        if search_data is None:
            raise UserError(f"a weak-subnet search is due before epoch {epoch} but no search_data was given; pass a "
                            "DataLoader over D_s (about 10% of the training images, unaugmented)")
        stats = self.search(search_data, batch_on_every_rank=batch_on_every_rank)
        self.searched_epoch = epoch
        return stats

    def search(self, search_data: Batches, *, batch_on_every_rank: bool = False) -> SearchStats:
        """One search round: `passes` passes over `search_data`, one controller step per batch.

        Costs C (8) subnet forward passes per batch and no backward through the model.
        Under DDP each rank scores its own batches (a `DistributedSampler` shard) and the
        accuracies are summed over ranks, so every rank takes the same controller step; with
        `batch_on_every_rank` each rank holds the same batches and scores its share of each.
        In adversarial objectives the subnets are scored on PGD images (Sec. 3.4.1).

        The round's subnet accuracy, entropy and search gap are those of its last pass: the
        policy the round hands to training, after the passes before it re-adapted it to the
        K epochs trained since the last round (early steps still draw the subnets the model
        was just trained to strengthen). Random subnets are scored on that pass only.
        """
        plain = unwrap(self.model)
        earlier = None
        if self.passes > 1:
            earlier = self.sampler.update(plain, self._search_batches(plain, search_data, passes=self.passes - 1),
                                          batch_on_every_rank=batch_on_every_rank)
        stats = self._update_with_gap(plain, self._search_batches(plain, search_data, passes=1),
                                      batch_on_every_rank=batch_on_every_rank, continues=earlier is not None)
        if earlier is not None:
            stats = dataclasses.replace(
                stats, seconds=earlier.seconds + stats.seconds,
                subnets_evaluated=earlier.subnets_evaluated + stats.subnets_evaluated,
                controller_steps=earlier.controller_steps + stats.controller_steps,
                skipped_steps=earlier.skipped_steps + stats.skipped_steps)
        if distributed.active():  # rewards were summed over ranks; rank 0's state settles any rounding
            self.sampler.load_state_dict(distributed.broadcast_object(self.sampler.state_dict()))
        return stats

    def _update_with_gap(self, plain: nn.Module, batches: Batches, *, batch_on_every_rank: bool = False,
                         continues: bool = False) -> SearchStats:
        """The sampler's update on `batches`; with `measure_gap`, as many uniform subnets scored on each batch first."""
        baseline = None
        if self.measure_gap and self.sampler.subnets_per_batch:
            # Seeded by the steps trained so far (checkpointed): a resumed run draws the same random subnets.
            baseline = RandomBaseline(self.space, self.sampler.subnets_per_batch, seed=self.seed + 3 + self.iteration)
            batches = baseline.scored(plain, batches, batch_on_every_rank=batch_on_every_rank)
        stats = self.sampler.update(plain, batches, batch_on_every_rank=batch_on_every_rank, continues=continues)
        return stats if baseline is None else dataclasses.replace(stats, random_subnet_accuracy=baseline.mean())

    def _search_batches(self, plain: nn.Module, search_data: Batches, *, passes: int
                        ) -> Iterator[tuple[Tensor, Tensor]]:
        device = next(plain.parameters()).device
        adversarial = self.objective.adversarial and self.search_adversarial
        for _ in range(passes):
            for x, y in search_data:
                if adversarial:
                    x, y = x.to(device), y.to(device)
                    x = self.objective.adversarial_examples(plain, x, y)
                yield x, y

    # --- checkpoints -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Sampler (controller, its Adam state, baseline, generator), the subnet generator, the step count and
        the last searched epoch.

        Tensors and plain data only: it loads with `torch.load(..., weights_only=True)`.
        """
        return {"space": self._space_key(), "sampler": self.sampler.state_dict(),
                "generator": self.generator.get_state(), "iteration": self.iteration,
                "searched_epoch": self.searched_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where `state_dict` was taken; state of another subnet space is refused.

        States saved before `searched_epoch` was kept still load; it is then unknown (None).
        """
        missing = {"space", "sampler", "generator", "iteration"} - set(state)
        if missing:
            raise CheckpointError(f"EWS state lacks {', '.join(sorted(missing))}: it was not made by EWS.state_dict")
        if state["space"] != self._space_key():
            raise CheckpointError(f"EWS state was made for subnet space {state['space']}, this one is "
                                  f"{self._space_key()}")
        self.sampler.load_state_dict(state["sampler"])
        self.generator.set_state(state["generator"])
        self.iteration = int(state["iteration"])
        self.searched_epoch = state.get("searched_epoch")

    def _space_key(self) -> str:
        return f"{type(self.sampler).__name__} over {self.space!r}"


def _with_term(objective: Objective, *, lam: float, subnet_loss: str, kl_reduction: str) -> Objective:
    """`objective` with this EWS term; the very same object when it already has it (the caller's, e.g. the Trainer's)."""
    term = {"lam": lam, "subnet_loss": subnet_loss, "kl_reduction": kl_reduction}
    if all(getattr(objective, key) == value for key, value in term.items()):
        return objective
    return dataclasses.replace(objective, **term)


def _check_settings(*, rho: float, lam: float, subnet_loss: str, kl_reduction: str, strategy: str,
                    passes: int, schedule: str, before_training: bool) -> None:
    """One-line errors for bad settings, before anything is built."""
    check_rho("rho", rho)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
        raise ConfigError(f"lam must be a finite number >= 0, got {lam!r}")
    if subnet_loss not in SUBNET_LOSSES:
        raise ConfigError(f"subnet_loss must be one of {', '.join(SUBNET_LOSSES)}, got {subnet_loss!r}")
    if kl_reduction not in KL_REDUCTIONS:
        raise ConfigError(f"kl_reduction must be one of {', '.join(KL_REDUCTIONS)}, got {kl_reduction!r}")
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    check_count("passes", passes)
    check_first_search(strategy=strategy, schedule=schedule, before_training=before_training)
