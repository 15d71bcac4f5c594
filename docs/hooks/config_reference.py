"""MkDocs hook: the configuration reference, generated from `ews.config` at build time.

The page `reference/config.md` holds a placeholder; this hook replaces it with one table
per config section (key, type, default, meaning). Types and defaults come from the
dataclasses themselves and meanings from the comment beside (or just above) each field
in the file that defines its section (`src/ews/config.py`, or the layer that owns the
section, such as `data.augmix` in `src/ews/data/augment.py`), so the page cannot fall
behind the code. The few fields the
source leaves uncommented get their meaning from `EXTRA_MEANINGS`; a test checks that
every key has a meaning and that no entry there is stale.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import tokenize
import types
import typing
from pathlib import Path
from typing import Any

PLACEHOLDER = "<!-- config-reference -->"

# Sections without a class docstring, described here (a class docstring wins).
SECTION_TEXT = {
    "": "Top-level keys.",
    "data": "The dataset, its augmentation and the loader.",
    "model": "The network (`ews.models.list_models()` names them).",
    "train": "Optimiser, schedule, training mode and hardware settings.",
    "ews": "The EWS subnet term and the subnet space it samples from.",
    "search": "How weak subnets are searched (`method: ews`).",
    "dropout": "The dropout baseline (`method: dropout`).",
    "log": "Progress output and optional TensorBoard logging.",
}

# Meanings of the fields that have no comment in src/ews/config.py.
EXTRA_MEANINGS = {
    "seed": "seeds model init, data order and subnet sampling (data order `seed`, subnets `seed + 1`, "
            "sampler `seed + 2`, search `seed + 3`)",
    "train.epochs": "training epochs",
    "train.batch_size": "global training batch (split across processes under torchrun)",
    "train.lr": "initial learning rate of `train.optimizer` (SGD or AdamW)",
    "train.momentum": "SGD momentum (`optimizer: sgd` only)",
    "train.nesterov": "Nesterov momentum (the paper's optimiser; `optimizer: sgd` only)",
    "train.weight_decay": "weight decay on every parameter, biases and norm weights included: L2 in SGD, "
                          "decoupled in AdamW",
    "train.eval_batch_size": "batch size for test-set evaluation and `ews eval`",
    "search.entropy_weight": "weight of the controller's entropy bonus",
    "search.grad_clip": "controller gradient-norm clip",
    "search.hidden_size": "controller LSTM hidden size",
    "search.embedding_size": "size of the learnable embedding of each path and channel",
    "adversarial.eps": "attack radius (fractions like `8/255` accepted)",
    "adversarial.step_size": "PGD step size",
}


@dataclasses.dataclass(frozen=True)
class Key:
    """One leaf config key as the reference shows it."""

    name: str  # dotted, e.g. "ews.rho"
    type: str
    default: str
    meaning: str
    commented: bool  # the meaning is the source's comment, not an `EXTRA_MEANINGS` entry


def _comments(source: str) -> dict[int, str]:
    """Comment text by source line number."""
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string.lstrip("#").strip()
    return found


def _comment_for(field: ast.AnnAssign, lines: list[str], comments: dict[int, str]) -> str:
    """A field's trailing comment, or the comment lines right above it."""
    text = comments.get(field.end_lineno or field.lineno, "")
    line = field.lineno - 1
    above: list[str] = []
    while not text and line >= 1 and lines[line - 1].strip().startswith("#"):
        above.insert(0, comments[line])
        line -= 1
    return text or " ".join(above)


def _sections(cls: type) -> list[type]:
    """`cls` and every config dataclass nested in it."""
    found = [cls]
    for hint in typing.get_type_hints(cls).values():
        if dataclasses.is_dataclass(hint):
            found += _sections(hint)
    return found


def _source_facts(sources: set[Path]) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """From one parse of each file defining a config section, by (class, field): its comment, and
    its default's source text where that is an expression such as `8 / 255`."""
    meanings: dict[tuple[str, str], str] = {}
    expressions: dict[tuple[str, str], str] = {}
    for path in sorted(sources):
        source = path.read_text()
        lines, comments = source.splitlines(), _comments(source)
        for node in ast.parse(source).body:
            fields = [i for i in node.body if isinstance(i, ast.AnnAssign) and isinstance(i.target, ast.Name)] \
                if isinstance(node, ast.ClassDef) else []
            for item in fields:
                meanings[(node.name, item.target.id)] = _comment_for(item, lines, comments)
                if isinstance(item.value, ast.BinOp):
                    expressions[(node.name, item.target.id)] = ast.get_source_segment(source, item.value) or ""
    return meanings, expressions


def _type_text(hint: Any) -> str:
    """`float | None`, `list[int]`, `dict[str, Any]`: the annotation as a reader writes it."""
    if hint is type(None):
        return "null"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_text(a) for a in args)}]"
    return getattr(hint, "__name__", str(hint))


def _value_text(value: Any) -> str:
    """A default as it would be written in a YAML config."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # 1.0, 0.0005: as YAML reads it back
    if isinstance(value, str):
        return value
    return str(value)


def _walk(instance: Any, prefix: str, comments: dict, sources: dict) -> tuple[list[Key], dict[str, str]]:
    """Leaf keys of a config dataclass instance, and each section's description."""
    cls = type(instance)
    hints = typing.get_type_hints(cls)
    keys: list[Key] = []
    sections = {prefix.rstrip("."): (cls.__doc__ or "").split("\n\n")[0].strip()
                if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(") else ""}
    for field in dataclasses.fields(cls):
        value = getattr(instance, field.name)
        name = prefix + field.name
        if dataclasses.is_dataclass(value):
            more, more_sections = _walk(value, name + ".", comments, sources)
            keys += more
            sections.update(more_sections)
            continue
        default = _value_text(value)
        if (cls.__name__, field.name) in sources:
            default = f"{sources[(cls.__name__, field.name)].replace(' ', '')} (= {value:.4g})"
        comment = comments.get((cls.__name__, field.name), "")
        meaning = comment or EXTRA_MEANINGS.get(name, "")
        keys.append(Key(name, _type_text(hints[field.name]), default, meaning, bool(comment)))
    return keys, sections


def _walk_config() -> tuple[list[Key], dict[str, str]]:
    from ews.config import Config

    sources = {Path(inspect.getsourcefile(cls) or "") for cls in _sections(Config)}
    return _walk(Config(), "", *_source_facts(sources))


def config_keys() -> list[Key]:
    """Every leaf key of `ews.config.Config`, in declaration order."""
    return _walk_config()[0]


def uncommented_keys() -> set[str]:
    """Keys with no comment in the source: exactly the ones `EXTRA_MEANINGS` must describe."""
    return {key.name for key in config_keys() if not key.commented}


def _section(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference_markdown() -> str:
    """The generated part of the configuration reference page."""
    keys, sections = _walk_config()
    order = list(dict.fromkeys(_section(k.name) for k in keys))
    parts = []
    for section in order:
        title = f"`{section}`" if section else "Top level"
        about = sections.get(section) or SECTION_TEXT.get(section, "")
        parts += [f"## {title}", ""] + ([about, ""] if about else [])
        parts += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for key in keys:
            if _section(key.name) == section:
                # types as plain text: a `|` inside a code span would keep its escaping backslash
                parts.append(f"| `{key.name}` | {_cell(key.type)} | `{key.default}` | {_cell(key.meaning)} |")
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the placeholder of the page that holds it."""
    if PLACEHOLDER not in markdown:
        return markdown
    return markdown.replace(PLACEHOLDER, reference_markdown())
