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
- where the time goes by kind of work: the matrix products (convolutions, linear layers, attention; the
  only operators a FLOP count sees) and everything else, mostly memory-bound (BatchNorm, activations, residual
  adds, copies). For each kind, the time the EWS step adds over the vanilla step's time for that kind is set
  beside the work the subnet pass adds: its FLOP fraction for the products, its fraction of elements read for
  the rest. `time_floor` counts both kinds at the vanilla step's own speed for each: the step a subnet pass
  would take if each of its operators ran as fast per FLOP or per element as the full network's, which the
  FLOP floor, counting products only, cannot say for a reading that keeps memory-bound layers wide;
- the operators that take the most time in an EWS step (self time, device time on a GPU).

Freed host memory is retained for reuse as `ews train` does (`ews.runtime.host_memory`), so a CPU
step's time is not its page faults.

Run from the project root:

    .venv/bin/python benchmarks/profile_step.py [--model resnet18] [--batch 128] [--device cuda] [--json FILE]

`--json FILE` writes the reading profiled and, per step (`vanilla`, `ews`), `ops`, `wall_ms`, `syncs`,
`product_ms`, `other_ms`, `other_elements` and on a GPU `launches` and `device_ms`, with the EWS / vanilla
ratios, `product_extra` / `other_extra` (the EWS step's added time per kind over the vanilla step's),
`element_fraction` and `time_floor`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from ews.objectives import Objective
from ews.runtime import host_memory
from ews.subnets import DEFAULT_READING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import Bench, add_bench_arguments, interleaved, sync  # noqa: E402

LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")
PRODUCTS = ("convolution", "conv2d", "addmm", "aten::mm", "bmm", "baddbmm", "matmul", "linear",
            "scaled_dot_product", "flash_attention", "efficient_attention")
"""Name parts of the operators that compute matrix products: the work `FlopCounterMode` counts."""


def activities(device: torch.device) -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])


def profiled(fn: Callable[[], None], *, steps: int, device: torch.device) -> profile:
    for _ in range(3):
        fn()
    sync(device)
    with profile(activities=activities(device)) as prof:
        for _ in range(steps):
            fn()
        sync(device)
    return prof


def summary(prof: profile, steps: int, device: torch.device) -> dict[str, float]:
    """Per step: operator calls, device busy ms (kernels' self time), kernel launches, host synchronisations,
    and the `aten::` operators' self ms split into matrix products and the rest."""
    events = prof.key_averages()
    own = (lambda e: e.self_device_time_total) if device.type == "cuda" else (lambda e: e.self_cpu_time_total)
    aten = [e for e in events if e.key.startswith("aten::")]
    products = [e for e in aten if is_product(e.key)]
    others = [e for e in aten if not is_product(e.key)]
    return {
        "ops": sum(e.count for e in aten) / steps,
        "device_ms": sum(e.self_device_time_total for e in events) / 1000 / steps,
        "launches": sum(e.count for e in events if e.key in LAUNCHES) / steps,
        "syncs": sum(e.count for e in events if "Synchronize" in e.key) / steps,
        "product_ms": sum(own(e) for e in products) / 1000 / steps,
        "other_ms": sum(own(e) for e in others) / 1000 / steps,
    }


def is_product(name: str) -> bool:
    return any(part in name for part in PRODUCTS)


def other_elements(fn: Callable[[], None], device: torch.device) -> float:
    """Elements of the first inputs of one step's non-product `aten::` operators (what a memory-bound
    operator reads, once per call). A separate step, since recording shapes slows the timed ones."""
    with profile(activities=activities(device), record_shapes=True) as prof:
        fn()
        sync(device)
    total = 0.0
    for e in prof.key_averages(group_by_input_shape=True):
        if e.key.startswith("aten::") and not is_product(e.key) and e.input_shapes and e.input_shapes[0]:
            first = e.input_shapes[0]
            total += e.count * math.prod(first) if all(isinstance(d, int) for d in first) else 0
    return total


