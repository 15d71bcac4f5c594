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
import statistics
import sys
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import ews
from ews import models
from ews.runtime import host_memory
from ews.attacks import PGDSettings
from ews.config import SearchConfig
from ews.objectives import Objective
from ews.runtime.precision import autocast, grad_scaler, to_channels_last
from ews.search import create_sampler
from ews.subnets import DEFAULT_READING, READINGS, Subnet, SubnetSpace, use_subnet
from ews.training.loop import StepContext, train_one_epoch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' masking oracle
from tests.subnets.masking_oracle import masked_subnet  # noqa: E402

SECTIONS = ("subnet", "readings", "adversarial", "search", "framework", "api")



@contextmanager
def counting_flops() -> Iterator[FlopCounterMode]:
    """A FLOP counter that sees attention: its fused CPU kernels escape `FlopCounterMode`, its math backend does not."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        yield counter


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(variants: dict[str, Callable[[], object]], *, device: torch.device, warmup: int, steps: int
                ) -> dict[str, float]:
    """Median milliseconds per call of each variant, the variants taking turns (in reversed order every other
    round, so that no variant always runs right after the same one)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants.items())
    for i in range(warmup + steps):
        for name, fn in order if i % 2 == 0 else order[::-1]:
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


class Bench:
    """One model with its optimiser, a fixed batch and a subnet sampler: the pieces every section times."""

    def __init__(self, name: str, *, batch: int, args: argparse.Namespace) -> None:
        self.device = torch.device(args.device)
        torch.manual_seed(0)
        self.model = models.create(name, num_classes=10).to(self.device).train()
        if args.channels_last:
            self.model = to_channels_last(self.model)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                                         weight_decay=5e-4)
        self.space = SubnetSpace.from_model(self.model, rho=args.rho, reading=DEFAULT_READING)
        self.generator = torch.Generator().manual_seed(0)
        memory = torch.channels_last if args.channels_last else torch.contiguous_format
        self.x = torch.rand(batch, 3, args.image_size, args.image_size, device=self.device).to(memory_format=memory)
        self.y = torch.randint(0, 10, (batch,), device=self.device)
        self.precision = args.precision
        self.scaler = grad_scaler(self.device, args.precision)

    def step(self, objective: Objective, subnet: Subnet | None) -> None:
        """One training step exactly as the trainer takes it (attack, loss, backward, SGD)."""
        with autocast(self.device, self.precision):
            x_adv = objective.adversarial_examples(self.model, self.x, self.y)
            losses = objective.losses(self.model, self.x, x_adv, self.y, subnet=subnet)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses.total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def masked_step(self) -> None:
        """The same EWS step with the subnet computed by 0/1 masks on the full network."""
        logits = self.model(self.x)
        with masked_subnet(self.model, self.space.sample(self.generator)):
            sub = self.model(self.x)
        loss = F.cross_entropy(logits, self.y) + F.kl_div(
            F.log_softmax(sub, 1), F.log_softmax(logits.detach(), 1), log_target=True, reduction="batchmean")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def adversarial_flop_floor(self, attack_steps: int, subnets: int) -> float:
        """FLOPs of an AT + EWS step over an AT step's: (k attack passes + a training pass + a subnet pass) over
        (k attack passes + a training pass), each pass a forward and its backward, counted by FlopCounterMode.

        An attack pass back-propagates to the input only; the passes are counted apart because
        FlopCounterMode cannot follow `autograd.grad` inside the attack itself.
        """
        x = self.x[:2]

        def flops(run: Callable[[], Tensor], *, weights: bool = True) -> int:
            for p in self.model.parameters():
                p.requires_grad_(weights)
            try:
                with counting_flops() as counter:
                    run().sum().backward()  # the loss itself is a negligible share
            finally:
                for p in self.model.parameters():
                    p.requires_grad_(True)
            self.optimizer.zero_grad(set_to_none=True)
            return counter.get_total_flops()

        attack = flops(lambda: self.model(x.clone().requires_grad_(True)), weights=False)
        train = flops(lambda: self.model(x))
        generator = torch.Generator().manual_seed(1)

        stem = flops(lambda: self.model.stem(x)) if hasattr(self.model, "stem") else 0  # shared with the full pass

        def subnet_pass() -> int:
            with use_subnet(self.model, self.space.sample(generator)) as net:
                return flops(lambda: net(x)) - stem

        extra = statistics.mean(subnet_pass() for _ in range(subnets))
        base = attack_steps * attack + train
        return (base + extra) / base

    def flop_fraction(self, subnets: int) -> float:
        """Mean forward FLOPs a subnet pass adds in an EWS step, over the full network's.

        Counted by PyTorch's FlopCounterMode; the stem is shared with the full pass
        (`SharedStem`), so it is not part of a subnet pass's cost.
        """
        x = self.x[:1]

        def flops(run: Callable[[], object]) -> int:
            with torch.no_grad(), counting_flops() as counter:
                run()
            return counter.get_total_flops()

        def subnet_flops(subnet: Subnet) -> int:
            with use_subnet(self.model, subnet) as net:
                return flops(lambda: net(x))

        full = flops(lambda: self.model(x))
        stem = flops(lambda: self.model.stem(x)) if hasattr(self.model, "stem") else 0
        generator = torch.Generator().manual_seed(1)
        return statistics.mean((subnet_flops(self.space.sample(generator)) - stem) / full for _ in range(subnets))


