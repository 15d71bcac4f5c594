"""The ViT's attention and MLP sub-blocks as subnets: sliced execution matches masking, only kept heads run."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from ews import models
from ews.models.vit import AttentionBlock, MlpBlock
from ews.objectives.standard import ews_loss, subnet_kl
from ews.search.l1norm import l1_weakest
from ews.subnets import BRANCH, READING_NAMES, SHORTCUT, BlockChoice, Subnet, SubnetSpace, use_subnet
from ews.subnets.space import residual_blocks

from .masking_oracle import assert_sliced_matches_oracle


def small_vit(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Three heads and 24 hidden units per block, so rho 0.3 thins both (1 head, 8 units)."""
    torch.manual_seed(0)
    return models.create("vit_cifar", num_classes=5, dim=12, depth=2, heads=3).to(dtype)


def _record_attention_heads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every attention call record how many heads it was given."""
    heads: list[int] = []
    original = F.scaled_dot_product_attention

    def recording(q: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        heads.append(q.shape[1])
        return original(q, *args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording)
    return heads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reading", READING_NAMES)
def test_vit_sliced_matches_masking_oracle_at_rho_0_3(reading: str, dtype: torch.dtype) -> None:
    model = small_vit(dtype).train()
    space = SubnetSpace.from_model(model, rho=0.3, reading=reading)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 32, 32, generator=generator, dtype=dtype)
    tolerance = 1e-4 if dtype == torch.float32 else 1e-9
    for _ in range(4):
        assert_sliced_matches_oracle(model, x, space.sample(generator), tolerance=tolerance)


def test_vit_space_thins_heads_and_hidden_units_but_never_the_stream() -> None:
    model = small_vit()
    space = SubnetSpace.from_model(model, rho=0.3, reading="paper-text")
    kinds = [type(block) for _, block in residual_blocks(model)]
    assert kinds == [AttentionBlock, MlpBlock] * 2
    for spec, kind in zip(space.blocks, kinds):
        assert spec.conv_channels == ((3, 12) if kind is AttentionBlock else (24, 12))
        assert spec.keep_channels == ((1, 12) if kind is AttentionBlock else (8, 12))


def test_vit_sliced_attention_computes_only_the_kept_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_vit().eval()
    space = SubnetSpace.from_model(model, rho=0.3)
    full = space.full().blocks
    kept_head = BlockChoice((BRANCH, SHORTCUT), ((2,), tuple(range(12))))
    subnet = space.validate(Subnet((kept_head, full[1], full[2], full[3])))
    heads = _record_attention_heads(monkeypatch)
    x = torch.rand(2, 3, 32, 32)
    with use_subnet(model, subnet):
        model(x)
    assert heads == [1, 3]  # the first attention block ran its kept head only, the second all three
    heads.clear()
    model(x)
    assert heads == [3, 3]


def test_vit_rho_below_one_head_keeps_one_head(monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_vit().train()
    space = SubnetSpace.from_model(model, rho=0.1, reading="default")  # 0.1 * 3 heads rounds up to 1
    assert [spec.keep_channels[0] for spec in space.blocks[::2]] == [1, 1]
    heads = _record_attention_heads(monkeypatch)
    generator = torch.Generator().manual_seed(0)
    with use_subnet(model, space.sample(generator)):
        model(torch.rand(2, 3, 32, 32))
    assert heads == [1, 1]


def test_vit_unit_weights_are_each_heads_q_k_v_rows() -> None:
    block = small_vit().blocks[0]
    heads, stream = block.unit_weights()
    assert heads.shape == (3, 3 * 4 * 12) and stream is block.proj.weight
    rows = block.qkv.weight.view(3, 3, 4, 12)  # (q/k/v, head, head_dim, dim)
    for head in range(3):
        assert torch.equal(heads[head], rows[:, head].flatten())


def test_vit_l1_baseline_keeps_a_valid_subnet() -> None:
    model = small_vit()
    for reading in READING_NAMES:
        space = SubnetSpace.from_model(model, rho=0.3, reading=reading)
        space.validate(l1_weakest(model, space))


def test_vit_shared_stem_changes_nothing_but_the_work() -> None:
    model = small_vit(torch.float64).train()
    subnet = SubnetSpace.from_model(model, rho=0.3).sample(torch.Generator().manual_seed(0))
    x, y = torch.rand(4, 3, 32, 32, dtype=torch.float64), torch.randint(0, 5, (4,))
    calls = []
    counter = model.patch_embed.register_forward_hook(lambda *args: calls.append(1))
    shared = ews_loss(model, x, y, subnet=subnet, lam=0.5).total
    assert len(calls) == 1
    counter.remove()
    logits = model(x)
    with use_subnet(model, subnet) as net:
        reference = F.cross_entropy(logits, y) + 0.5 * subnet_kl(net(x), logits)
    torch.testing.assert_close(shared, reference, rtol=1e-10, atol=1e-10)


def test_vit_compiled_full_network_matches_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dynamo captures the full forward (`active` None) and a subnet still runs on the eager module inside."""
    import torch._dynamo

    torch._dynamo.reset()
    # dynamo's graph capture is what the blocks' subnet switch could break; inductor's code generation is not
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    model = small_vit().train()
    compiled = torch.compile(model)
    x = torch.rand(4, 3, 32, 32)
    expected = model(x)
    torch.testing.assert_close(compiled(x), expected, rtol=0, atol=0)
    subnet = SubnetSpace.from_model(model, rho=0.3).sample(torch.Generator().manual_seed(0))
    with use_subnet(model, subnet):
        sliced = model(x)
    with use_subnet(compiled, subnet) as net:
        assert net is model
        torch.testing.assert_close(net(x), sliced, rtol=0, atol=0)
    torch.testing.assert_close(compiled(x), expected, rtol=0, atol=0)
    torch._dynamo.reset()
