"""Where an EWS step's time goes, against a vanilla step: wall time, device busy time, launches, host syncs.

`step_time.py` says how much slower an EWS step is than its FLOP floor; this says why. Both steps
are timed side by side (as in step_time.py), then profiled with `torch.profiler`:

- wall ms per step, and on a GPU the device's busy ms per step (kernel time) and kernel launches: a
  wall ratio far above the busy-time ratio means the step is bound by the host launching kernels,
  not by the GPU's arithmetic;
- host syncs per step (a blocking copy or `.item()` stops the host from running ahead of the GPU);
- the operators that take the most time in an EWS step (self time, device time on a GPU).

Run from the project root:

    .venv/bin/python benchmarks/profile_step.py [--model resnet18] [--batch 128] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from ews.objectives import Objective

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_time import Bench, add_bench_arguments, interleaved, sync  # noqa: E402

LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")


def profiled(fn: Callable[[], None], *, steps: int, device: torch.device) -> profile:
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    for _ in range(3):
        fn()
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            fn()
        sync(device)
    return prof


def summary(prof: profile, steps: int) -> dict[str, float]:
    """Per-step device busy ms (kernels' self time), kernel launches and host synchronisations."""
    events = prof.key_averages()
    return {
        "device_ms": sum(e.self_device_time_total for e in events) / 1000 / steps,
        "launches": sum(e.count for e in events if e.key in LAUNCHES) / steps,
        "syncs": sum(e.count for e in events if "Synchronize" in e.key) / steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    add_bench_arguments(parser)
    parser.add_argument("--steps", type=int, default=20, help="timed and profiled steps per variant")
    parser.add_argument("--rows", type=int, default=15, help="operators listed for the EWS step")
    args = parser.parse_args()

    bench = Bench(args.model, batch=args.batch, args=args)
    standard = Objective(mode="standard")
    steps = {"vanilla": lambda: bench.step(standard, None),
             "ews": lambda: bench.step(standard, bench.space.sample(bench.generator))}
    wall = interleaved(steps, device=bench.device, warmup=3, steps=args.steps)
    profiles = {name: profiled(fn, steps=args.steps, device=bench.device) for name, fn in steps.items()}
    stats = {name: summary(prof, args.steps) for name, prof in profiles.items()}
    floor = 1 + bench.flop_fraction(10)
    print(f"{args.model}, batch {args.batch}, rho {args.rho}, {args.precision} on {bench.device}; "
          f"FLOP floor of EWS / vanilla {floor:.3f}")
    for name in steps:
        s = stats[name]
        gpu = (f", device busy {s['device_ms']:.1f} ms, {s['launches']:.0f} kernel launches"
               if bench.device.type == "cuda" else "")
        print(f"  {name}: wall {wall[name]:.1f} ms{gpu}, {s['syncs']:.1f} host syncs per step")
    print(f"  EWS / vanilla: wall {wall['ews'] / wall['vanilla']:.3f}" + (
        f", device busy {stats['ews']['device_ms'] / stats['vanilla']['device_ms']:.3f}"
        if bench.device.type == "cuda" else ""))
    key = "self_cuda_time_total" if bench.device.type == "cuda" else "self_cpu_time_total"
    print(profiles["ews"].key_averages().table(sort_by=key, row_limit=args.rows))


if __name__ == "__main__":
    main()
