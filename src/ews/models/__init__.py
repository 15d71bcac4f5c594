"""Model zoo: every model takes [0, 1] images and is built from `PathBlock`s (ResNet, ViT and ConvNeXt blocks)."""

from . import convnext, resnet, torchvision_adapters, vit, wide_resnet  # noqa: F401  (registers the factories)
from .layers import ActiveChoice, BranchLayout, Normalize, PathBlock, ResidualBlock
from .registry import create, list_models, register
from .adopted import AdoptedNet, AdoptedResNet
from .timm_adapters import from_timm
from .torchvision_adapters import AdoptedConvNeXt, AdoptedViT, from_torchvision

__all__ = [
    "ActiveChoice",
    "AdoptedConvNeXt",
    "AdoptedNet",
    "AdoptedResNet",
    "AdoptedViT",
    "BranchLayout",
    "Normalize",
    "PathBlock",
    "ResidualBlock",
    "create",
    "from_timm",
    "from_torchvision",
    "list_models",
    "register",
]
