"""torchvision and timm ViTs and ConvNeXts as EWS models: same keys, same outputs, oracle-exact subnets, refusals."""

from __future__ import annotations

import copy
from functools import partial
from typing import Callable

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import ResPostBlock
from torch import nn
from torchvision.models.convnext import CNBlock, CNBlockConfig

import ews
from ews.errors import ConfigError
from ews.models import from_timm, from_torchvision
from ews.models.adopted import IMAGENET_MEAN, IMAGENET_STD, AdoptedTransformerBlock
from ews.objectives.standard import ews_loss, subnet_kl
from ews.search.l1norm import l1_weakest
from ews.subnets import SubnetSpace, use_subnet
from ews.subnets.space import residual_blocks

from ..subnets.masking_oracle import assert_sliced_matches_oracle

NORMALIZE = torchvision.transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)


def _tv_vit(**kwargs) -> nn.Module:
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=8,
                                               mlp_dim=16, num_classes=7, **kwargs)


def _tv_convnext(**kwargs) -> nn.Module:
    setting = [CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 2)]
    return torchvision.models.ConvNeXt(setting, num_classes=7, **kwargs)


def _timm_vit(**kwargs) -> nn.Module:
    return timm.models.VisionTransformer(img_size=32, patch_size=8, embed_dim=8, depth=2, num_heads=2, num_classes=7,
                                         **kwargs)


def _timm_deit(**kwargs) -> nn.Module:
    return VisionTransformerDistilled(img_size=32, patch_size=8, embed_dim=8, depth=2, num_heads=2, num_classes=7,
                                      **kwargs)


def _timm_convnext(**kwargs) -> nn.Module:
    """timm's ConvNeXt always has four stages: a 4x4 stem and three 2x2 downsamplings take 32 px to 1 px."""
    return timm.models.ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 8, 16, 16), num_classes=7, **kwargs)


CASES = {
    "torchvision-vit": (_tv_vit, from_torchvision),
    "torchvision-convnext": (_tv_convnext, from_torchvision),
    "timm-vit-layer-scale": (partial(_timm_vit, init_values=0.5), from_timm),
    "timm-deit-distilled-vit": (_timm_deit, from_timm),
    "timm-convnext": (_timm_convnext, from_timm),
    "timm-convnext-conv-mlp": (partial(_timm_convnext, conv_mlp=True), from_timm),  # convnext_atto's MLP: 1x1 convs
}


def _build(name: str, **kwargs) -> nn.Module:
    """The original network, every parameter random (torchvision's zero ViT head and tiny layer scales would hide
    differences)."""
    torch.manual_seed(0)
    net = CASES[name][0](**kwargs)
    with torch.no_grad():
        for param in net.parameters():
            param.normal_(0.0, 0.3)
    return net


def _adapted(name: str, **kwargs) -> nn.Module:
    return CASES[name][1](_build(name, **kwargs))


@pytest.mark.parametrize("name", sorted(CASES))
def test_adapted_vit_and_convnext_keep_keys_and_outputs(name: str) -> None:
    original = _build(name).eval()
    keys = list(original.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = original(NORMALIZE(x))
    model = _adapted(name).eval()
    assert list(model.state_dict()) == ["normalize.mean", "normalize.std"] + [f"net.{key}" for key in keys]
    model.net.load_state_dict(original.state_dict())  # a torchvision/timm state dict loads into model.net
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_adapted_vit_and_convnext_subnets_match_the_masking_oracle(name: str) -> None:
    """Training mode, float64; the ViTs' drop-path and the ConvNeXts' stochastic depth act on full passes only."""
    depth = {"drop_path_rate": 0.5} if name.startswith("timm") else {}
    if name == "torchvision-convnext":
        depth = {"stochastic_depth_prob": 0.5}
    model = _adapted(name, **depth).double().train()
    space = SubnetSpace.from_model(model, rho=0.5, rho_paths=0.5, channels="all")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=generator, dtype=torch.float64)
    for _ in range(3):
        assert_sliced_matches_oracle(model, x, space.sample(generator), tolerance=1e-9)


