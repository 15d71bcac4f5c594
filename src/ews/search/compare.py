"""`ews search`: run a strategy on a trained model and compare its subnets with random ones.

Both sets of subnets are scored on the same held-out batches, so the gap between their
mean accuracies says how much weaker the strategy's finds are than chance.
"""

from __future__ import annotations

import time
from itertools import cycle, islice
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..subnets import BRANCH, Subnet, SubnetSpace
from .base import SubnetSampler
from .rewards import merge_small_batches, subnet_accuracies

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def held_out_accuracies(model: nn.Module, subnets: Sequence[Subnet], batches: Sequence[tuple[Tensor, Tensor]]) -> Tensor:
    """Accuracy of each subnet over all `batches` (weighted by batch size), shape (len(subnets),).

    Each distinct subnet is scored once: a deterministic strategy (l1) or a converged
    policy repeats one subnet, and its score on the same batches would not change.
    """
    distinct = {subnet: i for i, subnet in enumerate(dict.fromkeys(subnets))}
    total = sum(len(y) for _, y in batches)
    correct = sum(subnet_accuracies(model, list(distinct), x, y).cpu() * len(y) for x, y in batches)
    return (correct / total)[[distinct[subnet] for subnet in subnets]]


def accuracy_summary(accuracies: Tensor) -> dict[str, Any]:
    q = torch.quantile(accuracies.double(), torch.tensor(QUANTILES, dtype=torch.double))
    return {
        "mean_subnet_accuracy": float(accuracies.mean()),
        "std_subnet_accuracy": float(accuracies.double().std()) if len(accuracies) > 1 else 0.0,
        "quantiles": {str(level): float(value) for level, value in zip(QUANTILES, q)},
        "subnets_evaluated": len(accuracies),
    }


def gap_standard_error(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Standard error of the difference of two summaries' mean accuracies (Welch), in points.

    It counts the spread of the sampled subnets, so a gap of a few of these is no accident
    of which subnets were drawn; the held-out images are shared and their noise mostly cancels.
    """
    variance = sum(s["std_subnet_accuracy"] ** 2 / s["subnets_evaluated"] for s in (a, b))
    return 100 * variance**0.5


def path_keep_frequency(space: SubnetSpace, subnets: Sequence[Subnet]) -> list[dict[str, Any]]:
    """Per block: how often the residual branch and the shortcut are kept among `subnets`."""
    rows = []
    for i, spec in enumerate(space.blocks):
        branch = sum(BRANCH in s.blocks[i].paths for s in subnets) / len(subnets)
        shortcut = sum(len(s.blocks[i].paths) - (BRANCH in s.blocks[i].paths) for s in subnets) / len(subnets)
        rows.append({"block": spec.name, "downsampling": spec.downsampling, "branch": branch, "shortcut": shortcut})
    return rows


def run_search(
    model: nn.Module,
    sampler: SubnetSampler,
    *,
    strategy: str,
    search_batches: Sequence[tuple[Tensor, Tensor]],
    eval_batches: Sequence[tuple[Tensor, Tensor]],
    steps: int,
    subnets: int,
    seed: int,
) -> dict[str, Any]:
    """Train/apply `sampler` on the search batches, then score its subnets and random ones."""
    device = next(model.parameters()).device
    start = time.perf_counter()
    # A controller takes one step per batch; other strategies ignore or do not need the batches. The
    # trailing batch is merged here, before cycling, so that `steps` batches are `steps` controller steps.
    batches = list(merge_small_batches(search_batches))
    steps_done = sampler.update(model, islice(cycle(batches), steps)).controller_steps
    search_seconds = time.perf_counter() - start
    eval_batches = [(x.to(device), y.to(device)) for x, y in eval_batches]
    generator = torch.Generator().manual_seed(seed)
    found = [sampler.sample(generator) for _ in range(subnets)]
    uniform = [sampler.space.sample(generator) for _ in range(subnets)]
    results = {strategy: accuracy_summary(held_out_accuracies(model, found, eval_batches))}
    results["random"] = accuracy_summary(held_out_accuracies(model, uniform, eval_batches))
    full = float(held_out_accuracies(model, [sampler.space.full()], eval_batches)[0])
    return {
        "strategy": strategy,
        "controller_steps": steps_done,
        "search_seconds": round(search_seconds, 3),
        "held_out_images": sum(len(y) for _, y in eval_batches),
        "full_network_accuracy": full,
        "strategies": results,
        "gap_points": round(100 * (results["random"]["mean_subnet_accuracy"] - results[strategy]["mean_subnet_accuracy"]), 3),
        "gap_standard_error_points": round(gap_standard_error(results["random"], results[strategy]), 3),
        "path_keep_frequency": path_keep_frequency(sampler.space, found),
    }
