"""torchrun / DistributedDataParallel support: process group, rank facts and reductions.

`ews train` under `torchrun --nproc_per_node N` (or `ews train --nproc N`), on one node
or several (`--nnodes`), joins the process group torchrun describes in its environment
(`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`): NCCL on CUDA, gloo on
the CPU. Every helper here is a no-op in a plain single process, so the training code
calls them unconditionally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..errors import ConfigError

RENDEZVOUS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets per process


def launched_by_torchrun() -> bool:
    """True when torchrun (or any launcher setting its variables) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def launch_rank() -> int:
    """This process's rank as torchrun announced it (0 outside torchrun); valid before `init`."""
    return int(os.environ.get("RANK", 0))


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 writes files and prints; the other ranks compute."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


@dataclass(frozen=True)
class Rendezvous:
    """This process's place in a torchrun job, as torchrun's environment describes it."""

    backend: str  # nccl on CUDA, gloo on the CPU
    rank: int  # global: 0 .. world_size - 1, over every node
    world_size: int  # processes over every node (--nnodes x --nproc-per-node)
    device: torch.device  # cuda:LOCAL_RANK on CUDA: the local rank is this node's GPU index


def rendezvous(device: torch.device, env: Mapping[str, str] = os.environ) -> Rendezvous:
    """What `init` joins, read from torchrun's variables; ConfigError naming any that is missing or malformed.

    On several nodes (`torchrun --nnodes N --rdzv-backend c10d`) torchrun sets these per
    process after its rendezvous: RANK and WORLD_SIZE across nodes, LOCAL_RANK on this node,
    and MASTER_ADDR/MASTER_PORT of the store it chose, which `init_method="env://"` joins.
    """
    missing = [name for name in RENDEZVOUS if not env.get(name)]
    if missing:
        raise ConfigError(f"the torchrun environment lacks {', '.join(missing)}: start ews train under torchrun, "
                          f"which sets {', '.join(RENDEZVOUS)}")
    numbers = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        if not env[name].isdigit():
            raise ConfigError(f"{name} must be a non-negative integer, got {env[name]!r}")
        numbers[name] = int(env[name])
    if not numbers["RANK"] < numbers["WORLD_SIZE"]:
        raise ConfigError(f"RANK {numbers['RANK']} must be below WORLD_SIZE {numbers['WORLD_SIZE']}")
    if device.type == "cuda":
        device = torch.device("cuda", numbers["LOCAL_RANK"])
    return Rendezvous(backend="nccl" if device.type == "cuda" else "gloo", rank=numbers["RANK"],
                      world_size=numbers["WORLD_SIZE"], device=device)


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group (once); returns this rank's device.

    On CUDA each rank takes GPU `LOCAL_RANK` and talks NCCL; on the CPU it talks gloo.
    """
    if not launched_by_torchrun() or active():
        return device
    group = rendezvous(device)
    if group.device.type == "cuda":
        torch.cuda.set_device(group.device)
    dist.init_process_group(backend=group.backend, init_method="env://", rank=group.rank,
                            world_size=group.world_size, timeout=timedelta(minutes=30))
    return group.device


def shutdown() -> None:
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def sum_across_ranks(tensor: Tensor) -> Tensor:
    """The element-wise sum over ranks (the tensor itself in one process)."""
    if active():
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if `flag` is true on any: decisions that end a loop must be agreed."""
    if not active():
        return flag
    return bool(sum_across_ranks(torch.tensor(int(flag), device=device)) > 0)


def shard(tensor: Tensor) -> Tensor:
    """This rank's share of a batch every rank holds: rows `rank, rank + world, ...`."""
    return tensor[rank() :: world_size()] if active() else tensor


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (e.g. the sampler's state after a search)."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (a one-element list in one process)."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def per_rank_batch(global_batch: int, *, key: str) -> int:
    """`train.batch_size` is the global batch: each of N ranks takes 1/N of it."""
    world = world_size()
    if global_batch % world:
        raise ConfigError(f"{key} {global_batch} must be divisible by the {world} torchrun processes")
    return global_batch // world


def without_ddp(model: nn.Module) -> nn.Module:
    """The module DDP wraps (attacks and searches must not enter DDP's forward), else `model`."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model
