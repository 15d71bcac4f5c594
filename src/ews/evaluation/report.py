"""`eval.md` / `eval.html`: a model's scores as a paper's table, a row per benchmark with its convention."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..runs.documents import Block, Heading, Paragraph, Table, fmt, to_markdown
from .threat_models import eps_text

Row = tuple[str, str, str, str]  # benchmark, metric, value, convention


def _images(results: Mapping[str, Any]) -> str:
    settings = results.get("settings", {})
    count = settings.get("images")
    return f"all {count} images" if count else "every image"


def _attack(name: str) -> Callable[[Mapping[str, Any]], str]:
    def label(results: Mapping[str, Any]) -> str:
        norm, eps = results.get("norm"), results.get("eps")
        radius = "" if eps is None else f" {'L-inf' if norm == 'linf' else 'L2'} eps {eps_text(eps)}"
        return name + radius
    return label


def _attack_convention(steps: str) -> Callable[[Mapping[str, Any]], str]:
    def convention(results: Mapping[str, Any]) -> str:
        return f"first {results.get('adv_examples')} images of the split; {steps}; robust = correct clean and attacked"
    return convention


# (flat eval.json key, benchmark label, metric label, convention), in report order.
_ROWS: tuple[tuple[str, Callable[[Mapping[str, Any]], str], str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("clean_error", lambda r: "clean", "clean error (%)",
     lambda r: f"top-1 on {_images(r)} of the {r.get('split', 'test')} split"),
    ("corruption_error", lambda r: "common corruptions", "corruption error, 15 benchmark corruptions (%)",
     lambda r: "mean top-1 error over 15 corruptions x the severities scored (Hendrycks & Dietterich 2019); "
               "RobustBench's corruptions accuracy is 100 minus it"),
    ("extra_corruption_error", lambda r: "common corruptions", "corruption error, 4 extra corruptions (%)",
     lambda r: "the 4 held-out corruptions (speckle noise, gaussian blur, spatter, saturate)"),
    ("mce", lambda r: "ImageNet-C", "mCE (%)", lambda r: "corruption errors over AlexNet's, mean of 15 x 5"),
    ("relative_mce", lambda r: "ImageNet-C", "relative mCE (%)", lambda r: "error minus clean error, over AlexNet's"),
    ("mean_flip_probability", lambda r: "ImageNet-P", "mean flip probability (%)",
     lambda r: "frames whose top-1 changes, mean over perturbations"),
    ("mfr", lambda r: "ImageNet-P", "mFR (%)", lambda r: "flip probabilities over AlexNet's, mean of 10"),
    ("pgd20_error", _attack("PGD-20"), "PGD-20 error (%)",
     _attack_convention("20 steps of eps/4 from a uniform random start")),
    ("autoattack_error", lambda r: _attack(f"AutoAttack {r.get('autoattack_version', 'standard')}")(r),
     "AutoAttack error (%)", _attack_convention("APGD-CE, APGD-T, FAB-T, Square (Croce & Hein 2020)")),
)


def benchmark_rows(results: Mapping[str, Any]) -> list[Row]:
    """A row per benchmark scored: (benchmark, metric, value, convention)."""
    rows = [(bench(results), metric, fmt(results[key]), convention(results))
            for key, bench, metric, convention in _ROWS if key in results]
    for name, entry in results.get("shifts", {}).items():
        rows.append((name, "error (%)", fmt(entry["error"]), f"{entry['images']} images; {entry['convention']}"))
    return rows


def evaluation_blocks(results: Mapping[str, Any], *, title: str) -> list[Block]:
    """`eval.json` as tables (for `eval.md` and the run reports): the benchmarks, errors per corruption
    and severity, flip probabilities."""
    blocks: list[Block] = [Heading(title, 3), Table(("benchmark", "metric", "value", "convention"),
                                                    tuple(benchmark_rows(results)))]
    if "adv_examples" in results:
        blocks.append(Paragraph(f"Clean error on the {results['adv_examples']} attacked images: "
                                f"{fmt(results.get('adv_clean_error'))}%."))
    if "corruption_clean_error" in results:
        blocks.append(Paragraph(f"Clean error on the {results.get('settings', {}).get('corruption_images')} images "
                                f"the corruption set was made of: {fmt(results['corruption_clean_error'])}%."))
    per = results.get("corruptions")
    if per:
        severities = sorted({s for errors in per.values() for s in errors}, key=int)
        table = tuple(
            (name, *(fmt(errors.get(s)) for s in severities), fmt(sum(errors.values()) / len(errors)))
            for name, errors in per.items()
        )
        blocks += [Paragraph("Error (%) per corruption and severity:"),
                   Table(("corruption", *(f"severity {s}" for s in severities), "mean"), table)]
    flips = results.get("flip_probability")
    if flips:
        blocks += [Paragraph("ImageNet-P flip probability (%):"),
                   Table(("perturbation", "flip probability"), tuple((k, fmt(v)) for k, v in flips.items()))]
    blocks += [Paragraph(f"Warning: {message}") for message in results.get("warnings", [])]
    return blocks


def report_blocks(results: Mapping[str, Any]) -> list[Block]:
    """The whole `eval.md` / `eval.html` page."""
    title = f"{results['method']} {results['model']} on {results['dataset']}"
    return [Heading(f"Evaluation of {results['checkpoint']}", 1), *evaluation_blocks(results, title=title)]


def results_markdown(results: Mapping[str, Any]) -> str:
    """`eval.md`: the same tables the run report shows for this evaluation (one renderer of `eval.json`)."""
    return to_markdown(report_blocks(results))