def by_kind(steps: dict[str, dict], floor: float) -> dict[str, float]:
    """Each kind of work's added time in the EWS step over the vanilla step's, and the time floor.

    `time_floor`: the vanilla step plus a subnet pass whose products run at the vanilla step's speed per FLOP
    (FLOP fraction `floor - 1`) and whose other operators at its speed per element (`element_fraction`).
    """
    van, ews_ = steps["vanilla"], steps["ews"]
    total = van["product_ms"] + van["other_ms"]
    elements = (ews_["other_elements"] - van["other_elements"]) / van["other_elements"]
    time_floor = 1 + ((floor - 1) * van["product_ms"] + elements * van["other_ms"]) / total
    return {"product_extra": round((ews_["product_ms"] - van["product_ms"]) / van["product_ms"], 3),
            "other_extra": round((ews_["other_ms"] - van["other_ms"]) / van["other_ms"], 3),
            "element_fraction": round(elements, 3), "product_share": round(van["product_ms"] / total, 3),
            "time_floor": round(time_floor, 3),
            "profiled_ratio": round((ews_["product_ms"] + ews_["other_ms"]) / total, 3)}


def report(args: argparse.Namespace, device: torch.device, wall: dict[str, float], stats: dict[str, dict],
           floor: float) -> dict:
    """What the run measured, as printed and as `--json` writes it."""
    gpu = ("launches", "device_ms") if device.type == "cuda" else ()
    kinds = ("product_ms", "other_ms", "other_elements")
    steps = {name: {"wall_ms": round(wall[name], 3),
                    **{k: round(stats[name][k], 3) for k in ("ops", "syncs", *kinds, *gpu)}} for name in wall}
    ratios = {f"{k}_ratio": round(steps["ews"][k] / steps["vanilla"][k], 3) for k in ("ops", "wall_ms", *gpu)}
    return {"model": args.model, "batch": args.batch, "image_size": args.image_size, "rho": args.rho,
            "reading": DEFAULT_READING, "precision": args.precision, "channels_last": args.channels_last,
            "device": str(device), "flop_floor": round(floor, 3), **steps, **ratios, **by_kind(steps, floor)}


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
    print(f"  matrix products ({result['product_share']:.0%} of the vanilla step's operator time): the EWS step adds "
          f"{result['product_extra']:.3f} of their time for a FLOP fraction of {result['flop_floor'] - 1:.3f}")
    print(f"  other operators: adds {result['other_extra']:.3f} of their time for an element fraction of "
          f"{result['element_fraction']:.3f}")
    print(f"  floor counting both at the vanilla step's speed {result['time_floor']:.3f}; profiled operator time "
          f"{result['profiled_ratio']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    add_bench_arguments(parser)
    parser.add_argument("--steps", type=int, default=20, help="timed and profiled steps per variant")
    parser.add_argument("--rows", type=int, default=15, help="operators listed for the EWS step")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args()

    host_memory.retain_for(torch.device(args.device).type)  # as `ews train` does
    bench = Bench(args.model, batch=args.batch, args=args)
    standard = Objective(mode="standard")
    steps = {"vanilla": lambda: bench.step(standard, None),
             "ews": lambda: bench.step(standard, bench.space.sample(bench.generator))}
    wall = interleaved(steps, device=bench.device, warmup=3, steps=args.steps)
    profiles = {name: profiled(fn, steps=args.steps, device=bench.device) for name, fn in steps.items()}
    stats = {name: {**summary(prof, args.steps, bench.device), "other_elements": other_elements(steps[name], bench.device)}
             for name, prof in profiles.items()}
    result = report(args, bench.device, wall, stats, 1 + bench.flop_fraction(10))
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    key = "self_cuda_time_total" if bench.device.type == "cuda" else "self_cpu_time_total"
    print(profiles["ews"].key_averages().table(sort_by=key, row_limit=args.rows))


if __name__ == "__main__":
    main()
