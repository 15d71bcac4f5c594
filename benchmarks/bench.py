"""What every benchmark times: one model's training step (`Bench`), variants interleaved step by step, FLOPs.

`step_time.py`, `profile_step.py` and `gpu_hours.py` measure with these, so their numbers are of the same step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from ews import models
from ews.objectives import Objective
from ews.runtime.precision import autocast, grad_scaler, to_channels_last
from ews.subnets import DEFAULT_READING, Subnet, SubnetSpace, use_subnet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' masking oracle
from tests.subnets.masking_oracle import masked_subnet  # noqa: E402


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


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `Bench` reads: one model's batch, input size, width, precision, layout and device."""
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--device", default="cpu")
