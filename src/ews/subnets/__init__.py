"""Subnets: the space of a model's subnets and sliced execution of one of them."""

from .execute import unwrap, use_subnet
from .shared_stem import SharedStem
from .space import BRANCH, CHANNEL_MODES, SHORTCUT, BlockChoice, BlockSpec, Subnet, SubnetSpace, check_rho, kept_count

__all__ = [
    "BRANCH",
    "CHANNEL_MODES",
    "SHORTCUT",
    "SharedStem",
    "BlockChoice",
    "BlockSpec",
    "Subnet",
    "SubnetSpace",
    "check_rho",
    "kept_count",
    "unwrap",
    "use_subnet",
]
