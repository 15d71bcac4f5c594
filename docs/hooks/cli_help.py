"""MkDocs hook: `<!-- ews-help COMMAND -->` in a page becomes that command's `--help` text.

The command guides show the parser's own help, generated at build time from
`ews.cli.build_parser`, so a flag added or renamed in the code shows up in the docs.
"""

from __future__ import annotations

import os
import re
from typing import Any

MARK = re.compile(r"<!-- ews-help (\w+) -->")
WIDTH = "100"  # columns argparse wraps to, fixed so the page does not depend on the build terminal


def help_text(command: str) -> str:
    """`ews COMMAND --help` (`ews --help` for "ews"), as the parser prints it."""
    from ews.cli import command_parsers

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parsers = command_parsers()
        if command not in parsers:
            raise ValueError(f"docs name an unknown ews command: {command!r}")
        return parsers[command].format_help().rstrip()
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: replace every help marker of the page with a text block."""
    return MARK.sub(lambda m: f"```text\n$ ews{'' if m[1] == 'ews' else ' ' + m[1]} --help\n{help_text(m[1])}\n```",
                    markdown)
