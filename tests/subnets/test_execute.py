"""Sliced subnet execution: agrees with the masking oracle and leaves the network intact."""

from __future__ import annotations

import pytest
import torch

from ews import models
from ews.models.layers import Thinned
from ews.subnets import READING_NAMES, SHORTCUT, SubnetSpace, use_subnet
from ews.subnets import execute
from ews.subnets.space import residual_blocks

from ..conftest import tiny_model
from .masking_oracle import assert_sliced_matches_oracle


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("reading", READING_NAMES)
def test_sliced_matches_masking_oracle(model_name: str, mode: str, reading: str, dtype: torch.dtype) -> None:
    if dtype == torch.float32 and model_name.startswith(("tv_resnet", "tv_resnext")):
        pytest.skip("random-init ImageNet ResNets on 32x32 inputs reach 1x1 maps where train-mode BN is "
                    "ill-conditioned in float32; their agreement is checked in float64")
    model = tiny_model(model_name).to(dtype)
    model.train(mode == "train")
    if mode == "eval":  # non-trivial running statistics, so slicing them is tested
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    space = SubnetSpace.from_model(model, rho=0.5, reading=reading)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 32, 32, generator=generator, dtype=dtype)
    tolerance = 1e-4 if dtype == torch.float32 else 1e-9
    for _ in range(2):
        assert_sliced_matches_oracle(model, x, space.sample(generator), tolerance=tolerance)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_full_subnet_reproduces_the_full_network_exactly(model_name: str, mode: str) -> None:
    model = tiny_model(model_name).train(mode == "train")
    x = torch.rand(4, 3, 32, 32)
    expected = model(x)
    with use_subnet(model, SubnetSpace.from_model(model, reading="paper-text").full()):
        got = model(x)
    assert torch.equal(got, expected)


def test_a_subnet_changes_the_output(model_name: str) -> None:
    """Guards against a subnet that is silently never applied."""
    model = tiny_model(model_name).eval()
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    x = torch.rand(4, 3, 32, 32)
    full = model(x)
    with use_subnet(model, space.sample(torch.Generator().manual_seed(0))):
        sub = model(x)
    assert not torch.allclose(sub, full, atol=1e-4)


def test_running_statistics_and_state_dict_keys_untouched(model_name: str) -> None:
    model = tiny_model(model_name).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    with use_subnet(model, space.sample(torch.Generator().manual_seed(0))):
        assert model.state_dict().keys() == before.keys()
        model(torch.rand(4, 3, 32, 32)).sum().backward()
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def test_state_restored_after_an_exception_inside_the_context() -> None:
    model = tiny_model("resnet20").train()
    x = torch.rand(4, 3, 32, 32)
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    with pytest.raises(RuntimeError, match="boom"):
        with use_subnet(model, space.sample(torch.Generator().manual_seed(0))):
            raise RuntimeError("boom")
    torch.manual_seed(0)
    a = model(x)
    fresh = tiny_model("resnet20").train()
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(a, fresh(x))
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_dropout_is_off_in_subnet_passes_and_back_on_after() -> None:
    torch.manual_seed(0)
    model = models.create("wrn28_10", num_classes=5, depth=10, widen_factor=1, drop_rate=0.5).train()
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    subnet = space.sample(torch.Generator().manual_seed(0))
    x = torch.rand(4, 3, 32, 32)
    with use_subnet(model, subnet):
        assert torch.equal(model(x), model(x))  # no dropout noise
    assert not torch.equal(model(x), model(x))  # dropout active again


def test_gradients_reach_only_the_kept_channels() -> None:
    model = tiny_model("resnet20").train()
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    subnet = space.sample(torch.Generator().manual_seed(3))
    with use_subnet(model, subnet):
        model(torch.rand(4, 3, 32, 32)).sum().backward()
    block = model.layers[0][0]
    choice = subnet.blocks[0]
    if choice.channels:
        grad = block.conv1.weight.grad.abs().sum(dim=(1, 2, 3))
        dropped = sorted(set(range(block.conv1.out_channels)) - set(choice.channels[0]))
        assert torch.all(grad[dropped] == 0)
    else:
        assert block.conv1.weight.grad is None or block.conv1.weight.grad.abs().sum() == 0
    assert SHORTCUT in choice.paths or choice.channels


