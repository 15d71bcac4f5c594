"""Subnets evaluated per second by `ews analyze` vs a naive loop, side by side in one process.

`ews analyze` loads the evaluation images onto the device once, enters each subnet once,
scores it under `torch.no_grad()` in batches of 500 and, for Fig. 7's subnets (one
thinned block), computes the whole blocks before that block once per image. The naive
loop is what one writes first: per subnet, iterate a DataLoader over the test split
(batch 128) and score every batch. Both run BatchNorm in eval mode (batch statistics would
depend on the batch sizes, which differ; the cost is the same) and must give the same
confidences. Measured on the
demo model (ResNet-20) and the digits test split; a trained model is not needed for
speed. Run from the project root:

    .venv/bin/python benchmarks/analyze_speed.py [--subnets 30] [--block-subnets 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.data import DataLoader

from ews.analysis.inputs import evaluation_subset
from ews.analysis.scoring import score_subnets
from ews.data import load
from ews.models import create
from ews.subnets import DEFAULT_READING, SubnetSpace, use_subnet


@torch.no_grad()
def naive_confidences(model: torch.nn.Module, subnets: list, dataset: torch.utils.data.Dataset) -> torch.Tensor:
    """Per subnet: a fresh pass over the dataset, batch by batch."""
    model.eval()
    scores = []
    for subnet in subnets:
        total, seen = 0.0, 0
        for x, y in DataLoader(dataset, batch_size=128):
            with use_subnet(model, subnet):
                probs = model(x).softmax(1)
            total += probs[torch.arange(len(y)), y].double().sum().item()
            seen += len(y)
        scores.append(total / seen)
    return torch.tensor(scores, dtype=torch.float64)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=30, help="Fig. 1 subnets (rho 0.7)")
    parser.add_argument("--block-subnets", type=int, default=4, help="Fig. 7 subnets per block (rho 0.5)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dataset, info = load("digits", train=False)
    model = create("resnet20", num_classes=info.num_classes, mean=info.mean, std=info.std).eval()
    images = evaluation_subset(dataset, len(dataset))
    g = torch.Generator().manual_seed(0)
    wide = SubnetSpace.from_model(model, rho=0.7, reading=DEFAULT_READING)
    half = SubnetSpace.from_model(model, rho=0.5, reading=DEFAULT_READING)
    fig1 = [wide.sample(g) for _ in range(args.subnets)]
    fig7 = [(b, half.sample_block(b, g)) for b in range(len(half)) for _ in range(args.block_subnets)]

    rows = {}
    fast, fast_s = timed(lambda: score_subnets(model, fig1, {"clean": images}, bn="eval")["clean"].confidence)
    slow, slow_s = timed(lambda: naive_confidences(model, fig1, dataset))
    assert torch.allclose(fast, slow, atol=1e-5), "the two loops disagree"
    rows["fig1"] = (len(fig1) / fast_s, len(fig1) / slow_s)

    def per_block() -> torch.Tensor:
        return torch.cat([score_subnets(model, [s for b, s in fig7 if b == block], {"clean": images},
                                        bn="eval", whole_blocks=block)["clean"].confidence for block in range(len(half))])

    fast, fast_s = timed(per_block)
    slow, slow_s = timed(lambda: naive_confidences(model, [s for _, s in fig7], dataset))
    assert torch.allclose(fast, slow, atol=1e-5), "the two loops disagree"
    rows["fig7"] = (len(fig7) / fast_s, len(fig7) / slow_s)

    print(f"ResNet-20, {len(images)} digits test images, {args.threads} threads, one run each")
    print(f"{'subnets':<28} {'ews analyze /s':>15} {'naive loop /s':>14} {'ratio':>6}")
    labels = {"fig1": f"Fig. 1 ({len(fig1)}, rho 0.7)", "fig7": f"Fig. 7 ({len(fig7)}, one block 0.5)"}
    for key, (fast_rate, slow_rate) in rows.items():
        print(f"{labels[key]:<28} {fast_rate:15.2f} {slow_rate:14.2f} {fast_rate / slow_rate:6.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({k: {"analyze_per_s": a, "naive_per_s": b, "ratio": a / b} for k, (a, b) in rows.items()},
                      handle, indent=2)


if __name__ == "__main__":
    main()
