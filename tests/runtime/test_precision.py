"""Mixed precision, channels_last and torch.compile: each trains, and none disturbs subnet switching."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
import torch

from ews.runs.checkpoint import load_checkpoint
from ews.config import load_config
from ews.objectives import Objective
from ews.runtime.precision import autocast, grad_scaler, to_device
from ews.runs.run_dir import RunDir
from ews.subnets import SubnetSpace, shared_stem, use_subnet
from ews.training.trainer import Trainer

from ..conftest import tiny_model


def tiny(*extra: str):
    return load_config(overrides=["data.limit=64", "model.options.width=4", "train.epochs=1", "train.batch_size=32",
                                  "log.progress=false", *extra])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_ews_run_trains_and_checkpoints_its_scaler(tmp_path: Path, precision: str) -> None:
    trainer = Trainer(tiny(f"train.precision={precision}"))
    report = trainer.fit(RunDir(tmp_path / "run"))
    line = RunDir(tmp_path / "run").read_metrics()[0]
    assert report["epochs"] == 1 and torch.isfinite(torch.tensor(line["train_loss"]))
    assert line["subnet_loss"] is not None and line["subnet_loss"] >= 0
    scaler = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["scaler"]
    assert bool(scaler) == (precision == "fp16")  # a disabled scaler has no state
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights stay fp32


def test_autocast_runs_the_subnet_pass_in_low_precision() -> None:
    model = tiny_model("resnet20").train()
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(torch.Generator().manual_seed(0))
    x = torch.rand(4, 3, 32, 32)
    with autocast(torch.device("cpu"), "bf16"), use_subnet(model, subnet) as net:
        assert net(x).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert model(x).dtype == torch.float32


def test_fp16_scaler_skips_a_step_whose_gradients_overflow() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = grad_scaler(torch.device("cpu"), "fp16")
    scaler.scale((weight * float("inf")).sum()).backward()
    scaler.step(optimizer)
    scaler.update()
    assert torch.equal(weight.detach(), torch.ones(3))  # the inf step was skipped
    assert scaler.get_scale() < 2.0**16  # and the scale backed off


def test_channels_last_step_matches_the_contiguous_step() -> None:
    model = tiny_model("resnet20").train()
    twin = copy.deepcopy(model).to(memory_format=torch.channels_last)
    subnet = SubnetSpace.from_model(model, rho=0.5).sample(torch.Generator().manual_seed(0))
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 5, (8,))
    objective = Objective(mode="standard")
    plain = objective.losses(model, x, None, y, subnet=subnet)
    nhwc = objective.losses(twin, to_device(x, torch.device("cpu"), channels_last=True), None, y, subnet=subnet)
    plain.total.backward()
    nhwc.total.backward()
    torch.testing.assert_close(nhwc.total, plain.total, rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_channels_last_run_keeps_the_model_in_nhwc(tmp_path: Path) -> None:
    trainer = Trainer(tiny("train.channels_last=true"))
    trainer.fit(RunDir(tmp_path / "run"))
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_compiled_model_trains_with_subnets_without_recompiling_per_subnet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.compile sees only full-network passes: subnet passes run on the eager module inside."""
    import torch._dynamo

    torch._dynamo.reset()
    # dynamo's graph capture is what subnet switching could break; inductor's code generation is not
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    config = tiny("train.compile=true", "train.deterministic=true", "train.batch_size=16")
    compiled = Trainer(config)
    assert compiled.train_model is not compiled.model
    compiled.fit(RunDir(tmp_path / "compiled"))
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert 1 <= graphs <= 4, graphs  # train and eval mode, not one graph per sampled subnet
    # A compiled model computes the stem twice (`SharedStem` is off for it); so must the reference, because
    # this width-4 net's near-dead BatchNorm channels blow rounding differences up to visible ones in 4 steps.
    monkeypatch.setattr(shared_stem, "_compiled", lambda model: True)
    eager = Trainer(load_config(base=config.to_dict(), overrides=["train.compile=false"]))
    eager.fit(RunDir(tmp_path / "eager"))
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_bad_precision_is_a_config_error() -> None:
    from ews.errors import ConfigError

    with pytest.raises(ConfigError, match="train.precision"):
        tiny("train.precision=fp8")