def subnet_section(name: str, args: argparse.Namespace, *, masked: bool) -> dict[str, float]:
    bench = Bench(name, batch=args.batch, args=args)
    standard = Objective(mode="standard")
    vanilla = lambda: bench.step(standard, None)  # noqa: E731
    ms = interleaved({"vanilla": vanilla, "ews": lambda: bench.step(standard, bench.space.sample(bench.generator))},
                     device=bench.device, warmup=args.warmup, steps=args.steps)
    out = {f"{k}_ms_{name}": round(v, 1) for k, v in ms.items()}
    out.update({f"{k}_images_per_s_{name}": round(args.batch / v * 1000, 1) for k, v in ms.items()})
    out[f"ews_over_vanilla_{name}"] = round(ms["ews"] / ms["vanilla"], 3)
    fraction = bench.flop_fraction(args.flop_subnets)
    out[f"subnet_flop_fraction_{name}"] = round(fraction, 3)
    print(f"{name}, batch {args.batch}, rho {args.rho}: vanilla {ms['vanilla']:.0f} ms, EWS {ms['ews']:.0f} ms "
          f"-> EWS / vanilla {ms['ews'] / ms['vanilla']:.3f} (FLOP floor {1 + fraction:.3f}: a subnet pass adds "
          f"{fraction:.3f} of the full network's FLOPs)")
    print(f"  images/s: vanilla {args.batch / ms['vanilla'] * 1000:.1f}, EWS {args.batch / ms['ews'] * 1000:.1f}")
    if masked:  # a coarse comparison (about 2x): fewer steps, interleaved with vanilla steps of its own
        oracle = interleaved({"vanilla": vanilla, "masked": bench.masked_step}, device=bench.device,
                             warmup=0, steps=args.masked_steps)
        out[f"masked_ms_{name}"] = round(oracle["masked"], 1)
        out[f"masked_over_vanilla_{name}"] = round(oracle["masked"] / oracle["vanilla"], 3)
        print(f"  masked-subnet oracle {oracle['masked']:.0f} ms -> masked / vanilla "
              f"{oracle['masked'] / oracle['vanilla']:.3f} ({args.masked_steps} steps)")
    return out


def readings_section(name: str, args: argparse.Namespace) -> dict[str, float]:
    """What each reading of `rho_paths` costs: one model, one batch, the three spaces' EWS steps interleaved."""
    bench = Bench(name, batch=args.batch, args=args)
    standard = Objective(mode="standard")
    spaces = {name: SubnetSpace.from_model(bench.model, rho=args.rho, reading=name) for name in READINGS}
    steps = {"vanilla": lambda: bench.step(standard, None)}
    steps.update({reading: (lambda space=space: bench.step(standard, space.sample(bench.generator)))
                  for reading, space in spaces.items()})
    ms = interleaved(steps, device=bench.device, warmup=args.warmup, steps=args.steps)
    out: dict[str, float] = {}
    for reading, space in spaces.items():
        bench.space = space
        fraction = bench.flop_fraction(args.flop_subnets)
        ratio = ms[reading] / ms["vanilla"]
        out[f"ews_over_vanilla_{reading}_{name}"] = round(ratio, 3)
        out[f"subnet_flop_fraction_{reading}_{name}"] = round(fraction, 3)
        print(f"{name}, rho {args.rho}, {reading}: EWS {ms[reading]:.0f} ms / vanilla {ms['vanilla']:.0f} ms "
              f"= {ratio:.3f} (a subnet pass adds {fraction:.3f} of the full network's FLOPs)")
    return out


def adversarial_section(args: argparse.Namespace) -> dict[str, float]:
    bench = Bench(args.adv_model, batch=args.adv_batch, args=args)
    at = Objective(mode="at", attack=PGDSettings(steps=10))
    ms = interleaved({
        "at": lambda: bench.step(at, None),
        "at_ews": lambda: bench.step(at, bench.space.sample(bench.generator)),
    }, device=bench.device, warmup=args.warmup, steps=args.adv_steps)
    ratio = ms["at_ews"] / ms["at"]
    floor = bench.adversarial_flop_floor(at.attack.steps, args.flop_subnets)
    print(f"{args.adv_model}, batch {args.adv_batch}, PGD-10: AT {ms['at']:.0f} ms, AT+EWS {ms['at_ews']:.0f} ms "
          f"-> AT+EWS / AT {ratio:.3f} (FLOP floor {floor:.3f}: attack, forward and backward counted)")
    return {"at_ms": round(ms["at"], 1), "at_ews_ms": round(ms["at_ews"], 1), "at_ews_over_at": round(ratio, 3),
            "at_ews_flop_floor": round(floor, 3)}


