"""`ews sweep --backend ...` options: refused in one line before anything is written; extras loaded only when chosen."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ews.analysis import sweep
from ews.analysis.backends import BackendOptions, open_backend
from ews.analysis.backends import options as options_module
from ews.analysis.backends.options import DEFAULT_THREADS, sbatch_flags, slurm_minutes
from ews.analysis.study.runner import PlannedRun
from ews.cli import command_parsers, main
from ews.config import Config
from ews.errors import ConfigError, RunsFailed
from ews.runs.run_dir import RunDir

STUDY_ARGS = ["sweep", "--variant", "plain: method=vanilla", "--seeds", "1"]


def test_sweep_help_names_every_backend() -> None:
    text = command_parsers()["sweep"].format_help()
    assert "--backend {local,ray,slurm}" in text and "--cpus-per-run" in text and "--slurm-flag" in text


@pytest.mark.parametrize("flags, message", [
    (["--slurm-partition", "gpu"], "--slurm-partition goes with --backend slurm, not local"),
    (["--slurm-flag", "account=x"], "--slurm-flag goes with --backend slurm, not local"),
    (["--ray-address", "head:6379"], "--ray-address goes with --backend ray, not local"),
    (["--max-retries", "2"], "--max-retries goes with --backend ray or slurm, not local"),
    (["--gpus-per-run", "1"], "--gpus-per-run goes with --backend ray or slurm, not local"),
    (["--backend", "slurm", "--jobs", "2"], "--jobs goes with --backend local, not slurm"),
    (["--backend", "slurm", "--slurm-partition", "gpu", "--ray-address", "auto"], "--ray-address goes with"),
    (["--cpus-per-run", "0"], "--cpus-per-run must be an integer >= 1, got 0"),
    (["--jobs", "0"], "--jobs must be an integer >= 1, got 0"),
    (["--backend", "slurm", "--slurm-time", "soon"], "--slurm-time 'soon' is not a SLURM time"),
    (["--backend", "slurm", "--slurm-flag", "partition=gpu"], "use --slurm-partition instead"),
    (["--backend", "slurm", "--slurm-flag", "array=0-3"], "submitit sets --array itself"),
    (["--backend", "slurm", "--slurm-flag", "=x"], "expected KEY=VALUE"),
])
def test_bad_backend_options_are_one_line_before_anything_is_written(tmp_path: Path, capsys, flags: list[str],
                                                                     message: str) -> None:
    out = tmp_path / "study"
    assert main([*STUDY_ARGS, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_slurm_without_sbatch_is_refused_before_anything_is_written(tmp_path: Path, capsys,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "study"
    assert main([*STUDY_ARGS, "--out", str(out), "--backend", "slurm", "--slurm-partition", "gpu"]) == 2
    assert "sbatch and srun are not on this machine's PATH" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("backend, module", [("ray", "ray"), ("slurm", "submitit")])
def test_a_backend_whose_extra_is_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch, backend: str,
                                                          module: str) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(options_module.importlib.util, "find_spec",
                        lambda name, *rest: None if name == module else find_spec(name, *rest))
    with pytest.raises(ConfigError, match=rf"--backend {backend} needs {module}, which is not installed: "
                                          rf"pip install 'ews-robust\[{backend}\]'"):
        BackendOptions(name=backend).check()


@pytest.mark.parametrize("text, minutes", [("90", 90), ("1:30", 2), ("2:00:00", 120), ("1-0", 1440),
                                           ("1-12:00:00", 2160), ("0-0:0:1", 1)])
def test_slurm_times_read_as_sbatch_reads_them(text: str, minutes: int) -> None:
    assert slurm_minutes(text) == minutes


def test_slurm_flags_become_sbatch_options() -> None:
    assert sbatch_flags(("account=robust", "--qos=high", "exclusive")) == {"account": "robust", "qos": "high",
                                                                         "exclusive": True}
    with pytest.raises(ConfigError, match="must be longer than zero"):
        slurm_minutes("0")


def test_every_backend_defaults_to_one_explicit_thread_count() -> None:
    assert {BackendOptions(name=name).threads for name in ("local", "ray", "slurm")} == {DEFAULT_THREADS}
    assert BackendOptions(jobs=4).threads == DEFAULT_THREADS  # no longer cores // jobs
    assert BackendOptions(name="ray", cpus_per_run=3).threads == 3


@pytest.mark.slow
def test_a_local_sweep_never_imports_ray_or_submitit(tmp_path: Path) -> None:
    sweep = ["sweep", "--param", "train.lr", "--values", "0.1", "--out", str(tmp_path / "sweep"),
             *[arg for item in ["data.limit=40", "model.options.width=4", "train.epochs=1", "log.progress=false"]
               for arg in ("--set", item)]]
    code = ("import sys; from ews.cli import main; assert main(sys.argv[1:]) == 0; "
            "loaded = {'ray', 'submitit'} & set(sys.modules); assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code, *sweep], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _threads(item: PlannedRun) -> int:
    return torch.get_num_threads()


def test_a_local_run_has_cpus_per_run_threads_and_the_caller_gets_its_own_back(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    items = [PlannedRun(name, Config(), RunDir(tmp_path / name)) for name in "ab"]
    with open_backend(BackendOptions(cpus_per_run=before + 1), out=tmp_path) as backend:
        assert backend.run_all(items, _threads) == [before + 1, before + 1]
    assert torch.get_num_threads() == before


def test_failed_runs_exit_with_1_and_name_each_run_and_its_log(tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def some_runs_failed(*args: object, **kwargs: object) -> None:
        raise RunsFailed("1 of 2 runs failed; the others finished, and the same command again retries only these:\n"
                         "train.lr=0.1 failed: RuntimeError: boom (log: sweep/train.lr=0.1/worker.log)")

    monkeypatch.setattr(sweep, "run_sweep", some_runs_failed)
    assert main(["sweep", "--param", "train.lr", "--values", "0.1,0.2", "--out", str(tmp_path)]) == 1
    assert "train.lr=0.1 failed: RuntimeError: boom (log: sweep/train.lr=0.1/worker.log)" in capsys.readouterr().err
