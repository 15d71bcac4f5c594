"""The training loop: Algorithm 1 of the paper, with checkpoints that make resuming exact.

`fit` runs epochs of `train_one_epoch` (cross-entropy plus, for EWS, the subnet term
on a subnet proposed by the sampler), evaluates after each epoch, and checkpoints
model, optimiser, schedule, sampler and every random-number generator, so a run
resumed from any epoch ends with the same weights as one never interrupted.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from .. import __version__
from ..config import Config, dump_config
from ..data import DatasetInfo, load
from ..data.splits import search_subset, validation_set, without_held_out
from ..errors import CheckpointError, ConfigError, DivergenceError
from ..models import create
from ..objectives import Objective, StepLosses, build_objective
from ..runs.checkpoint import load_checkpoint, save_checkpoint, state_dict_mismatch
from ..runs.run_dir import RunDir
from ..runs.run_lock import RunLock
from ..runs.tensorboard_log import with_tensorboard
from ..runtime import distributed, host_memory, model_mode
from ..runtime.interrupts import StopFlag, TrainingInterrupted, stop_on_signals
from ..runtime.precision import autocast, grad_scaler, to_device
from ..search import SearchStats, SubnetSampler, create_sampler
from ..subnets import SubnetSpace
from .divergence import CHECK_EVERY, NonFiniteGuard
from .epoch_state import EpochProgress, ResumePoint, skip_batches
from .provenance import collect as collect_provenance


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA on a machine without it is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but CUDA is not available; use cpu or auto")
    return torch.device(name)


def set_kernel_determinism(deterministic: bool, device: torch.device) -> None:
    """`train.deterministic`: deterministic kernels everywhere (cuBLAS needs its workspace setting
    before the first CUDA matmul); otherwise let cuDNN pick the fastest convolution algorithms."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic


def build_model(config: Config, info: DatasetInfo) -> nn.Module:
    """The configured model, normalising with the dataset's statistics."""
    options = dict(config.model.options)
    if config.method == "dropout":
        options["drop_rate"] = config.dropout.rate
    return create(config.model.name, num_classes=info.num_classes, mean=info.mean, std=info.std, **options)


def build_space(config: Config, model: nn.Module) -> SubnetSpace:
    """The subnet space the `ews` section describes."""
    e = config.ews
    return SubnetSpace.from_model(model, rho=e.rho, rho_paths=e.rho_paths, rho_channels=e.rho_channels, channels=e.channels)


def build_sampler(config: Config, model: nn.Module) -> SubnetSampler | None:
    """The weak-subnet sampler for `method: ews`; None for the other methods."""
    if config.method != "ews":
        return None
    return create_sampler(config.search, build_space(config, model), seed=config.seed + 2)


def build_optimizer(model: nn.Module, config: Config) -> torch.optim.Optimizer:
    t = config.train
    return torch.optim.SGD(
        model.parameters(), lr=t.lr, momentum=t.momentum, nesterov=t.nesterov and t.momentum > 0,
        weight_decay=t.weight_decay,
    )


def step_milestones(config: Config) -> list[int]:
    """Epochs (counted from the start, warm-up included) at which `step` divides the lr by 10.

    The paper decays at 1/3 and 2/3 of *all* epochs (ImageNet: 60 and 120 of 180), so the default is
    taken from `train.epochs`, never from the epochs left after warm-up; a decay never falls inside warm-up.
    """
    t = config.train
    return t.milestones or sorted({max(t.warmup_epochs + 1, f * t.epochs // 3) for f in (1, 2)})


def build_scheduler(optimizer: torch.optim.Optimizer, config: Config) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: the paper's /10 at 1/3 and 2/3 of training, or cosine; optional warm-up."""
    t = config.train
    main_epochs = t.epochs - t.warmup_epochs
    if t.schedule == "step":
        milestones = [m - t.warmup_epochs for m in step_milestones(config)]
        main = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    else:
        main = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, main_epochs))
    if not t.warmup_epochs:
        return main
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (t.warmup_epochs + 1), total_iters=t.warmup_epochs)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[t.warmup_epochs])


