"""The documentation site builds strictly, and nothing in it or the README points outside the repository.

`mkdocs build --strict` fails on a broken link, a page missing from the navigation, or an
API page whose module moved, so running it here turns those into test failures.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MIN_PAGES = 12
# Relative paths that climb out of the checkout, and files that live only outside it.
OUTSIDE = re.compile(r"\.\./shared|shared/acceptance|DESIGN\.md|REFERENCE\.md|STYLE\.md")


def _text_files() -> list[Path]:
    """What users read: the README, the docs pages, and the source whose docstrings become API pages."""
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md")),
            *sorted((ROOT / "src" / "ews").rglob("*.py"))]


def test_site_builds_strictly(tmp_path: Path) -> None:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"{module} is not installed (the docs extra: pip install -e '.[docs]')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    problems = [line for line in result.stderr.splitlines() if re.search(r"WARNING|ERROR", line)]
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(problems or [result.stderr[-3000:]])
    pages = sorted(site.rglob("index.html"))
    assert len(pages) >= MIN_PAGES, f"{len(pages)} pages built, expected at least {MIN_PAGES}"
    config_page = (site / "reference" / "config" / "index.html").read_text()
    assert "config-reference" not in config_page, "the config reference placeholder was not filled"
    assert "ews.rho_paths" in config_page


def test_nothing_points_outside_the_repository() -> None:
    for path in _text_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not OUTSIDE.search(line), f"{path.relative_to(ROOT)}:{number} points outside the repository: {line}"


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"
    text = "\n".join(lines)
    assert "make demo" in text and "make test" in text


def test_license_and_citation() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"].startswith("1.2")
    paper = citation["preferred-citation"]
    assert paper["title"] == "Improving Corruption and Adversarial Robustness by Enhancing Weak Subnets"
    assert [a["family-names"] for a in paper["authors"]] == ["Guo", "Stutz", "Schiele"]
    assert citation["version"] == _project_version()


def _project_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1)
