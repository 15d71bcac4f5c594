"""Runs that failed on a cluster backend: collected while the others go on, reported together at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

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


def progress(done: int, total: int, name: str, result: Any = None) -> None:
    """`[3/8] ews/seed2 done`, or `skipped (already done)` when the work says it found the run finished
    (a result mapping with `skipped` true): a rerun must not read as if it trained again."""
    skipped = isinstance(result, Mapping) and bool(result.get("skipped"))
    print(f"[{done}/{total}] {name} {'skipped (already done)' if skipped else 'done'}", flush=True)
