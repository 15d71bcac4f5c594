"""The `Trainer`: Algorithm 1 of the paper, with checkpoints that make resuming exact.

`fit` runs epochs of `loop.train_one_epoch` (the objective's loss, through `ews.EWS` for
method ews: the same object users call in their own loops), searches on the schedule,
evaluates after each epoch, and checkpoints
model, optimiser, schedule, sampler and every random-number generator, so a run
resumed from any epoch ends with the same weights as one never interrupted.
"""

from __future__ import annotations

import signal
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from ..config import Config, dump_config
from ..data import load
from ..data.splits import validation_set, without_held_out
from ..errors import CheckpointError, DivergenceError
from ..objectives import build_objective
from ..runs.checkpoint import load_checkpoint, save_checkpoint
from ..runs.run_dir import RunDir
from ..runs.run_lock import RunLock
from ..runs.tensorboard_log import with_tensorboard
from ..runtime import distributed, host_memory, model_mode
from ..runtime.device import resolve_device, set_kernel_determinism
from ..runtime.interrupts import StopFlag, TrainingInterrupted, stop_on_signals
from ..runtime.precision import grad_scaler, to_channels_last
from .build import build_ews, build_model, build_optimizer, build_scheduler, build_space, search_set  # noqa: F401
from .epoch_state import EpochProgress, ResumePoint, skip_batches
from .loop import EpochStats, StepContext, evaluate, search_summary, train_one_epoch

# The builders, the loop and `resolve_device` stay importable from here, where 0.1 defined them.
from .provenance import collect as collect_provenance
from .run_state import RunState
from .search_schedule import SearchSchedule


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
            d.name, root=d.root, train=True, augment=d.augment, limit=d.split_limit(True), download=d.download,
            autoaugment_policy=d.autoaugment_policy, augmix=d.augmix, extra_train_roots=d.extra_train_roots,
        )
        self.test_set, _ = load(d.name, root=d.root, train=False, limit=d.limit, download=d.download)
        self.train_set = without_held_out(self.train_set, d, config.val_images)
        self.val_set = validation_set(d, config.val_images) if config.val_images else None
        self.objective = build_objective(config)
        torch.manual_seed(config.seed)
        self.model = build_model(config, self.info).to(self.device)
        if config.train.channels_last:
            self.model = to_channels_last(self.model)
        self.train_model = self._wrap(self.model)
        self.ews = build_ews(config, self.model, self.objective)  # None for vanilla and dropout
        self.sampler = None if self.ews is None else self.ews.sampler
        self.optimizer = build_optimizer(self.model, config)
        self.scheduler = build_scheduler(self.optimizer, config)
        self.scaler = grad_scaler(self.device, config.train.precision)
        if distributed.active():
            torch.manual_seed(config.seed + distributed.rank())  # ranks draw different augmentations
        self.generators = {
            "loader": torch.Generator().manual_seed(config.seed),
            "subnet": torch.Generator().manual_seed(config.seed + 1) if self.ews is None else self.ews.generator,
            "search": torch.Generator().manual_seed(config.seed + 3),
        }
        self.run_state = RunState(config, self.info, self.model, self.optimizer, self.scheduler, self.sampler,
                                  self.scaler, self.generators)
        self.schedule = SearchSchedule(config, self.ews, device=self.device, generator=self.generators["search"])
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
        """The checkpoint's contents now (see `RunState`)."""
        return self.run_state.payload(epoch=self.epoch, best=self.best)

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
        """Restore from an already loaded checkpoint `payload` (read from `path`), and where in training it stopped."""
        self.run_state.restore(payload, path)
        self.epoch = int(payload["epoch"])
        self.best = dict(payload.get("best", {}))
        position = payload.get("progress")  # written by an interrupt between two steps
        self._resume_point = None if position is None else ResumePoint.from_payload(position, payload, path=path)
        if self._resume_point is not None and self._resume_point.epoch != self.epoch + 1:
            raise CheckpointError(f"checkpoint {path} stops inside epoch {self._resume_point.epoch} "
                                  f"but records {self.epoch} finished epochs")

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
        self.run_state.set_rng_state(resumed.rng)
        self.run_state.restore_rank_rng(resumed.rank_rng, epoch=self.epoch)
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
        monitor_loader, monitor = self._monitor(test_loader)
        context = self.step_context(progress=config.log.progress and main)
        total = config.train.epochs
        for epoch in range(self.epoch + 1, total + 1):
            lr = self.optimizer.param_groups[0]["lr"]
            resumed, self._resume_point = self._resume_point, None
            searches = [self.schedule.run()] if not resumed and self.schedule.due(epoch) else []
            carry = resumed.progress if resumed else EpochProgress.opening(searches)
            if isinstance(train_loader.sampler, DistributedSampler):
                train_loader.sampler.set_epoch(epoch)
            stats = train_one_epoch(
                self.train_model, self._epoch_batches(train_loader, resumed), self.optimizer, context,
                enhancer=self.ews, awp_gamma=self.awp_gamma(epoch),
                desc=f"epoch {epoch}/{total}", first_step=(epoch - 1) * len(train_loader), carry=carry,
                total=len(train_loader), stop=self._stop,
            )
            self._check_finite(stats, epoch=epoch, steps=len(train_loader), run=run)
            if stats.interrupted is not None:
                raise self._interrupt(run, epoch, stats.interrupted)
            self.scheduler.step()
            scores = {monitor: evaluate(distributed.without_ddp(self.train_model), monitor_loader, device=self.device)}
            if monitor != "test" and epoch == total:
                scores["test"] = evaluate(distributed.without_ddp(self.train_model), test_loader, device=self.device)
            self.epoch = epoch
            line = {"epoch": epoch, "lr": lr, **self._epoch_line(stats, scores, run)}
            if main:
                run.append_metrics(line)  # before the checkpoint: a resume drops lines past its epoch
            self.save(run.checkpoint)
            if config.log.progress and main:
                scored = "  ".join(f"{split} acc {value:.4f}" for split, value in scores.items())
                tqdm.write(f"epoch {epoch}/{total}  loss {stats.train_loss:.4f}  train acc {stats.train_accuracy:.4f}  "
                           f"{scored}  ({stats.seconds:.1f}s)")
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
        return StepContext(device=self.device, objective=self.objective, precision=t.precision, scaler=self.scaler,
                           channels_last=t.channels_last, on_nonfinite=t.on_nonfinite,
                           max_skipped_steps=t.max_skipped_steps, progress=progress, grad_clip=t.grad_clip)

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

    def _monitor(self, test_loader: DataLoader) -> tuple[DataLoader, str]:
        """The loader scored after every epoch and its split's name (`train.monitor`)."""
        if self.config.train.monitor == "val":
            return self.loader(self.val_set, train=False), "val"
        return test_loader, "test"

    def _epoch_line(self, stats: EpochStats, scores: dict[str, float], run: RunDir) -> dict[str, Any]:
        """The metrics-log line of an epoch (`{split}_accuracy` per scored split); with early stopping, also the
        robust accuracy that picks `best.pt`."""
        line = {
            "train_loss": stats.train_loss, "train_accuracy": stats.train_accuracy, "subnet_loss": stats.subnet_loss,
            **{f"{split}_accuracy": value for split, value in scores.items()}, "seconds": stats.seconds,
            **search_summary(stats.searches),
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
        final = metrics[-1].get("test_accuracy") if metrics else None
        if final is None:  # no epoch ran here, or the last line scored only val
            final = evaluate(self.model, test_loader, device=self.device)
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
