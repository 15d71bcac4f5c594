"""How an evaluation error speaks to its reader: `eps=` to a Python caller, `--eps` on the command line.

`ews.evaluate` and `ews eval` share one set of checks, so each message names the argument
the way the reader wrote it: a Python error that quotes a flag sends the reader looking
for an option their call does not have. Neither downloads a dataset, so a missing one is
answered with what works there, not with `ews train`'s `--download`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import MissingDataError

# Command-line flags whose name is not the argument's, with dashes for underscores.
_FLAGS = {"shifts": "--shift"}


def argument(name: str, *, cli: bool) -> str:
    """`n_examples=` for Python callers, `--n-examples` on the command line."""
    return _FLAGS.get(name, "--" + name.replace("_", "-")) if cli else f"{name}="


def given(name: str, value: object, *, cli: bool) -> str:
    """An argument with its value as the reader wrote it: `eps='4/255'` in Python, `--eps 4/255` on the command line."""
    return f"{argument(name, cli=True)} {value}" if cli else f"{name}={value!r}"


def _fetch(err: MissingDataError) -> str:
    return f", or fetch it there once with {_load(err.dataset)}" if err.downloadable else ""


def _load(dataset: str) -> str:
    return f"ews.data.load({dataset!r}, root='DIR', train=False, download=True)"


def python_remedy(err: MissingDataError) -> str:
    """How an `ews.evaluate` caller gets a dataset it cannot find."""
    return f"ews.evaluate does not download: pass root= (the folder holding it){_fetch(err)}"


def cli_remedy(err: MissingDataError) -> str:
    """How an `ews eval` user gets a dataset it cannot find."""
    fetch = f", or fetch it there once with python -c \"import ews; {_load(err.dataset)}\"" if err.downloadable else ""
    return f"ews eval does not download: point data.root at the folder holding it (--set data.root=DIR){fetch}"


@contextmanager
def missing_data_remedy(remedy: Callable[[MissingDataError], str]) -> Iterator[None]:
    """Re-raise a `MissingDataError` inside with `remedy(error)` in place of `ews train`'s advice."""
    try:
        yield
    except MissingDataError as err:
        raise MissingDataError(err.problem, remedy(err), dataset=err.dataset, downloadable=err.downloadable) from None
