"""Figures: valid PNG files with one box per (model, input kind) and one bar per (model, block)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.patches import PathPatch, Rectangle
from PIL import Image

from ews.analysis import figures

KINDS = ("clean", "corrupted", "pgd")


def _valid_png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _confidence(models: int) -> dict:
    return {f"model{m}": {kind: {"full": 0.9 - 0.1 * k, "scores": [0.2 + 0.01 * i + 0.1 * m for i in range(30)]}
                          for k, kind in enumerate(KINDS)} for m in range(models)}


def _blocks(models: int, blocks: int = 9) -> dict:
    return {f"model{m}": [{"block": f"layers.{b // 3}.{b % 3}", "downsampling": b in (3, 6), "mean_error": 5.0 + b + m}
                          for b in range(blocks)] for m in range(models)}


@pytest.mark.parametrize("models", [1, 2])
def test_subnet_confidence_figure_has_one_box_per_model_and_input(tmp_path: Path, models: int) -> None:
    figure = figures.subnet_confidence_figure(_confidence(models), KINDS, rho=0.7)
    ax = figure.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, PathPatch)]
    assert len(boxes) == models * len(KINDS)
    stars = sum(len(c.get_offsets()) for c in ax.collections)
    assert stars == models * len(KINDS)  # the full network, one star per box
    width, height = _valid_png(figures.save(figure, tmp_path / "figure1.png"))
    assert width > 200 and height > 200


@pytest.mark.parametrize("models", [1, 2])
def test_block_figure_has_one_bar_per_model_and_block(tmp_path: Path, models: int) -> None:
    figure = figures.block_figure(_blocks(models), {f"model{m}": 4.0 for m in range(models)})
    ax = figure.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == models * 9
    assert sum(bool(bar.get_hatch()) for bar in bars) == models * 2  # downsampling blocks marked
    assert [t.get_text() for t in ax.get_xticklabels()][3] == "4 ↓"
    _valid_png(figures.save(figure, tmp_path / "figure7.png"))


def test_curves_and_sweep_figures_are_pngs(tmp_path: Path) -> None:
    metrics = [{"epoch": e, "lr": 0.1 / e, "train_loss": 1.0 / e, "train_accuracy": 0.5, "test_accuracy": 0.6,
                "subnet_loss": 0.1, "search_subnet_accuracy": 0.3, "search_entropy": 10.0} for e in range(1, 4)]
    assert len(figures.training_curves(metrics).axes) == 5  # 4 panels + the entropy twin axis
    _valid_png(figures.save(figures.training_curves(metrics), tmp_path / "curves.png"))
    _valid_png(figures.save(figures.comparison_curves({"a": metrics, "b": metrics}), tmp_path / "compare.png"))
    points = [{"value": v, "clean_error": 5.0 + v, "train_seconds": 10.0 / v} for v in (1, 5, 10, 50)]
    sweep = figures.sweep_figure("ews.K", points)
    assert [len(ax.lines[0].get_xdata()) for ax in sweep.axes] == [4, 4]
    assert sweep.axes[0].get_xscale() == "log"
    _valid_png(figures.save(sweep, tmp_path / "sweep.png"))
