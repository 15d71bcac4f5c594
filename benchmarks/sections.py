"""The measured sections of `step_time.py`: each times its variants side by side and returns its ratios."""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

import ews
from ews.attacks import PGDSettings
from ews.config import SearchConfig
from ews.objectives import Objective
from ews.search import create_sampler
from ews.search.rewards import subnet_accuracies
from ews.subnets import READINGS, SubnetSpace
from ews.training.loop import StepContext, train_one_epoch

from bench import Bench, interleaved  # noqa: E402


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
    fraction * t_c / (K * t_ews + fraction * t_c). The controller step's parts are timed
    beside it: sampling its C subnets (the LSTM) and scoring them (C no-grad subnet passes).
    """
    bench = Bench(name, batch=batch, args=args)
    settings = SearchConfig()
    sampler = create_sampler(settings, bench.space, seed=0)
    subnets = [bench.space.sample(bench.generator) for _ in range(settings.subnets_per_step)]
    standard = Objective(mode="standard")
    ms = interleaved({
        "ews": lambda: bench.step(standard, sampler.sample(bench.generator)),
        "controller": lambda: sampler.update(bench.model, [(bench.x, bench.y)]),
        "sampling": lambda: sampler.policy.sample_many(settings.subnets_per_step, sampler.generator),
        "scoring": lambda: subnet_accuracies(bench.model, subnets, bench.x, bench.y),
    }, device=bench.device, warmup=args.warmup, steps=args.search_steps)
    search = settings.fraction * ms["controller"]
    share = search / (args.K * ms["ews"] + search)
    print(f"{name}, batch {batch}: controller step (C = {settings.subnets_per_step}) {ms['controller']:.0f} ms "
          f"(sampling {ms['sampling']:.0f} ms, scoring {ms['scoring']:.0f} ms), EWS step {ms['ews']:.0f} ms -> "
          f"search share at K = {args.K}, D_s = {settings.fraction:.0%}: {share:.2%}; one scoring pass / EWS step "
          f"{ms['scoring'] / settings.subnets_per_step / ms['ews']:.3f}")
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
