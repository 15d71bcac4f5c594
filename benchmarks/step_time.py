"""What EWS costs on top of plain training, measured side by side in one run.

Four questions, each answered by interleaving the variants step by step (so drift in
machine load hits all alike) and taking the median after warm-up:

- subnet: EWS step / vanilla step at rho = 0.5 in the default reading (CIFAR ResNet-18 and ResNet-50,
  the small ViT and ConvNeXt `vit_cifar` and `convnext_cifar`), with the 0/1-masking oracle's step
  and the analytic FLOP fraction of the sampled subnets beside it;
- readings: EWS step / vanilla step in each named reading of rho (`ews.subnets.readings`:
  default, paper-text, authors), all interleaved, each with its FLOP fraction;
- adversarial: AT+EWS step / AT step with PGD-10, beside its FLOP floor (whole steps' FLOPs counted);
- search: controller search time / training time at K = 10, D_s = 10 %, C = 8, from the
  time of one controller step and of one EWS step (demo model and ResNet-18);
- framework: throughput of `ews.training.trainer.train_one_epoch` / a plain PyTorch loop, same model;
- api: an epoch of EWS through `ews.EWS` in a plain PyTorch loop (the README's snippet) against the
  Trainer's epoch (`train_one_epoch` with the same `ews.EWS`) and plain training (ResNet-18, ResNet-50).

Run from the project root (about 12 minutes on 2 CPU cores):

    .venv/bin/python benchmarks/step_time.py [--json out.json] [--sections subnet,adversarial,search,framework]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from ews.runtime import host_memory
from ews.subnets import DEFAULT_READING, READINGS

from bench import add_bench_arguments  # noqa: E402
from sections import (  # noqa: E402
    adversarial_section, api_section, framework_section, readings_section, search_section, subnet_section,
)

SECTIONS = ("subnet", "readings", "adversarial", "search", "framework", "api")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--models", default="resnet18,resnet50,vit_cifar,convnext_cifar",
                        help="models for the subnet and api sections (the first also for readings)")
    parser.add_argument("--steps", type=int, default=15, help="timed steps per variant (median reported)")
    parser.add_argument("--masked-steps", type=int, default=3, help="timed steps of the masking oracle")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--adv-model", default="resnet18")
    parser.add_argument("--adv-batch", type=int, default=32)
    parser.add_argument("--adv-steps", type=int, default=15)
    parser.add_argument("--demo-model", default="resnet20", help="the demo's model (search and framework)")
    parser.add_argument("--demo-batch", type=int, default=128)
    parser.add_argument("--search-steps", type=int, default=9)
    parser.add_argument("--K", type=int, default=10)
    parser.add_argument("--framework-batches", type=int, default=8)
    parser.add_argument("--framework-rounds", type=int, default=11)
    parser.add_argument("--flop-subnets", type=int, default=20)
    parser.add_argument("--api-batches", type=int, default=1, help="batches per timed epoch in the api section")
    parser.add_argument("--api-rounds", type=int, default=15, help="timed epochs per variant in the api section")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown --sections {', '.join(unknown)}; allowed: {', '.join(SECTIONS)}")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    retained = host_memory.retain_for(device.type)  # as `ews train` does
    result: dict[str, object] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {args.threads} threads",
        "torch": torch.__version__, "batch": args.batch, "rho": args.rho, "precision": args.precision,
        "channels_last": args.channels_last, "host_memory_retained": retained,
        "reading": {**READINGS[DEFAULT_READING].to_dict(), "rho": args.rho},  # what the headline rows time
    }
    print(f"ews step-time benchmark on {result['device']}, torch {torch.__version__}, {args.precision}"
          f"{', channels_last' if args.channels_last else ''}; median of {args.steps} steps after {args.warmup} warm-up"
          f"{'; freed host memory retained, as ews train does' if retained else ''}; subnets in the "
          f"{DEFAULT_READING!r} reading at rho {args.rho} unless a row names another")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if "subnet" in sections:
        for i, name in enumerate(names):
            result.update(subnet_section(name, args, masked=i == 0))
    if "readings" in sections:
        for name in names[:1]:
            result.update(readings_section(name, args))
    if "adversarial" in sections:
        result.update(adversarial_section(args))
    if "search" in sections:
        shares = {args.demo_model: search_section(args.demo_model, args, batch=args.demo_batch)}
        shares.update({name: search_section(name, args, batch=args.batch) for name in names[:1]})
        result.update({f"search_fraction_{k}": round(v, 5) for k, v in shares.items()})
        result["search_fraction"] = round(max(shares.values()), 5)
    if "framework" in sections:
        result["framework_over_plain"] = round(framework_section(args), 3)
    if "api" in sections:
        for name in names:
            result.update(api_section(name, args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
