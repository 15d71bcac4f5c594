"""Run and comparison reports: Markdown and self-contained HTML with the same content; HTML opens in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ews.analysis.report import to_html, to_markdown, write_comparison_report, write_run_report
from ews.cli import main
from ews.evaluation import write_results

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
# Appended to a copy of a report: after load, the body says how many images decoded.
_CHECK_IMAGES = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute("data-images", loaded + "/" + images.length);
});
</script>"""


def _copy_with_eval(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    write_results(copy / "eval", {"checkpoint": str(copy / "checkpoint.pt"), "dataset": "digits", "model": "resnet20",
                                  "method": "ews", "clean_error": 10.0, "corruption_error": 20.0,
                                  "corruptions": {"fog": {"1": 10.0, "2": 30.0}}, "pgd20_error": 50.0,
                                  "adv_examples": 20, "adv_clean_error": 10.0})
    return copy


def test_run_report_shows_curves_timing_and_config(runs: dict[str, Path]) -> None:
    run = runs["ews"]
    text = (run / "report.md").read_text()
    for section in ("# Run report: ews", "## Training curves", "## Timing", "## Configuration"):
        assert section in text
    assert "![training curves](figures/curves.png)" in text and (run / "figures" / "curves.png").is_file()
    assert "controller steps" in text  # an EWS run searched
    html = (run / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 1
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # no network resources


def test_report_shows_evaluation_tables(runs: dict[str, Path], tmp_path: Path) -> None:
    run = _copy_with_eval(runs["ews"], tmp_path)
    write_run_report(run)
    text = (run / "report.md").read_text()
    assert "| corruption error, 15 benchmark corruptions (%) | 20.00 |" in text
    assert "| fog | 10.00 | 30.00 | 20.00 |" in text and "| PGD-20 error (%) | 50.00 |" in text
    html = (run / "report.html").read_text()
    assert "<td>fog</td><td>10.00</td><td>30.00</td><td>20.00</td>" in html


def test_markdown_and_html_render_the_same_blocks(tmp_path: Path) -> None:
    from ews.analysis.report import Code, Heading, Image, Paragraph, Table

    (tmp_path / "a.png").write_bytes(b"\x89PNG fake")
    blocks = [Heading("T", 1), Paragraph("x < y"), Table(("a", "b"), (("1", "2"),)), Image("a.png", "alt"),
              Code("k: v")]
    assert to_markdown(blocks) == "# T\n\nx < y\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![alt](a.png)\n\n```yaml\nk: v\n```\n"
    html = to_html(blocks, base=tmp_path, title="t")
    assert "<h1>T</h1>" in html and "<p>x &lt; y</p>" in html and "<td>1</td><td>2</td>" in html
    assert 'alt="alt"' in html and "<pre>k: v</pre>" in html


def test_comparison_report_has_a_row_per_run_and_differing_keys(runs: dict[str, Path], tmp_path: Path,
                                                                 capsys) -> None:
    ews_run = _copy_with_eval(runs["ews"], tmp_path)
    code = main(["report", str(runs["ews"]), str(runs["vanilla"]), str(ews_run), "--out", str(tmp_path / "cmp")])
    assert code == 0, capsys.readouterr().err
    text = (tmp_path / "cmp" / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| vanilla |") or line.startswith("| ews |")]
    assert [row.split(" | ")[1] for row in rows] == ["vanilla", "ews", "ews"]  # vanilla first, as in the paper
    header = next(line for line in text.splitlines() if line.startswith("| run |"))
    assert header.endswith("| clean error (%) | corruption error (%) | PGD-20 error (%) | train time (s) |")
    assert rows[2].endswith("| 10.00 | 20.00 | 50.00 | " + rows[2].split(" | ")[-1])  # eval.json wins
    assert "| method | \"vanilla\" | \"ews\" | \"ews\" |" in text  # the config key that differs
    assert (tmp_path / "cmp" / "figures" / "curves.png").is_file()


def test_report_of_a_folder_that_is_no_run_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: `make test` installs Debian's chromium where "
                                              "apt-get is usable (root); this machine has none")
def test_html_report_opens_in_headless_chromium_and_its_images_load(runs: dict[str, Path], tmp_path: Path) -> None:
    run = runs["ews"]
    from ews.analysis.analyze import AnalysisSettings, run_analysis

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    run_analysis(copy / "checkpoint.pt", out=copy / "analysis", progress=False,
                 settings=AnalysisSettings(subnets=3, images=10, block_subnets=1, inputs=("clean",)))
    page = write_run_report(copy)
    html = page.read_text()
    expected = html.count("<img ")
    assert expected == 3  # curves, Fig. 1, Fig. 7
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", _CHECK_IMAGES + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f'data-images="{expected}/{expected}"' in dom.stdout
    assert "<h1>Run report: run</h1>" in dom.stdout
