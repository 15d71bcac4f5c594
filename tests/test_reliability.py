"""Faults during training: the run-folder lock, SIGINT/SIGTERM, non-finite losses and failing writes.

Every test here injects one fault in-process and checks that no finished work is lost:
the last checkpoint stays intact and resumes to the weights of a run never disturbed.
(Killing real `ews train` processes is in test_reliability_kill.py.)
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
from pathlib import Path

import pytest
import torch

from ews.runs.checkpoint import load_checkpoint, save_checkpoint
from ews.cli import main
from ews.config import load_config
from ews.errors import DivergenceError, RunBusyError, WriteError
from ews.runtime.interrupts import TrainingInterrupted
from ews.runs.run_dir import RunDir
from ews.runs.run_lock import RunLock
from ews.search import ControllerSampler
from ews.training.trainer import Trainer

TINY = ["data.limit=160", "model.options.width=4", "train.epochs=3", "train.batch_size=32",
        "train.deterministic=true", "log.progress=false"]


def tiny_config(*extra: str):
    return load_config(overrides=[*TINY, *extra])


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ews: error: ")
    return lines[0]


def assert_same_weights(a: Trainer, b: Trainer) -> None:
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key


def strip_seconds(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in line.items() if not k.endswith("seconds")} for line in lines]


def fault_at(trainer: Trainer, call: int, fault=None, *, nan_input: bool = False) -> None:
    """Disturb the `call`-th training step (0-based, counted over the run).

    `nan_input` feeds it NaN images (so its forward pass also spoils BatchNorm's running
    statistics); `fault(losses)` replaces the losses it returns.
    """
    losses = trainer.objective.losses
    calls = {"n": 0}

    def wrapped(model, x, *args, **kwargs):
        hit = calls["n"] == call
        calls["n"] += 1
        out = losses(model, x * float("nan") if hit and nan_input else x, *args, **kwargs)
        return fault(out) if hit and fault is not None else out

    object.__setattr__(trainer.objective, "losses", wrapped)  # a frozen dataclass; this instance only


def nan_loss(losses):
    return dataclasses.replace(losses, total=losses.total * float("nan"))


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Path]:
    """An uninterrupted EWS run: 3 epochs of 5 steps."""
    trainer = Trainer(tiny_config())
    run = RunDir(tmp_path_factory.mktemp("straight") / "run")
    trainer.fit(run)
    return trainer, run.root


# --- one run, one folder ---------------------------------------------------------------------------


def test_a_second_lock_on_a_folder_in_use_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunBusyError, match=rf"in use by ews train \(pid {os.getpid()}, started .*wait for it"):
            RunLock(tmp_path / "run").acquire()
        with pytest.raises(RunBusyError):
            RunLock(tmp_path / "run").check_free()
    RunLock(tmp_path / "run").check_free()  # released
    assert list((tmp_path / "run").iterdir()) == []


def test_a_stale_lock_of_a_killed_process_is_taken_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").write_text(json.dumps({"pid": 999999, "host": "elsewhere", "started": "yesterday"}))
    RunLock(tmp_path / "run").check_free()  # nobody holds its flock
    with RunLock(tmp_path / "run") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert "took over the stale lock" in capsys.readouterr().err


def test_ews_train_into_a_folder_in_use_exits_2_naming_the_lock_and_touches_nothing(
    straight: tuple[Trainer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = straight[1]
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with RunLock(folder):
        for extra in ([], ["--resume"], ["--overwrite"]):
            code = main(["train", "--out", str(folder), *[a for t in TINY for a in ("--set", t)], *extra])
            assert code == 2
            assert f"--out {folder} is in use by ews train (pid {os.getpid()}" in one_error_line(capsys.readouterr().err)
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"} == before


# --- SIGINT / SIGTERM ------------------------------------------------------------------------------


def test_a_signal_mid_epoch_saves_a_checkpoint_that_resumes_bit_identically(
    straight: tuple[Trainer, Path], tmp_path: Path
) -> None:
    signum = signal.SIGTERM
    trainer = Trainer(tiny_config())
    fault_at(trainer, 7, lambda losses: (os.kill(os.getpid(), signum), losses)[1])  # epoch 2, step 3 of 5
    run = RunDir(tmp_path / "run")
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit(run)
    assert info.value.exit_code == 128 + signum
    assert str(info.value) == (f"interrupted by {signal.Signals(signum).name} in epoch 2 after step 3; checkpoint "
                               f"saved to {run.checkpoint}; resume with: ews train --out {run.root} --resume")
    saved = load_checkpoint(run.checkpoint)
    assert saved["epoch"] == 1 and saved["progress"]["epoch"] == 2 and saved["progress"]["steps"] == 3
    assert signal.getsignal(signum) not in (None, signal.SIG_IGN) and not (run.root / ".lock").exists()

    resumed = Trainer(tiny_config())
    resumed.fit(run, resume=True)
    assert_same_weights(straight[0], resumed)
    assert strip_seconds(run.read_metrics()) == strip_seconds(RunDir(straight[1]).read_metrics())


def test_a_signal_in_the_last_step_of_an_epoch_resumes_bit_identically(straight: tuple[Trainer, Path], tmp_path: Path) -> None:
    trainer = Trainer(tiny_config())
    fault_at(trainer, 4, lambda losses: (os.kill(os.getpid(), signal.SIGTERM), losses)[1])  # last step of epoch 1
    run = RunDir(tmp_path / "run")
    with pytest.raises(TrainingInterrupted, match="by SIGTERM after epoch 1; checkpoint saved"):
        trainer.fit(run)
    resumed = Trainer(tiny_config())
    resumed.fit(run, resume=True)
    assert_same_weights(straight[0], resumed)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_stops_on_the_signal_prints_the_resume_hint_and_exits_128_plus_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    def interrupted(self, run, **kwargs):
        os.kill(os.getpid(), signum)  # caught by the handler `fit` installed: only the flag is set
        assert self._stop.signum == signum
        raise self._interrupt(run, 1, None)

    monkeypatch.setattr(Trainer, "_fit", interrupted)
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), *[a for t in TINY for a in ("--set", t)]])
    assert code == 128 + signum
    err = capsys.readouterr().err.strip()
    assert err == (f"ews: interrupted by {signal.Signals(signum).name} after epoch 1; checkpoint saved to "
                   f"{out / 'checkpoint.pt'}; resume with: ews train --out {out} --resume")
    assert signal.getsignal(signum) is not None and not (out / ".lock").exists()


# --- non-finite losses -----------------------------------------------------------------------------


def test_a_nan_loss_stops_naming_epoch_step_and_the_untouched_last_checkpoint(tmp_path: Path) -> None:
    trainer = Trainer(tiny_config())
    fault_at(trainer, 7, nan_loss)  # epoch 2, step 3
    run = RunDir(tmp_path / "run")
    with pytest.raises(DivergenceError) as info:
        trainer.fit(run)
    assert str(info.value).startswith(
        f"training diverged: non-finite loss in epoch 2 at step 3 of 5; the last good checkpoint is {run.checkpoint}")
    saved = load_checkpoint(run.checkpoint)
    assert saved["epoch"] == 1 and "progress" not in saved
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())
    assert [line["epoch"] for line in run.read_metrics()] == [1]


def test_skip_drops_the_bad_step_counts_it_and_trains_on(tmp_path: Path) -> None:
    config = tiny_config("train.on_nonfinite=skip", "train.max_skipped_steps=1")
    trainer = Trainer(config)
    fault_at(trainer, 7, nan_input=True)
    run = RunDir(tmp_path / "run")
    trainer.fit(run)
    assert [line["skipped_steps"] for line in run.read_metrics()] == [0, 1, 0]
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values() if v.is_floating_point())


def test_skip_stops_after_too_many_bad_steps(tmp_path: Path) -> None:
    trainer = Trainer(tiny_config("train.on_nonfinite=skip", "train.max_skipped_steps=0"))
    fault_at(trainer, 1, nan_input=True)
    with pytest.raises(DivergenceError, match="more than train.max_skipped_steps=0 steps of epoch 1 .* at step 2 of 5"):
        trainer.fit(RunDir(tmp_path / "run"))


def test_the_controller_skips_a_non_finite_update_and_reports_it() -> None:
    trainer = Trainer(tiny_config())
    sampler = trainer.sampler
    assert isinstance(sampler, ControllerSampler)
    before = {k: v.clone() for k, v in sampler.policy.state_dict().items()}
    result = sampler.policy_step(lambda subnets: torch.full((len(subnets),), float("nan")))
    assert result.skipped and sampler.steps == 0 and sampler.baseline is None
    assert all(torch.equal(v, sampler.policy.state_dict()[k]) for k, v in before.items())


def test_a_non_finite_controller_step_stops_training_under_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = Trainer(tiny_config())
    update = trainer.sampler.update
    monkeypatch.setattr(trainer.sampler, "update",
                        lambda *a, **k: dataclasses.replace(update(*a, **k), skipped_steps=1))
    with pytest.raises(DivergenceError, match="controller's loss was non-finite in 1 search step.* of epoch 1; no checkpoint"):
        trainer.fit(RunDir(tmp_path / "run"))


# --- failing writes -------------------------------------------------------------------------------


def _disk_full_for(monkeypatch: pytest.MonkeyPatch, name: str, *, after: int = 0) -> None:
    """Fail writes of `name` (its temporary file's fsync) with ENOSPC once `after` of them have succeeded."""
    real = os.fsync
    count = {"n": 0}

    def fsync(fd: int) -> None:
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{name}."):
            count["n"] += 1
            if count["n"] > after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the written file through /proc")


@needs_proc
def test_a_full_disk_keeps_the_previous_checkpoint_and_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "c.pt"
    save_checkpoint(target, {"epoch": 1})
    _disk_full_for(monkeypatch, "c.pt")
    with pytest.raises(WriteError) as info:
        save_checkpoint(target, {"epoch": 2})
    assert str(info.value) == f"could not write {target}: No space left on device; the previous version is intact"
    monkeypatch.undo()
    assert load_checkpoint(target)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@needs_proc
def test_a_failed_metrics_write_leaves_no_torn_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunDir(tmp_path)
    run.append_metrics({"epoch": 1})
    _disk_full_for(monkeypatch, "metrics.jsonl")
    with pytest.raises(WriteError, match=f"could not write {run.metrics}"):
        run.append_metrics({"epoch": 2, "train_loss": 0.5})
    assert run.read_metrics() == [{"epoch": 1}]


@needs_proc
def test_a_full_disk_during_training_exits_2_and_the_run_resumes(
    straight: tuple[Trainer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    args = ["train", "--out", str(out), *[a for t in TINY for a in ("--set", t)]]
    _disk_full_for(monkeypatch, "checkpoint.pt", after=1)  # epoch 2's checkpoint cannot be written
    assert main(args) == 2
    message = one_error_line(capsys.readouterr().err)
    assert message == (f"ews: error: could not write {out / 'checkpoint.pt'}: No space left on device; "
                       "the previous version is intact")
    monkeypatch.undo()
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert not (out / ".lock").exists() and not list(out.glob(".*.tmp"))
    assert main([*args, "--resume"]) == 0
    resumed = load_checkpoint(out / "checkpoint.pt")["model"]
    assert all(torch.equal(v, resumed[k]) for k, v in straight[0].model.state_dict().items())
