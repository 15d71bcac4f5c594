"""Step time of vanilla vs EWS training, side by side in one process.

Interleaves the variants step by step (so drift in machine load hits both alike),
reports the median after warm-up, and prints the ratios. Run from the project root:

    .venv/bin/python benchmarks/step_time.py [--model resnet18] [--batch 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Callable

import torch

from ews import models
from ews.objectives import ews_loss
from ews.subnets import SubnetSpace, use_subnet


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=models.list_models())
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = models.create(args.model, num_classes=10).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    space = SubnetSpace.from_model(model, rho=args.rho)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.image_size, args.image_size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    def train_step(with_subnet: bool) -> None:
        subnet = space.sample(generator) if with_subnet else None
        losses = ews_loss(model, x, y, subnet=subnet, lam=1.0)
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        optimizer.step()

    @torch.no_grad()
    def forward(with_subnet: bool) -> None:
        if with_subnet:
            with use_subnet(model, space.sample(generator)):
                model(x)
        else:
            model(x)

    variants = {
        "vanilla": lambda: train_step(False),
        "ews": lambda: train_step(True),
        "full_forward": lambda: forward(False),
        "subnet_forward": lambda: forward(True),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(args.warmup + args.steps):
        for name, fn in variants.items():
            elapsed = _timed(fn)
            if i >= args.warmup:
                times[name].append(elapsed)
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    result = {
        "model": args.model,
        "batch": args.batch,
        "image_size": args.image_size,
        "rho": args.rho,
        "threads": args.threads,
        "device": str(device),
        "torch": torch.__version__,
        "vanilla_ms": round(ms["vanilla"], 2),
        "ews_ms": round(ms["ews"], 2),
        "ews_over_vanilla": round(ms["ews"] / ms["vanilla"], 3),
        "full_forward_ms": round(ms["full_forward"], 2),
        "subnet_forward_ms": round(ms["subnet_forward"], 2),
        "subnet_over_full_forward": round(ms["subnet_forward"] / ms["full_forward"], 3),
    }
    print(f"{args.model}, batch {args.batch}, {args.image_size}x{args.image_size}, rho {args.rho}, "
          f"{args.threads} threads on {device}; median of {args.steps} steps after {args.warmup} warm-up")
    print(f"  vanilla step      {result['vanilla_ms']:9.1f} ms")
    print(f"  EWS step          {result['ews_ms']:9.1f} ms   ratio {result['ews_over_vanilla']:.3f}")
    print(f"  full forward      {result['full_forward_ms']:9.1f} ms")
    print(f"  subnet forward    {result['subnet_forward_ms']:9.1f} ms   ratio {result['subnet_over_full_forward']:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