def test_vit_transformer_blocks_split_into_two_parameterless_sub_blocks() -> None:
    model = _adapted("torchvision-vit")
    names = [name for name, _ in residual_blocks(model)]
    assert names == [f"net.encoder.layers.encoder_layer_{i}.{path}" for i in (0, 1)
                     for path in ("attention_path", "mlp_path")]
    block = model.net.encoder.layers.encoder_layer_0
    assert isinstance(block, AdoptedTransformerBlock)
    for sub in (block.attention_path, block.mlp_path):
        assert not list(sub.parameters()) and not sub.state_dict()
    space = SubnetSpace.from_model(model, rho=0.5)
    assert [spec.conv_channels for spec in space.blocks[:2]] == [(2, 8), (16, 8)]  # heads, stream; hidden, stream


@pytest.mark.parametrize("name", ["torchvision-vit", "timm-vit-layer-scale"])
def test_vit_subnet_attention_runs_only_the_kept_heads_in_one_call(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _adapted(name).eval()
    space = SubnetSpace.from_model(model, rho=0.5, rho_paths=1.0)
    subnet = space.sample(torch.Generator().manual_seed(0))
    heads: list[int] = []
    attention = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda q, *args, **kwargs: heads.append(q.shape[1])
                        or attention(q, *args, **kwargs))
    with use_subnet(model, subnet) as net:
        net(torch.rand(2, 3, 32, 32))
    assert heads == [1, 1]  # one call per attention sub-block, on 1 of its 2 heads


def test_vit_copies_borrow_their_own_modules() -> None:
    """A deep copy (an EMA model) runs on its own parameters, not on the original's."""
    model = _adapted("torchvision-vit").eval()
    twin = copy.deepcopy(model)
    block, twin_block = model.net.encoder.layers.encoder_layer_0, twin.net.encoder.layers.encoder_layer_0
    assert twin_block.attention_path.parts.attention is twin_block.self_attention
    assert twin_block.mlp_path.parts.mlp is twin_block.mlp is not block.mlp
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        twin_block.mlp[3].weight.mul_(-1.0)
        assert not torch.allclose(twin(x), model(x))


@pytest.mark.parametrize(("name", "randomness"), [
    ("torchvision-vit", {"dropout": 0.5, "attention_dropout": 0.5}),
    ("torchvision-convnext", {"stochastic_depth_prob": 0.9}),
    ("timm-vit-layer-scale", {"drop_path_rate": 0.9, "attn_drop_rate": 0.5}),
    ("timm-convnext", {"drop_path_rate": 0.9}),
])
def test_vit_and_convnext_subnet_passes_are_deterministic(name: str, randomness: dict) -> None:
    """Dropout, attention dropout and stochastic depth make full training passes random, never subnet passes."""
    model = _adapted(name, **randomness).train()
    x = torch.rand(4, 3, 32, 32)
    full = SubnetSpace.from_model(model, rho=0.5).full()
    with use_subnet(model, full) as net:
        assert torch.equal(net(x), net(x))
    assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_vit_and_convnext_shared_stem_and_l1_baseline(name: str) -> None:
    model = _adapted(name).double().train()
    space = SubnetSpace.from_model(model, rho=0.5)
    space.validate(l1_weakest(model, space))
    subnet = space.sample(torch.Generator().manual_seed(0))
    x, y = torch.rand(4, 3, 32, 32, dtype=torch.float64), torch.randint(0, 7, (4,))
    shared = ews_loss(model, x, y, subnet=subnet, lam=0.5).total
    logits = model(x)
    with use_subnet(model, subnet) as net:
        reference = F.cross_entropy(logits, y) + 0.5 * subnet_kl(net(x), logits)
    torch.testing.assert_close(shared, reference, rtol=1e-10, atol=1e-10)


