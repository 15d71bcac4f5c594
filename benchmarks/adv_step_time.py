"""Step time of adversarial training with and without EWS, side by side in one process.

Times full training steps (attack, loss, backward, SGD step) of the objectives the
trainer uses: standard CE, PGD-AT and TRADES (PGD-10), each with and without the EWS
subnet term. Variants are interleaved step by step and the median after warm-up is
reported, with the ratios AT / standard, AT+EWS / AT, TRADES+EWS / TRADES and the same
with AWP (Table 4's rows). Run from
the project root:

    .venv/bin/python benchmarks/adv_step_time.py [--model preact_resnet18] [--batch 64] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from contextlib import nullcontext
from typing import Callable

import torch

from ews import models
from ews.attacks import PGDSettings
from ews.objectives import Objective
from ews.subnets import DEFAULT_READING, SubnetSpace


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="preact_resnet18", choices=models.list_models())
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = models.create(args.model, num_classes=10).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    space = SubnetSpace.from_model(model, rho=args.rho, reading=DEFAULT_READING)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    attack = PGDSettings(steps=args.pgd_steps)

    def step(mode: str, with_subnet: bool, with_awp: bool) -> None:
        objective = Objective(mode=mode, attack=attack)
        subnet = space.sample(generator) if with_subnet else None
        x_adv = objective.adversarial_examples(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        awp = objective.perturbed(model, x, x_adv, y, gamma=objective.default_awp_gamma) if with_awp else nullcontext()
        with awp:
            objective.losses(model, x, x_adv, y, subnet=subnet).total.backward()
        optimizer.step()

    combos = [("standard", False), ("at", False), ("at", True), ("trades", False), ("trades", True)]
    variants = {
        f"{mode}{'_awp' if awp else ''}{'_ews' if ews else ''}": (lambda m=mode, e=ews, a=awp: step(m, e, a))
        for mode, awp in combos for ews in (False, True)
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(args.warmup + args.steps):
        for name, fn in variants.items():
            elapsed = _timed(fn)
            if i >= args.warmup:
                times[name].append(elapsed)
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    ratios = {
        "at_over_standard": ms["at"] / ms["standard"],
        "at_ews_over_at": ms["at_ews"] / ms["at"],
        "trades_ews_over_trades": ms["trades_ews"] / ms["trades"],
        "at_awp_over_at": ms["at_awp"] / ms["at"],
        "at_awp_ews_over_at_awp": ms["at_awp_ews"] / ms["at_awp"],
        "trades_awp_ews_over_trades_awp": ms["trades_awp_ews"] / ms["trades_awp"],
        "ews_over_standard": ms["standard_ews"] / ms["standard"],
    }
    result = {
        "model": args.model, "batch": args.batch, "pgd_steps": args.pgd_steps, "rho": args.rho,
        "threads": args.threads, "device": str(device), "torch": torch.__version__,
        **{f"{name}_ms": round(value, 1) for name, value in ms.items()},
        **{name: round(value, 3) for name, value in ratios.items()},
    }
    print(f"{args.model}, batch {args.batch}, PGD-{args.pgd_steps}, rho {args.rho}, {args.threads} threads on "
          f"{device}; median of {args.steps} steps after {args.warmup} warm-up")
    for name, value in ms.items():
        print(f"  {name:<18} {value:9.1f} ms")
    for name, value in ratios.items():
        print(f"  {name:<32} {value:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