def search_set(config: Config) -> Dataset:
    """D_s: a fixed stratified `search.fraction` of the training images (never the validation split), unaugmented."""
    return search_subset(config.data, config.val_images, config.search.fraction, seed=config.seed)


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
    accuracies = [s.mean_subnet_accuracy for s in searches if s.mean_subnet_accuracy is not None]
    entropies = [s.mean_entropy for s in searches if s.mean_entropy is not None]
    return {
        "search_seconds": sum(s.seconds for s in searches),
        "search_steps": sum(s.controller_steps for s in searches),
        "search_subnet_accuracy": sum(accuracies) / len(accuracies) if accuracies else None,
        "search_entropy": sum(entropies) / len(entropies) if entropies else None,
    }


@dataclass(frozen=True)
class StepContext:
    """What every training step of a run shares, set once per run (the epoch's own inputs are arguments).

    `precision` autocasts attacks and losses; `scaler` scales fp16 losses. With
    `search_every = N` a searching sampler is updated on the current batch (adversarial
    images in adversarial modes) every N training steps: the authors' code's schedule.
    Non-finite losses are handled as `on_nonfinite` says (see `divergence.NonFiniteGuard`).
    """

    device: torch.device
    objective: Objective
    precision: str = "fp32"
    scaler: torch.amp.GradScaler | None = None
    channels_last: bool = False
    search_every: int | None = None
    on_nonfinite: str = "stop"
    max_skipped_steps: int = 0
    progress: bool = True


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
                subnet_source: tuple[SubnetSampler | None, torch.Generator], search_now: bool,
                awp_gamma: float | None, searches: list[SearchStats]) -> StepLosses:
    """Attack (adversarial modes), search (when due), sample a subnet, back-propagate the objective.

    The optimiser step is the caller's, as the divergence guard may drop it.
    """
    plain, objective = distributed.without_ddp(model), context.objective
    sampler, generator = subnet_source
    with autocast(context.device, context.precision):
        x_adv = objective.adversarial_examples(plain, x, y)
    if search_now:
        searches.append(sampler.update(plain, [(objective.search_images(x, x_adv), y)]))
    subnet = None if sampler is None else sampler.sample(generator)
    with objective.perturbed(plain, x, x_adv, y, gamma=awp_gamma) if awp_gamma else nullcontext():
        with autocast(context.device, context.precision):
            losses = objective.losses(model, x, x_adv, y, subnet=subnet)
        optimizer.zero_grad(set_to_none=True)
        context.scaler.scale(losses.total).backward()
    return losses


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
    sampler: SubnetSampler | None,
    generator: torch.Generator,
    awp_gamma: float | None = None,
    desc: str = "train",
    first_step: int = 0,
    carry: EpochProgress | None = None,
    total: int | None = None,
    stop: StopFlag | None = None,
) -> EpochStats:
    """One pass over `loader`; one subnet per step when a sampler is given (paper Sec. 3.3).

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
    bar = tqdm(loader, desc=desc, leave=False, disable=not context.progress, dynamic_ncols=True, total=total,
               initial=steps)
    searching = bool(context.search_every) and sampler is not None and sampler.searches
    for step, (x, y) in enumerate(bar, start=steps):
        guard.before_step()
        x = to_device(x, context.device, channels_last=context.channels_last)
        y = y.to(context.device, non_blocking=True)
        losses = _train_step(model, optimizer, context, x, y, subnet_source=(sampler, generator), awp_gamma=awp_gamma,
                             search_now=searching and (first_step + step) % context.search_every == 0,
                             searches=searches)
        steps = step + 1
        if guard.drop(losses.total, step):
            optimizer.zero_grad(set_to_none=True)
        else:
            context.scaler.step(optimizer)
            context.scaler.update()
            sums.add(losses, y)
        if context.progress and step % 10 == 0 and sums.seen:
            bar.set_postfix(sums.postfix())
        if guard.should_stop(step):
            break
        if _stop_requested(stop, step, context.device) and (total is None or steps < total):
            stopped = True  # after the last step the epoch ends as usual
            break
    return _epoch_stats(sums.over_ranks(), steps=steps, stopped=stopped, guard=guard, searches=searches,
                        subnets=sampler is not None, seconds=time.perf_counter() - start)


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


def _rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), **{name: g.get_state() for name, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    for name, g in generators.items():
        g.set_state(state[name])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


EpochCallback = Callable[[int, dict[str, Any]], None]


class Trainer:
    """Everything one run needs, built from a validated `Config` before any file is written."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.device = distributed.init(resolve_device(config.train.device))  # joins torchrun's group, if any
        host_memory.retain_for(self.device.type)
        self.batch_size = distributed.per_rank_batch(config.train.batch_size, key="train.batch_size")
        set_kernel_determinism(config.train.deterministic, self.device)
        d = config.data
        self.train_set, self.info = load(
            d.name, root=d.root, train=True, augment=d.augment, limit=d.limit, download=d.download,
            autoaugment_policy=d.autoaugment_policy, augmix=d.augmix, extra_train_roots=d.extra_train_roots,
        )
        self.test_set, _ = load(d.name, root=d.root, train=False, limit=d.limit, download=d.download)
        self.train_set = without_held_out(self.train_set, d, config.val_images)
        self.val_set = validation_set(d, config.val_images) if config.val_images else None
        self.objective = build_objective(config)
        torch.manual_seed(config.seed)
        self.model = build_model(config, self.info).to(self.device)
        if config.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_model = self._wrap(self.model)
        self.sampler = build_sampler(config, self.model)
        self.optimizer = build_optimizer(self.model, config)
        self.scheduler = build_scheduler(self.optimizer, config)
        self.scaler = grad_scaler(self.device, config.train.precision)
        if distributed.active():
            torch.manual_seed(config.seed + distributed.rank())  # ranks draw different augmentations
        self.generators = {
            "loader": torch.Generator().manual_seed(config.seed),
            "subnet": torch.Generator().manual_seed(config.seed + 1),
            "search": torch.Generator().manual_seed(config.seed + 3),
        }
        self.search_set = search_set(config) if self.sampler is not None and self.sampler.searches else None
        self.epoch = 0  # epochs completed
        self.best: dict[str, float] = {}  # early stopping: {"epoch", "robust_accuracy"} of best.pt
        self._resume_point: ResumePoint | None = None  # set by a checkpoint written inside an epoch
        self._epoch_loader_state: Tensor | None = None  # the loader generator when this epoch began
        self._stop: StopFlag | None = None  # set by SIGINT/SIGTERM while `fit` runs

    def _wrap(self, model: nn.Module) -> nn.Module:
        """The module the training loss runs through: compiled (`train.compile`), then DDP under torchrun.

        Subnet passes, attacks and searches use the plain module (`use_subnet` and
        `distributed.without_ddp`), so neither wrapper sees a subnet.
        """
        if self.config.train.compile:
            model = torch.compile(model)
        if distributed.active():
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids)
        return model

    def awp_gamma(self, epoch: int) -> float | None:
        """AWP's relative perturbation for `epoch`: None when off or still warming up."""
        a = self.config.adversarial
        if not self.config.train.awp or epoch <= a.awp_warmup:
            return None
        return self.objective.default_awp_gamma if a.awp_gamma is None else a.awp_gamma

    def robust_accuracy(self, dataset: Dataset) -> float:
        """PGD (`adversarial.eval_steps`) accuracy of the full network in eval mode, for early stopping."""
        counts = torch.zeros(2, device=self.device, dtype=torch.long)  # correct, seen
        with model_mode(self.model, "eval"):
            for x, y in self.loader(dataset, train=False):
                x, y = x.to(self.device), y.to(self.device)
                x_adv = self.objective.evaluation_attack(self.model, x, y)
                with torch.no_grad():
                    counts[0] += (self.model(x_adv).argmax(1) == y).sum()
                counts[1] += len(y)
        correct, total = distributed.sum_across_ranks(counts).tolist()
        return correct / max(total, 1)

    def search_due(self, epoch: int) -> bool:
        """Algorithm 1: search before every K-th epoch (and before the first, by default)."""
        s = self.config.search
        if self.search_set is None or s.schedule != "epochs":
            return False
        return (epoch == 1 and s.before_training) or epoch % self.config.ews.K == 0

    def search(self) -> SearchStats:
        """One search round: `search.passes` passes over D_s, one controller step per batch."""
        s = self.config.search
        loader = DataLoader(
            self.search_set, batch_size=s.batch_size, shuffle=True, generator=self.generators["search"],
            num_workers=self.config.data.num_workers, pin_memory=self.device.type == "cuda",
        )
        batches = (batch for _ in range(s.passes) for batch in loader)
        if self.objective.adversarial and self.config.adversarial.search_on_adversarial:
            batches = self._adversarial(batches)  # Sec. 3.4.1: vulnerable subnets on D_s'
        stats = self.sampler.update(self.model, batches)
        if distributed.active():  # rewards were summed over ranks; rank 0's state settles any rounding
            self.sampler.load_state_dict(distributed.broadcast_object(self.sampler.state_dict()))
        return stats

    def _adversarial(self, batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in batches:
            x, y = x.to(self.device), y.to(self.device)
            yield self.objective.adversarial_examples(self.model, x, y), y

    def loader(self, dataset: Dataset, *, train: bool) -> DataLoader:
        """Training batches (shuffled; under torchrun a `DistributedSampler` share) or evaluation batches.

        Under torchrun each rank evaluates every N-th image and the counts are summed,
        so every image is scored exactly once.
        """
        t, d = self.config.train, self.config.data
        sampler = None
        if distributed.active() and train:
            sampler = DistributedSampler(dataset, shuffle=True, seed=self.config.seed)
        elif distributed.active():
            dataset = Subset(dataset, range(distributed.rank(), len(dataset), distributed.world_size()))
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else t.eval_batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            generator=self.generators["loader"] if train and sampler is None else None,
            num_workers=d.num_workers,
            pin_memory=self.device.type == "cuda" if d.pin_memory is None else d.pin_memory,
            persistent_workers=d.num_workers > 0,
        )

    def state(self) -> dict[str, Any]:
        return {
            "ews_version": __version__,
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "dataset": dataclasses.asdict(self.info),  # classes and normalisation: export needs no data
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": {} if self.sampler is None else self.sampler.state_dict(),
            "rng": _rng_state(self.generators),
            "rank_rng": distributed.gather_objects(torch.get_rng_state()) if distributed.active() else [],
            "scaler": self.scaler.state_dict(),
            "best": dict(self.best),
        }

    def save(self, path: Path, *, extra: dict[str, Any] | None = None) -> None:
        """Checkpoint to `path` (plus `extra` entries): every rank contributes its state, rank 0 writes."""
        state = {**self.state(), **(extra or {})}
        if distributed.is_main():
            save_checkpoint(path, state)
        distributed.barrier()

    def load_state(self, path: Path) -> None:
        """Restore a checkpoint of this same run; a checkpoint of another model is refused."""
        self.restore(load_checkpoint(path, map_location=self.device), path)

    def restore(self, payload: dict[str, Any], path: Path) -> None:
        """Restore from an already loaded checkpoint `payload` (read from `path`)."""
        saved = payload.get("config", {})
        for section in ("model", "data"):
            mine = getattr(self.config, section)
            theirs = saved.get(section, {})
            if theirs.get("name") != mine.name or (section == "model" and theirs.get("options") != mine.options):
                raise CheckpointError(
                    f"checkpoint {path} was made for {section} {theirs.get('name')!r} "
                    f"{theirs.get('options', '')}, this run uses {mine.name!r}"
                )
        misfit = state_dict_mismatch(self.model, payload.get("model"))
        if misfit is not None:
            raise CheckpointError(f"checkpoint {path} does not fit this run: {misfit}")
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
            if self.sampler is not None:
                self.sampler.load_state_dict(payload["sampler"])
            _set_rng_state(payload["rng"], self.generators)
            self._restore_rank_rng(payload.get("rank_rng", []))
            if payload.get("scaler"):
                self.scaler.load_state_dict(payload["scaler"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit this run: {str(err).splitlines()[0]}") from None
        self.epoch = int(payload["epoch"])
        self.best = dict(payload.get("best", {}))
        position = payload.get("progress")  # written by an interrupt between two steps
        self._resume_point = None if position is None else ResumePoint.from_payload(position, payload, path=path)
        if self._resume_point is not None and self._resume_point.epoch != self.epoch + 1:
            raise CheckpointError(f"checkpoint {path} stops inside epoch {self._resume_point.epoch} "
                                  f"but records {self.epoch} finished epochs")

    def _restore_rank_rng(self, states: list[Tensor]) -> None:
        """Each rank's own global RNG when resuming with the same number of ranks; else fresh per-rank seeds."""
        if not distributed.active():
            return
        if len(states) == distributed.world_size():
            torch.set_rng_state(states[distributed.rank()])
        else:
            torch.manual_seed(self.config.seed + 1000 * (self.epoch + 1) + distributed.rank())

    def _epoch_batches(self, loader: DataLoader, resumed: ResumePoint | None) -> Iterator[Any]:
        """This epoch's batches, remembering the loader generator at the epoch start.

        After a mid-epoch resume the generator is rewound to the epoch start, so the
        sampler replays the same order; the batches already trained on are drawn and
        dropped (loaded, not computed), then every generator returns to its state at
        the interruption: the rest of the epoch is what the uninterrupted run did.
        """
        loader_rng = self.generators["loader"]
        if resumed is not None:
            loader_rng.set_state(resumed.loader_state)
        self._epoch_loader_state = loader_rng.get_state()
        if resumed is None:
            return iter(loader)
        batches = skip_batches(loader, resumed.progress.steps)
        _set_rng_state(resumed.rng, self.generators)
        self._restore_rank_rng(resumed.rank_rng)
        return batches

    def _check_finite(self, stats: EpochStats, *, epoch: int, steps: int, run: RunDir) -> None:
        """`train.on_nonfinite`: a non-finite loss (or too many skipped steps) ends the run, naming where.

        Nothing is saved after the bad step, so the checkpoint on disk is the last good state.
        A controller step with a non-finite loss was already skipped; under `stop` it ends the run too.
        """
        t = self.config.train
        searches = sum(s.skipped_steps for s in stats.searches)
        if stats.bad_step is None and not (searches and t.on_nonfinite == "stop"):
            return
        if stats.bad_step is None:
            what = f"the controller's loss was non-finite in {searches} search step(s) of epoch {epoch}"
        elif t.on_nonfinite == "skip":
            what = (f"more than train.max_skipped_steps={t.max_skipped_steps} steps of epoch {epoch} had a non-finite "
                    f"loss (the last at step {stats.bad_step + 1} of {steps})")
        else:
            what = f"non-finite loss in epoch {epoch} at step {stats.bad_step + 1} of {steps}"
        kept = (f"the last good checkpoint is {run.checkpoint}" if run.checkpoint.is_file()
                else "no checkpoint had been written yet")
        raise DivergenceError(f"training diverged: {what}; {kept}; lower train.lr, or set train.on_nonfinite=skip "
                              "to drop such steps")

    def _interrupt(self, run: RunDir, epoch: int, progress: EpochProgress | None) -> TrainingInterrupted:
        """After a signal: checkpoint the step boundary (inside an epoch) and say how to resume."""
        assert self._stop is not None and self._stop.signum is not None
        if progress is not None:
            assert self._epoch_loader_state is not None
            position = {"epoch": epoch, "loader_state": self._epoch_loader_state, **progress.to_dict()}
            self.save(run.checkpoint, extra={"progress": position})
            where = f"in epoch {epoch} after step {progress.steps}"
        else:
            where = f"after epoch {epoch}"
        name = signal.Signals(self._stop.signum).name
        return TrainingInterrupted(
            f"interrupted by {name} {where}; checkpoint saved to {run.checkpoint}; "
            f"resume with: ews train --out {run.root} --resume", signum=self._stop.signum)

    def fit(
        self, run: RunDir, *, resume: bool = False, on_epoch_end: EpochCallback | None = None,
        command: list[str] | None = None,
    ) -> dict[str, Any]:
        """Train to `train.epochs` in `run`, holding its lock; returns the final report.

        The lock (`RunLock`) keeps a second run out of the folder; SIGINT/SIGTERM end
        the current step, write a checkpoint that resumes exactly and raise
        `TrainingInterrupted`. `command` (default `sys.argv`) goes into `provenance.json`.
        """
        lock = RunLock(run.root) if distributed.is_main() else nullcontext()
        with lock, stop_on_signals() as stop:
            self._stop = stop
            try:
                return self._fit(run, resume=resume, on_epoch_end=on_epoch_end, command=command)
            finally:
                self._stop = None

    def _fit(
        self, run: RunDir, *, resume: bool, on_epoch_end: EpochCallback | None, command: list[str] | None = None
    ) -> dict[str, Any]:
        """Train to `train.epochs`, checkpointing each epoch; returns the final report."""
        config = self.config
        on_epoch_end = with_tensorboard(on_epoch_end, config.log, run.root)
        main = self._open(run, resume=resume, command=command)
        train_loader = self.loader(self.train_set, train=True)
        test_loader = self.loader(self.test_set, train=False)
        context = self.step_context(progress=config.log.progress and main)
        total = config.train.epochs
        for epoch in range(self.epoch + 1, total + 1):
            lr = self.optimizer.param_groups[0]["lr"]
            resumed, self._resume_point = self._resume_point, None
            carry = resumed.progress if resumed else EpochProgress.opening([self.search()] if self.search_due(epoch) else [])
            if isinstance(train_loader.sampler, DistributedSampler):
                train_loader.sampler.set_epoch(epoch)
            stats = train_one_epoch(
                self.train_model, self._epoch_batches(train_loader, resumed), self.optimizer, context,
                sampler=self.sampler, generator=self.generators["subnet"], awp_gamma=self.awp_gamma(epoch),
                desc=f"epoch {epoch}/{total}", first_step=(epoch - 1) * len(train_loader), carry=carry,
                total=len(train_loader), stop=self._stop,
            )
            self._check_finite(stats, epoch=epoch, steps=len(train_loader), run=run)
            if stats.interrupted is not None:
                raise self._interrupt(run, epoch, stats.interrupted)
            self.scheduler.step()
            accuracy = evaluate(distributed.without_ddp(self.train_model), test_loader, device=self.device)
            self.epoch = epoch
            line = {"epoch": epoch, "lr": lr, **self._epoch_line(stats, accuracy, run)}
            if main:
                run.append_metrics(line)  # before the checkpoint: a resume drops lines past its epoch
            self.save(run.checkpoint)
            if config.log.progress and main:
                tqdm.write(f"epoch {epoch}/{total}  loss {stats.train_loss:.4f}  train acc {stats.train_accuracy:.4f}  "
                           f"test acc {accuracy:.4f}  ({stats.seconds:.1f}s)")
            if on_epoch_end is not None and main:
                on_epoch_end(epoch, line)
            if distributed.any_rank(bool(self._stop), self.device) and epoch < total:
                raise self._interrupt(run, epoch, None)
        report = self._report(run, test_loader)
        if main:
            run.write_report(report)
        return report

    def step_context(self, *, progress: bool) -> StepContext:
        """The run's per-step settings for `train_one_epoch`."""
        t = self.config.train
        every = self.config.search.every_iterations if self.config.search.schedule == "iterations" else None
        return StepContext(device=self.device, objective=self.objective, precision=t.precision, scaler=self.scaler,
                           channels_last=t.channels_last, search_every=every, on_nonfinite=t.on_nonfinite,
                           max_skipped_steps=t.max_skipped_steps, progress=progress)

    def _open(self, run: RunDir, *, resume: bool, command: list[str] | None) -> bool:
        """Restore a resumed run and prepare its folder (rank 0 only, under torchrun); True on rank 0."""
        if resume:
            self.load_state(run.checkpoint)
        main = distributed.is_main()
        if main:
            run.start(dump_config(self.config), fresh=not resume)
            run.record_provenance(collect_provenance(self.config, device=self.device, argv=command), resumed=resume)
            if resume:
                run.keep_metrics_through(self.epoch)
        return main

    def _epoch_line(self, stats: EpochStats, accuracy: float, run: RunDir) -> dict[str, Any]:
        """The metrics-log line of an epoch; with early stopping, also the robust accuracy that picks `best.pt`."""
        line = {
            "train_loss": stats.train_loss, "train_accuracy": stats.train_accuracy, "subnet_loss": stats.subnet_loss,
            "test_accuracy": accuracy, "seconds": stats.seconds, **search_summary(stats.searches),
        }
        if self.config.train.on_nonfinite == "skip":
            line["skipped_steps"] = stats.skipped_steps
            line["search_skipped_steps"] = sum(s.skipped_steps for s in stats.searches)
        if self.val_set is not None and self.config.adversarial.val_images:
            line["val_robust_accuracy"] = self.robust_accuracy(self.val_set)
            if line["val_robust_accuracy"] > self.best.get("robust_accuracy", -1.0):
                self.best = {"epoch": self.epoch, "robust_accuracy": line["val_robust_accuracy"]}
                self.save(run.root / "best.pt")
        return line

    def _report(self, run: RunDir, test_loader: DataLoader) -> dict[str, Any]:
        """`report.json`: the final clean error and the run's facts."""
        config = self.config
        metrics = run.read_metrics()
        final = metrics[-1]["test_accuracy"] if metrics else evaluate(self.model, test_loader, device=self.device)
        report = {
            "method": config.method,
            "model": config.model.name,
            "dataset": config.data.name,
            "epochs": self.epoch,
            "clean_error": round(100.0 * (1.0 - final), 4),
            "train_seconds": round(sum(line["seconds"] for line in metrics), 3),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "mode": config.train.mode,
            "awp": config.train.awp,
        }
        if self.best:
            report["best_epoch"] = int(self.best["epoch"])
            report["best_val_robust_accuracy"] = round(self.best["robust_accuracy"], 6)
        return report
