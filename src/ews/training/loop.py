"""One training epoch (paper Sec. 3.3: the base loss plus the subnet term, one subnet per step) and the
evaluation after it: the loop every run and every plain-PyTorch comparison goes through."""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..method import EWS
from ..objectives import Objective, StepLosses
from ..runtime import distributed, model_mode
from ..runtime.interrupts import StopFlag
from ..runtime.precision import autocast, grad_scaler, to_device
from ..runtime.progress import progress_bar
from ..search import SearchStats
from .divergence import CHECK_EVERY, NonFiniteGuard
from .epoch_state import EpochProgress


@dataclass
class EpochStats:
    train_loss: float
    train_accuracy: float
    subnet_loss: float | None
    seconds: float  # including any search done inside the epoch
    searches: list[SearchStats]
    skipped_steps: int = 0  # train.on_nonfinite skip: steps whose update was dropped
    bad_step: int | None = None  # the step (0-based) at which a non-finite loss stopped the epoch
    interrupted: EpochProgress | None = None  # set when a signal stopped the epoch between two steps


def search_summary(searches: list[SearchStats]) -> dict[str, Any]:
    """Metrics-log fields for the search rounds of one epoch."""
    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    searched = mean([s.mean_subnet_accuracy for s in searches])
    random = mean([s.random_subnet_accuracy for s in searches])
    return {
        "search_seconds": sum(s.seconds for s in searches),
        "search_steps": sum(s.controller_steps for s in searches),
        "search_subnet_accuracy": searched,
        "search_random_accuracy": random,  # as many uniform subnets on the same D_s batches
        "search_gap": None if searched is None or random is None else random - searched,  # > 0: searched are weaker
        "search_entropy": mean([s.mean_entropy for s in searches]),
    }


@dataclass(frozen=True)
class StepContext:
    """What every training step of a run shares, set once per run (the epoch's own inputs are arguments).

    `precision` autocasts attacks and losses; `scaler` scales fp16 losses. Non-finite
    losses are handled as `on_nonfinite` says (see `divergence.NonFiniteGuard`).
    """

    device: torch.device
    objective: Objective
    precision: str = "fp32"
    scaler: torch.amp.GradScaler | None = None
    channels_last: bool = False
    on_nonfinite: str = "stop"
    max_skipped_steps: int = 0
    progress: bool = True
    grad_clip: float | None = None  # clip the model's gradient norm to this before each optimiser step


class _EpochSums:
    """The epoch's loss, subnet loss and accuracy counts, kept on the device (the host reads them for the bar)."""

    def __init__(self, carry: EpochProgress, device: torch.device) -> None:
        if distributed.rank() > 0:  # an interrupted epoch's totals were summed over ranks and are held by rank 0
            carry = dataclasses.replace(carry, loss_sum=0.0, subnet_loss_sum=0.0, correct=0, seen=0)
        self.device = device
        self.loss = torch.tensor(carry.loss_sum, device=device)
        self.subnet = torch.tensor(carry.subnet_loss_sum, device=device)
        self.correct = torch.tensor(carry.correct, device=device, dtype=torch.long)
        self.seen = carry.seen

    def add(self, losses: StepLosses, y: Tensor) -> None:
        self.loss += losses.base * len(y)
        if losses.subnet is not None:
            self.subnet += losses.subnet * len(y)
        self.correct += (losses.logits.argmax(1) == y).sum()
        self.seen += len(y)

    def postfix(self) -> dict[str, str]:
        return {"loss": f"{self.loss.item() / self.seen:.3f}", "acc": f"{self.correct.item() / self.seen:.3f}"}

    def over_ranks(self) -> list[float]:
        """loss, subnet loss, correct, seen: added over every rank."""
        sums = torch.stack([self.loss.double(), self.subnet.double(), self.correct.double(),
                            torch.tensor(self.seen, device=self.device)])
        return distributed.sum_across_ranks(sums).tolist()


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, context: StepContext, x: Tensor, y: Tensor, *,
                plain: nn.Module, enhancer: EWS | None, awp_gamma: float | None, searches: list[SearchStats]
                ) -> StepLosses:
    """Attack (adversarial modes), the step's search (iteration schedule), then the objective's loss (through
    `enhancer` for EWS), back-propagated.

    `plain` is `model` without DDP (attacks and AWP run on it). The search scores its subnets
    before AWP perturbs the weights, on the weights this step trains (as the authors' scripts
    do). The optimiser step is the caller's, as the divergence guard may drop it.
    """
    objective = context.objective
    with autocast(context.device, context.precision):
        x_adv = objective.adversarial_examples(plain, x, y)
        search = None if enhancer is None else enhancer.search_step(x, y, x_adv=x_adv)
    if search is not None:
        searches.append(search)
    with objective.perturbed(plain, x, x_adv, y, gamma=awp_gamma) if awp_gamma else nullcontext():
        with autocast(context.device, context.precision):
            if enhancer is None:
                losses = objective.losses(model, x, x_adv, y, subnet=None)
            else:
                losses = enhancer.loss(x, y, x_adv=x_adv, model=model, search=False)
        optimizer.zero_grad(set_to_none=True)
        context.scaler.scale(losses.total).backward()
    return losses


