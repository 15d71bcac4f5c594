"""Draw `docs/figures/subnets.svg`: one residual block and the subnets the readings of rho keep.

Run `python docs/figures/make_subnets_figure.py` after changing the drawing and commit the
SVG (the docs build does not run matplotlib). Squares are a conv's output channels
(filled: kept); a grey dashed path is dropped, so it is not computed at all.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

CHANNELS = 6  # channels drawn per conv (any even count shows rho = 0.5)
KEPT_COLOUR, DROPPED_COLOUR, PATH_COLOUR = "#1f77b4", "#bbbbbb", "#333333"
OUT = Path(__file__).with_name("subnets.svg")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], *, kept: bool) -> None:
    style = dict(color=PATH_COLOUR if kept else DROPPED_COLOUR, lw=1.6, linestyle="-" if kept else "--")
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, **style))


def _conv(ax: Axes, x: float, y: float, kept: int, label: str, *, active: bool) -> None:
    """A conv as a column of channel squares, the first `kept` filled."""
    size = 0.22
    top = y + CHANNELS * size / 2
    for c in range(CHANNELS):
        filled = active and c < kept
        ax.add_patch(Rectangle((x - size / 2, top - (c + 1) * size), size, size,
                               facecolor=KEPT_COLOUR if filled else "white",
                               edgecolor=PATH_COLOUR if active else DROPPED_COLOUR, lw=0.8))
    ax.text(x, top + 0.12, label, ha="center", va="bottom", fontsize=8,
            color=PATH_COLOUR if active else DROPPED_COLOUR)


def _block(ax: Axes, title: str, *, branch: bool, shortcut: bool, hidden_kept: int, last_kept: int) -> None:
    """One block: input -> conv1 -> conv2 -> (+) on top, the shortcut below, then the output."""
    branch_y, short_y = 1.2, -0.9
    _arrow(ax, (0.25, 0.2), (1.0, branch_y - 0.1), kept=branch)
    _conv(ax, 1.4, branch_y, hidden_kept, "conv1", active=branch)
    _arrow(ax, (1.65, branch_y), (2.55, branch_y), kept=branch)
    _conv(ax, 2.95, branch_y, last_kept, "conv2", active=branch)
    _arrow(ax, (3.2, branch_y - 0.1), (3.95, 0.3), kept=branch)
    _arrow(ax, (0.25, -0.05), (1.0, short_y), kept=shortcut)
    ax.plot([1.0, 3.0], [short_y, short_y], color=PATH_COLOUR if shortcut else DROPPED_COLOUR, lw=1.6,
            linestyle="-" if shortcut else "--")
    ax.text(2.0, short_y - 0.3, "shortcut", ha="center", va="top", fontsize=8,
            color=PATH_COLOUR if shortcut else DROPPED_COLOUR)
    _arrow(ax, (3.0, short_y), (3.95, -0.05), kept=shortcut)
    ax.add_patch(plt.Circle((4.1, 0.1), 0.17, facecolor="white", edgecolor=PATH_COLOUR, lw=1.2))
    ax.text(4.1, 0.1, "+", ha="center", va="center", fontsize=11)
    _arrow(ax, (4.28, 0.1), (4.9, 0.1), kept=True)
    ax.text(0.1, 0.1, "x", ha="center", va="center", fontsize=11)
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlim(-0.1, 5.0)
    ax.set_ylim(-1.6, 2.4)
    ax.set_aspect("equal")
    ax.axis("off")


def main() -> None:
    half = CHANNELS // 2
    panels = [
        ("full block", dict(branch=True, shortcut=True, hidden_kept=CHANNELS, last_kept=CHANNELS)),
        ("default: both paths,\nhidden convs sliced", dict(branch=True, shortcut=True, hidden_kept=half,
                                                           last_kept=CHANNELS)),
        ("both paths,\nevery conv sliced", dict(branch=True, shortcut=True, hidden_kept=half, last_kept=half)),
        ("paper's text: one path\n(here the branch)", dict(branch=True, shortcut=False, hidden_kept=half,
                                                           last_kept=half)),
        ("paper's text: one path\n(here the shortcut)", dict(branch=False, shortcut=True, hidden_kept=half,
                                                             last_kept=half)),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 2.3))
    for ax, (title, kwargs) in zip(axes, panels):
        _block(ax, title, **kwargs)
    fig.tight_layout()
    plt.rcParams["svg.hashsalt"] = "ews"  # stable element ids, so regenerating gives the same file
    fig.savefig(OUT, format="svg", metadata={"Date": None})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
