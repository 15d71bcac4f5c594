"""Optional TensorBoard logging of the per-epoch metrics (`log.tensorboard: true`).

TensorBoard is never required: the package is imported only when asked for, and a
missing one is a one-line `ConfigError` before training starts. The event files go to
`RUN/tensorboard/`; the same numbers are always in `metrics.jsonl` and the run report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from ..runtime.distributed import is_main

EpochCallback = Callable[[int, dict[str, Any]], None]


def with_tensorboard(callback: EpochCallback | None, log: Any, root: Path) -> EpochCallback | None:
    """`callback`, plus writing each epoch's numeric metrics to TensorBoard when `log.tensorboard` is set."""
    if not getattr(log, "tensorboard", False):
        return callback
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("log.tensorboard is true but the tensorboard package is not installed: "
                          "pip install tensorboard, or set log.tensorboard=false") from None
    if not is_main():
        return callback  # under torchrun, rank 0 writes the run folder
    writer = SummaryWriter(log_dir=str(Path(root) / "tensorboard"))

    def log_epoch(epoch: int, line: dict[str, Any]) -> None:
        for key, value in line.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(key, value, epoch)
        writer.flush()
        if callback is not None:
            callback(epoch, line)

    return log_epoch
