"""`--backend ray` on a local Ray instance (2 CPUs): the local study's numbers, retried workers, reported failures."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from ews.analysis.backends import BackendOptions, open_backend
from ews.analysis.backends.worker import LOG_NAME
from ews.analysis.study import build_spec, run_study
from ews.analysis.study.runner import PlannedRun, run_all, train
from ews.cli import main
from ews.config import Config, load_config
from ews.errors import ConfigError, RunsFailed
from ews.runs.run_dir import RunDir

from ..conftest import TINY
from .conftest import STUDY, metric_values

ray = pytest.importorskip("ray")
from ews.analysis.backends.ray_tasks import check_answers  # noqa: E402 - needs ray

RAY = BackendOptions(name="ray")


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    """One Ray instance for the module; `open_backend` uses it rather than starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.mark.slow
def test_a_study_on_ray_equals_the_local_study_and_resumes(local_study: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "study"
    results = run_study(None, build_spec(STUDY), out=out, backend=RAY)
    assert metric_values(results) == metric_values(local_study)

    trained = (out / "vanilla" / "seed1" / "checkpoint.pt").stat().st_mtime_ns
    shutil.rmtree(out / "ews" / "seed2")  # as if the study had been stopped before this run
    again = run_study(None, build_spec(STUDY), out=out, backend=RAY)
    assert metric_values(again) == metric_values(local_study)
    assert (out / "vanilla" / "seed1" / "checkpoint.pt").stat().st_mtime_ns == trained
    assert "finished, skipped" in (out / "vanilla" / "seed1" / LOG_NAME).read_text()
    assert "ews/seed2: training" in (out / "ews" / "seed2" / LOG_NAME).read_text()


def _killed_after_first_epoch(item: PlannedRun) -> dict[str, Any]:
    """Test work: on its first attempt a run's worker is SIGKILLed as soon as its epoch-1 checkpoint exists."""
    marker = item.run.root.with_suffix(".killed")
    if item.name == "killed" and not marker.exists():
        marker.touch()

        def kill_mid_run() -> None:
            while not item.run.checkpoint.exists():
                time.sleep(0.005)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=kill_mid_run, daemon=True).start()
    return train(item)


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    items = [PlannedRun(name, load_config(overrides=[*TINY, "train.epochs=3", "method=vanilla"]),
                        RunDir(tmp_path / name)) for name in ("killed", "spared")]
    with open_backend(BackendOptions(name="ray", max_retries=1), out=tmp_path) as backend:
        reports = run_all(items, _killed_after_first_epoch, backend=backend)
    assert [r["epochs"] for r in reports] == [3, 3]
    assert (tmp_path / "killed.killed").exists()
    log = (tmp_path / "killed" / LOG_NAME).read_text()
    assert log.count("== killed: attempt") == 2 and "killed: resuming" in log
    assert len((tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()) == 3


def _fails_for_a(item: PlannedRun) -> str:
    if item.name == "a":
        raise RuntimeError("no data for a")
    item.run.root.joinpath("done").write_text("")
    return item.name


def test_a_failed_run_is_reported_with_its_log_and_the_others_finish(tmp_path: Path) -> None:
    items = [PlannedRun(name, Config(), RunDir(tmp_path / name)) for name in "abc"]
    with open_backend(RAY, out=tmp_path) as backend:
        with pytest.raises(RunsFailed, match="1 of 3 runs failed") as failed:
            run_all(items, _fails_for_a, backend=backend)
    log = tmp_path / "a" / LOG_NAME
    assert f"a failed: RuntimeError: no data for a (log: {log})" in str(failed.value)
    assert "RuntimeError: no data for a" in log.read_text()  # the traceback is in the log
    assert (tmp_path / "b" / "done").exists() and (tmp_path / "c" / "done").exists()


def _finished_before_for_old(item: PlannedRun) -> dict[str, Any]:
    """What `train` returns on a rerun: `skipped` for a run found finished."""
    return {"skipped": item.name == "old"}


def test_a_rerun_says_skipped_for_runs_finished_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = [PlannedRun(name, Config(), RunDir(tmp_path / name)) for name in ("old", "new")]
    with open_backend(RAY, out=tmp_path) as backend:
        run_all(items, _finished_before_for_old, backend=backend)
    lines = capsys.readouterr().out.splitlines()
    assert any(line.endswith("] old skipped (already done)") for line in lines), lines
    assert any(line.endswith("] new done") for line in lines) and not any(line.endswith("old done") for line in lines)


@pytest.mark.parametrize("flags, message", [
    (["--gpus-per-run", "1"], "--gpus-per-run 1: no node of the Ray cluster has 1 GPUs (the largest has 0)"),
    (["--cpus-per-run", "3"], "--cpus-per-run 3: no node of the Ray cluster has 3 CPUs (the largest has 2)"),
])
def test_a_run_no_node_can_hold_is_refused_before_anything_is_written(tmp_path: Path, capsys, flags: list[str],
                                                                      message: str) -> None:
    out = tmp_path / "study"
    assert main(["sweep", "--variant", "plain: method=vanilla", "--out", str(out), "--backend", "ray", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_ray_address_that_does_not_answer_is_refused(tmp_path: Path, capsys) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    out = tmp_path / "study"
    assert main(["sweep", "--variant", "plain: method=vanilla", "--out", str(out), "--backend", "ray",
                 "--ray-address", f"127.0.0.1:{port}"]) == 2
    assert f"--ray-address 127.0.0.1:{port}: no Ray cluster answers there within 10 s" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ConfigError, match="--ray-address 'head:port': expected HOST:PORT"):
        check_answers("head:port")
