"""The trainer: Algorithm 1 runs, learns, and resumes to bit-identical weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ews.attacks import adversarial_errors
from ews.config import load_config
from ews.data import load
from ews.errors import CheckpointError
from ews.runs.run_dir import RunDir
from ews.search import ControllerSampler
from ews.training.build import build_optimizer, build_scheduler
from ews.training.trainer import Trainer


def tiny_config(*extra: str):
    return load_config(
        overrides=[
            "data.limit=160",
            "model.options.width=4",
            "train.epochs=3",
            "train.batch_size=32",
            "train.deterministic=true",
            "log.progress=false",
            *extra,
        ]
    )


class Interrupt(Exception):
    pass


def _stop_after(epoch: int):
    def callback(done: int, line: dict) -> None:
        if done == epoch:
            raise Interrupt

    return callback


# Runs whose resume is checked: both methods that keep state beside the weights, and AdamW's moments.
RESUMED_RUNS = {
    "ews": ["method=ews"],
    "dropout": ["method=dropout"],
    "ews-adamw": ["method=ews", "train.optimizer=adamw", "train.lr=0.001", "train.weight_decay=0.05"],
    # the authors' recipe: a running baseline over the whole run (in the checkpoint), their controller initialisation
    "ews-authors": ["method=ews", "search.schedule=iterations", "search.every_iterations=2",
                    "search.subnets_per_step=1", "search.baseline=authors", "search.init=authors", "train.grad_clip=3"],
}


@pytest.mark.parametrize("extra", list(RESUMED_RUNS.values()), ids=list(RESUMED_RUNS))
def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path: Path, extra: list[str]) -> None:
    config = tiny_config(*extra)
    straight = Trainer(config)
    straight.fit(RunDir(tmp_path / "straight"))

    with pytest.raises(Interrupt):
        Trainer(config).fit(RunDir(tmp_path / "resumed"), on_epoch_end=_stop_after(1))
    resumed = Trainer(config)
    report = resumed.fit(RunDir(tmp_path / "resumed"), resume=True)

    assert report["epochs"] == 3
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    a, b = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert a and a.keys() == b.keys()  # SGD's momentum buffers; AdamW's step count and both moments
    assert all(a[i].keys() == b[i].keys() and all(torch.equal(a[i][k], b[i][k]) for k in a[i]) for i in a)
    strip = lambda lines: [{k: v for k, v in line.items() if not k.endswith("seconds")} for line in lines]  # noqa: E731
    assert strip(RunDir(tmp_path / "resumed").read_metrics()) == strip(RunDir(tmp_path / "straight").read_metrics())


def test_resume_drops_log_lines_written_after_the_checkpoint(tmp_path: Path) -> None:
    config = tiny_config("train.epochs=2")
    run = RunDir(tmp_path / "run")
    with pytest.raises(Interrupt):
        Trainer(config).fit(run, on_epoch_end=_stop_after(1))
    run.append_metrics({"epoch": 2, "seconds": 1.0, "test_accuracy": 0.0})  # as if killed before the checkpoint
    Trainer(config).fit(run, resume=True)
    assert [line["epoch"] for line in run.read_metrics()] == [1, 2]


def test_ews_training_learns_the_digits(tmp_path: Path) -> None:
    config = tiny_config("data.limit=400", "model.options.width=8", "train.epochs=4", "train.lr=0.05")
    trainer = Trainer(config)
    assert isinstance(trainer.sampler, ControllerSampler)  # the default for method: ews
    report = trainer.fit(RunDir(tmp_path / "run"))
    metrics = RunDir(tmp_path / "run").read_metrics()
    assert metrics[0]["search_steps"] > 0  # a search round before the first epoch
    assert all(line["subnet_loss"] > 0 for line in metrics)  # the subnet term is really there
    # chance is 90%; measured 50.8 (one path per block), 57.2 and 61.1 (both paths) on different CPU kernel paths
    assert report["clean_error"] < 75.0
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]


def test_methods_build_what_they_name() -> None:
    assert Trainer(tiny_config("method=vanilla")).sampler is None
    dropout = Trainer(tiny_config("method=dropout", "dropout.rate=0.2"))
    rates = [m.p for m in dropout.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates and all(p == 0.2 for p in rates)
    assert not any(isinstance(m, torch.nn.Dropout) for m in Trainer(tiny_config("method=ews")).model.modules())


def _epoch_lrs(config) -> list[float]:
    """The learning rate of each epoch under the configured schedule."""
    optimizer = build_optimizer(torch.nn.Linear(2, 2), config)
    scheduler = build_scheduler(optimizer, config)
    lrs = []
    for _ in range(config.train.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_sgd_is_the_papers_nesterov_sgd() -> None:
    optimizer = build_optimizer(torch.nn.Linear(2, 2), tiny_config())
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9
    assert optimizer.defaults["weight_decay"] == 5e-4


def test_adamw_takes_lr_betas_and_weight_decay_and_ignores_momentum() -> None:
    config = tiny_config("train.optimizer=adamw", "train.lr=0.001", "train.betas=[0.8, 0.99]",
                         "train.weight_decay=0.05", "train.momentum=0.5")
    optimizer = build_optimizer(torch.nn.Linear(2, 2), config)
    assert isinstance(optimizer, torch.optim.AdamW) and "momentum" not in optimizer.defaults
    assert (optimizer.defaults["lr"], optimizer.defaults["betas"], optimizer.defaults["weight_decay"]) == (
        0.001, (0.8, 0.99), 0.05)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_both_optimizers_decay_every_parameter_alike(optimizer: str) -> None:
    """One weight-decay rule: biases and norm weights are decayed too, in SGD as in AdamW."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    (group,) = build_optimizer(model, tiny_config(f"train.optimizer={optimizer}")).param_groups
    assert len(group["params"]) == 4 and group["weight_decay"] == 5e-4