def _optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, context: StepContext) -> None:
    """The (scaled) optimiser step, after `train.grad_clip` clips the model's gradient norm (over all ranks'
    summed gradients); gradients scaled for fp16 are unscaled first, so the limit is on the true gradient.
    """
    if context.grad_clip is not None:
        context.scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), context.grad_clip)
    context.scaler.step(optimizer)
    context.scaler.update()


def _stop_requested(stop: StopFlag | None, step: int, device: torch.device) -> bool:
    """A signal asked to stop; under DDP every rank agrees every CHECK_EVERY steps, so all stop after one step."""
    requested = bool(stop)
    if distributed.active():
        requested = (step + 1) % CHECK_EVERY == 0 and distributed.any_rank(requested, device)
    return requested


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    context: StepContext,
    *,
    enhancer: EWS | None,
    awp_gamma: float | None = None,
    desc: str = "train",
    first_step: int = 0,
    carry: EpochProgress | None = None,
    total: int | None = None,
    stop: StopFlag | None = None,
) -> EpochStats:
    """One pass over `loader`; with an `enhancer` (`ews.EWS`) one subnet per step (paper Sec. 3.3).

    Each step: adversarial examples of the full network (adversarial modes), then the
    objective on the weights (perturbed by AWP when `awp_gamma` is set, restored before
    the optimiser step); iteration-scheduled searches count steps from `first_step`.
    Under DDP `model` is the DDP wrapper (used for the loss only); attacks, AWP and the
    search run on the module inside, and the epoch's sums are added over ranks.
    `carry` continues an epoch interrupted after `carry.steps` steps (`loader` then yields
    the remaining batches; `total` is the epoch's length for the bar). A set `stop` ends
    the epoch after the current step, returning its totals in `interrupted`.
    """
    context = context if context.scaler else dataclasses.replace(context, scaler=grad_scaler(context.device, "fp32"))
    model.train()
    carry = carry or EpochProgress()
    start = time.perf_counter() - carry.seconds
    sums, steps, stopped = _EpochSums(carry, context.device), carry.steps, False
    searches: list[SearchStats] = list(carry.searches)
    guard = NonFiniteGuard(model, policy=context.on_nonfinite, max_skipped=context.max_skipped_steps,
                           device=context.device, skipped=carry.skipped)
    bar = progress_bar(loader, enabled=context.progress, desc=desc, leave=False, dynamic_ncols=True, total=total,
                       initial=steps)
    if enhancer is not None:
        enhancer.iteration = first_step + steps  # the run's step count, also after a resume
    plain = distributed.without_ddp(model)
    for step, (x, y) in enumerate(bar, start=steps):
        guard.before_step()
        x = to_device(x, context.device, channels_last=context.channels_last)
        y = y.to(context.device, non_blocking=True)
        losses = _train_step(model, optimizer, context, x, y, plain=plain, enhancer=enhancer, awp_gamma=awp_gamma,
                             searches=searches)
        steps = step + 1
        if guard.drop(losses.total, step):
            optimizer.zero_grad(set_to_none=True)
        else:
            _optimizer_step(model, optimizer, context)
            sums.add(losses, y)
        if context.progress and step % 10 == 0 and sums.seen:
            bar.set_postfix(sums.postfix())
        if guard.should_stop(step):
            break
        if _stop_requested(stop, step, context.device) and (total is None or steps < total):
            stopped = True  # after the last step the epoch ends as usual
            break
    return _epoch_stats(sums.over_ranks(), steps=steps, stopped=stopped, guard=guard, searches=searches,
                        subnets=enhancer is not None, seconds=time.perf_counter() - start)


def _epoch_stats(totals: list[float], *, steps: int, stopped: bool, guard: NonFiniteGuard,
                 searches: list[SearchStats], subnets: bool, seconds: float) -> EpochStats:
    """The epoch's means over all ranks, and the progress to resume from when a signal stopped it."""
    seen_all = max(totals[3], 1.0)
    interrupted = None
    if stopped:
        interrupted = EpochProgress(
            steps=steps, loss_sum=totals[0], subnet_loss_sum=totals[1], correct=int(totals[2]), seen=int(totals[3]),
            skipped=guard.skipped, seconds=seconds, searches=searches,
        )
    return EpochStats(
        train_loss=totals[0] / seen_all,
        train_accuracy=totals[2] / seen_all,
        subnet_loss=totals[1] / seen_all if subnets else None,
        seconds=seconds,
        searches=searches,
        skipped_steps=guard.skipped,
        bad_step=guard.bad_step,
        interrupted=interrupted,
    )


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, *, device: torch.device) -> float:
    """Top-1 accuracy of the full network in eval mode (under torchrun: over every rank's share)."""
    counts = torch.zeros(2, device=device, dtype=torch.long)  # correct, seen
    with model_mode(model, "eval"):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            counts[0] += (model(x).argmax(1) == y).sum()
            counts[1] += len(y)
    correct, total = distributed.sum_across_ranks(counts).tolist()
    return correct / max(total, 1)
