"""The training loop: Algorithm 1 of the paper, with checkpoints that make resuming exact.

`fit` runs epochs of `train_one_epoch` (cross-entropy plus, for EWS, the subnet term
on a subnet proposed by the sampler), evaluates after each epoch, and checkpoints
model, optimiser, schedule, sampler and every random-number generator, so a run
resumed from any epoch ends with the same weights as one never interrupted.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from . import __version__
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config, dump_config
from .data import DatasetInfo, labels_of, load, stratified_fraction, stratified_limit
from .errors import CheckpointError, ConfigError
from .models import create
from .objectives import Objective, build_objective
from .run_dir import RunDir
from .search import SearchStats, SubnetSampler, create_sampler
from .subnets import SubnetSpace


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA on a machine without it is an error."""
    from .errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but CUDA is not available; use cpu or auto")
    return torch.device(name)


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


def build_scheduler(optimizer: torch.optim.Optimizer, config: Config) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: the paper's /10 at 1/3 and 2/3 of training, or cosine; optional warm-up."""
    t = config.train
    main_epochs = t.epochs - t.warmup_epochs
    if t.schedule == "step":
        milestones = [m - t.warmup_epochs for m in t.milestones if m > t.warmup_epochs] or sorted(
            {max(1, main_epochs // 3), max(1, 2 * main_epochs // 3)}
        )
        main = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    else:
        main = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, main_epochs))
    if not t.warmup_epochs:
        return main
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (t.warmup_epochs + 1), total_iters=t.warmup_epochs)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[t.warmup_epochs])


def search_set(config: Config) -> Dataset:
    """D_s: a fixed stratified `search.fraction` of the training images, without augmentation."""
    d = config.data
    plain, _ = load(d.name, root=d.root, train=True, augment="none", limit=d.limit)
    return Subset(plain, stratified_fraction(labels_of(plain), config.search.fraction, seed=config.seed))


