"""One training step (training.loop): the iteration schedule's search precedes AWP; model gradients are clipped."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pytest
import torch

from ews.errors import ConfigError
from ews.objectives import Objective
from ews.runs.run_dir import RunDir
from ews.training.loop import StepContext, train_one_epoch
from ews.training.trainer import Trainer

from ..conftest import tiny_model
from .test_trainer import tiny_config


def test_rewards_are_scored_before_awp_perturbs_the_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authors' AT/TRADES scripts step the controller, then perturb the weights (AWP) for the model's step."""
    state = {"perturbed": False, "entered": 0}
    original = Objective.perturbed

    @contextlib.contextmanager
    def flagged(self: Objective, *args: object, **kwargs: object) -> Iterator[None]:
        with original(self, *args, **kwargs):
            state["perturbed"], state["entered"] = True, state["entered"] + 1
            try:
                yield
            finally:
                state["perturbed"] = False

    monkeypatch.setattr(Objective, "perturbed", flagged)
    trainer = Trainer(tiny_config("train.mode=at", "train.awp=true", "adversarial.steps=1", "train.epochs=1",
                                  "search.schedule=iterations", "search.every_iterations=2"))
    seen: list[bool] = []
    update = trainer.sampler.update
    def recording(model: torch.nn.Module, batches: object, **kw: bool) -> object:
        seen.append(state["perturbed"])
        return update(model, batches, **kw)

    trainer.sampler.update = recording
    trainer.fit(RunDir(tmp_path / "run"))
    assert state["entered"] == 5 and seen == [False, False, False]  # 5 steps under AWP; controller steps 0, 2, 4


def _update_norm(grad_clip: float | None) -> float:
    """How far one plain SGD step (lr 1, no momentum or decay) moves the weights of a tiny model."""
    model = tiny_model("resnet20")
    g = torch.Generator().manual_seed(0)
    batch = [(torch.rand(8, 3, 32, 32, generator=g), torch.randint(0, 5, (8,), generator=g))]
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    context = StepContext(device=torch.device("cpu"), objective=Objective("standard"), progress=False,
                          grad_clip=grad_clip)
    train_one_epoch(model, batch, optimizer, context, enhancer=None)
    return float(torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]).norm())


def test_grad_clip_bounds_the_models_gradient_norm() -> None:
    """`train.grad_clip` (the authors' clean scripts: 3): with lr 1 the step is the clipped gradient itself."""
    assert _update_norm(None) > 0.05
    assert _update_norm(0.05) == pytest.approx(0.05, rel=1e-4)


def test_train_grad_clip_reaches_the_step_and_is_validated() -> None:
    assert Trainer(tiny_config("train.grad_clip=3")).step_context(progress=False).grad_clip == 3.0
    assert Trainer(tiny_config()).step_context(progress=False).grad_clip is None
    with pytest.raises(ConfigError, match="train.grad_clip must be a positive number, got 0.0"):
        tiny_config("train.grad_clip=0")
