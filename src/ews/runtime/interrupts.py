"""SIGINT / SIGTERM during training: finish the current step, checkpoint, exit with a resume hint.

A signal only sets a flag; the trainer looks at it between steps, so the checkpoint
it then writes describes a consistent state (never half an optimiser step). A second
signal while the first is being handled stops at once (`KeyboardInterrupt`), for a
user who really means it.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """Set by a handled signal; `signum` says which."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        self.signum = signum


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; the exit code is 128 + the signal."""

    def __init__(self, message: str, *, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """Turn SIGINT/SIGTERM into a `StopFlag` for the duration; the old handlers come back on exit.

    Off the main thread signals cannot be caught, so the flag simply never gets set.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag:
            raise KeyboardInterrupt  # the second signal: stop now
        flag.request(signum)

    previous = {signum: signal.signal(signum, handler) for signum in HANDLED}
    try:
        yield flag
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
