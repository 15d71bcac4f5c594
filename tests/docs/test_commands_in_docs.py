"""Commands, config overrides and tables of numbers in the docs hold against the code.

Checked on README.md, CONTRIBUTING.md and docs/**/*.md, without running anything:

1. **Every `ews` command parses** with the real parser (`ews.cli.command_parsers`): the
   subcommand and its flags exist, typed values convert and choices are valid. Values the parser
   takes as any string but the command checks against fixed names when it runs are checked too
   (`--dataset`, `--attacks`, `--normalize`, `--inputs`, `corrupt --corruptions`, a `DATASET-c`
   set), and a `configs/...` path must exist.
   - Where: every line of a bash/sh/shell/zsh code block; in a block that shows `$ ` prompts, and
     in `text`/`console` blocks, only the prompt lines (the rest is output). Inline code counts
     when it *starts* with a command. A command is `ews ...`, `.venv/bin/ews ...` or
     `... -m ews ...` (python, torchrun), also after `;`, `&&`, `|` or `do`. A trailing `\\`
     continues a line; `# comments` are dropped.
   - A code block holds whole commands: required options must be there. Inline code is a
     fragment that names options: required ones may be left out, the last option may stand
     without its value, and synopsis notation is allowed (`[--eps 8/255]` optional, `linf|l2`
     alternatives, each checked). Inline `ews` alone names the package.
   - Placeholders stand for any value: `...`, `<...>`, `$VAR` and ALL-CAPS words (`N`, `RUN`,
     `FILE`). They are accepted where a value goes, never as a flag; a command whose subcommand
     is a placeholder (`ews ...`) stands for every command and is skipped.
2. **Every `--set KEY=VALUE` names a config key and a valid value**, in a command or as inline
   code `--set KEY=VALUE`, and so do `ews sweep --param`/`--values` and `--variant`. A command's
   overrides are applied together by `ews.config.load_config` (no side effects) onto its
   `--config` file when that file is in the repository, otherwise onto the defaults (a
   checkpoint's or a user's config is not at hand). An override whose value is a placeholder
   only has its key checked. `--set KEY VALUE` is refused by the parser, so rule 1 reports it.
3. **A table of numbers names its source.** A table whose body holds a number (a cell starting
   with one once inline code, links and emphasis are removed; columns headed `default` hold
   settings, not measurements) needs, in its section (from the last `#` or `##` heading above it
   down to the table), either
   - a paragraph holding a date (YYYY-MM-DD, real and not in the future) and the command that
     produced the numbers, in backticks in that paragraph or in a code block right before or
     after it: an `ews` command, `make TARGET` (a Makefile target), or `python`/`bash` running a
     script of the repository; or
   - the words "quoted from", naming where quoted numbers come from (the paper, a publication).
   Tables without numbers (option lists, file lists) are exempt. The docs commit no JSON results,
   so a dated command is the only way to attribute a measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import io
import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest

from ews.analysis.inputs import INPUT_KINDS
from ews.analysis.study.spec import parse_variant
from ews.attacks import EVAL_ATTACKS
from ews.cli import command_parsers
from ews.config import Config, load_config, parse_override
from ews.corruptions.names import ALL as CORRUPTIONS
from ews.data import DATASET_NAMES
from ews.errors import ConfigError
from ews.models.external import NORMALIZATIONS

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
SHELL_BLOCKS = {"bash", "sh", "shell", "zsh"}  # every line is a command, unless the block shows prompts
PLACEHOLDER = re.compile(r"\.\.\.|<[^<>]+>|\$\{?\w+\}?|[A-Z][A-Z0-9_]*")
PLACEHOLDER_PART = re.compile(r"\.\.\.|<[^<>]+>|\$\{?\w+\}?|(?<![\w.])[A-Z][A-Z0-9_]*(?![\w.])")
SEPARATORS = {";", "&&", "||", "|", "&"}
SHELL_WORDS = {"do", "then", "else", "time", "exec"}
INLINE_CODE = re.compile(r"``(.+?)``|`([^`]+)`", re.S)
DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
NUMBER_CELL = re.compile(r"[~≈<>=+\-−±]*\s*\d")
SETTING_COLUMNS = {"default"}  # config defaults, checked against the code by test_config_reference
MAKE_TARGETS = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))

# Values the commands compare with fixed names when they run (the parser takes any string).
NAMED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("eval", "dataset"): DATASET_NAMES,
    ("corrupt", "dataset"): DATASET_NAMES,
    ("eval", "attacks"): EVAL_ATTACKS,
    ("eval", "normalize"): tuple(NORMALIZATIONS),
    ("corrupt", "corruptions"): CORRUPTIONS,
    ("analyze", "inputs"): INPUT_KINDS,
}


@dataclass(frozen=True)
class Snippet:
    """Code from a page: a code-block line (a whole command) or an inline span (a fragment)."""

    page: Path
    line: int
    text: str
    inline: bool

    def where(self) -> str:
        return f"{page_name(self.page)}:{self.line}"

    def shown(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= 110 else text[:107] + "..."


def page_name(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def is_placeholder(text: str) -> bool:
    return PLACEHOLDER.fullmatch(text) is not None


def has_placeholder(text: str) -> bool:
    return PLACEHOLDER_PART.search(text) is not None


# --- reading pages -----------------------------------------------------------------------------


def split_page(text: str) -> tuple[list[tuple[int, str, list[tuple[int, str]]]], list[str]]:
    """The page's fenced blocks as (first line, language, [(line, text)]) and its lines with blocks blanked."""
    blocks, prose = [], []
    current: tuple[int, str, list[tuple[int, str]]] | None = None
    indent = ""
    for number, line in enumerate(text.splitlines(), 1):
        fence = FENCE.match(line)
        if fence and current is None:
            indent, current = fence.group(1), (number, fence.group(3).lower(), [])
            prose.append("")
        elif fence and current is not None:
            blocks.append(current)
            current = None
            prose.append("")
        elif current is not None:
            current[2].append((number, line[len(indent):] if line.startswith(indent) else line.lstrip()))
            prose.append("")
        else:
            prose.append(line)
    return blocks, prose