@dataclass
class EpochStats:
    train_loss: float
    train_accuracy: float
    subnet_loss: float | None
    seconds: float  # including any search done inside the epoch
    searches: list[SearchStats]


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


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    sampler: SubnetSampler | None,
    generator: torch.Generator,
    objective: Objective,
    awp_gamma: float | None = None,
    desc: str = "train",
    progress: bool = True,
    search_every: int | None = None,
    first_step: int = 0,
) -> EpochStats:
    """One pass over `loader`; one subnet per step when a sampler is given (paper Sec. 3.3).

    Each step: adversarial examples of the full network (adversarial modes), then the
    objective on the weights (perturbed by AWP when `awp_gamma` is set, restored before
    the optimiser step). With `search_every = N` a searching sampler is updated on the
    current batch (adversarial images in adversarial modes) every N training steps
    (counted from `first_step`): the authors' code's schedule.
    Running sums stay on the device; the host reads them only for the progress bar.
    """
    model.train()
    start = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    sub_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    searches: list[SearchStats] = []
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True)
    for step, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x_adv = objective.adversarial_examples(model, x, y)
        if search_every and sampler is not None and sampler.searches and (first_step + step) % search_every == 0:
            searches.append(sampler.update(model, [(x if x_adv is None else x_adv, y)]))
        subnet = None if sampler is None else sampler.sample(generator)
        with objective.perturbed(model, x, x_adv, y, gamma=awp_gamma) if awp_gamma else nullcontext():
            losses = objective.losses(model, x, x_adv, y, subnet=subnet)
            optimizer.zero_grad(set_to_none=True)
            losses.total.backward()
        optimizer.step()
        loss_sum += losses.base * len(y)
        if losses.subnet is not None:
            sub_sum += losses.subnet * len(y)
        correct += (losses.logits.argmax(1) == y).sum()
        seen += len(y)
        if progress and step % 10 == 0:
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}")
    return EpochStats(
        train_loss=loss_sum.item() / max(seen, 1),
        train_accuracy=correct.item() / max(seen, 1),
        subnet_loss=None if sampler is None else sub_sum.item() / max(seen, 1),
        seconds=time.perf_counter() - start,
        searches=searches,
    )


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, *, device: torch.device) -> float:
    """Top-1 accuracy of the full network in eval mode."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), device=device, dtype=torch.long)
    total = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        correct += (model(x).argmax(1) == y).sum()
        total += len(y)
    model.train(was_training)
    return correct.item() / max(total, 1)


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
        self.device = resolve_device(config.train.device)
        if config.train.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        d = config.data
        self.train_set, self.info = load(
            d.name, root=d.root, train=True, augment=d.augment, limit=d.limit, download=d.download,
            autoaugment_policy=d.autoaugment_policy, augmix=d.augmix, extra_train_roots=d.extra_train_roots,
        )
        self.test_set, _ = load(d.name, root=d.root, train=False, limit=d.limit, download=d.download)
        self.val_set = self._hold_out_validation() if config.adversarial.val_images else None
        self.objective = build_objective(config)
        torch.manual_seed(config.seed)
        self.model = build_model(config, self.info).to(self.device)
        self.sampler = build_sampler(config, self.model)
        self.optimizer = build_optimizer(self.model, config)
        self.scheduler = build_scheduler(self.optimizer, config)
        self.generators = {
            "loader": torch.Generator().manual_seed(config.seed),
            "subnet": torch.Generator().manual_seed(config.seed + 1),
            "search": torch.Generator().manual_seed(config.seed + 3),
        }
        self.search_set = search_set(config) if self.sampler is not None and self.sampler.searches else None
        self.epoch = 0  # epochs completed
        self.best: dict[str, float] = {}  # early stopping: {"epoch", "robust_accuracy"} of best.pt

    def _hold_out_validation(self) -> Dataset:
        """Rice et al.'s early stopping: a fixed stratified slice of the training split, unaugmented.

        The slice leaves training; extra (DeepAugment) folders are never held out.
        """
        d, count = self.config.data, self.config.adversarial.val_images
        plain, _ = load(d.name, root=d.root, train=True, augment="none", limit=d.limit)
        if count >= len(plain):
            raise ConfigError(f"adversarial.val_images must be < the {len(plain)} training images, got {count}")
        held = stratified_limit(labels_of(plain), count)
        kept = sorted(set(range(len(plain))) - set(held))
        self.train_set = torch.utils.data.ConcatDataset(
            [Subset(self.train_set.datasets[0], kept), *self.train_set.datasets[1:]]
        ) if isinstance(self.train_set, torch.utils.data.ConcatDataset) else Subset(self.train_set, kept)
        return Subset(plain, held)

    def awp_gamma(self, epoch: int) -> float | None:
        """AWP's relative perturbation for `epoch`: None when off or still warming up."""
        a = self.config.adversarial
        if not self.config.train.awp or epoch <= a.awp_warmup:
            return None
        return self.objective.default_awp_gamma if a.awp_gamma is None else a.awp_gamma

    def robust_accuracy(self, dataset: Dataset) -> float:
        """PGD (`adversarial.eval_steps`) accuracy of the full network in eval mode, for early stopping."""
        correct, total = 0, 0
        was_training = self.model.training
        self.model.eval()
        for x, y in self.loader(dataset, train=False):
            x, y = x.to(self.device), y.to(self.device)
            x_adv = self.objective.evaluation_attack(self.model, x, y)
            with torch.no_grad():
                correct += int((self.model(x_adv).argmax(1) == y).sum())
            total += len(y)
        self.model.train(was_training)
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
        return self.sampler.update(self.model, batches)

    def _adversarial(self, batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in batches:
            x, y = x.to(self.device), y.to(self.device)
            yield self.objective.adversarial_examples(self.model, x, y), y

    def loader(self, dataset: Dataset, *, train: bool) -> DataLoader:
        t, d = self.config.train, self.config.data
        return DataLoader(
            dataset,
            batch_size=t.batch_size if train else t.eval_batch_size,
            shuffle=train,
            generator=self.generators["loader"] if train else None,
            num_workers=d.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=d.num_workers > 0,
        )

    def state(self) -> dict[str, Any]:
        return {
            "ews_version": __version__,
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": {} if self.sampler is None else self.sampler.state_dict(),
            "rng": _rng_state(self.generators),
            "best": dict(self.best),
        }

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
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
            if self.sampler is not None:
                self.sampler.load_state_dict(payload["sampler"])
            _set_rng_state(payload["rng"], self.generators)
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit this run: {str(err).splitlines()[0]}") from None
        self.epoch = int(payload["epoch"])
        self.best = dict(payload.get("best", {}))

    def fit(self, run: RunDir, *, resume: bool = False, on_epoch_end: EpochCallback | None = None) -> dict[str, Any]:
        """Train to `train.epochs`, checkpointing each epoch; returns the final report."""
        config = self.config
        if resume:
            self.load_state(run.checkpoint)
        run.start(dump_config(config), fresh=not resume)
        if resume:
            run.keep_metrics_through(self.epoch)
        train_loader = self.loader(self.train_set, train=True)
        test_loader = self.loader(self.test_set, train=False)
        total = config.train.epochs
        iterations = config.search.schedule == "iterations"
        for epoch in range(self.epoch + 1, total + 1):
            lr = self.optimizer.param_groups[0]["lr"]
            rounds = [self.search()] if self.search_due(epoch) else []
            stats = train_one_epoch(
                self.model, train_loader, self.optimizer, device=self.device, sampler=self.sampler,
                generator=self.generators["subnet"], objective=self.objective, awp_gamma=self.awp_gamma(epoch),
                desc=f"epoch {epoch}/{total}", progress=config.log.progress,
                search_every=config.search.every_iterations if iterations else None,
                first_step=(epoch - 1) * len(train_loader),
            )
            searches = rounds + stats.searches
            if not math.isfinite(stats.train_loss):
                raise RuntimeError(
                    f"training diverged in epoch {epoch} (loss {stats.train_loss}); "
                    f"the last good checkpoint is {run.checkpoint}"
                )
            self.scheduler.step()
            accuracy = evaluate(self.model, test_loader, device=self.device)
            self.epoch = epoch
            line = {
                "epoch": epoch, "lr": lr, "train_loss": stats.train_loss, "train_accuracy": stats.train_accuracy,
                "subnet_loss": stats.subnet_loss, "test_accuracy": accuracy,
                "seconds": stats.seconds + sum(r.seconds for r in rounds),
                **search_summary(searches),
            }
            if self.val_set is not None:
                line["val_robust_accuracy"] = self.robust_accuracy(self.val_set)
                if line["val_robust_accuracy"] > self.best.get("robust_accuracy", -1.0):
                    self.best = {"epoch": epoch, "robust_accuracy": line["val_robust_accuracy"]}
                    save_checkpoint(run.root / "best.pt", self.state())
            run.append_metrics(line)  # before the checkpoint: a resume drops lines past its epoch
            save_checkpoint(run.checkpoint, self.state())
            if config.log.progress:
                tqdm.write(
                    f"epoch {epoch}/{total}  loss {stats.train_loss:.4f}  train acc {stats.train_accuracy:.4f}  "
                    f"test acc {accuracy:.4f}  ({stats.seconds:.1f}s)"
                )
            if on_epoch_end is not None:
                on_epoch_end(epoch, line)
        metrics = run.read_metrics()
        final = metrics[-1]["test_accuracy"] if metrics else evaluate(self.model, test_loader, device=self.device)
        seconds = sum(line["seconds"] for line in metrics)
        report = {
            "method": config.method,
            "model": config.model.name,
            "dataset": config.data.name,
            "epochs": self.epoch,
            "clean_error": round(100.0 * (1.0 - final), 4),
            "train_seconds": round(seconds, 3),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "mode": config.train.mode,
            "awp": config.train.awp,
        }
        if self.best:
            report["best_epoch"] = int(self.best["epoch"])
            report["best_val_robust_accuracy"] = round(self.best["robust_accuracy"], 6)
        run.write_report(report)
        return report
