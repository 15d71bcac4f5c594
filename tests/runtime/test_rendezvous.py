"""Multi-node `ews train` under torchrun: the rendezvous variables torchrun sets decide rank, world and device.

No second node is launched: the variables are set as torchrun would set them on node 2 of
4, and the arguments `init` derives (and one real one-process group) are checked.
"""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist

from ews.errors import ConfigError
from ews.runtime import distributed

# Node 2 of 4 (8 processes each): its 4th process, as `torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d`.
NODE_2 = {"RANK": "19", "WORLD_SIZE": "32", "LOCAL_RANK": "3", "MASTER_ADDR": "node-0.cluster", "MASTER_PORT": "29400"}


def test_rank_world_and_device_come_from_torchruns_variables() -> None:
    cuda = distributed.rendezvous(torch.device("cuda"), NODE_2)
    assert (cuda.backend, cuda.rank, cuda.world_size, cuda.device) == ("nccl", 19, 32, torch.device("cuda", 3))
    cpu = distributed.rendezvous(torch.device("cpu"), NODE_2)
    assert (cpu.backend, cpu.rank, cpu.world_size, cpu.device) == ("gloo", 19, 32, torch.device("cpu"))


@pytest.mark.parametrize("change, message", [
    ({"MASTER_ADDR": ""}, "lacks MASTER_ADDR"),
    ({"MASTER_PORT": "http"}, "MASTER_PORT must be a non-negative integer"),
    ({"RANK": "32"}, "RANK 32 must be below WORLD_SIZE 32"),
])
def test_a_broken_launcher_environment_is_one_line(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        distributed.rendezvous(torch.device("cpu"), {**NODE_2, **change})


def test_init_passes_the_rendezvous_to_the_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in NODE_2.items():
        monkeypatch.setenv(name, value)
    calls: list[dict] = []
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append({"set_device": device}))
    assert distributed.init(torch.device("cuda")) == torch.device("cuda", 3)
    assert calls[0] == {"set_device": torch.device("cuda", 3)}
    assert {k: calls[1][k] for k in ("backend", "init_method", "rank", "world_size")} == {
        "backend": "nccl", "init_method": "env://", "rank": 19, "world_size": 32}


def test_a_real_group_meets_at_master_addr_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """One process, rank 0 of 1, joins a gloo group through the store at MASTER_ADDR:MASTER_PORT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        assert distributed.init(torch.device("cpu")) == torch.device("cpu")
        assert (distributed.rank(), distributed.world_size()) == (0, 1)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the store listens where it was told
    finally:
        distributed.shutdown()
