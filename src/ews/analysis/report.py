"""Run reports: `report.md` and a self-contained `report.html` built from the files of run folders.

A report is a pure function of the folders' files (`config.yaml`, `metrics.jsonl`,
`report.json`, any `*/eval.json`, `*/subnets.json`, `*/blocks.json`, `*/search.json`),
so `ews train` writes it at the end, `ews eval` / `ews analyze` re-render it when
they add results, and `ews report` rebuilds or compares any runs at any time. Markdown
and HTML are rendered from one list of blocks, so they show the same content; the
HTML embeds its PNGs as data URIs and loads nothing from the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ..errors import UserError, check_out_folder
from ..evaluation import evaluation_blocks
from ..runs.checkpoint import atomic_write_text
from ..runs.documents import Block, Code, Heading, Image, Paragraph, Table, counted, fmt, to_html, to_markdown
from ..runs.run_dir import RunDir

METHOD_ORDER = ("vanilla", "dropout", "ews")
AUGMENT_ORDER = ("none", "standard", "autoaugment", "augmix")


def write_report(blocks: Sequence[Block], folder: Path, *, title: str) -> Path:
    """`report.md` and `report.html` in `folder`; returns the HTML path."""
    atomic_write_text(folder / "report.md", to_markdown(blocks))
    atomic_write_text(folder / "report.html", to_html(blocks, base=folder, title=title))
    return folder / "report.html"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a file being written by another process, or foreign: left out of the report


def _found(root: Path, name: str) -> list[Path]:
    """`root/*/name` (one level down), sorted: results that `ews eval / analyze / search` wrote into a run."""
    return sorted(root.glob(f"*/{name}"))


def is_run_folder(path: Path) -> bool:
    run = RunDir(path)
    return run.config.is_file() and run.metrics.is_file()


# Sections of a run report -------------------------------------------------------------------------------------


def _summary(root: Path, config: Mapping[str, Any], report: Mapping[str, Any] | None,
             metrics: Sequence[Mapping[str, Any]]) -> list[Block]:
    total = config.get("train", {}).get("epochs")
    data = config.get("data", {})
    status = (f"finished after {counted(report['epochs'], 'epoch')}" if report else
              f"in progress: {len(metrics)} of {total} epochs done")
    blocks: list[Block] = [
        Heading(f"Run report: {root.name}", 1),
        Paragraph(f"{config.get('method')} {config.get('model', {}).get('name')} on {data.get('name')} "
                  f"(augmentation {data.get('augment')}, train mode {config.get('train', {}).get('mode')}); {status}."),
    ]
    rows = []
    if report:
        rows += [("clean error (%)", fmt(report.get("clean_error"))), ("epochs", fmt(report.get("epochs"))),
                 ("parameters", f"{report.get('parameters', 0):,}")]
        if "best_epoch" in report:
            rows.append(("best epoch (PGD validation)", fmt(report["best_epoch"])))
    elif metrics:
        split = "test" if "test_accuracy" in metrics[-1] else "val"
        rows.append((f"{split} error after the last epoch (%)", fmt(100.0 * (1 - metrics[-1][f"{split}_accuracy"]))))
    if rows:
        blocks.append(Table(("metric", "value"), tuple(rows)))
    return blocks


def _timing(report: Mapping[str, Any] | None, metrics: Sequence[Mapping[str, Any]]) -> list[Block]:
    if not metrics:
        return []
    seconds = [line["seconds"] for line in metrics]
    search = sum(line.get("search_seconds") or 0.0 for line in metrics)
    steps = sum(line.get("search_steps") or 0 for line in metrics)
    total = report["train_seconds"] if report else sum(seconds)
    rows = [("training time (s)", fmt(total, 1)), ("mean epoch (s)", fmt(sum(seconds) / len(seconds), 2)),
            ("slowest epoch (s)", fmt(max(seconds), 2))]
    if steps:
        rows += [("search time (s)", fmt(search, 2)), ("controller steps", str(steps)),
                 ("search share of training time (%)", fmt(100.0 * search / total if total else 0.0, 1))]
    return [Heading("Timing"), Table(("", "value"), tuple(rows)), *_search_gap(metrics)]


def _search_gap(metrics: Sequence[Mapping[str, Any]]) -> list[Block]:
    """Per search round: the controller's subnets' and random subnets' accuracy on D_s, and their gap."""
    rounds = [line for line in metrics if line.get("search_gap") is not None]
    if not rounds:
        return []
    rows = tuple((str(line["epoch"]), fmt(100 * line["search_subnet_accuracy"], 1),
                  fmt(100 * line["search_random_accuracy"], 1), fmt(100 * line["search_gap"], 1)) for line in rounds)
    return [Heading("Search gap"),
            Paragraph("Mean accuracy (%) on D_s of the controller's subnets and of as many random subnets on the same "
                      "batches, per search round (logged with the epoch it precedes or follows). A positive gap: the "
                      "search still finds weaker-than-random subnets to enhance."),
            Table(("epoch", "searched", "random", "gap (points)"), rows)]


