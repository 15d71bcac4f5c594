"""`study.md`, `study.html` and `study.png`: a study's tables, rendered from `study.json` alone.

The same blocks as run reports (`analysis.report`), so `ews report STUDY_DIR` can
rebuild the page at any time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from matplotlib.figure import Figure

from ...runs.checkpoint import atomic_write_text
from ...runs.documents import fmt
from .. import figures
from ..report import Block, Heading, Image, Paragraph, Table, to_html, to_markdown
from .scoring import metric_range, metric_unit
from .stats import LEVEL, format_p

STUDY_JSON = "study.json"


def is_study_folder(path: Path) -> bool:
    return (path / STUDY_JSON).is_file()


def _interval(s: Mapping[str, Any] | None, signed: bool = False) -> str:
    if s is None:
        return "-"
    mean = fmt(float(s["mean"]), signed=signed)
    if s["low"] is None:
        return f"{mean} [undefined: 1 seed]"
    return f"{mean} [{fmt(float(s['low']), signed=signed)}, {fmt(float(s['high']), signed=signed)}]"


def _difference(d: Mapping[str, Any] | None) -> str:
    if d is None:
        return "-"
    p = format_p(d.get("p"))
    return _interval(d, signed=True) + (f" {p}" if p else "")


def _means_table(results: Mapping[str, Any]) -> Table:
    metrics = results["metrics"]
    rows = tuple((name, str(len(v["seeds"])), *(_interval(v["metrics"].get(m)) for m in metrics))
                 for name, v in results["variants"].items())
    return Table(("variant", "seeds", *metrics), rows)


def _differences_table(results: Mapping[str, Any]) -> Table:
    metrics = results["metrics"]
    rows = tuple((name, *(_difference(d.get(m)) for m in metrics)) for name, d in results["differences"].items())
    return Table(("variant", *metrics), rows)


def _rounds_blocks(results: Mapping[str, Any]) -> list[Block]:
    """A table per searching variant: each round's search gap and policy entropy over seeds."""
    rounds = results.get("search_rounds") or {}  # absent in studies summarised before rounds were kept
    if not rounds:
        return []
    blocks: list[Block] = [
        Heading("Search rounds"),
        Paragraph(f"Per round (the search before that epoch): the search gap, random minus searched subnets' "
                  f"accuracy on D_s in points (positive: the controller finds weaker-than-random subnets), and the "
                  f"policy's entropy in nats (it falls as the controller leaves uniform); mean [{LEVEL:.0%} t "
                  f"interval] over the seeds."),
    ]
    for name, lines in rounds.items():
        rows = tuple((str(line["epoch"]), str(line["search_gap"]["n"]), _interval(line["search_gap"], signed=True),
                      _interval(line["search_entropy"])) for line in lines)
        blocks += [Heading(name, 3), Table(("epoch", "seeds", "search gap (points)", "entropy (nats)"), rows)]
    return blocks


def _timing_blocks(timing: Mapping[str, Any]) -> list[Block]:
    rows = tuple((run, f"{t['train_seconds']:.1f}", f"{t['eval_seconds']:.1f}") for run, t in timing["runs"].items())
    return [Heading("Time"),
            Paragraph(f"Wall time of this invocation: {timing['wall_seconds']:.1f} s (runs already finished are "
                      f"not retrained). Summed over runs: training {timing['train_seconds']:.1f} s, scoring "
                      f"{timing['eval_seconds']:.1f} s."),
            Table(("run", "train (s)", "evaluation + analysis (s)"), rows)]


def _panel(results: Mapping[str, Any], metric: str) -> figures.ForestPanel | None:
    """The metric's paired differences from the reference where there are any, else its means (a search gap: the
    reference does not search); a line at 0 where 0 means "no effect": differences, and signed metrics."""
    bounds = metric_range(metric)
    min_width = 0.0 if bounds is None else (bounds[1] - bounds[0]) / 100  # a point for error rates
    differences = {name: d[metric] for name, d in results["differences"].items() if metric in d}
    if differences:
        return figures.ForestPanel(f"{metric}, minus {results['reference']}", metric_unit(metric, difference=True),
                                   differences, zero_line=True, min_width=min_width)
    means = {name: v["metrics"][metric] for name, v in results["variants"].items() if metric in v["metrics"]}
    if not means:
        return None
    return figures.ForestPanel(f"{metric}, mean", metric_unit(metric, difference=False), means,
                               zero_line=bounds is not None and bounds[0] < 0, min_width=min_width)


def study_figure(results: Mapping[str, Any]) -> Figure:
    """`study.png`, what the tables resolve, as a forest plot: per metric in its own unit, each variant's paired
    difference from the reference with its interval against 0 (means where the reference has no value)."""
    panels = [panel for metric in results["metrics"] if (panel := _panel(results, metric)) is not None]
    return figures.study_figure(panels, title=f"mean and {LEVEL:.0%} interval over seeds (ticks: single seeds; "
                                              "hollow: the interval holds 0)")


def study_blocks(results: Mapping[str, Any]) -> list[Block]:
    level = f"{LEVEL:.0%}"
    reading = results["study"]["analysis"].get("reading")  # absent in studies scored before probes shared one
    probe = f"every model probed in the {reading!r} reading" if reading else "each model probed in its own reading"
    blocks: list[Block] = [
        Heading("Study", 1),
        Paragraph(f"Seeds {', '.join(map(str, results['study']['seeds']))}. Every cell: mean over seeds "
                  f"[{level} t interval, cut at the metric's range: an error rate's at 0 and 100]. Errors in %, "
                  f"lower is better; subnet_confidence_* is the median true-class "
                  f"confidence of random subnets at that width (paper Fig. 1, {probe}), higher is better; "
                  f"search_gap_first/last is "
                  f"random minus searched subnets' accuracy on D_s at the first/last search round, in points "
                  f"(positive: the search still finds weaker-than-random subnets). val_* metrics are on the "
                  f"validation split held out of training, the others on the test split: settings are chosen on "
                  f"val_*, so the test columns are the honest estimate of the chosen setting."),
        _means_table(results),
    ]
    if results["differences"]:
        blocks += [Heading(f"Paired differences to {results['reference']}"),
                   Paragraph(f"variant minus {results['reference']}, seed by seed: mean [{level} interval] and a "
                             f"two-sided paired t-test p. An interval that holds 0 does not resolve the difference."),
                   _differences_table(results),
                   Image("study.png", f"paired differences from {results['reference']} with {level} intervals")]
    else:
        blocks.append(Image("study.png", f"means with {level} intervals"))
    blocks += _rounds_blocks(results)
    blocks += _timing_blocks(results["timing"])
    return blocks


def write_study_report(folder: str | Path, results: Mapping[str, Any] | None = None) -> Path:
    """(Re)write `study.md`, `study.html` and `study.png` of a study folder; returns the HTML path."""
    folder = Path(folder)
    results = results if results is not None else json.loads((folder / STUDY_JSON).read_text())
    figures.save(study_figure(results), folder / "study.png")
    blocks = study_blocks(results)
    atomic_write_text(folder / "study.md", to_markdown(blocks))
    atomic_write_text(folder / "study.html", to_html(blocks, base=folder, title=f"ews study {folder.name}"))
    return folder / "study.html"
