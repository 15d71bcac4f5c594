"""A small document model, rendered to Markdown and to a self-contained HTML page.

`eval.md`, run reports, comparisons and study reports are each one list of blocks, so
their Markdown and HTML show the same content; the HTML embeds its PNGs as data URIs and
loads nothing from the network.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Image:
    path: str  # relative to the report's folder
    alt: str


@dataclass(frozen=True)
class Code:
    text: str


Block = Union[Heading, Paragraph, Table, Image, Code]


def to_markdown(blocks: Iterable[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
            lines += ["| " + " | ".join(row) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, Image):
            parts.append(f"![{block.alt}]({block.path})")
        else:
            parts.append(f"```yaml\n{block.text.rstrip()}\n```")
    return "\n\n".join(parts) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    "pre{background:#f6f6f6;padding:0.8em;overflow-x:auto;font-size:85%}"
)


def to_html(blocks: Iterable[Block], *, base: Path, title: str) -> str:
    """A standalone page; images are read from `base` and embedded, so the file can be moved or mailed."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Image):
            data = base64.b64encode((base / block.path).read_bytes()).decode("ascii")
            body.append(f'<p><img src="data:image/png;base64,{data}" alt="{html.escape(block.alt)}"></p>')
        else:
            body.append(f"<pre>{html.escape(block.text)}</pre>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


RATE_DECIMALS = 4  # every rate `ews` writes to JSON (eval.json, study.json): 94.9999999254942 reads as 95.0


def rounded(value: Any, digits: int = RATE_DECIMALS) -> Any:
    """Every float in `value` (a number, or dicts and lists of them) to `digits` places, -0.0 as 0.0; the rest as is.

    For scores in percent (or fractions) only: an eps such as 8/255 must keep its digits.
    """
    if isinstance(value, float):
        return round(value, digits) + 0.0
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value


def counted(count: int, noun: str) -> str:
    """`1 epoch`, `3 epochs`: a count and its noun, plural unless the count is 1."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def fmt(value: Any, digits: int = 2, *, signed: bool = False) -> str:
    """A table cell: None as '-', a float to `digits` places (`signed`: '+' before a positive one).

    A value that rounds to zero prints 0.00, never -0.00 or +0.00: a tiny negative
    difference is not a sign worth showing.
    """
    if value is None:
        return "-"
    if isinstance(value, float):
        value = round(value, digits) + 0.0  # -0.0 + 0.0 is 0.0
        return f"{value:{'+' if signed and value else ''}.{digits}f}"
    return str(value)