def analysis_blocks(folder: Path, base: Path) -> list[Block]:
    """`subnets.json` / `blocks.json` of one `ews analyze` output folder, with its figures."""
    blocks: list[Block] = []
    subnets = _read_json(folder / "subnets.json")
    if subnets:
        s = subnets["settings"]
        blocks += [Heading(f"Subnet confidence (paper Fig. 1), {folder.relative_to(base).as_posix()}", 3),
                   Paragraph(f"{s['subnets']} random subnets at rho = {s['rho']} on {s['images']} test images; "
                             f"BatchNorm mode {s['bn']}; corrupted images: {s['corruptions']}. Mean true-class "
                             f"confidence of the full network and quantiles over subnets.")]
        rows = []
        for model, kinds in subnets["models"].items():
            for kind in s["inputs"]:
                k = kinds[kind]
                q = k["quantiles"]
                rows.append((model, kind, fmt(k["full"], 3), fmt(k["mean"], 3), fmt(q["0.1"], 3), fmt(q["0.5"], 3),
                             fmt(q["0.9"], 3), fmt(k.get("full_error")), fmt(k.get("mean_subnet_error"))))
        blocks.append(Table(("model", "input", "full", "subnet mean", "q10", "median", "q90", "full error (%)",
                             "mean subnet error (%)"), tuple(rows)))
        if (folder / "figure1.png").is_file():
            blocks.append(Image((folder / "figure1.png").relative_to(base).as_posix(), "subnet confidence (Fig. 1)"))
    per_block = _read_json(folder / "blocks.json")
    if per_block:
        models = list(per_block["models"])
        first = per_block["models"][models[0]]
        blocks += [Heading(f"Per-block vulnerability (paper Fig. 7), {folder.relative_to(base).as_posix()}", 3),
                   Paragraph(f"{per_block['settings']['subnets_per_block']} subnets per block, each keeping 50% of "
                             f"the paths/channels of that block only; mean error (%) on clean test images.")]
        rows = [(row["block"], "yes" if row["downsampling"] else "",
                 *(fmt(per_block["models"][m][i]["mean_error"]) for m in models)) for i, row in enumerate(first)]
        rows.append(("full network", "", *(fmt(per_block.get("full_error", {}).get(m)) for m in models)))
        blocks.append(Table(("block", "downsampling", *models), tuple(rows)))
        if (folder / "figure7.png").is_file():
            blocks.append(Image((folder / "figure7.png").relative_to(base).as_posix(), "per-block vulnerability (Fig. 7)"))
    return blocks


def _search_blocks(path: Path, base: Path) -> list[Block]:
    result = _read_json(path)
    if not result:
        return []
    rows = tuple((name, fmt(s["mean_subnet_accuracy"], 4), fmt(s["quantiles"]["0.1"], 4),
                  fmt(s["quantiles"]["0.5"], 4), str(s["subnets_evaluated"])) for name, s in result["strategies"].items())
    return [Heading(f"Weak-subnet search, {path.parent.relative_to(base).as_posix()}", 3),
            Paragraph(f"full network accuracy {fmt(result['full_network_accuracy'], 4)}; {result['strategy']} "
                      f"subnets are {fmt(result['gap_points'])} points below random ones."),
            Table(("subnets", "mean accuracy", "q10", "median", "n"), rows)]


def run_report_blocks(root: Path) -> list[Block]:
    """Everything a run folder holds, in reading order."""
    run = RunDir(root)
    config = yaml.safe_load(run.config.read_text()) or {}
    metrics = run.read_metrics()
    report = _read_json(run.report) if run.finished else None
    blocks = _summary(root, config, report, metrics)
    if metrics:
        from . import figures  # matplotlib loads only when a report is drawn

        (root / "figures").mkdir(exist_ok=True)
        figures.save(figures.training_curves(metrics), root / "figures" / "curves.png")
        blocks += [Heading("Training curves"), Image("figures/curves.png", "training curves")]
    evaluations = [(path, _read_json(path)) for path in _found(root, "eval.json")]
    if any(results for _, results in evaluations):
        blocks.append(Heading("Evaluation"))
        for path, results in evaluations:
            if results:
                blocks += evaluation_blocks(results, title=path.parent.relative_to(root).as_posix())
    analyses = sorted({p.parent for name in ("subnets.json", "blocks.json") for p in _found(root, name)})
    searches = _found(root, "search.json")
    if analyses or searches:
        blocks.append(Heading("Subnets"))
        for folder in analyses:
            blocks += analysis_blocks(folder, root)
        for path in searches:
            blocks += _search_blocks(path, root)
    blocks += _timing(report, metrics)
    blocks += [Heading("Configuration"), Code(run.config.read_text())]
    return blocks


