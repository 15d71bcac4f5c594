"""`study.md` and `study.png` of a fake study (no training): the forest plot shows what the tables resolve."""

from __future__ import annotations

from pathlib import Path

from matplotlib.collections import LineCollection

from ews.analysis.study.report import study_figure, write_study_report
from ews.analysis.study.results import study_results
from ews.analysis.study.spec import build_spec

from .test_results import SPEC, fake_runs


def _intervals(ax) -> list[tuple[float, float]]:
    """(low, high) of every horizontal error bar drawn in a panel."""
    return [(min(seg[:, 0]), max(seg[:, 0])) for c in ax.collections if isinstance(c, LineCollection)
            for seg in c.get_segments()]


def test_the_forest_plot_has_a_panel_per_metric_in_its_unit_with_a_zero_line() -> None:
    results = study_results(SPEC, fake_runs(), wall_seconds=1.0)
    figure = study_figure(results)
    figure.draw_without_rendering()
    panels = {ax.get_title(): ax for ax in figure.axes if ax.get_visible()}
    assert set(panels) == {"clean_error, minus vanilla", "pgd20_error, minus vanilla",
                           "subnet_confidence_clean_rho0.5, minus vanilla", "search_gap_first, mean",
                           "search_gap_last, mean"}
    clean = panels["clean_error, minus vanilla"]
    assert clean.get_xlabel() == "percentage points" and panels["search_gap_last, mean"].get_xlabel() == "points"
    assert [label.get_text() for label in clean.get_yticklabels()] == ["ews"]  # the reference is no row of its own
    for title, ax in panels.items():
        assert any(list(line.get_xdata()) == [0.0, 0.0] for line in ax.lines), f"{title}: no zero line"
        assert ax.xaxis.get_offset_text().get_text() == "", f"{title}: ticks printed with an offset"
    assert _intervals(clean) == [(-100.0, 100.0)]  # a t interval of -35 +- 629 points, cut at the range
    gap = panels["search_gap_last, mean"]  # two seeds 1e-7 apart: the axis still spans a couple of points
    assert gap.get_xlim()[1] - gap.get_xlim()[0] >= 2.0


def test_the_report_prints_no_negative_zero_and_shows_the_figure(tmp_path: Path) -> None:
    runs = fake_runs()
    runs["ews"][1]["metrics"]["pgd20_error"] = 94.999  # ews minus vanilla: -0.001 and 0: a mean of -0.0005
    results = study_results(SPEC, runs, wall_seconds=1.0)
    write_study_report(tmp_path, results)
    text = (tmp_path / "study.md").read_text()
    assert "-0.00" not in text and "+0.00" not in text and "| 0.00 [" in text
    assert "![paired differences from vanilla with 95% intervals](study.png)" in text
    assert (tmp_path / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_a_reference_the_panels_show_means_inside_the_range() -> None:
    spec = build_spec({"seeds": [1, 2], "variants": {"vanilla": {"method": "vanilla"}, "ews": {"method": "ews"}}})
    figure = study_figure(study_results(spec, fake_runs(), wall_seconds=1.0))
    clean = next(ax for ax in figure.axes if ax.get_title() == "clean_error, mean")
    assert clean.get_xlabel() == "error (%)" and not any(list(line.get_xdata()) == [0.0, 0.0] for line in clean.lines)
    assert all(0.0 <= low <= high <= 100.0 for low, high in _intervals(clean)) and len(_intervals(clean)) == 2


def test_the_report_shows_each_search_round_over_seeds(tmp_path: Path) -> None:
    runs = fake_runs()
    for seed, gap in ((1, 3.0), (2, 5.0)):
        runs["ews"][seed]["rounds"] = [{"epoch": 1, "search_gap": gap, "search_entropy": 30.0 + seed}]
    write_study_report(tmp_path, study_results(SPEC, runs, wall_seconds=1.0))
    text = (tmp_path / "study.md").read_text()
    assert "## Search rounds" in text and "### ews" in text
    assert "| 1 | 2 | +4.00 [" in text  # epoch 1, two seeds, the mean gap in points