def test_tv_vit_and_convnext_factories_have_the_published_sizes() -> None:
    """ViT-S/16 is DeiT-S (22.05M parameters); ConvNeXt-T has torchvision's 28.59M."""
    counts = {name: sum(p.numel() for p in ews.models.create(name, num_classes=1000).parameters())
              for name in ("tv_vit_s_16", "tv_convnext_tiny")}
    assert counts == {"tv_vit_s_16": 22_050_664, "tv_convnext_tiny": 28_589_128}


class _OtherCNBlock(CNBlock):
    pass


def _with(net: nn.Module, path: str, module: nn.Module) -> nn.Module:
    parent, _, name = path.rpartition(".")
    net.get_submodule(parent).add_module(name, module)
    return net


REFUSED: list[tuple[Callable[[], nn.Module], Callable, str]] = [
    (lambda: torchvision.models.squeezenet1_1(num_classes=3), from_torchvision,
     r"torchvision\.models\.squeezenet\.SqueezeNet is not a torchvision ResNet, VisionTransformer or ConvNeXt"),
    (lambda: _timm_vit(), from_torchvision, r"timm\.models\.vision_transformer\.VisionTransformer is not a "
                                            r"torchvision ResNet"),
    (lambda: _tv_vit(), from_timm, r"torchvision\.models\.vision_transformer\.VisionTransformer is not a timm"),
    (lambda: _with(_tv_vit(), "encoder.layers.encoder_layer_1.self_attention",
                   nn.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True)), from_torchvision,
     r"encoder\.layers\.encoder_layer_1\.self_attention uses bias_k/bias_v"),
    (lambda: _with(_tv_vit(), "encoder.layers.encoder_layer_0.mlp.1", nn.ReLU()), from_torchvision,
     r"encoder_layer_0\.mlp is \[Linear, ReLU, Dropout, Linear, Dropout\], not \[Linear, GELU"),
    (lambda: _tv_convnext(block=_OtherCNBlock), from_torchvision,
     r"features\.1\.0 is a _OtherCNBlock, not a torchvision\.models\.convnext\.CNBlock"),
    (lambda: _timm_vit(qk_norm=True), from_timm, r"blocks\.0\.attn uses q_norm, k_norm"),
    (lambda: _timm_vit(block_fn=ResPostBlock), from_timm,
     r"blocks\.0 is a ResPostBlock, not a timm\.models\.vision_transformer\.Block"),
    (lambda: _timm_convnext(use_grn=True), from_timm,
     r"stages\.0\.blocks\.0\.mlp is a GlobalResponseNormMlp, not a timm\.layers\.mlp\.Mlp"),
]


@pytest.mark.parametrize(("net", "adapt", "message"), REFUSED,
                         ids=["squeezenet", "timm-vit-to-torchvision", "torchvision-vit-to-timm", "tv-vit-bias-kv",
                              "tv-vit-relu-mlp", "tv-convnext-other-block", "timm-vit-qk-norm",
                              "timm-vit-res-post-block", "timm-convnext-grn"])
def test_unsupported_vit_and_convnext_parts_are_refused_by_name_in_one_line(net, adapt, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        adapt(net())
    assert "\n" not in str(error.value) and "supported:" in str(error.value)


def test_timm_convnext_atto_with_its_conv_mlp_keeps_timms_outputs() -> None:
    """`convnext_atto` as a user builds it (conv_mlp: 1x1-conv MLPs, channels-first LayerNorm): the adopted net
    computes timm's outputs, and a subnet runs on its kept hidden channels."""
    torch.manual_seed(0)
    original = timm.create_model("convnext_atto", num_classes=7).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = original(NORMALIZE(x))
    model = from_timm(copy.deepcopy(original)).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
    block = residual_blocks(model)[0][1]
    assert block.unit_widths() == (160, 40)  # hidden channels of the first stage's 1x1 convs, then the stream
    space = SubnetSpace.from_model(model, rho=0.5)
    with torch.no_grad(), use_subnet(model, space.sample(torch.Generator().manual_seed(0))) as net:
        assert net(x).shape == (2, 7) and torch.isfinite(net(x)).all()