@pytest.mark.parametrize("rho_paths", [0.5, 1.0])
def test_thinned_block_outputs_match_the_oracle_over_many_subnets(model_name: str, rho_paths: float) -> None:
    """Blocks that keep only their branch hand the next block a `Thinned` output; blocks that keep only an
    identity shortcut skip a second ReLU. Both must be invisible in outputs and gradients."""
    model = tiny_model(model_name).double().train()
    space = SubnetSpace.from_model(model, rho=0.5, rho_paths=rho_paths, reading="paper-text")
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 32, 32, generator=generator, dtype=torch.float64)
    thinned = []
    hooks = [block.register_forward_hook(lambda m, i, out: thinned.append(isinstance(out, Thinned)))
             for _, block in residual_blocks(model)]
    for _ in range(6):
        assert_sliced_matches_oracle(model, x, space.sample(generator), tolerance=1e-9)
    for hook in hooks:
        hook.remove()
    # with both paths kept nothing is ever thinned; models without chained blocks never thin
    assert any(thinned) == (rho_paths == 0.5 and getattr(model, "chained_blocks", False))


def test_models_without_chained_blocks_never_pass_thinned_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Float64: in float32 the thinned and the dense path convolve different channel counts, so how far they
    differ depends on the machine's kernels (train-mode BatchNorm amplifies it)."""
    model = tiny_model("resnet20").double().train()
    space = SubnetSpace.from_model(model, rho=0.5, reading="paper-text")
    x = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    subnets = [space.sample(torch.Generator().manual_seed(seed)) for seed in range(4)]
    expected = []
    for subnet in subnets:
        with use_subnet(model, subnet) as net:
            expected.append(net(x))
    monkeypatch.setattr(type(model), "chained_blocks", False)
    outputs = []
    hooks = [block.register_forward_hook(lambda m, i, out: outputs.append(out)) for _, block in residual_blocks(model)]
    for subnet, want in zip(subnets, expected):
        with use_subnet(model, subnet) as net:
            torch.testing.assert_close(net(x), want)
    assert outputs and all(isinstance(out, torch.Tensor) for out in outputs)
    for hook in hooks:
        hook.remove()


def test_batch_norm_parameters_are_gathered_once_per_pass_and_each_pass_has_its_own_graph() -> None:
    """A subnet pass gathers every sliced BatchNorm's weight and bias in one `index_select`, not two per norm; two
    forward passes in one context (two batches) each back-propagate on their own and add up as two contexts do."""
    torch.manual_seed(0)
    model = tiny_model("resnet20").double().train()
    space = SubnetSpace.from_model(model, rho=0.5, reading="default")
    subnet = space.sample(torch.Generator().manual_seed(2))
    x = torch.rand(2, 4, 3, 32, 32, dtype=torch.float64)

    def gradients(one_context: bool) -> list[torch.Tensor]:
        model.zero_grad()
        if one_context:
            with use_subnet(model, subnet) as net:
                for batch in x:
                    net(batch).square().sum().backward()
        else:
            for batch in x:
                with use_subnet(model, subnet) as net:
                    net(batch).square().sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    for a, b in zip(gradients(True), gradients(False)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    sliced_norms = sum(len(kept) != width for choice, (_, block) in zip(subnet.blocks, residual_blocks(model))
                       for kept, width in zip(choice.channels, block.unit_widths()))
    assert sliced_norms > 2
    assert index_selects(model, subnet) == index_selects(model, subnet, gather=False) - 2 * sliced_norms + 1


def index_selects(model: torch.nn.Module, subnet, *, gather: bool = True) -> int:
    """`aten::index_select` calls in one subnet forward pass (`gather=False`: each norm gathers its own)."""
    with pytest.MonkeyPatch.context() as patch:
        if not gather:
            patch.setattr(execute, "gatherable", lambda norm: False)
        with torch.profiler.profile() as prof, use_subnet(model, subnet) as net:
            net(torch.rand(2, 3, 32, 32, dtype=torch.float64))
    return sum(e.count for e in prof.key_averages() if e.key == "aten::index_select")
