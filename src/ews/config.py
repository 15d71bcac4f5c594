"""Run configuration: typed dataclasses, YAML in and out, validation with one-line errors.

A config is a YAML mapping whose sections mirror the dataclasses below; `--set
KEY=VALUE` overrides one dotted key (the value is read as YAML, so `0.5`, `true` and
`null` have their YAML types). Unknown keys, wrong types and out-of-range values are
`ConfigError`s raised before any work starts.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from .data import DATASET_NAMES
from .data.augment import AUGMENTATIONS, AUTOAUGMENT_POLICIES, AugMixConfig
from .errors import ConfigError
from .method import SCHEDULES as SEARCH_SCHEDULES
from .method import check_first_search
from .method.settings import EwsConfig  # the `ews:` section, kept importable from here
from .models import list_models
from .objectives import KL_REDUCTIONS, SUBNET_LOSSES
from .search import BASELINES, INITS, STRATEGIES
from .search.settings import SearchConfig  # the `search:` section, kept importable from here
from .subnets import CHANNEL_MODES, READING_NAMES

METHODS = ("vanilla", "dropout", "ews")
SCHEDULES = ("step", "cosine")
OPTIMIZERS = ("sgd", "adamw")
_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
_FLOAT_TEXT = re.compile(rf"(?P<num>{_NUMBER})(\s*/\s*(?P<den>{_NUMBER}))?")
TRAIN_MODES = ("standard", "at", "trades")
NONFINITE_POLICIES = ("stop", "skip")
MONITORS = ("test", "val")
NORMS = ("linf", "l2")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class DataConfig:
    name: str = "digits"  # digits (embedded) | fashion-mnist | mnist | cifar10 | cifar100 | imagefolder
    root: str | None = None  # folder holding the dataset; not needed for digits (fashion-mnist: Debian's copy)
    limit: int | None = None  # keep the first N samples of each split, stratified (quick runs)
    train_limit: int | None = None  # the training split only (overrides limit there): fewer training images, whole test
    augment: str = "standard"  # standard (crop + flip where allowed) | autoaugment | augmix | none
    autoaugment_policy: str = "auto"  # auto (imagenet for imagefolder, else cifar10) | cifar10 | imagenet | svhn
    augmix: AugMixConfig = field(default_factory=AugMixConfig)
    extra_train_roots: list[str] = field(default_factory=list)  # ImageFolder roots mixed into training (DeepAugment)
    download: bool = False  # opt-in: fetch CIFAR, Fashion-MNIST or MNIST with torchvision (needs a network)
    num_workers: int = 0  # DataLoader workers; 0 keeps in-memory data on the main process
    pin_memory: bool | None = None  # page-locked batches for faster host-to-GPU copies; null: on with CUDA
    val_images: int = 0  # hold out the first N training images (stratified) as a validation split: never trained on


    def split_limit(self, train: bool) -> int | None:
        """How many images (stratified) a split keeps: `train_limit` for training where set, else `limit`."""
        return self.train_limit if train and self.train_limit is not None else self.limit


@dataclass
class ModelConfig:
    name: str = "resnet20"  # a name from `ews.models.list_models()`
    options: dict[str, Any] = field(default_factory=dict)  # extra factory arguments, e.g. {width: 8}


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd (the paper's; momentum, nesterov) | adamw (betas; the DeiT/ConvNeXt recipes)
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw's (beta1, beta2), each in [0, 1)
    weight_decay: float = 5e-4
    grad_clip: float | None = None  # clip the model's gradient norm to this before each step (the authors' scripts: 3)
    schedule: str = "step"  # step: lr / 10 at 1/3 and 2/3 of training (the paper); cosine
    milestones: list[int] = field(default_factory=list)  # step decays (warm-up counted), e.g. [100, 150]; [] = 1/3, 2/3
    warmup_epochs: int = 0  # linear warm-up (the paper uses 5 on ImageNet)
    eval_batch_size: int = 512
    # Which split is scored after every epoch: test (the curve in metrics.jsonl) | val (the validation split,
    # data.val_images > 0, after every epoch, and the test split once after the last: settings chosen on val
    # never peek at test, and a 10,000-image test split is not re-scored every epoch)
    monitor: str = "test"
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:N
    deterministic: bool = False  # deterministic kernels (CPU runs are reproducible either way)
    precision: str = "fp32"  # fp32 | bf16 (autocast) | fp16 (autocast + gradient scaling)
    channels_last: bool = False  # NHWC memory format (faster convolutions on recent GPUs)
    compile: bool = False  # torch.compile the full network (subnet passes stay eager: no recompiles)
    mode: str = "standard"  # standard (CE) | at (PGD-AT, Madry) | trades (paper Sec. 3.4, Eq. 3-4)
    awp: bool = False  # adversarial weight perturbation (Wu et al. 2020) on top of the mode
    label_smoothing: float = 0.0  # on the cross-entropy terms (the authors' AT script: 0.1)
    on_nonfinite: str = "stop"  # a NaN/inf loss: stop (keep the last checkpoint) | skip (drop that step, count it)
    max_skipped_steps: int = 10  # on_nonfinite skip: more skipped steps than this in one epoch stop the run


@dataclass
class AdversarialConfig:
    """PGD for adversarial training, for the search on adversarial D_s', and for early stopping.

    Fractions such as `8/255` are accepted wherever a number is expected.
    """

    norm: str = "linf"  # linf | l2
    eps: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 10  # PGD-10 for training and search (the paper)
    eval_steps: int = 20  # PGD-20 for early stopping
    trades_gamma: float = 1 / 6  # weight of the clean term in TRADES (Eq. 4: TRADES' beta = 6 rescaled)
    awp_gamma: float | None = None  # relative weight perturbation; null: 1e-2 for at, 5e-3 for trades
    awp_warmup: int = 0  # epochs without AWP at the start (the authors' TRADES script: 10)
    search_on_adversarial: bool = True  # adversarial modes: score subnets on PGD images of D_s (Sec. 3.4.1)
    val_images: int = 0  # Rice et al. early stopping: hold out N training images, keep best.pt by PGD accuracy


@dataclass
class DropoutConfig:
    rate: float = 0.3  # dropout between the convs of every residual branch (method: dropout)


@dataclass
class LogConfig:
    progress: bool = True  # tqdm progress bars
    tensorboard: bool = False  # also write metrics to RUN/tensorboard (needs the optional tensorboard package)


@dataclass
class Config:
    seed: int = 0
    method: str = "ews"  # vanilla | dropout | ews
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ews: EwsConfig = field(default_factory=EwsConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    dropout: DropoutConfig = field(default_factory=DropoutConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def val_images(self) -> int:
        """Size of the validation split: `data.val_images`, else the early-stopping `adversarial.val_images`."""
        return self.data.val_images or self.adversarial.val_images


def load_config(
    path: str | Path | None = None, overrides: Iterable[str] = (), *, base: dict[str, Any] | None = None
) -> Config:
    """Defaults, then `base` (e.g. a checkpoint's config) or the YAML file, then `KEY=VALUE` overrides."""
    data: dict[str, Any] = copy.deepcopy(base) if base is not None else {}
    if path is not None:
        data = read_yaml(path)
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(data, key, value)
    config = from_dict(data)
    validate(config)
    return config


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping read with the safe loader (a config file never runs code)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    except Exception as err:  # a bad explicit tag (`!!int abc`) raises ValueError, KeyError...
        raise ConfigError(f"config file {path} is not valid YAML: {type(err).__name__}: {err}".splitlines()[0]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def from_dict(data: dict[str, Any]) -> Config:
    """Build a `Config` from a nested mapping, rejecting unknown keys and wrong types."""
    return _build(Config, data, prefix="")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config key {prefix.rstrip('.') or '<root>'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names), key=str)  # YAML keys need not be strings
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; allowed: {', '.join(prefix + n for n in names)}")
    values = {}
    for name in names:
        if name not in data:
            continue
        hint = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], key + ".")
        else:
            values[name] = _coerce(key, data[name], hint)
    return cls(**values)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check `value` against a field's type; ints are accepted where floats are expected."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return None
        origin = typing.get_origin(option) or option
        if origin is bool and isinstance(value, bool):
            return value
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin is float and isinstance(value, str) and (number := parse_number(value)) is not None:
            return number  # PyYAML reads "3e-4" (no dot) and "8/255" as strings
        if origin in (str, dict) and isinstance(value, origin):
            return value
        if origin is list and isinstance(value, list):
            (item,) = typing.get_args(option)
            return [_coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    allowed = " or ".join("null" if o is type(None) else (typing.get_origin(o) or o).__name__ for o in options)
    raise ConfigError(f"config key {key} must be {allowed}, got {value!r}")


def parse_number(text: str) -> float | None:
    """`3e-4`, `0.5` or a fraction such as `8/255` -> float; None for anything else (or a zero divisor)."""
    match = _FLOAT_TEXT.fullmatch(text.strip())
    if match is None or (match["den"] is not None and float(match["den"]) == 0):
        return None
    return float(match["num"]) / (1.0 if match["den"] is None else float(match["den"]))


def parse_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except Exception:  # YAMLError, or ValueError etc. from a bad explicit tag (`!!int abc`)
        value = text
    return key.strip(), value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _choice(key: str, value: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")


def _at_least(key: str, value: float, low: float) -> None:
    if not value >= low:  # also catches nan
        raise ConfigError(f"{key} must be >= {low}, got {value!r}")


def _ratio(key: str, value: float | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or not 0 < value <= 1:
        raise ConfigError(f"{key} must be in (0, 1], got {value!r}")


def validate(config: Config) -> Config:
    """Range and choice checks that types alone cannot express, section by section, then across sections."""
    if not 0 <= config.seed < 2**63:  # numpy needs >= 0; torch overflows past 64 bits
        raise ConfigError(f"seed must be in [0, 2**63), got {config.seed!r}")
    for check in (_check_choices, _check_search, _check_data, _check_train, _check_ews, _check_adversarial,
                  _check_combinations):
        check(config)
    return config


def _check_choices(config: Config) -> None:
    """Every key whose value names one of a fixed (or registered) set."""
    choices = {
        "method": METHODS, "data.name": DATASET_NAMES, "model.name": list_models(), "train.schedule": SCHEDULES,
        "ews.subnet_loss": SUBNET_LOSSES, "ews.kl_reduction": KL_REDUCTIONS, "ews.reading": READING_NAMES,
        "search.strategy": STRATEGIES, "search.init": INITS, "train.optimizer": OPTIMIZERS,
        "search.schedule": SEARCH_SCHEDULES, "search.baseline": BASELINES, "data.augment": AUGMENTATIONS,
        "data.autoaugment_policy": AUTOAUGMENT_POLICIES, "train.mode": TRAIN_MODES, "train.precision": PRECISIONS,
        "train.on_nonfinite": NONFINITE_POLICIES, "train.monitor": MONITORS, "adversarial.norm": NORMS,
    }
    for key, allowed in choices.items():
        _choice(key, functools.reduce(getattr, key.split("."), config), allowed)
    if config.ews.channels is not None:
        _choice("ews.channels", config.ews.channels, CHANNEL_MODES)


def _positive(key: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{key} must be a positive number, got {value!r}")


def _check_search(config: Config) -> None:
    s = config.search
    if not 0 < s.fraction <= 1:
        raise ConfigError(f"search.fraction must be in (0, 1], got {s.fraction!r}")
    for key in ("every_iterations", "passes", "batch_size", "subnets_per_step", "hidden_size", "embedding_size"):
        _at_least(f"search.{key}", getattr(s, key), 1)
    for key in ("lr", "grad_clip"):
        _positive(f"search.{key}", getattr(s, key))
    _at_least("search.entropy_weight", s.entropy_weight, 0)
    if s.baseline == "leave-one-out" and s.subnets_per_step < 2:
        raise ConfigError(
            f"search.subnets_per_step must be >= 2 with search.baseline leave-one-out, got {s.subnets_per_step!r}"
        )
    if not 0 <= s.baseline_decay < 1:
        raise ConfigError(f"search.baseline_decay must be in [0, 1), got {s.baseline_decay!r}")
    for key in ("temperature", "tanh_constant"):
        value = getattr(s, key)
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"search.{key} must be a positive number or null, got {value!r}")


def _check_data(config: Config) -> None:
    m = config.data.augmix
    if not 1 <= m.severity <= 10:
        raise ConfigError(f"data.augmix.severity must be in 1..10, got {m.severity!r}")
    _at_least("data.augmix.width", m.width, 1)
    if not (m.depth == -1 or m.depth >= 1):
        raise ConfigError(f"data.augmix.depth must be -1 (random 1..3) or >= 1, got {m.depth!r}")
    for key in ("alpha", "jsd_weight"):
        if not (getattr(m, key) >= 0 and math.isfinite(getattr(m, key))):
            raise ConfigError(f"data.augmix.{key} must be a number >= 0, got {getattr(m, key)!r}")
    for key in ("limit", "train_limit"):
        if getattr(config.data, key) is not None:
            _at_least(f"data.{key}", getattr(config.data, key), 1)
    _at_least("data.num_workers", config.data.num_workers, 0)
    _at_least("data.val_images", config.data.val_images, 0)


def _check_train(config: Config) -> None:
    t = config.train
    for key in ("epochs", "batch_size", "eval_batch_size"):
        _at_least(f"train.{key}", getattr(t, key), 1)
    _positive("train.lr", t.lr)
    if t.grad_clip is not None:
        _positive("train.grad_clip", t.grad_clip)
    for key in ("momentum", "weight_decay", "warmup_epochs", "max_skipped_steps"):
        _at_least(f"train.{key}", getattr(t, key), 0)
    m = t.milestones
    if m and (m != sorted(set(m)) or m[0] < 1):
        raise ConfigError(f"train.milestones must be increasing epochs >= 1, got {m}")
    if m and m[0] <= t.warmup_epochs:
        raise ConfigError(f"train.milestones must come after train.warmup_epochs ({t.warmup_epochs}), got {m}")
    if t.warmup_epochs >= t.epochs and t.warmup_epochs:
        raise ConfigError(f"train.warmup_epochs must be < train.epochs ({t.epochs}), got {t.warmup_epochs}")
    if not (t.device in ("auto", "cpu", "cuda") or (t.device.startswith("cuda:") and t.device[5:].isdigit())):
        raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {t.device!r}")
    if len(t.betas) != 2 or not all(0 <= b < 1 for b in t.betas):
        raise ConfigError(f"train.betas must be two numbers in [0, 1), got {t.betas!r}")
    if not 0 <= t.label_smoothing < 1:
        raise ConfigError(f"train.label_smoothing must be in [0, 1), got {t.label_smoothing!r}")
    if t.monitor == "val" and not config.data.val_images:
        raise ConfigError("train.monitor val needs a validation split: set data.val_images to a number > 0")
    if not 0 <= config.dropout.rate < 1:
        raise ConfigError(f"dropout.rate must be in [0, 1), got {config.dropout.rate!r}")


def _check_ews(config: Config) -> None:
    if not (config.ews.lam >= 0 and math.isfinite(config.ews.lam)):
        raise ConfigError(f"ews.lam must be >= 0, got {config.ews.lam!r}")
    _ratio("ews.rho", config.ews.rho)
    _ratio("ews.rho_paths", config.ews.rho_paths, optional=True)
    _ratio("ews.rho_channels", config.ews.rho_channels, optional=True)
    _at_least("ews.K", config.ews.K, 1)


def _check_adversarial(config: Config) -> None:
    a = config.adversarial
    for key in ("eps", "step_size", "trades_gamma"):
        if not (getattr(a, key) >= 0 and math.isfinite(getattr(a, key))):
            raise ConfigError(f"adversarial.{key} must be a number >= 0, got {getattr(a, key)!r}")
    if a.awp_gamma is not None and not (a.awp_gamma > 0 and math.isfinite(a.awp_gamma)):
        raise ConfigError(f"adversarial.awp_gamma must be a positive number or null, got {a.awp_gamma!r}")
    for key in ("steps", "eval_steps"):
        _at_least(f"adversarial.{key}", getattr(a, key), 1)
    for key in ("awp_warmup", "val_images"):
        _at_least(f"adversarial.{key}", getattr(a, key), 0)


def _check_combinations(config: Config) -> None:
    """Settings that are valid alone but not together."""
    if config.method == "ews":
        s = config.search
        check_first_search(strategy=s.strategy, schedule=s.schedule, before_training=s.before_training)
    if config.data.val_images and config.adversarial.val_images not in (0, config.data.val_images):
        raise ConfigError(
            f"adversarial.val_images ({config.adversarial.val_images}) must be 0 or equal data.val_images "
            f"({config.data.val_images}): early stopping uses the validation split"
        )
    if config.train.awp and config.train.mode == "standard":
        raise ConfigError("train.awp needs an adversarial train.mode (at or trades), got train.mode standard")
    if config.train.mode != "standard" and config.data.augment == "augmix" and config.data.augmix.jsd:
        raise ConfigError(
            f"train.mode {config.train.mode} cannot be combined with AugMix's JSD views; set data.augmix.jsd=false"
        )
