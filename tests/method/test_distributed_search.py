"""Under DDP each rank scores subnets on its own shard and the rewards are summed over ranks (gloo, 2 processes)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import ews
from ews.search import subnet_accuracies

from ..conftest import tiny_model


def _shards() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.rand(8, 3, 32, 32, generator=g), torch.randint(0, 5, (8,), generator=g)) for _ in range(2)]


def _rank(rank: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ["EWS_TEST_PORT"])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        model = tiny_model("resnet20")
        enhancer = ews.EWS(model, seed=1)
        subnets = [enhancer.space.sample(torch.Generator().manual_seed(i)) for i in range(4)]
        x, y = _shards()[rank]  # this rank's own data, as a DistributedSampler gives it
        rewards = subnet_accuracies(model, subnets, x, y)
        enhancer.search([(x, y)] * 3)
        torch.save({"rewards": rewards, "policy": enhancer.sampler.policy.state_dict()}, Path(folder) / f"{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_each_rank_scores_its_own_shard_and_rewards_are_summed(tmp_path: Path) -> None:
    model = tiny_model("resnet20")
    subnets = [ews.EWS(model, seed=1).space.sample(torch.Generator().manual_seed(i)) for i in range(4)]
    alone = [subnet_accuracies(model, subnets, x, y) for x, y in _shards()]  # each shard scored on its own
    os.environ["EWS_TEST_PORT"] = str(29500 + os.getpid() % 1000)
    mp.start_processes(_rank, args=(str(tmp_path),), nprocs=2, join=True, start_method="fork")  # no re-imports
    results = [torch.load(tmp_path / f"{rank}.pt", weights_only=True) for rank in range(2)]
    expected = (alone[0] + alone[1]) / 2  # equal shard sizes: the mean over all 16 images
    for result in results:
        torch.testing.assert_close(result["rewards"], expected)
    for key, value in results[0]["policy"].items():  # every rank took the same controller steps
        assert torch.equal(results[1]["policy"][key], value), key
