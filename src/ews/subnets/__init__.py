"""Subnets: the space of a model's subnets and sliced execution of one of them."""

from .execute import unwrap, use_subnet
from .shared_stem import SharedStem
from .readings import CHANNEL_MODES, DEFAULT_READING, READING_NAMES, READINGS, Reading, kept_count, reading
from .space import BRANCH, SHORTCUT, BlockChoice, BlockSpec, Subnet, SubnetSpace, check_rho, reading_of

__all__ = [
    "BRANCH",
    "CHANNEL_MODES",
    "DEFAULT_READING",
    "READING_NAMES",
    "READINGS",
    "Reading",
    "SHORTCUT",
    "SharedStem",
    "BlockChoice",
    "BlockSpec",
    "Subnet",
    "SubnetSpace",
    "check_rho",
    "kept_count",
    "reading",
    "reading_of",
    "unwrap",
    "use_subnet",
]