def write_run_report(root: str | Path) -> Path:
    """(Re)write `report.md`, `report.html` and `figures/` of one run folder; returns the HTML path."""
    root = Path(root)
    if not is_run_folder(root):
        raise UserError(f"{root} is not a run folder (no config.yaml and metrics.jsonl)")
    return write_report(run_report_blocks(root), root, title=f"ews run {root.name}")


def refresh_run_report(folder: Path) -> Path | None:
    """Re-render the report of the run `folder` if it is one (after `ews eval` / `ews analyze` added results)."""
    return write_run_report(folder) if is_run_folder(folder) else None


# Comparison of runs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    root: Path
    config: dict[str, Any]
    report: dict[str, Any]
    results: dict[str, Any]  # merged eval.json files (eval/ last, so it wins)
    metrics: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return self.root.name

    def value(self, key: str) -> Any:
        return self.results.get(key, self.report.get(key))


def read_run(root: Path) -> RunSummary:
    if not is_run_folder(root):
        raise UserError(f"{root} is not a run folder (no config.yaml and metrics.jsonl)")
    run = RunDir(root)
    results: dict[str, Any] = {}
    for path in sorted(_found(root, "eval.json"), key=lambda p: p.parent.name == "eval"):
        found = _read_json(path) or {}
        if found.get("split", "test") == "test":  # runs are compared on their test split
            results.update(found)
    return RunSummary(root, yaml.safe_load(run.config.read_text()) or {}, _read_json(run.report) or {}, results,
                      run.read_metrics())


def _mode(config: Mapping[str, Any]) -> str:
    train = config.get("train", {})
    return train.get("mode", "standard") + (" + AWP" if train.get("awp") else "")


def _order(run: RunSummary) -> tuple[int, str, int]:
    augment = run.config.get("data", {}).get("augment", "standard")
    method = run.config.get("method", "")
    return (AUGMENT_ORDER.index(augment) if augment in AUGMENT_ORDER else len(AUGMENT_ORDER), _mode(run.config),
            METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER))


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_COMPARED = (("clean error (%)", "clean_error"), ("corruption error (%)", "corruption_error"), ("mCE (%)", "mce"),
             ("PGD-20 error (%)", "pgd20_error"), ("AutoAttack error (%)", "autoattack_error"),
             ("train time (s)", "train_seconds"))


def comparison_blocks(runs: Sequence[RunSummary], out: Path) -> list[Block]:
    """The paper's tables as rows (augmentation x mode x method), curves, differing config keys, analyses."""
    ordered = sorted(runs, key=_order)
    columns = [(label, key) for label, key in _COMPARED if any(run.value(key) is not None for run in ordered)]
    rows = tuple(
        (run.label, str(run.config.get("method")), str(run.config.get("data", {}).get("augment")), _mode(run.config),
         str(run.config.get("model", {}).get("name")), str(run.config.get("data", {}).get("name")),
         fmt(run.report.get("epochs", len(run.metrics))),
         *(fmt(run.value(key), 1 if key == "train_seconds" else 2) for _, key in columns))
        for run in ordered
    )
    blocks: list[Block] = [
        Heading(f"Comparison of {len(runs)} runs", 1),
        Paragraph("Errors in %, as in the paper's tables; rows by augmentation, training mode and method. "
                  "Each run's own report (report.html in its folder) has its curves and evaluation details."),
        Table(("run", "method", "augmentation", "mode", "model", "dataset", "epochs", *(c[0] for c in columns)), rows),
    ]
    with_metrics = {run.label: run.metrics for run in ordered if run.metrics}
    if with_metrics:
        from . import figures

        (out / "figures").mkdir(parents=True, exist_ok=True)
        figures.save(figures.comparison_curves(with_metrics), out / "figures" / "curves.png")
        blocks += [Heading("Training curves"), Image("figures/curves.png", "test error and train loss per epoch")]
    flat = [_flatten(run.config) for run in ordered]
    keys = sorted({k for f in flat for k in f if len({json.dumps(g.get(k), sort_keys=True) for g in flat}) > 1})
    if keys:
        blocks += [Heading("Config keys that differ"),
                   Table(("key", *(run.label for run in ordered)),
                         tuple((key, *(json.dumps(f.get(key)) for f in flat)) for key in keys))]
    analyses = sorted({p.parent for name in ("subnets.json", "blocks.json") for p in _found(out, name)})
    if analyses:
        blocks.append(Heading("Subnets"))
        for folder in analyses:
            blocks += analysis_blocks(folder, out)
    return blocks


def write_comparison_report(run_roots: Sequence[str | Path], out: str | Path) -> Path:
    """`report.md` / `report.html` in `out` comparing the runs; analyses under `out/*/` are included."""
    out = check_out_folder(out)
    runs = [read_run(Path(root)) for root in run_roots]
    out.mkdir(parents=True, exist_ok=True)
    return write_report(comparison_blocks(runs, out), out, title=f"ews comparison of {len(runs)} runs")
