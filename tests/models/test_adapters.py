"""torchvision and timm ResNets as EWS models: same keys, same outputs, subnets that run, clear refusals."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from timm.layers import freeze_batch_norm_2d
from timm.models.resnet import BasicBlock as TimmBasicBlock
from timm.models.resnet import Bottleneck as TimmBottleneck
from timm.models.resnet import ResNet as TimmResNet
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.ops.misc import FrozenBatchNorm2d

import ews
from ews.errors import ConfigError
from ews.models import from_timm, from_torchvision
from ews.models.adopted import IMAGENET_MEAN, IMAGENET_STD
from ews.subnets import SubnetSpace, use_subnet
from ews.search import ControllerSampler

from ..subnets.masking_oracle import assert_sliced_matches_oracle

NORMALIZE = torchvision.transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)


def _torchvision(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "resnet18":
        return torchvision.models.resnet18(num_classes=7)
    if kind == "wide_resnet":  # wide_resnet50_2's blocks (width_per_group 128), one block per stage
        return ResNet(Bottleneck, [1, 1, 1, 1], num_classes=7, width_per_group=128)
    return ResNet(Bottleneck, [1, 1, 1, 1], num_classes=7, groups=4, width_per_group=4)  # ResNeXt


def _timm(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "resnet18":
        return timm.create_model("resnet18", num_classes=7)
    if kind == "resnet_d":  # deep stem, average-pool shortcut
        return TimmResNet(TimmBottleneck, [1, 1, 1, 1], num_classes=7, stem_type="deep", stem_width=8, avg_down=True)
    return TimmResNet(TimmBottleneck, [1, 1, 1, 1], num_classes=7, cardinality=4, base_width=4)  # ResNeXt


CASES = [(_torchvision, kind, from_torchvision) for kind in ("resnet18", "wide_resnet", "resnext")] + \
        [(_timm, kind, from_timm) for kind in ("resnet18", "resnet_d", "resnext")]


@pytest.mark.parametrize(("build", "kind", "adapt"), CASES, ids=[f"{b.__name__[1:]}-{k}" for b, k, _ in CASES])
def test_adapted_model_keeps_keys_and_outputs_and_runs_subnets(build, kind, adapt) -> None:
    original = build(kind).eval()
    keys = list(original.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = original(NORMALIZE(x))
    model = adapt(build(kind)).eval()
    assert list(model.net.state_dict()) == keys  # published weights load into model.net unchanged
    model.net.load_state_dict(original.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
    space = SubnetSpace.from_model(model, rho=0.5, rho_paths=0.5, channels="all")
    sampler = ControllerSampler(space, seed=0)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(3):
        subnet = space.validate(sampler.sample(generator))
        with use_subnet(model, subnet) as net:
            out = net(x)
        assert out.shape == (2, 7) and torch.isfinite(out).all()


def test_resnext_channels_are_kept_in_equal_numbers_per_group() -> None:
    model = ews.models.create("tv_resnext50", num_classes=3, groups=4, width_per_group=1)
    space = SubnetSpace.from_model(model, rho=0.5, rho_paths=1.0, channels="hidden")
    spec = space.blocks[0]
    assert spec.conv_groups[:2] == (4, 4)  # conv1 feeds the grouped conv2; conv2 is grouped
    sampler = ControllerSampler(space, seed=1)
    subnet = sampler.sample(torch.Generator().manual_seed(0))
    for j in (0, 1):
        kept = torch.tensor(subnet.blocks[0].channels[j])
        per_group = torch.bincount(kept // (spec.conv_channels[j] // 4), minlength=4)
        assert per_group.tolist() == [spec.keep_channels[j] // 4] * 4
    assert torch.isfinite(sampler.policy.log_prob(subnet))


def test_ews_trains_a_torchvision_resnet_in_a_plain_loop() -> None:
    model = from_torchvision(torchvision.models.resnet18(num_classes=10))
    enhancer = ews.EWS(model, rho=0.5, lam=1.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    losses = enhancer.loss(x, y)
    optimizer.zero_grad()
    losses.total.backward()
    optimizer.step()
    assert torch.isfinite(losses.total) and losses.subnet is not None and losses.subnet > 0


def _timm_resnet_with_a_torchvision_block() -> nn.Module:
    net = timm.create_model("resnet18", num_classes=3)
    net.layer1[0] = BasicBlock(64, 64)
    return net


@pytest.mark.parametrize(("net", "adapt", "message"), [
    (lambda: torchvision.models.squeezenet1_1(num_classes=3), from_torchvision,
     "SqueezeNet is not a torchvision ResNet"),
    (lambda: timm.create_model("seresnet18", num_classes=3), from_timm, "uses se"),
    # a torchvision ResNet is fine for torchvision, but not a timm one
    (lambda: ResNet(BasicBlock, [1, 1, 1, 1], num_classes=3), from_timm,
     r"torchvision\.models\.resnet\.ResNet is not a timm ResNet"),
    (_timm_resnet_with_a_torchvision_block, from_timm,
     r"layer1\.0 of ResNet is a BasicBlock, not a timm residual block"),
])
def test_unsupported_architectures_are_refused_in_one_line(net, adapt, message) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        adapt(net())
    assert "\n" not in str(error.value) and "supported:" in str(error.value)


@pytest.mark.parametrize(("net", "adapt"), [
    (lambda: torchvision.models.resnet18(num_classes=3, norm_layer=lambda c: nn.GroupNorm(2, c)), from_torchvision),
    (lambda: timm.create_model("resnet50_gn", num_classes=3), from_timm),
], ids=["torchvision", "timm-resnet50_gn"])
def test_norms_a_subnet_cannot_slice_are_refused_in_one_line(net, adapt) -> None:
    """A sliced GroupNorm would be batch-normalised in training and fail in eval: refused when adapting."""
    with pytest.raises(ConfigError, match=r"layer1\.0 normalises with GroupNorm \(bn1\)") as error:
        adapt(net())
    assert "\n" not in str(error.value) and "supported: BatchNorm2d, FrozenBatchNorm2d" in str(error.value)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(("net", "adapt"), [
    (lambda: ResNet(BasicBlock, [1, 1, 1, 1], num_classes=7, norm_layer=FrozenBatchNorm2d), from_torchvision),
    (lambda: freeze_batch_norm_2d(TimmResNet(TimmBasicBlock, [1, 1, 1, 1], num_classes=7)), from_timm),
], ids=["torchvision", "timm"])
def test_frozen_batch_norm_subnets_match_the_masking_oracle(net, adapt, mode: str) -> None:
    """FrozenBatchNorm2d is a fixed affine map in both modes: a subnet slices its buffers, never uses batch stats."""
    torch.manual_seed(0)
    model = adapt(net()).double().train(mode == "train")
    norms = [m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert norms
    for m in norms:  # non-trivial frozen statistics, so slicing each buffer is tested
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
        m.running_mean.uniform_(-0.5, 0.5)
        m.running_var.uniform_(0.5, 2.0)
    space = SubnetSpace.from_model(model, rho=0.5, rho_paths=0.5, channels="all")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=generator, dtype=torch.float64)
    for _ in range(2):
        assert_sliced_matches_oracle(model, x, space.sample(generator), tolerance=1e-9)


def test_ews_on_a_model_without_residual_blocks_names_the_supported_families() -> None:
    with pytest.raises(ConfigError, match="cannot split it into subnets.*from_torchvision.*from_timm"):
        ews.EWS(torchvision.models.resnet18(num_classes=3))  # not adapted
