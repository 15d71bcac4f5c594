"""ews: robust image classifiers by Enhancing Weak Subnets (Guo, Stutz, Schiele, ECCV 2022)."""

from ._version import __version__  # noqa: E402

from . import _moved, data, models, search, subnets  # noqa: E402
from .config import Config, load_config  # noqa: E402
from .errors import CheckpointError, ConfigError, DataError, RunFolderError, UserError  # noqa: E402
from .evaluation import EvaluationResult, evaluate  # noqa: E402
from .method import EWS, EWSLoss  # noqa: E402
from .subnets import Subnet, SubnetSpace, use_subnet  # noqa: E402

_moved.install()

__all__ = [
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataError",
    "EWS",
    "EWSLoss",
    "EvaluationResult",
    "RunFolderError",
    "Subnet",
    "SubnetSpace",
    "UserError",
    "__version__",
    "data",
    "evaluate",
    "load_config",
    "models",
    "search",
    "subnets",
    "use_subnet",
]
