"""The README's "EWS in your own loop" snippet runs as printed (on tiny data)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_loop_runs_and_searches() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## EWS in your own loop", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    g = torch.Generator().manual_seed(0)
    batch = lambda: (torch.rand(4, 3, 32, 32, generator=g), torch.randint(0, 10, (4,), generator=g))  # noqa: E731
    names = {"train_loader": [batch(), batch()], "search_loader": [batch()], "epochs": 2}
    exec(compile(code, "README.md", "exec"), names)  # noqa: S102 - the project's own README
    enhancer = names["enhancer"]
    assert enhancer.iteration == 4 and enhancer.sampler.steps == 1  # searched before epoch 1 (K = 10)