def block_snippets(page: Path) -> Iterator[Snippet]:
    """Command lines of the page's shell code blocks, `\\`-continued lines joined."""
    blocks, _ = split_page(page.read_text())
    for _, language, lines in blocks:
        prompted = any(text.startswith("$ ") for _, text in lines)
        if not prompted and language not in SHELL_BLOCKS:
            continue  # python, yaml, json, or a block of output
        pending: tuple[int, str] | None = None
        for number, text in lines:
            if pending is None:
                if prompted and not text.startswith("$ "):
                    continue
                pending = (number, text[2:] if prompted else text)
            else:
                pending = (pending[0], pending[1] + " " + text.strip())
            if pending[1].rstrip().endswith("\\"):
                pending = (pending[0], pending[1].rstrip()[:-1])
                continue
            yield Snippet(page, pending[0], pending[1], inline=False)
            pending = None


def inline_snippets(page: Path) -> Iterator[Snippet]:
    """Every inline code span outside code blocks, with the line it starts on."""
    _, prose = split_page(page.read_text())
    text = "\n".join(prose)
    for match in INLINE_CODE.finditer(text):
        code = match.group(1) or match.group(2)
        if "\n\n" not in code:
            yield Snippet(page, text.count("\n", 0, match.start()) + 1, " ".join(code.split()), inline=True)


# --- finding commands ----------------------------------------------------------------------------


def tokens(snippet: Snippet) -> list[str]:
    """Shell words; a code block also splits at `;`, `&&`, `|` and drops `# comments`."""
    lexer = shlex.shlex(snippet.text, posix=True, punctuation_chars="" if snippet.inline else ";&|")
    lexer.whitespace_split = True
    lexer.commenters = "" if snippet.inline else "#"
    return list(lexer)


def after_ews(words: list[str]) -> list[str] | None:
    """The arguments of an `ews` command, or None when the words run something else."""
    while words and (words[0] in SHELL_WORDS or re.fullmatch(r"[A-Za-z_]\w*=\S*", words[0])):
        words = words[1:]
    if not words:
        return None
    if words[0] == "ews" or words[0].endswith("/ews"):
        return words[1:]
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "ews":
            return words[i + 2:]
    return None


