"""How weak a subnet is: its accuracy on a batch, measured the way the search needs it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

from ..subnets import Subnet, use_subnet


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Evaluate subnets with BatchNorm on batch statistics (train mode), as they are trained.

    The running statistics belong to the full network and do not fit a subnet's
    activations; `use_subnet` keeps them untouched, and dropout is off under a subnet.
    """
    was_training = model.training
    model.train()
    try:
        yield
    finally:
        model.train(was_training)


@torch.no_grad()
def subnet_accuracies(model: nn.Module, subnets: Sequence[Subnet], x: Tensor, y: Tensor) -> Tensor:
    """Accuracy of each subnet on the batch `(x, y)`, shape (len(subnets),), on the model's device."""
    correct = []
    with batch_statistics(model):
        for subnet in subnets:
            with use_subnet(model, subnet):
                correct.append((model(x).argmax(1) == y).float().mean())
    return torch.stack(correct)
