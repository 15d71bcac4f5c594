"""Where an EWS step's time goes, against a vanilla step: wall time, device busy time, launches, host syncs.

`step_time.py` says how much slower an EWS step is than its FLOP floor; this says why. Both steps
are timed side by side (as in step_time.py), then profiled with `torch.profiler`:

- the profiler's `aten::` operator calls per training step (forward, backward and optimiser; views and
  allocations included): an EWS step should run at most twice a vanilla step's operators, its second
  (subnet) pass and no more; every operator beyond is host time and, on a GPU, a kernel launch or more;
- wall ms per step, and on a GPU the device's busy ms per step (kernel time) and kernel launches: a
  wall ratio far above the busy-time ratio means the step is bound by the host launching kernels,
  not by the GPU's arithmetic;
- host syncs per step (a blocking copy or `.item()` stops the host from running ahead of the GPU);
- the operators that take the most time in an EWS step (self time, device time on a GPU).

Run from the project root:

    .venv/bin/python benchmarks/profile_step.py [--model resnet18] [--batch 128] [--device cuda] [--json FILE]

`--json FILE` writes the reading profiled and, per step (`vanilla`, `ews`), `ops`, `wall_ms`, `syncs` and on a
GPU `launches` and `device_ms`, with the EWS / vanilla ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from ews.objectives import Objective
from ews.subnets import DEFAULT_READING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import Bench, add_bench_arguments, interleaved, sync  # noqa: E402

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
    """Per step: operator calls, device busy ms (kernels' self time), kernel launches and host synchronisations."""
    events = prof.key_averages()
    return {
        "ops": sum(e.count for e in events if e.key.startswith("aten::")) / steps,
        "device_ms": sum(e.self_device_time_total for e in events) / 1000 / steps,
        "launches": sum(e.count for e in events if e.key in LAUNCHES) / steps,
        "syncs": sum(e.count for e in events if "Synchronize" in e.key) / steps,
    }


def report(args: argparse.Namespace, device: torch.device, wall: dict[str, float], stats: dict[str, dict],
           floor: float) -> dict:
    """What the run measured, as printed and as `--json` writes it."""
    gpu = ("launches", "device_ms") if device.type == "cuda" else ()
    steps = {name: {"wall_ms": round(wall[name], 3), **{k: round(stats[name][k], 3) for k in ("ops", "syncs", *gpu)}}
             for name in wall}
    ratios = {f"{k}_ratio": round(steps["ews"][k] / steps["vanilla"][k], 3) for k in ("ops", "wall_ms", *gpu)}
    return {"model": args.model, "batch": args.batch, "image_size": args.image_size, "rho": args.rho,
            "reading": DEFAULT_READING, "precision": args.precision, "channels_last": args.channels_last,
            "device": str(device), "flop_floor": round(floor, 3), **steps, **ratios}


def print_report(result: dict) -> None:
    print(f"{result['model']}, batch {result['batch']}, rho {result['rho']} ({result['reading']} reading), "
          f"{result['precision']} on {result['device']}; FLOP floor of EWS / vanilla {result['flop_floor']:.3f}")
    for name in ("vanilla", "ews"):
        s = result[name]
        gpu = f", device busy {s['device_ms']:.1f} ms, {s['launches']:.0f} kernel launches" if "launches" in s else ""
        print(f"  {name}: {s['ops']:.0f} operators, wall {s['wall_ms']:.1f} ms{gpu}, {s['syncs']:.1f} host syncs "
              "per step")
    gpu = f", device busy {result['device_ms_ratio']:.3f}" if "device_ms_ratio" in result else ""
    print(f"  EWS / vanilla: operators {result['ops_ratio']:.3f}, wall {result['wall_ms_ratio']:.3f}{gpu}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    add_bench_arguments(parser)
    parser.add_argument("--steps", type=int, default=20, help="timed and profiled steps per variant")
    parser.add_argument("--rows", type=int, default=15, help="operators listed for the EWS step")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args()

    bench = Bench(args.model, batch=args.batch, args=args)
    standard = Objective(mode="standard")
    steps = {"vanilla": lambda: bench.step(standard, None),
             "ews": lambda: bench.step(standard, bench.space.sample(bench.generator))}
    wall = interleaved(steps, device=bench.device, warmup=3, steps=args.steps)
    profiles = {name: profiled(fn, steps=args.steps, device=bench.device) for name, fn in steps.items()}
    stats = {name: summary(prof, args.steps) for name, prof in profiles.items()}
    result = report(args, bench.device, wall, stats, 1 + bench.flop_fraction(10))
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    key = "self_cuda_time_total" if bench.device.type == "cuda" else "self_cpu_time_total"
    print(profiles["ews"].key_averages().table(sort_by=key, row_limit=args.rows))


if __name__ == "__main__":
    main()
