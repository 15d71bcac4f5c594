"""`robustbench.json`: a result in the fields of a RobustBench model entry, to set beside a leaderboard row.

RobustBench writes accuracies as strings with two decimals and the radius as `8/255`; the
same spelling here lets a reader compare without re-typing. As RobustBench does, `clean_acc`
is measured on the same `n_examples` images as the robust accuracy: the first N attacked
images, or the images a `DATASET-c` subset was generated from. The whole split's clean
accuracy, a different number when N is smaller, sits under `ews` with our provenance (the
checkpoint, the method, the split's size).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._version import __version__
from ..errors import ConfigError
from .threat_models import ROBUSTBENCH_NAMES, eps_text

ROBUSTBENCH_DATASETS = ("cifar10", "cifar100", "imagenet")


def _accuracy(error: float) -> str:
    return f"{100.0 - error:.2f}"


def robustbench_entry(results: Mapping[str, Any], *, architecture: str) -> dict[str, Any]:
    """The entry for a result measured under a named threat model (`settings.threat_model`)."""
    settings = results.get("settings", {})
    name = settings.get("threat_model")
    if name not in ROBUSTBENCH_NAMES:
        raise ConfigError("robustbench.json needs a result measured with --threat-model linf, l2 or corruptions")
    dataset = results["dataset"]
    if name == "corruptions":
        subset = results.get("corruption_clean_error")  # None: the -C set holds the whole split
        clean = results["clean_error"] if subset is None else subset
        robust = {"corruptions_acc": _accuracy(results["corruption_error"])}
        count = settings.get("images") if subset is None else settings.get("corruption_images")
    else:
        clean = results["adv_clean_error"]  # on the attacked images
        robust = {"autoattack_acc": _accuracy(results["autoattack_error"])}
        count = results.get("adv_examples")
    entry: dict[str, Any] = {
        "name": f"{results['method']} {results['model']}",
        "dataset": dataset,
        "threat_model": ROBUSTBENCH_NAMES[name],
        "eps": None if results.get("eps") is None or name == "corruptions" else eps_text(results["eps"]),
        "clean_acc": _accuracy(clean),
        "architecture": architecture,
        "number_forward_passes": 1,
        **robust,
        "n_examples": count,
    }
    entry["ews"] = {
        "version": __version__, "checkpoint": results.get("checkpoint"), "method": results.get("method"),
        "split": results.get("split"), "split_images": settings.get("images"),
        "split_clean_acc": _accuracy(results["clean_error"]),
        "leaderboard_dataset": dataset in ROBUSTBENCH_DATASETS,
        "autoattack_version": settings.get("autoattack_version"), "seed": settings.get("seed"),
    }
    return entry