def ews_commands(snippet: Snippet) -> list[list[str]]:
    """Every `ews` command of a code-block line; for inline code, the one it starts with (if any)."""
    statements: list[list[str]] = [[]]
    for word in tokens(snippet):
        if word in SEPARATORS and not snippet.inline:
            statements.append([])
        else:
            statements[-1].append(word)
    if snippet.inline:
        statements = statements[:1]
    # inline `ews` alone names the package, not a command
    return [argv for argv in map(after_ews, statements) if argv is not None and (argv or not snippet.inline)]


def synopsis_variants(argv: list[str]) -> list[list[str]]:
    """Inline synopsis notation: `[--eps 8/255]` loses its brackets, `linf|l2` gives one command per choice."""
    words = [word.strip("[]") for word in argv]
    words = [word for word in words if word]
    options = [word.split("|") if "|" in word and not word.startswith("-") else [word] for word in words]
    return [list(choice) for choice in itertools.product(*options)]


def page_commands(page: Path) -> Iterator[tuple[Snippet, list[str]]]:
    for snippet in itertools.chain(block_snippets(page), inline_snippets(page)):
        try:
            commands = ews_commands(snippet)
        except ValueError as err:  # an unbalanced quote
            if snippet.inline and after_ews(snippet.text.split()) is None:
                continue  # prose code such as `it's`, not a command
            raise AssertionError(f"{snippet.where()}: `{snippet.shown()}`: {err}") from None
        for argv in commands:
            yield snippet, argv


# --- the parser, lenient only about placeholders ------------------------------------------------


class Refused(Exception):
    """The parser's error: what `ews` would print before exiting with code 2."""


class Stopped(Exception):
    """`--help` or `--version`: a valid command that prints and exits."""


class PlaceholderChoices(tuple):
    def __contains__(self, value: object) -> bool:
        return (isinstance(value, str) and is_placeholder(value)) or tuple.__contains__(self, value)


