"""The documented install from a wheel works: build sdist + wheel, install into a fresh venv, run `ews --help`.

Offline and fast: the build runs without isolation (the setuptools already installed
here), the fresh venv sees this environment's dependencies through a `.pth` file (torch
is not installed twice), and pip installs only the wheel, with `--no-index`. A `.pth`
file's directories are added to `sys.path` without running *their* `.pth` files, so the
editable install of this checkout does not leak into the fresh venv: `ews` there is the
wheel's copy, which the test checks.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "ews-robust"


def _need(module: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed ({why}); pip install -e '.[docs]'")


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def _project_copy(target: Path) -> Path:
    """The files a build reads, copied so building never writes into the checkout (build/, egg-info)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` output: an sdist and a wheel built from that sdist."""
    _need("build", "it builds the sdist and wheel")
    _need("setuptools", "the build backend")
    base = tmp_path_factory.mktemp("wheel")
    project = _project_copy(base / "project")
    out = base / "dist"
    # No isolation: offline, with this environment's setuptools (its `wheel` requirement is not needed by it).
    _run([sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", str(out),
          str(project)])
    return out


def test_build_makes_sdist_and_wheel(dist: Path) -> None:
    (sdist,) = dist.glob("ews_robust-*.tar.gz")
    (wheel,) = dist.glob("ews_robust-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert f"Name: {DISTRIBUTION}" in metadata.splitlines()
    assert "ews = ews.cli:main" in entry_points
    assert "ews/__init__.py" in names and "ews/cli/__init__.py" in names
    assert not any(n.startswith(("tests/", "docs/")) for n in names), "the wheel ships the library only"
    assert sdist.stat().st_size > 0


def test_wheel_installs_and_runs_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("ews_robust-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    target_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                       .stdout.strip())
    # This environment's site-packages (torch, numpy, ...) become visible to the fresh venv.
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()] or [sysconfig.get_paths()["purelib"]]
    (target_site / "_ews_test_deps.pth").write_text("\n".join(deps) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "--quiet", str(wheel)])

    where = _run([str(python), "-c", "import ews; print(ews.__file__)"]).stdout.strip()
    assert Path(where).resolve().is_relative_to(target_site.resolve()), f"ews imported from {where}, not the wheel"
    help_text = _run([str(venv / "bin" / "ews"), "--help"]).stdout
    assert help_text.startswith("usage: ews")
    assert help_text.rstrip().splitlines()[-1].strip().startswith("ews ")