def search_section(name: str, args: argparse.Namespace, *, batch: int) -> float:
    """Share of training time spent searching, from one controller step and one EWS step.

    Per epoch of S steps, D_s = `fraction` of the data gives fraction * S controller
    steps (same batch size), run once every K epochs: share =
    fraction * t_c / (K * t_ews + fraction * t_c).
    """
    bench = Bench(name, batch=batch, args=args)
    settings = SearchConfig()
    sampler = create_sampler(settings, bench.space, seed=0)
    standard = Objective(mode="standard")
    ms = interleaved({
        "ews": lambda: bench.step(standard, sampler.sample(bench.generator)),
        "controller": lambda: sampler.update(bench.model, [(bench.x, bench.y)]),
    }, device=bench.device, warmup=args.warmup, steps=args.search_steps)
    search = settings.fraction * ms["controller"]
    share = search / (args.K * ms["ews"] + search)
    print(f"{name}, batch {batch}: controller step (C = {settings.subnets_per_step}) {ms['controller']:.0f} ms, "
          f"EWS step {ms['ews']:.0f} ms -> search share at K = {args.K}, D_s = {settings.fraction:.0%}: {share:.2%}")
    return share


def plain_epoch(model: nn.Module, batches: list, optimizer: torch.optim.Optimizer, device: torch.device) -> float:
    """The 15-line PyTorch loop the framework is measured against."""
    model.train()
    total = torch.zeros((), device=device)
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    return total.item()


def ews_epoch(enhancer: ews.EWS, batches: list, optimizer: torch.optim.Optimizer, device: torch.device) -> float:
    """EWS in the user's own loop: the plain loop with `enhancer.loss(x, y).total` as the loss."""
    enhancer.model.train()
    total = torch.zeros((), device=device)
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        losses = enhancer.loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        optimizer.step()
        total += losses.base
    return total.item()


def api_section(name: str, args: argparse.Namespace) -> dict[str, float]:
    """Epochs of `args.api_batches` batches, interleaved: `ews.EWS` in a plain loop, the Trainer's loop, plain CE."""
    bench = Bench(name, batch=args.batch, args=args)
    batches = [(torch.rand_like(bench.x, device="cpu"), torch.randint(0, 10, (len(bench.y),)))
               for _ in range(args.api_batches)]
    context = StepContext(device=bench.device, objective=Objective(mode="standard"), progress=False)
    own, trainers = ews.EWS(bench.model, seed=0), ews.EWS(bench.model, seed=0)
    ms = interleaved({
        "ews_loop": lambda: ews_epoch(own, batches, bench.optimizer, bench.device),
        "trainer": lambda: train_one_epoch(bench.model, batches, bench.optimizer, context, enhancer=trainers),
        "plain": lambda: plain_epoch(bench.model, batches, bench.optimizer, bench.device),
    }, device=bench.device, warmup=1, steps=args.api_rounds)
    step = {k: v / args.api_batches for k, v in ms.items()}
    ratio = step["ews_loop"] / step["trainer"]
    print(f"{name}, batch {args.batch}, ms per step: ews.EWS in a plain loop {step['ews_loop']:.0f}, Trainer loop "
          f"{step['trainer']:.0f}, plain training {step['plain']:.0f} -> EWS loop / Trainer {ratio:.3f}, "
          f"EWS loop / plain {step['ews_loop'] / step['plain']:.3f}")
    return {**{f"api_{k}_ms_{name}": round(v, 1) for k, v in step.items()},
            f"api_ews_loop_over_trainer_{name}": round(ratio, 3)}


def framework_section(args: argparse.Namespace) -> float:
    bench = Bench(args.demo_model, batch=args.demo_batch, args=args)
    batches = [(torch.rand_like(bench.x, device="cpu"), torch.randint(0, 10, (len(bench.y),)))
               for _ in range(args.framework_batches)]
    context = StepContext(device=bench.device, objective=Objective(mode="standard"), progress=False)
    ms = interleaved({
        "ews": lambda: train_one_epoch(bench.model, batches, bench.optimizer, context, enhancer=None),
        "plain": lambda: plain_epoch(bench.model, batches, bench.optimizer, bench.device),
    }, device=bench.device, warmup=1, steps=args.framework_rounds)
    ratio = ms["plain"] / ms["ews"]
    print(f"{args.demo_model}, {args.framework_batches} steps of batch {args.demo_batch}: ews.train_one_epoch "
          f"{ms['ews']:.0f} ms, plain loop {ms['plain']:.0f} ms -> framework / plain throughput {ratio:.3f}")
    return ratio


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `Bench` reads: one model's batch, input size, width, precision, layout and device."""
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--device", default="cpu")


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