def _lenient(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def value(text: str) -> Any:
        return text if is_placeholder(text) else convert(text)

    value.__name__ = getattr(convert, "__name__", "value")  # argparse names the type in its message
    return value


def _refuse(message: str) -> None:
    raise Refused(message)


def _stop(status: int = 0, message: str | None = None) -> None:
    raise Stopped()


@functools.cache
def parsers(fragment: bool) -> dict[str, argparse.ArgumentParser]:
    """`ews` and its subcommands' parsers, raising instead of exiting; a fragment needs no required option."""
    table = command_parsers()
    for parser in table.values():
        parser.error = _refuse  # type: ignore[method-assign]
        parser.exit = _stop  # type: ignore[method-assign]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if fragment:
                action.required = False
            if action.type is not None:
                action.type = _lenient(action.type)
            if action.choices is not None:
                action.choices = PlaceholderChoices(action.choices)
    return table


def parse(argv: list[str], *, fragment: bool) -> argparse.Namespace | None:
    """The parsed arguments, None for `--help`/`--version`; raises `Refused` with the parser's message."""
    table = parsers(fragment)
    if fragment and len(argv) > 1 and argv[0] in table:
        action = table[argv[0]]._option_string_actions.get(argv[-1])
        if action is not None and action.nargs != 0:
            argv = [*argv, "..."]  # `ews analyze --reading`: the option named, its value left out
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return table["ews"].parse_args(argv)
        except Stopped:
            return None


# --- checks beyond the parser --------------------------------------------------------------------


def value_problems(args: argparse.Namespace) -> list[str]:
    """Named values the command checks when it runs, and repository paths that must exist."""
    problems = []
    for (command, dest), allowed in NAMED_VALUES.items():
        value = getattr(args, dest, None) if args.command == command else None
        for item in [value] if isinstance(value, str) else value or []:
            if not has_placeholder(item) and item not in allowed and "/" not in item:
                problems.append(f"--{dest.replace('_', '-')}: {item!r} is not one of {', '.join(allowed)}")
    corruptions = getattr(args, "corruptions", None)
    if args.command in ("eval", "analyze") and isinstance(corruptions, str) and not has_placeholder(corruptions):
        dataset = corruptions[:-2]
        if corruptions.endswith("-c") and "/" not in corruptions and dataset not in DATASET_NAMES:
            problems.append(f"--corruptions {corruptions}: {dataset!r} is not a dataset ({', '.join(DATASET_NAMES)})")
    for dest, value in sorted(vars(args).items()):
        if isinstance(value, Path) and str(value).startswith("configs/") and not (ROOT / value).is_file():
            problems.append(f"--{dest}: {value} does not exist in the repository")
    return problems


def known_key(key: str) -> bool:
    """A dotted config key (any key below a free-form mapping such as `model.options`)."""
    node: Any = Config()
    for part in key.split("."):
        if isinstance(node, dict):
            return True
        if not dataclasses.is_dataclass(node) or part not in {f.name for f in dataclasses.fields(node)}:
            return False
        node = getattr(node, part)
    return True


def override_problems(overrides: Iterable[str], base: Path | None) -> list[str]:
    """Why the overrides do not apply onto `base` (or the defaults): unknown keys, bad values."""
    concrete = []
    for item in overrides:
        try:
            key, _ = parse_override(item)
        except ConfigError as err:
            return [str(err)]
        text = item.partition("=")[2]
        if is_placeholder(key):
            continue  # `--set KEY=VALUE`
        if has_placeholder(text):
            if not known_key(key):
                return [f"unknown config key {key}"]
            continue
        concrete.append(item)
    try:
        load_config(base, concrete)
    except ConfigError as err:
        return [str(err)]
    return []


def config_base(args: argparse.Namespace) -> Path | None:
    """The `--config` file when it is in the repository; otherwise the overrides go onto the defaults."""
    path = getattr(args, "config", None)
    return ROOT / path if path is not None and (ROOT / str(path)).is_file() else None


def config_problems(args: argparse.Namespace) -> list[str]:
    """`--set`, and a sweep's `--param`/`--values` and `--variant`s, applied as the command would."""
    overrides = list(getattr(args, "set", None) or [])
    base = config_base(args)
    problems = override_problems(overrides, base)
    if args.command == "sweep" and args.param is not None:
        if not known_key(args.param):
            problems.append(f"--param: unknown config key {args.param}")
        else:
            for value in args.values:
                problems += [f"--param {args.param} --values {value}: {p}"
                             for p in override_problems([*overrides, f"{args.param}={value}"], base)]
    for variant in getattr(args, "variant", None) or []:
        try:
            parse_variant(variant)
        except ConfigError as err:
            problems.append(str(err))
            continue
        problems += [f"--variant {variant!r}: {p}"
                     for p in override_problems([*overrides, *variant.partition(":")[2].split()], base)]
    return problems


def command_problems(snippet: Snippet, argv: list[str]) -> list[str]:
    """What is wrong with one command, each naming the page, the line and the bad token."""
    if argv and is_placeholder(argv[0]):
        return []  # `ews ...`: every command
    problems = []
    for variant in synopsis_variants(argv) if snippet.inline else [argv]:
        try:
            args = parse(variant, fragment=snippet.inline)
        except Refused as err:
            problems.append(str(err))
            continue
        if args is not None:
            problems += value_problems(args) + config_problems(args)
    return [f"{snippet.where()}: `{snippet.shown()}`: {p}" for p in dict.fromkeys(problems)]


def inline_override_problems(snippet: Snippet) -> list[str]:
    """Inline code that is a bare `--set KEY=VALUE`."""
    words = snippet.text.split()
    if len(words) != 2 or words[0] != "--set":
        return []
    return [f"{snippet.where()}: `{snippet.text}`: {p}" for p in override_problems([words[1]], None)]


def page_problems(page: Path) -> list[str]:
    """Rules 1 and 2 on one page."""
    problems = [p for snippet, argv in page_commands(page) for p in command_problems(snippet, argv)]
    return problems + [p for snippet in inline_snippets(page) for p in inline_override_problems(snippet)]


# --- tables --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    page: Path
    line: int
    header: list[str]
    rows: list[list[str]]
    section: list[str]  # the lines from the last `#`/`##` heading to the table


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def plain(cell: str) -> str:
    """A cell without inline code, link targets and emphasis."""
    cell = re.sub(r"`[^`]*`", "", cell)
    cell = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)
    return cell.replace("**", "").strip()


