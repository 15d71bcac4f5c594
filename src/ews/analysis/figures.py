"""PNG figures of the analyses and reports: the paper's Fig. 1, 5/6 and 7 layouts, and training curves.

Figures are built with matplotlib's object API (`matplotlib.figure.Figure`, drawn by
the Agg canvas): no pyplot state and no window, so they work on headless machines and
inside other programs. `save` writes a PNG atomically.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..runs.checkpoint import atomic_write_bytes

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")
_KIND_TITLES = {"clean": "clean", "corrupted": "corrupted", "pgd": "PGD"}
DPI = 110


def save(figure: Figure, path: str | Path) -> Path:
    """Write `figure` as a PNG (atomically) and return the path."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def subnet_confidence_figure(confidence: Mapping[str, Mapping[str, Any]], kinds: Sequence[str], *,
                             rho: float) -> Figure:
    """Fig. 1: per input kind one box per model over its subnets' mean true-class confidence; a star for the full network."""
    models = list(confidence)
    figure = Figure(figsize=(2.2 + 1.6 * len(kinds) * max(1, len(models)) / 2, 3.6))
    ax = figure.add_subplot()
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        color = COLORS[m % len(COLORS)]
        positions = [k + (m - (len(models) - 1) / 2) * width for k in range(len(kinds))]
        data = [confidence[model][kind]["scores"] for kind in kinds]
        ax.boxplot(data, positions=positions, widths=width * 0.8, patch_artist=True, showfliers=True,
                   boxprops={"facecolor": color, "alpha": 0.55, "edgecolor": color},
                   medianprops={"color": "black"}, flierprops={"markersize": 2, "markeredgecolor": color},
                   whiskerprops={"color": color}, capprops={"color": color}, manage_ticks=False)
        ax.scatter(positions, [confidence[model][kind]["full"] for kind in kinds], marker="*", s=140, color=color,
                   edgecolors="black", linewidths=0.6, zorder=3, label=f"{model}: full network (star), subnets (box)")
    ax.set_xticks(range(len(kinds)), [_KIND_TITLES.get(kind, kind) for kind in kinds])
    ax.set_xlim(-0.6, len(kinds) - 0.4)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("mean true-class confidence")
    ax.set_title(f"Subnet confidence ({len(confidence[models[0]][kinds[0]]['scores'])} random subnets, rho = {rho:g})",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return figure


def block_figure(blocks: Mapping[str, Sequence[Mapping[str, Any]]], full_errors: Mapping[str, float]) -> Figure:
    """Fig. 7: per block one bar per model, the mean error of subnets thinned in that block only.

    Downsampling blocks are hatched and their labels marked with a down arrow; dashed
    lines are the full networks' errors.
    """
    models = list(blocks)
    rows = blocks[models[0]]
    figure = Figure(figsize=(max(4.5, 0.55 * len(rows) * max(1, len(models)) / 1.5 + 1.5), 3.6))
    ax = figure.add_subplot()
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        color = COLORS[m % len(COLORS)]
        positions = [b + (m - (len(models) - 1) / 2) * width for b in range(len(rows))]
        bars = ax.bar(positions, [row["mean_error"] for row in blocks[model]], width=width * 0.95, color=color,
                      alpha=0.8, label=model, edgecolor="black", linewidth=0.4)
        for bar, row in zip(bars, blocks[model]):
            if row["downsampling"]:
                bar.set_hatch("///")
        if model in full_errors:
            ax.axhline(full_errors[model], color=color, linestyle="--", linewidth=1,
                       label=f"{model}: full network")
    ax.set_xticks(range(len(rows)), [f"{i + 1}{' ↓' if row['downsampling'] else ''}" for i, row in enumerate(rows)])
    ax.set_xlabel("block (↓, hatched: downsampling)")
    ax.set_ylabel("mean error of subnets (%)")
    ax.set_title("Error when one block keeps 50% of its paths/channels", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return figure


def _series(metrics: Sequence[Mapping[str, Any]], key: str, scale: float = 1.0) -> tuple[list[int], list[float]]:
    points = [(line["epoch"], scale * line[key]) for line in metrics if line.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def training_curves(metrics: Sequence[Mapping[str, Any]]) -> Figure:
    """Loss, accuracy and learning rate per epoch; controller reward and entropy when the run searched."""
    searched = any(line.get("search_subnet_accuracy") is not None for line in metrics)
    panels = 4 if searched else 3
    figure = Figure(figsize=(3.3 * panels, 3.0))
    axes = figure.subplots(1, panels)
    for key, label in (("train_loss", "train loss"), ("subnet_loss", "subnet loss")):
        epochs, values = _series(metrics, key)
        if values:
            axes[0].plot(epochs, values, marker=".", label=label)
    axes[0].set_title("loss")
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test"), ("val_accuracy", "validation"),
                       ("val_robust_accuracy", "validation, PGD")):
        epochs, values = _series(metrics, key, 100.0)
        if values:
            axes[1].plot(epochs, values, marker=".", label=label)
    axes[1].set_title("accuracy (%)")
    epochs, values = _series(metrics, "lr")
    axes[2].plot(epochs, values, marker=".", color=COLORS[2])
    axes[2].set_title("learning rate")
    if values and min(values) > 0 and max(values) / min(values) > 20:
        axes[2].set_yscale("log")
    if searched:
        epochs, reward = _series(metrics, "search_subnet_accuracy", -1.0)
        axes[3].plot(epochs, reward, marker="o", color=COLORS[3])
        axes[3].set_ylabel("reward (-subnet accuracy)", color=COLORS[3])
        epochs, entropy = _series(metrics, "search_entropy")
        if entropy:
            twin = axes[3].twinx()
            twin.plot(epochs, entropy, marker="s", color=COLORS[4])
            twin.set_ylabel("policy entropy", color=COLORS[4])
        axes[3].set_title("controller (search rounds)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[:2]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def comparison_curves(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """The monitored split's error (test, or val under `train.monitor: val`) and train loss per epoch, a line per run."""
    figure = Figure(figsize=(8.0, 3.0))
    error_ax, loss_ax = figure.subplots(1, 2)
    split = "val" if any("val_accuracy" in line for metrics in runs.values() for line in metrics) else "test"
    for i, (label, metrics) in enumerate(runs.items()):
        color = COLORS[i % len(COLORS)]
        epochs, accuracy = _series(metrics, f"{split}_accuracy", 100.0)
        error_ax.plot(epochs, [100.0 - a for a in accuracy], marker=".", color=color, label=label)
        epochs, loss = _series(metrics, "train_loss")
        loss_ax.plot(epochs, loss, marker=".", color=color, label=label)
    error_ax.set_title(f"{split} error (%)")
    loss_ax.set_title("train loss")
    for ax in (error_ax, loss_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def sweep_figure(param: str, points: Sequence[Mapping[str, Any]]) -> Figure:
    """Fig. 5 / 6: clean error and training time against the swept parameter."""
    done = sorted((p for p in points if p.get("clean_error") is not None), key=lambda p: p["value"])
    values = [p["value"] for p in done]
    figure = Figure(figsize=(8.0, 3.0))
    error_ax, time_ax = figure.subplots(1, 2)
    error_ax.plot(values, [p["clean_error"] for p in done], marker="o", color=COLORS[0])
    time_ax.plot(values, [p["train_seconds"] for p in done], marker="o", color=COLORS[1])
    error_ax.set_ylabel("clean error (%)")
    time_ax.set_ylabel("training time (s)")
    positive = [v for v in values if v > 0]
    logarithmic = len(positive) == len(values) and positive and max(positive) / min(positive) >= 50
    for ax in (error_ax, time_ax):
        ax.set_xlabel(param)
        ax.grid(alpha=0.3)
        if logarithmic:
            ax.set_xscale("log")
    figure.suptitle(f"{param} sweep ({len(done)} runs)", fontsize=10)
    figure.tight_layout()
    return figure


class ForestPanel(NamedTuple):
    """One metric of a forest plot: per variant a summary (`mean`, `low`, `high`, `values`) in `unit`."""

    title: str
    unit: str
    rows: Mapping[str, Mapping[str, Any]]
    zero_line: bool  # 0 means "no effect": the rows are differences, or a signed metric (a search gap)
    min_width: float = 0.0  # the narrowest x axis worth drawing in `unit` (a point for error rates)


def _forest_limits(ax: Any, panel: ForestPanel) -> None:
    """x limits around every interval and seed (and 0), never narrower than the panel's `min_width`.

    A panel whose values barely differ would otherwise get an axis 1e-7 wide, its ticks
    printed as fractions with an offset ("1e-7 + 94.99") that read as the unit.
    """
    xs = [0.0] if panel.zero_line else []
    for s in panel.rows.values():
        xs += [s["mean"], *s["values"]] + ([s["low"], s["high"]] if s["low"] is not None else [])
    low, high = min(xs), max(xs)
    half = max(0.58 * (high - low), panel.min_width / 2, 1e-3)  # 8% of the spread as margin on each side
    middle = (low + high) / 2
    ax.set_xlim(middle - half, middle + half)
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)


def _forest_panel(ax: Any, panel: ForestPanel, names: Sequence[str]) -> None:
    """Variants top to bottom; with a zero line, hollow where the interval holds 0 (not resolved)."""
    for i, name in enumerate(names):
        s = panel.rows.get(name)
        if s is None:
            continue
        color = COLORS[i % len(COLORS)]
        defined = s["low"] is not None
        resolved = not panel.zero_line or (defined and (s["low"] > 0 or s["high"] < 0))
        ax.plot(s["values"], [i] * len(s["values"]), "|", color=color, alpha=0.45, markersize=8)
        spread = [[s["mean"] - s["low"]], [s["high"] - s["mean"]]] if defined else None
        ax.errorbar([s["mean"]], [i], xerr=spread, fmt="o", color=color, capsize=4,
                    markerfacecolor=color if resolved else "white")
    if panel.zero_line:
        ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(names)), list(names), fontsize=7)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(panel.unit, fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    _forest_limits(ax, panel)


def study_figure(panels: Sequence[ForestPanel], *, title: str) -> Figure:
    """A forest plot: one panel per metric in its own unit, each variant's mean and interval, a tick per seed.

    Where the rows are differences (from a study's reference) a line marks 0: an interval
    that holds it does not resolve the difference.
    """
    if not panels:
        figure = Figure(figsize=(4.0, 1.2))
        figure.text(0.5, 0.5, f"{title}\n(no metric has a value)", ha="center", va="center", fontsize=9)
        return figure
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    names = list(dict.fromkeys(name for panel in panels for name in panel.rows))
    figure = Figure(figsize=(3.6 * columns, (0.9 + 0.32 * len(names)) * rows + 0.5))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        _forest_panel(ax, panel, names)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
