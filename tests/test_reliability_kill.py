"""Real `ews train` processes killed at random moments, then resumed, end with the uninterrupted weights.

The runs go through a small launcher that slows down (and announces) every checkpoint
write, so one kill lands deterministically inside a write: after the new checkpoint's
bytes are in a temporary file and before it is renamed over the old one. The other
interruptions come at seeded random delays after a checkpoint: mid-epoch SIGKILL, and a
SIGTERM that must exit cleanly (143) with a resume hint. A stale lock left by a killed
process is taken over. The test is bounded to about a minute on two cores.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ews.runs.checkpoint import load_checkpoint
from ews.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the launcher finds written files through /proc"),
]

SETTINGS = ["data.limit=100", "model.options.width=4", "train.epochs=6", "train.batch_size=16",
            "train.deterministic=true", "log.progress=false", "method=ews", "seed=5"]
ARGS = [arg for item in SETTINGS for arg in ("--set", item)]

# Announces each checkpoint write (one line in $MARKER) and holds it open for $HOLD seconds
# between writing the temporary file and renaming it: a window to kill the process in.
LAUNCHER = """
import os, sys, time
real_fsync = os.fsync
def fsync(fd):
    if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".checkpoint.pt."):
        with open(os.environ["MARKER"], "a") as marker:
            marker.write("write\\n")
        time.sleep(float(os.environ["HOLD"]))
    real_fsync(fd)
os.fsync = fsync
from ews.cli import main
sys.exit(main())
"""


class Run:
    """One `ews train` process through the launcher."""

    def __init__(self, launcher: Path, marker: Path, out: Path, *extra: str) -> None:
        self.marker = marker
        self.writes_before = self.writes()
        env = {**os.environ, "MARKER": str(marker), "HOLD": "0.4"}
        self.process = subprocess.Popen(
            [sys.executable, str(launcher), "train", "--out", str(out), *ARGS, *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def writes(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.is_file() else 0

    def wait_for_write(self, count: int = 1, timeout: float = 60.0) -> None:
        """Until this process has begun its `count`-th checkpoint write."""
        deadline = time.monotonic() + timeout
        while self.writes() - self.writes_before < count:
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "no checkpoint write"
            time.sleep(0.01)

    def stop(self, signum: int) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err


def test_killed_and_interrupted_runs_resume_to_the_uninterrupted_weights(tmp_path: Path) -> None:
    rng = random.Random(8)
    assert main(["train", "--out", str(tmp_path / "ref"), *ARGS]) == 0
    reference = load_checkpoint(tmp_path / "ref" / "checkpoint.pt")["model"]
    launcher, marker, out = tmp_path / "launch.py", tmp_path / "writes", tmp_path / "run"
    launcher.write_text(LAUNCHER)

    # 1. SIGKILL inside the write of epoch 2's checkpoint: epoch 1's stays whole.
    run = Run(launcher, marker, out)
    run.wait_for_write(2)
    time.sleep(0.1)
    code, _ = run.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert list(out.glob(".checkpoint.pt.*.tmp"))  # the torn write, never renamed into place
    assert (out / ".lock").exists()  # left behind by the killed process

    # 2. SIGTERM at a random moment of the next epoch: a clean exit with a resume hint.
    run = Run(launcher, marker, out, "--resume")
    run.wait_for_write(1)
    time.sleep(rng.uniform(0.45, 0.9))
    code, err = run.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    assert "took over the stale lock" in err
    assert f"checkpoint saved to {out / 'checkpoint.pt'}; resume with: ews train --out {out} --resume" in err
    assert not (out / ".lock").exists()

    # 3. SIGKILL at a random moment after the resumed run's first checkpoint.
    run = Run(launcher, marker, out, "--resume")
    run.wait_for_write(1)
    time.sleep(rng.uniform(0.0, 0.6))
    code, _ = run.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (out / "report.json").exists()

    # 4. Resume to the end.
    run = Run(launcher, marker, out, "--resume")
    _, err = run.process.communicate(timeout=120)
    assert run.process.returncode == 0, err

    final = load_checkpoint(out / "checkpoint.pt")
    assert final["epoch"] == 6
    for key, value in reference.items():
        assert torch.equal(value, final["model"][key]), key