def tables(page: Path) -> Iterator[Table]:
    raw = page.read_text().splitlines()
    _, lines = split_page(page.read_text())
    start, i = 0, 0
    while i < len(lines):
        if re.match(r"#{1,2}\s", lines[i]):
            start = i
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"\s*\|?\s*:?-{3,}", lines[i + 1]):
            end = i + 2
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            yield Table(page, i + 1, cells(lines[i]), [cells(row) for row in lines[i + 2:end]], raw[start:i])
            i = end
            continue
        i += 1


def has_numbers(table: Table) -> bool:
    skip = {n for n, name in enumerate(table.header) if plain(name).lower() in SETTING_COLUMNS}
    return any(NUMBER_CELL.match(plain(cell)) for row in table.rows for n, cell in enumerate(row) if n not in skip)


def provenance_command(code: str) -> str | None:
    """The command in a provenance line: an `ews` command, a Makefile target, or a script of the repository."""
    words = code.split()
    if not words:
        return None
    if after_ews(words) is not None:
        return code
    if words[0] == "make" and len(words) > 1 and words[1] in MAKE_TARGETS:
        return code
    if re.fullmatch(r"(\S*/)?(python3?|bash)", words[0]) and len(words) > 1 and (ROOT / words[1]).is_file():
        return code
    return None


def dated_commands(lines: list[str]) -> Iterator[tuple[list[str], list[str]]]:
    """Per paragraph: its dates, and the commands beside them (its inline code, a code block right before or after)."""
    blocks, prose = split_page("\n".join(lines))
    spans = [(first, body[-1][0] + 1 if body else first + 1, [text for _, text in body]) for first, _, body in blocks]
    starts = [n for n in range(len(prose)) if prose[n].strip() and (n == 0 or not prose[n - 1].strip())]
    for start in starts:
        end = start
        while end + 1 < len(prose) and prose[end + 1].strip():
            end += 1
        paragraph = "\n".join(prose[start:end + 1])
        codes = [" ".join((m.group(1) or m.group(2)).split()) for m in INLINE_CODE.finditer(paragraph)]
        for first, last, body in spans:  # 1-based fence lines; the paragraph is prose[start:end + 1]
            between = range(end + 2, first) if first > end + 1 else range(last + 1, start + 1)
            if all(not lines[n - 1].strip() for n in between):
                codes += [line.removeprefix("$ ") for line in body]
        yield DATE.findall(paragraph), codes


def provenance_problem(table: Table) -> str | None:
    """None when the table quotes its source or its section dates the command that produced it."""
    section = "\n".join(table.section)
    if re.search(r"\bquoted from\b", section, re.I):
        return None
    today = datetime.date.today()
    for found, codes in dated_commands(table.section):
        dates = []
        for parts in found:
            with contextlib.suppress(ValueError):
                dates.append(datetime.date(*map(int, parts)))
        if any(date <= today for date in dates) and any(provenance_command(code) for code in codes):
            return None
    return (f"{page_name(table.page)}:{table.line}: a table of numbers ({' | '.join(table.header)[:70]}) "
            f"without its source: write 'measured with `COMMAND` on YYYY-MM-DD' (or 'quoted from SOURCE') "
            f"in its section before it")


# --- tests ---------------------------------------------------------------------------------------


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_commands_parse(page: Path) -> None:
    problems = page_problems(page)
    assert not problems, "commands in the docs that ews would refuse:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_tables_of_numbers_name_their_source(page: Path) -> None:
    problems = [p for table in tables(page) if has_numbers(table) and (p := provenance_problem(table))]
    assert not problems, "\n".join(problems)


def test_the_docs_are_read() -> None:
    """The reader finds the commands (so the checks above cannot pass by finding none)."""
    found = [command for page in PAGES for command in page_commands(page)]
    blocks = [argv for snippet, argv in found if not snippet.inline]
    assert len(blocks) >= 40 and len(found) >= 100, (len(blocks), len(found))
    named = {argv[0] for _, argv in found if argv}
    assert set(command_parsers()) - {"ews"} <= named, "a command the docs never mention"
    numbered = [t for page in PAGES for t in tables(page) if has_numbers(t)]
    assert len(numbered) >= 20, len(numbered)


