"""Mixed precision, channels_last and torch.compile: each trains, and none disturbs subnet switching."""

from __future__ import annotations

import copy
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ews.runs.checkpoint import load_checkpoint
from ews.config import load_config
from ews.objectives import Objective
from ews.runtime.precision import autocast, grad_scaler, to_channels_last, to_device
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
    """Same loss and gradients, in float64: float32 gradients of a ReLU net differ by whole elements wherever a
    pre-activation lies within rounding of 0 and NHWC's kernels round it to the other side (this model's
    full pass has one at 1e-6, which moved float32 weight gradients by 2 %)."""
    model = tiny_model("resnet20").double().train()
    twin = to_channels_last(copy.deepcopy(model))
    # paper-text keeps one path in half the blocks: thinned outputs reach the strided 1x1 shortcuts
    subnet = SubnetSpace.from_model(model, rho=0.5, reading="paper-text").sample(torch.Generator().manual_seed(0))
    x, y = torch.rand(8, 3, 32, 32, dtype=torch.float64), torch.randint(0, 5, (8,))
    objective = Objective(mode="standard")
    plain = objective.losses(model, x, None, y, subnet=subnet)
    nhwc = objective.losses(twin, to_device(x, torch.device("cpu"), channels_last=True), None, y, subnet=subnet)
    plain.total.backward()
    nhwc.total.backward()
    torch.testing.assert_close(nhwc.total, plain.total, rtol=1e-12, atol=0)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12, msg=name)
    # float32 NHWC kernels compute the same loss (a smooth function of their rounding, unlike the gradients)
    nhwc32 = objective.losses(twin.float(), to_device(x.float(), torch.device("cpu"), channels_last=True), None, y,
                              subnet=subnet)
    torch.testing.assert_close(nhwc32.total.double(), plain.total.detach(), rtol=1e-5, atol=0)


CPU_NHWC_STEPS = """
import torch, torch.nn.functional as F
from ews import models
from ews.runtime.precision import to_channels_last
from ews.subnets import SubnetSpace, use_subnet
torch.manual_seed(0)
model = to_channels_last(models.create("resnet20", num_classes=5, width=4).train())
space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
generator = torch.Generator().manual_seed(0)
for _ in range(4):
    x, y = torch.rand(8, 3, 32, 32).contiguous(memory_format=torch.channels_last), torch.randint(0, 5, (8,))
    F.cross_entropy(model(x), y).backward()
    with use_subnet(model, space.sample(generator)) as net:
        F.cross_entropy(net(x), y).backward()
print("finished")
"""


def test_channels_last_steps_finish_on_onednns_avx2_kernels() -> None:
    """oneDNN's AVX2 weight gradient of a strided 1x1 conv on NHWC input with few input channels writes out of
    bounds (`ews.runtime.precision.nchw_only`); these steps crashed or hung there before those convs ran in NCHW,
    full passes and thinned subnet inputs alike. `ONEDNN_MAX_CPU_ISA` picks that kernel on any x86 CPU."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CPU_NHWC_STEPS], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "finished", done.stderr[-2000:]


def test_channels_last_ews_epoch_finishes_on_the_cpu_in_nhwc(tmp_path: Path) -> None:
    trainer = Trainer(tiny("train.channels_last=true", "data.limit=200", "ews.reading=paper-text"))
    report = trainer.fit(RunDir(tmp_path / "run"))
    line = RunDir(tmp_path / "run").read_metrics()[0]
    assert report["epochs"] == 1 and line["subnet_loss"] is not None and torch.isfinite(torch.tensor(line["train_loss"]))
    convs = [m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d)]
    strided_pointwise = [m for m in convs if m.kernel_size == (1, 1) and m.stride != (1, 1)]
    nchw = [m.weight.stride() == torch.empty_like(m.weight, memory_format=torch.contiguous_format).stride()
            for m in strided_pointwise]  # a 1x1 kernel's NCHW strides also pass as NHWC-contiguous
    assert strided_pointwise and all(nchw)
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs if m not in strided_pointwise)


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