def test_warmup_and_cosine_drive_adamw_like_sgd() -> None:
    sgd = _epoch_lrs(tiny_config("train.epochs=6", "train.schedule=cosine", "train.warmup_epochs=2"))
    adamw = _epoch_lrs(tiny_config("train.epochs=6", "train.schedule=cosine", "train.warmup_epochs=2",
                                   "train.optimizer=adamw"))
    assert adamw == pytest.approx(sgd)


def test_step_schedule_divides_by_ten_at_one_and_two_thirds() -> None:
    assert _epoch_lrs(tiny_config("train.epochs=6")) == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_step_schedule_with_warmup_decays_at_a_third_of_all_epochs() -> None:
    # the paper's ImageNet schedule: 180 epochs, 5 warm-up, /10 at epochs 60 and 120 (not 63 and 121)
    lrs = _epoch_lrs(tiny_config("train.epochs=180", "train.warmup_epochs=5"))
    assert [e for e in range(1, 180) if lrs[e] < lrs[e - 1] * 0.5] == [60, 120]
    assert lrs[0] < lrs[4] < lrs[5] == pytest.approx(0.1)


def test_explicit_milestones_hold_with_warmup() -> None:
    lrs = _epoch_lrs(tiny_config("train.epochs=6", "train.warmup_epochs=2", "train.milestones=[4]"))
    assert lrs[2:] == pytest.approx([0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_with_warmup_rises_then_decays() -> None:
    lrs = _epoch_lrs(tiny_config("train.epochs=6", "train.schedule=cosine", "train.warmup_epochs=2"))
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(0.1)
    assert lrs[2] > lrs[3] > lrs[4] > lrs[5]


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    Trainer(tiny_config("train.epochs=1")).fit(run)
    with pytest.raises(CheckpointError, match="model"):
        Trainer(tiny_config("train.epochs=2", "model.options.width=8")).fit(run, resume=True)


@pytest.mark.parametrize("strategy", ["controller", "l1", "random"])
def test_search_runs_on_the_schedule_of_algorithm_1(tmp_path: Path, strategy: str) -> None:
    config = tiny_config("train.epochs=4", "ews.K=2", f"search.strategy={strategy}")
    trainer = Trainer(config)
    assert [trainer.schedule.due(e) for e in range(1, 5)] == ([True, True, False, True] if strategy != "random" else [False] * 4)
    trainer.fit(RunDir(tmp_path / "run"))
    steps = [line["search_steps"] for line in RunDir(tmp_path / "run").read_metrics()]
    if strategy == "controller":
        assert steps[0] > 0 and steps[1] > 0 and steps[2] == 0 and steps[3] > 0
    else:
        assert steps == [0, 0, 0, 0]


def test_iterations_schedule_steps_the_controller_every_n_training_steps(tmp_path: Path) -> None:
    config = tiny_config("train.epochs=2", "search.schedule=iterations", "search.every_iterations=2")
    trainer = Trainer(config)
    assert not trainer.schedule.due(1)
    trainer.fit(RunDir(tmp_path / "run"))
    # 160 training images / batch 32 = 5 steps per epoch: controller steps at global steps 0, 2, 4 | 6, 8
    assert [line["search_steps"] for line in RunDir(tmp_path / "run").read_metrics()] == [3, 2]
    assert trainer.sampler.steps == 5


def test_iterations_schedule_searches_on_the_clean_view_of_augmix_batches(tmp_path: Path) -> None:
    trainer = Trainer(tiny_config("train.epochs=1", "data.augment=augmix", "search.schedule=iterations",
                                  "search.every_iterations=2"))
    shapes: list[tuple[int, ...]] = []
    update = trainer.sampler.update
    trainer.sampler.update = lambda model, batches, **kw: update(model, (shapes.append(tuple(x.shape)) or (x, y) for x, y in batches), **kw)
    trainer.fit(RunDir(tmp_path / "run"))
    assert shapes == [(32, 3, 32, 32)] * 3  # steps 0, 2, 4 of 5; the clean view, not the (B, 3, C, H, W) views


def test_objective_follows_the_mode_and_augmentation() -> None:
    assert Trainer(tiny_config()).objective.mode == "standard"
    augmix = Trainer(tiny_config("data.augment=augmix"))
    assert augmix.objective.mode == "augmix" and augmix.objective.jsd_weight == 12.0
    assert augmix.train_set[0][0].shape == (3, 3, 32, 32)  # clean + two AugMix views
    assert Trainer(tiny_config("data.augment=augmix", "data.augmix.jsd=false")).objective.mode == "standard"
    assert Trainer(tiny_config("train.mode=trades")).objective.adversarial


def test_augmix_with_jsd_trains_ews(tmp_path: Path) -> None:
    report = Trainer(tiny_config("data.augment=augmix", "train.epochs=1")).fit(RunDir(tmp_path / "run"))
    line = RunDir(tmp_path / "run").read_metrics()[0]
    assert report["epochs"] == 1 and line["subnet_loss"] > 0 and math.isfinite(line["train_loss"])


def test_early_stopping_holds_out_training_images_and_keeps_the_best_checkpoint(tmp_path: Path) -> None:
    config = tiny_config("adversarial.val_images=20", "adversarial.eval_steps=2", "method=vanilla")
    trainer = Trainer(config)
    assert len(trainer.train_set) == 160 - 20 and len(trainer.val_set) == 20
    run = RunDir(tmp_path / "run")
    report = trainer.fit(run)
    robust = [line["val_robust_accuracy"] for line in run.read_metrics()]
    assert report["best_epoch"] == 1 + robust.index(max(robust))
    best = torch.load(run.root / "best.pt", weights_only=True)
    assert best["epoch"] == report["best_epoch"] and best["best"]["robust_accuracy"] == max(robust)


def test_monitoring_val_scores_the_test_split_once_after_the_last_epoch(tmp_path: Path) -> None:
    config = tiny_config("method=vanilla", "data.val_images=32", "train.monitor=val", "train.epochs=2")
    trainer = Trainer(config)
    report = trainer.fit(RunDir(tmp_path / "run"))
    first, last = RunDir(tmp_path / "run").read_metrics()
    assert "val_accuracy" in first and "test_accuracy" not in first
    assert {"val_accuracy", "test_accuracy"} <= set(last)
    from ews.training.loop import evaluate
    test = evaluate(trainer.model, trainer.loader(trainer.test_set, train=False), device=trainer.device)
    assert last["test_accuracy"] == test and report["clean_error"] == round(100 * (1 - test), 4)


def test_monitoring_val_needs_a_validation_split() -> None:
    from ews.errors import ConfigError
    with pytest.raises(ConfigError, match="train.monitor val needs a validation split"):
        tiny_config("train.monitor=val")


@pytest.mark.parametrize("on_adversarial", [True, False])
def test_adversarial_search_scores_subnets_on_attacked_images(on_adversarial: bool) -> None:
    trainer = Trainer(tiny_config("train.mode=at", "adversarial.steps=2",
                                  f"adversarial.search_on_adversarial={str(on_adversarial).lower()}"))
    clean = {x.numpy().tobytes() for x, _ in trainer.schedule.images}
    scored: list[torch.Tensor] = []
    update = trainer.sampler.update
    trainer.sampler.update = lambda model, batches, **kw: update(model, (scored.append(x) or (x, y) for x, y in batches), **kw)
    trainer.schedule.run()
    images = [x.numpy().tobytes() for batch in scored for x in batch]
    assert len(images) == len(clean)
    # Sec. 3.4.1: vulnerable subnets are searched on PGD images of D_s, not on D_s itself
    assert all((image in clean) != on_adversarial for image in images)


@pytest.mark.slow
def test_short_adversarial_training_beats_standard_training_under_pgd_on_digits(tmp_path: Path) -> None:
    test, _ = load("digits", train=False, limit=120)
    x, y = torch.stack([image for image, _ in test]), torch.tensor([label for _, label in test])
    common = ["model.options.width=8", "train.epochs=8", "train.batch_size=64", "method=vanilla",
              "adversarial.eps=16/255", "adversarial.steps=3", "adversarial.step_size=6/255", "log.progress=false"]
    errors = {}
    for mode in ("standard", "at"):
        trainer = Trainer(load_config(overrides=[*common, f"train.mode={mode}"]))
        trainer.fit(RunDir(tmp_path / mode))
        errors[mode] = adversarial_errors(trainer.model, x, y, attacks=("pgd20",), eps=16 / 255)["pgd20_error"]
    # At eps 8/255 or after 5 epochs the gap changed sign with the CPU kernels. Measured PGD-20 error at
    # eps 16/255 (standard -> AT): 69.2 -> 30.8 (ATEN_CPU_CAPABILITY=default), 92.5 -> 39.2 (avx2),
    # 84.2 -> 28.3 (AVX-512): the smallest gap is 38 points.
    assert errors["at"] < errors["standard"] - 20, errors