@pytest.mark.parametrize(("markdown", "expected"), [
    ("```bash\news train --set train.epoch=5 --out runs/x\n```\n", "unknown config key train.epoch"),
    ("```bash\news train --set train.epochs=five\n```\n", "train.epochs must be int"),
    ("```bash\news eval --checkpoint c.pt \\\n    --atacks pgd20   # comment\n```\n",
     "unrecognized arguments: --atacks"),
    ("```text\n$ ews search --checkpoint c.pt --strategy greedy\noutput line\n```\n", "invalid choice: 'greedy'"),
    ("```bash\nfor r in a b; do ews analyze --rho $r; done\n```\n", "required: --checkpoint"),
    ("Run `ews trian --out runs/x` first.\n", "invalid choice: 'trian'"),
    ("Try `ews eval --norm linf|l3`.\n", "invalid choice: 'l3'"),
    ("Try `ews eval --n-examples many`.\n", "invalid int value: 'many'"),
    ("Try `ews eval --dataset imagenet --attacks pgd20,fgsm`.\n", "'imagenet' is not one of"),
    ("Try `ews sweep --param ews.k --values 1,2 --out x`.\n", "--param: unknown config key ews.k"),
    ("Try `ews sweep --param ews.rho --values 0.5,2 --out x`.\n", "ews.rho must be in (0, 1]"),
    ("Try `ews train --config configs/nothing.yaml`.\n", "configs/nothing.yaml does not exist"),
    ("Set `--set data.val_image=N` for a split.\n", "unknown config key data.val_image"),
])
def test_a_wrong_command_is_reported(tmp_path: Path, markdown: str, expected: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(markdown)
    problems = page_problems(page)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(f"{page}:") for p in problems), problems


@pytest.mark.parametrize("markdown", [
    "Attack with `ews eval --attacks pgd20 --n-examples N [--eps 8/255] [--norm linf|l2]`.\n",
    "Probe with `ews analyze --reading`, or any `.venv/bin/ews ...`; see `ews --help` and `ews`.\n",
    "```text\n$ ews train --set data.limit=200 --out runs/x\news resnet20 on digits: clean error 89.50%\n```\n",
    "```bash\ntorchrun --nproc_per_node 2 -m ews train --config ... --set data.root=<folder>\n```\n",
    "```bash\ngit clone <repo> ews && cd ews   # then `ews demo`\nmake demo\n```\n",
    "Resume with `ews train --out RUN --resume`; set `--set data.val_images=N` or `--set KEY=VALUE`.\n",
])
def test_placeholders_and_synopses_are_accepted(tmp_path: Path, markdown: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(markdown)
    assert page_problems(page) == []


@pytest.mark.parametrize(("markdown", "sourced"), [
    ("## R\n\n| a | b |\n|---|---|\n| x | 1.5 |\n", False),
    ("## R\n\nMeasured with `ews demo` on 2026-01-02:\n\n| a | b |\n|---|---|\n| x | 1.5 |\n", True),
    ("## R\n\nMeasured with `make nothing` on 2026-01-02:\n\n| a | b |\n|---|---|\n| x | 1.5 |\n", False),
    ("## R\n\nMeasured with `ews demo`.\n\n| a | b |\n|---|---|\n| x | 1.5 |\n", False),
    ("## R\n\nMeasured on 2026-01-02 with:\n\n```bash\nmake demo\n```\n\n| a | b |\n|---|---|\n| x | 1 |\n", True),
    ("## R\n\n```bash\nmake demo\n```\n\nText.\n\nOn 2026-01-02.\n\n| a | b |\n|---|---|\n| x | 1 |\n", False),
    ("## R\n\nMeasured with `ews demo` on 2026-02-30:\n\n| a | b |\n|---|---|\n| x | 1.5 |\n", False),
    ("Measured with `ews demo` on 2026-01-02.\n\n## R\n\n| a | b |\n|---|---|\n| x | 1.5 |\n", False),
    ("## R\n\nError %, quoted from the paper:\n\n| a | b |\n|---|---|\n| x | 1.5 |\n", True),
    ("## R\n\n| key | default |\n|---|---|\n| `ews.rho` | 0.5 |\n", True),
    ("## R\n\n| key | what |\n|---|---|\n| `ews.rho` | the width |\n", True),
])
def test_a_table_without_its_source_is_reported(tmp_path: Path, markdown: str, sourced: bool) -> None:
    page = tmp_path / "page.md"
    page.write_text(markdown)
    (table,) = tables(page)
    assert (not has_numbers(table) or provenance_problem(table) is None) == sourced
