"""ConvNeXt subnets: sliced hidden units agree with the masking oracle, and only the kept ones are computed."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from ews.models.convnext import ConvNeXtBlock
from ews.subnets import BRANCH, READING_NAMES, SubnetSpace, use_subnet

from ..conftest import tiny_model
from .masking_oracle import _outputs_and_grads, assert_sliced_matches_oracle, masked_subnet

NAME = "convnext_cifar"


def _blocks(model: torch.nn.Module) -> list[ConvNeXtBlock]:
    return [m for m in model.modules() if isinstance(m, ConvNeXtBlock)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reading", READING_NAMES)
def test_convnext_sliced_matches_the_oracle_at_rho_0_3(reading: str, dtype: torch.dtype) -> None:
    model = tiny_model(NAME).to(dtype).train()
    space = SubnetSpace.from_model(model, rho=0.3, reading=reading)
    for spec in space.blocks:  # hidden units thinned, the residual stream whole
        hidden, dim = spec.conv_channels
        assert spec.keep_channels == (math.ceil(0.3 * hidden), dim) and math.ceil(0.3 * hidden) < hidden
    generator = torch.Generator().manual_seed(4)
    x = torch.rand(4, 3, 32, 32, generator=generator, dtype=dtype)
    for _ in range(3):
        assert_sliced_matches_oracle(model, x, space.sample(generator),
                                     tolerance=1e-4 if dtype == torch.float32 else 1e-9)


def test_convnext_sliced_pwconv1_computes_only_the_kept_hidden_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block's first linear is handed only its kept rows, its second only the matching columns."""
    model = tiny_model(NAME).train()
    space = SubnetSpace.from_model(model, rho=0.3, reading="default")  # both paths: every branch runs
    subnet = space.sample(torch.Generator().manual_seed(0))
    shapes: list[tuple[int, int]] = []
    linear = F.linear

    def recording(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        shapes.append(tuple(weight.shape))
        out = linear(x, weight, bias)
        assert out.shape[-1] == weight.shape[0]
        return out

    monkeypatch.setattr(F, "linear", recording)
    with use_subnet(model, subnet) as net:
        net(torch.rand(2, 3, 32, 32))
    expected = []
    for block, choice in zip(_blocks(model), subnet.blocks):
        kept, dim = len(choice.channels[0]), block.pwconv2.out_features
        assert kept < block.pwconv1.out_features
        expected += [(kept, dim), (dim, kept)]
    assert shapes[:-1] == expected  # the last call is the head


def test_convnext_stream_layers_get_full_gradients_equal_to_the_oracle() -> None:
    """The depthwise conv, LayerNorms and layer scale are never sliced: every entry gets the oracle's gradient."""
    model = tiny_model(NAME).double().train()
    space = SubnetSpace.from_model(model, rho=0.3, reading="default")
    subnet = space.sample(torch.Generator().manual_seed(1))
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    _, sliced = _outputs_and_grads(model, x, use_subnet(model, subnet))
    _, masked = _outputs_and_grads(model, x, masked_subnet(model, subnet))
    names = {block: name for name, block in model.named_modules() if isinstance(block, ConvNeXtBlock)}
    for block, choice in zip(_blocks(model), subnet.blocks):
        assert BRANCH in choice.paths
        prefix = names[block]
        for part in ("dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias", "gamma"):
            grad = sliced[f"{prefix}.{part}"]
            assert torch.all(grad.flatten(1) != 0 if grad.dim() > 1 else grad != 0), part
            torch.testing.assert_close(grad, masked[f"{prefix}.{part}"], rtol=1e-9, atol=1e-12)
        dropped = sorted(set(range(block.pwconv1.out_features)) - set(choice.channels[0]))
        assert torch.all(sliced[f"{prefix}.pwconv1.weight"][dropped] == 0)
        assert torch.all(sliced[f"{prefix}.pwconv2.weight"][:, dropped] == 0)
    for name in ("patchify.1.weight", "downsample_layers.0.0.weight", "norm.weight"):
        torch.testing.assert_close(sliced[name], masked[name], rtol=1e-9, atol=1e-12)


def test_convnext_path_gains_are_the_layer_scaled_row_norms() -> None:
    block = ConvNeXtBlock(4, layer_scale=0.5)
    gains = block.path_gains()
    want = (0.5 * block.pwconv2.weight.abs().sum(dim=1)).mean()
    torch.testing.assert_close(gains, torch.stack([want, torch.ones(())]))
    assert [w.shape[0] for w in block.unit_weights()] == list(block.unit_widths()) == [16, 4]


def test_convnext_under_torch_compile_matches_eager_and_subnets_do_not_recompile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch._dynamo

    torch._dynamo.reset()
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]  # counted since the process started
    # dynamo's graph capture is what the `active` switch could break; inductor's code generation is not
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    model = tiny_model(NAME).eval()
    x = torch.rand(4, 3, 32, 32)
    compiled = torch.compile(model)
    eager = model(x)
    assert torch.equal(compiled(x), eager)
    subnet = SubnetSpace.from_model(model, rho=0.3, reading="paper-text").sample(torch.Generator().manual_seed(0))
    with use_subnet(model, subnet):
        want = model(x)
    with use_subnet(compiled, subnet) as net:
        got = net(x)
    assert torch.equal(got, want) and not torch.equal(got, eager)
    assert torch.equal(compiled(x), eager)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs == 1
