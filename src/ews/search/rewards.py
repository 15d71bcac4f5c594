"""How weak a subnet is: its accuracy on a batch, measured the way the search needs it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ..runtime import distributed, model_mode
from ..subnets import SharedStem, Subnet, use_subnet


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Evaluate subnets with BatchNorm on batch statistics (train mode), as they are trained.

    The running statistics belong to the full network and do not fit a subnet's
    activations; `use_subnet` keeps them untouched, and dropout is off under a subnet.
    """
    with model_mode(model, "train"):
        yield


@torch.no_grad()
def subnet_accuracies(model: nn.Module, subnets: Sequence[Subnet], x: Tensor, y: Tensor, *,
                      batch_on_every_rank: bool = False) -> Tensor:
    """Accuracy of each subnet on the batch `(x, y)`, shape (len(subnets),), on the model's device.

    The stem (everything before the first residual block) is computed once for all
    subnets, inside a subnet context so BatchNorm running statistics stay untouched.
    Under torchrun the counts are summed over ranks, so every rank sees the same rewards
    and takes the same controller step: by default `(x, y)` is this rank's own data (a
    `DistributedSampler` shard); with `batch_on_every_rank` every rank holds the same
    batch and scores only its share of it.
    """
    if batch_on_every_rank:
        x, y = distributed.shard(x), distributed.shard(y)
    correct = torch.zeros(len(subnets) + 1, device=y.device)
    correct[-1] = len(y)
    if len(y):
        with batch_statistics(model), SharedStem(model, enabled=False) as stem:
            for i, subnet in enumerate(subnets):
                with use_subnet(model, subnet) as net:
                    correct[i] = (stem.run(net, x).argmax(1) == y).sum()
    correct = distributed.sum_across_ranks(correct)
    return correct[:-1] / correct[-1].clamp_min(1)


def merge_small_batches(batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
    """The batches, with each one under half the size of the largest so far appended to the batch before it.

    A loader's trailing batch can be tiny: D_s of the digits (142 images) in batches of
    128 ends with 14 images, CIFAR's 5,000 with 8. A subnet's accuracy on 8 images moves
    in steps of 12.5 points, so a controller step rewarded on them follows noise. Merging
    (rather than `drop_last`) keeps every image and gives each step at least half a batch.
    """
    pending: tuple[Tensor, Tensor] | None = None
    largest = 0
    for x, y in batches:
        largest = max(largest, len(y))
        if pending is not None and 2 * len(y) < largest:
            pending = (torch.cat((pending[0], x)), torch.cat((pending[1], y)))
            continue
        if pending is not None:
            yield pending
        pending = (x, y)
    if pending is not None:
        yield pending


def merged_batch_count(images: int, batch_size: int) -> int:
    """How many batches `merge_small_batches` yields for `images` images loaded in batches of `batch_size`.

    A trailing batch under half a full one joins the batch before it; a set no larger than one
    batch is one batch. Lets a run know the controller steps of a search round before it starts.
    """
    if images <= batch_size:
        return 1
    full, rest = divmod(images, batch_size)
    return full + (1 if 2 * rest >= batch_size else 0)
