"""The output folder of one training run, and the rules that keep finished work safe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import RunFolderError
from .checkpoint import atomic_write_text


# What a run and the commands that default into its folder write: training, `ews eval` (eval/,
# eval-val/), `ews analyze` (analysis/), `ews search` (search-STRATEGY/) and the reports.
OUTPUTS = (
    "checkpoint.pt", "best.pt", "report.json", "report.md", "report.html", "provenance.json", "metrics.jsonl",
    "figures", "tensorboard", "eval", "eval-*", "analysis", "search-*",
)


class RunDir:
    """`checkpoint.pt`, `config.yaml`, `metrics.jsonl`, `provenance.json` and `report.json` under one folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.checkpoint = self.root / "checkpoint.pt"
        self.config = self.root / "config.yaml"
        self.metrics = self.root / "metrics.jsonl"
        self.report = self.root / "report.json"
        self.provenance = self.root / "provenance.json"

    @property
    def finished(self) -> bool:
        return self.report.is_file()

    @property
    def started(self) -> bool:
        return self.checkpoint.is_file()

    def check(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse to start over a run unless the user said what to do with it."""
        if resume and overwrite:
            raise RunFolderError("--resume and --overwrite exclude each other")
        if self.root.exists() and not self.root.is_dir():
            raise RunFolderError(f"--out {self.root} is a file, not a folder")
        if resume and not self.started:
            raise RunFolderError(f"--resume: {self.checkpoint} does not exist")
        if resume or overwrite:
            return
        if self.finished:
            raise RunFolderError(
                f"--out {self.root} already holds a finished run; pass --overwrite to replace it, "
                "--resume to continue it, or choose another --out"
            )
        if self.started:
            raise RunFolderError(
                f"--out {self.root} holds a run in progress; pass --resume to continue it or --overwrite to replace it"
            )

    def start(self, config_yaml: str, *, fresh: bool) -> None:
        """Create the folder and record the resolved config; a fresh run clears the old log."""
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config, config_yaml)
        if fresh:  # --overwrite: nothing of the old run may be resumed or reported as the new run's
            self.clear_outputs()
            atomic_write_text(self.metrics, "")

    def clear_outputs(self) -> None:
        """Remove what an earlier run and the commands run on it wrote here (`OUTPUTS`); other files stay."""
        for pattern in OUTPUTS:
            for path in self.root.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)

    def keep_metrics_through(self, epoch: int) -> None:
        """Drop log lines of epochs after the checkpoint (written before a crash)."""
        if not self.metrics.is_file():
            return
        kept = [line for line in self.read_metrics() if line["epoch"] <= epoch]
        atomic_write_text(self.metrics, "".join(json.dumps(line) + "\n" for line in kept))

    def append_metrics(self, line: dict[str, Any]) -> None:
        """Add one line by rewriting the (small) log atomically: a full disk never leaves a torn line."""
        earlier = self.metrics.read_text() if self.metrics.is_file() else ""
        atomic_write_text(self.metrics, earlier + json.dumps(line) + "\n")

    def record_provenance(self, record: dict[str, Any], *, resumed: bool) -> None:
        """Write `provenance.json`: the record of the session that started the run, then one per resume."""
        data: dict[str, Any] = {}
        if resumed and self.provenance.is_file():
            try:
                data = json.loads(self.provenance.read_text())
            except ValueError:
                data = {}
        if data:
            data.setdefault("resumed", []).append(record)
        else:
            data = {**record, "resumed": []}
        atomic_write_text(self.provenance, json.dumps(data, indent=2) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line.strip()]

    def write_report(self, report: dict[str, Any]) -> None:
        atomic_write_text(self.report, json.dumps(report, indent=2) + "\n")
