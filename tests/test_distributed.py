"""torchrun / DDP on the CPU with gloo: a 2-process run equals a 1-process run, and resumes exactly.

The torchrun tests launch real processes, so they are marked slow (about 20 s each).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ews.runs.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "tests" / "distributed_entry.py"
# 64 unaugmented digits in global batches of 16: 4 steps per epoch; lr constant (milestone past the end)
COMMON = ["data.name=digits", "data.limit=64", "data.augment=none", "model.name=norm_free_net", "method=ews",
          "train.batch_size=16", "train.eval_batch_size=32", "train.milestones=[100]", "train.lr=0.05",
          "search.batch_size=8", "search.fraction=0.25", "log.progress=false", "train.deterministic=true"]

pytestmark = pytest.mark.slow


def torchrun(nproc: int, out: Path, *extra: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    sets = [arg for item in [*COMMON, *extra] for arg in ("--set", item)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               str(ENTRY), "train", "--out", str(out), *sets, *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt")["model"]


def test_two_processes_equal_one_and_resume_exactly(tmp_path: Path) -> None:
    torchrun(1, tmp_path / "one", "train.epochs=2")
    torchrun(2, tmp_path / "two", "train.epochs=1")
    resumed = torchrun(2, tmp_path / "two", "train.epochs=2", flags=("--resume",))
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    assert resumed.stdout.count("clean error") == 1  # only rank 0 prints
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # rank 0 alone writes the log, one line per epoch
    assert sorted(p.name for p in (tmp_path / "two").glob("*.pt")) == ["checkpoint.pt"]


def test_ews_train_nproc_runs_under_torchrun(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ews", "train", "--nproc", "2", "--out", str(out),
               *[arg for item in ["data.limit=64", "train.epochs=1", "model.options.width=4", "train.batch_size=16",
                                  "log.progress=false"] for arg in ("--set", item)]]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "checkpoint.pt").is_file() and (out / "report.json").is_file()
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1


def test_global_batch_must_split_evenly_over_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from ews.runtime import distributed
    from ews.errors import ConfigError

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    assert distributed.per_rank_batch(16, key="train.batch_size") == 8
    with pytest.raises(ConfigError, match="train.batch_size 15 must be divisible by the 2 torchrun processes"):
        distributed.per_rank_batch(15, key="train.batch_size")
