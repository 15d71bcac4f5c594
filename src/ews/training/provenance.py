"""What made a run: versions, git revision, device, seeds and command, recorded beside its config.

`config.yaml` says what was asked for; `provenance.json` says what ran it, so a result
can be traced to the exact code and libraries, and `ews train --config RUN/config.yaml`
can be checked against the original run.
"""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..config import Config


def git_revision(folder: Path | None = None) -> dict[str, Any] | None:
    """The commit of the git checkout holding `folder` (default: this package) and whether it has edits.

    None when `ews` is not run from a checkout (an installed wheel) or git is missing.
    """
    folder = folder or Path(__file__).resolve().parent
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def collect(config: Config, *, device: torch.device, argv: list[str] | None = None) -> dict[str, Any]:
    """One record of this process: library versions, device, seeds, command line, host and time."""
    import torchvision

    record: dict[str, Any] = {
        "ews_version": __version__,
        "git": git_revision(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "seed": config.seed,
        "deterministic": config.train.deterministic,
        "command": list(sys.argv if argv is None else argv),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    if device.type == "cuda":
        record["cuda"] = torch.version.cuda
        record["cudnn"] = torch.backends.cudnn.version()
        record["gpu"] = torch.cuda.get_device_name(device)
    return record
