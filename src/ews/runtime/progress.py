"""Progress bars that draw only where someone watches: a terminal or a notebook.

Off a terminal (a log file, a pipe, CI, a study's `worker.log`) a tqdm bar writes every
update, carriage returns and all, into the file: tens of kB per epoch. There the bars are
off; the one-line summaries callers print with `tqdm.write` (an epoch's loss and accuracy,
an attack's robust accuracy) still appear, one line each. Every bar in `ews` is made here.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, TextIO

from tqdm import tqdm


def _in_notebook() -> bool:
    """A Jupyter kernel: its stderr is no terminal, but a bar there redraws in place instead of filling a log."""
    ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def watched(stream: TextIO | None = None) -> bool:
    """Whether `stream` (default: stderr, where the bars draw) is an interactive terminal, or a notebook's output."""
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return _in_notebook()


def progress_bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, **options: Any) -> tqdm:
    """A tqdm bar on stderr, drawn when `enabled` and stderr is watched (`watched`); otherwise a silent one that
    still iterates and accepts `update`, `set_postfix` and `set_description`. `options` go to tqdm."""
    return tqdm(iterable, disable=not (enabled and watched()), file=sys.stderr, **options)
