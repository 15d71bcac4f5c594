"""What a checkpoint holds of a run, and putting it back, so a resumed run ends bit for bit where an
uninterrupted one would: weights, optimiser, schedule, sampler (controller, its optimiser and
baseline), the AMP scaler and every random-number generator, plus each rank's under torchrun.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._version import __version__
from ..config import Config
from ..data import DatasetInfo
from ..errors import CheckpointError
from ..runs.checkpoint import state_dict_mismatch
from ..runtime import distributed
from ..search import SubnetSampler


@dataclass
class RunState:
    """The stateful parts of one run, which the `Trainer` builds and trains."""

    config: Config
    info: DatasetInfo
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: SubnetSampler | None
    scaler: torch.amp.GradScaler
    generators: dict[str, torch.Generator]

    def payload(self, *, epoch: int, best: dict[str, float]) -> dict[str, Any]:
        """The checkpoint's contents after `epoch` finished epochs (every rank contributes its RNG)."""
        return {
            "ews_version": __version__,
            "epoch": epoch,
            "config": self.config.to_dict(),
            "dataset": dataclasses.asdict(self.info),  # classes and normalisation: export needs no data
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": {} if self.sampler is None else self.sampler.state_dict(),
            "rng": self.rng_state(),
            "rank_rng": distributed.gather_objects(torch.get_rng_state()) if distributed.active() else [],
            "scaler": self.scaler.state_dict(),
            "best": dict(best),
        }

    def restore(self, payload: dict[str, Any], path: Path) -> None:
        """Put back a checkpoint of this same run (`path` names it in errors); another model's is refused."""
        self._check_same_run(payload, path)
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
            if self.sampler is not None:
                self.sampler.load_state_dict(payload["sampler"])
            self.set_rng_state(payload["rng"])
            self.restore_rank_rng(payload.get("rank_rng", []), epoch=int(payload["epoch"]))
            if payload.get("scaler"):
                self.scaler.load_state_dict(payload["scaler"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit this run: {str(err).splitlines()[0]}") from None

    def _check_same_run(self, payload: dict[str, Any], path: Path) -> None:
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

    def rng_state(self) -> dict[str, Any]:
        """The global torch (and CUDA) generators and the run's own, by name."""
        state = {"torch": torch.get_rng_state(), **{name: g.get_state() for name, g in self.generators.items()}}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        for name, g in self.generators.items():
            g.set_state(state[name])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

    def restore_rank_rng(self, states: list[Tensor], *, epoch: int) -> None:
        """Each rank's own global RNG when resuming with the same number of ranks; else fresh per-rank seeds."""
        if not distributed.active():
            return
        if len(states) == distributed.world_size():
            torch.set_rng_state(states[distributed.rank()])
        else:
            torch.manual_seed(self.config.seed + 1000 * (epoch + 1) + distributed.rank())
