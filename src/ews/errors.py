"""Errors a user can act on: the CLI prints a `UserError` as one line and exits with code 2, `RunsFailed` with 1.

Also the checks every layer repeats, `check_integer` and `check_out_folder`, kept here so the lowest layer owns
their wording.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from the user (config, data, checkpoint, output folder); never a bug in `ews`."""


class ConfigError(UserError):
    """A config key, type or value that is not allowed."""


class DataError(UserError):
    """A dataset that is missing, empty or malformed."""


class MissingDataError(DataError):
    """A dataset's files not where they were looked for: `problem` says which, and the message ends with how to
    get them. `remedy` is written for `ews train` (which can download); a caller that cannot download
    (`ews eval`, `ews.evaluate`) re-raises it with `problem` and what works there."""

    def __init__(self, problem: str, remedy: str, *, dataset: str, downloadable: bool = True) -> None:
        super().__init__(f"{problem}; {remedy}")
        self.problem, self.dataset, self.downloadable = problem, dataset, downloadable


class CheckpointError(UserError):
    """A checkpoint that cannot be loaded safely or does not fit the run."""


class RunFolderError(UserError):
    """An output folder that would lose finished work if we wrote into it."""


class RunBusyError(RunFolderError):
    """An output folder another live `ews train` is writing into (its lock is held)."""


class WriteError(UserError):
    """A file that could not be written (disk full, no permission); its previous version is intact."""


class DivergenceError(UserError):
    """Training produced a non-finite loss; the last checkpoint, written before it, is kept."""


class RunsFailed(Exception):
    """Runs of a sweep or study that failed while the others finished (exit code 1, not a bad input).

    The message has one line per failed run with its log; the same command again retries
    only the runs that did not finish.
    """


def check_out_folder(out: str | Path) -> Path:
    """`out` as a Path, refused with a one-line `ConfigError` when it names a file: every command that writes a
    folder checks this before any long work starts."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    return out


def check_integer(what: str, value: object, *, least: int = 1, hint: str = "") -> None:
    """Refuse anything but an int >= `least` with the one-line `ConfigError`
    "{what} must be an integer >= {least}{hint}, got {value!r}" (counts, sizes, steps, seeds).

    Bools are refused too: Python counts them as ints, but `True` is no count of anything.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{what} must be an integer >= {least}{hint}, got {value!r}")
