"""Runs that failed on a cluster backend: collected while the others go on, reported together at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ...errors import RunsFailed


@dataclass(frozen=True)
class RunFailure:
    name: str
    reason: str  # one line
    log: Path


def one_line(error: BaseException | str) -> str:
    """`Type: message` of an exception (a text as it is), its last line, cut to fit a report line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text[:300]


def report_failure(name: str, reason: str, log: Path) -> RunFailure:
    """Say at once that a run failed (the others go on) and keep it for the summary at the end."""
    print(f"{name} failed: {reason}", flush=True)
    return RunFailure(name, reason, log)


def raise_failures(failures: Sequence[RunFailure], total: int) -> None:
    """RunsFailed naming each failed run, its reason and its log; nothing when every run finished."""
    if not failures:
        return
    lines = [f"{f.name} failed: {f.reason} (log: {f.log})" for f in failures]
    raise RunsFailed(f"{len(failures)} of {total} runs failed; the others finished, and the same command again "
                     "retries only these:\n" + "\n".join(lines))


def progress(done: int, total: int, name: str) -> None:
    print(f"[{done}/{total}] {name} done", flush=True)
