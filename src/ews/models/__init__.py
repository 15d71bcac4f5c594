"""Model zoo: every model takes [0, 1] images and is built from `ResidualBlock`s."""

from . import resnet, torchvision_adapters, wide_resnet  # noqa: F401  (registers the factories)
from .layers import ActiveChoice, BranchLayout, Normalize, ResidualBlock
from .registry import create, list_models, register
from .adopted import AdoptedResNet
from .timm_adapters import from_timm
from .torchvision_adapters import from_torchvision

__all__ = [
    "ActiveChoice",
    "AdoptedResNet",
    "BranchLayout",
    "Normalize",
    "ResidualBlock",
    "create",
    "from_timm",
    "from_torchvision",
    "list_models",
    "register",
]
