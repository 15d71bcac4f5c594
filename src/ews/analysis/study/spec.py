"""A study: named variants (sets of config overrides) x seeds, evaluated alike and compared by seed.

A study file is YAML:

    seeds: [1, 2, 3, 4, 5]
    reference: vanilla                  # differences are paired with this variant, seed by seed
    base: {data.name: digits, train.epochs: 15}
    variants:
      vanilla: {method: vanilla}
      ews: {method: ews}
    evaluate: {corruptions: digits-c, attacks: [pgd20], n_examples: 360}
    analysis: {rho: [0.5, 0.7], subnets: 40, images: 200, reading: default}   # Fig. 1 subnet confidence; optional

Every key under `base` and `variants` is a dotted config key, as with `--set`, but one: a
variant's `seeds: N` runs it on the first N of the study's seeds only (a costly side
variant beside main ones with more seeds; its differences pair on those seeds). Every
variant's config is built (and so checked) for every seed before anything is trained.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ...config import parse_number, parse_override, read_yaml
from ...errors import ConfigError, check_integer
from ...subnets.readings import DEFAULT_READING, reading

_TOP_KEYS = ("seeds", "reference", "base", "variants", "evaluate", "analysis")
VARIANT_SEEDS = "seeds"  # in a variant: how many of the study's seeds it runs (not a config key)
_EVAL_KEYS = ("corruptions", "corruption_names", "corruption_images", "attacks", "n_examples", "splits", "eps")
_ANALYSIS_KEYS = ("rho", "subnets", "images", "reading")


@dataclass(frozen=True)
class EvaluationSpec:
    """What every run of a study is scored on (the same images for every run)."""

    corruptions: str | None = None  # DATASET-c (generated once for the study) or a -C folder; None: no -C error
    corruption_names: tuple[str, ...] = ()  # () = the 15 benchmark corruptions (the reported mean needs no more)
    corruption_images: int | None = None  # a generated -C set covers the split's first N images, stratified (None: all)
    attacks: tuple[str, ...] = ()  # e.g. (pgd20,)
    n_examples: int = 1000  # images attacked (the first N of the split)
    splits: tuple[str, ...] = ("test",)  # add `val` to also score the held-out validation split (data.val_images)
    # The attacks' radius, e.g. 2/255 (None: each run's adversarial.eps): an evaluation setting, so choosing it on
    # `val` after training re-scores the runs without retraining them
    eps: float | None = None


@dataclass(frozen=True)
class AnalysisSpec:
    """Fig. 1: median true-class confidence of random subnets at each width, on clean and corrupted images."""

    rho: tuple[float, ...] = ()  # () skips the analysis
    subnets: int = 40
    images: int = 200
    reading: str = DEFAULT_READING  # every variant is probed in this one reading (one subnet family per comparison)


@dataclass(frozen=True)
class StudySpec:
    seeds: tuple[int, ...]
    variants: dict[str, dict[str, Any]]  # name -> {dotted key: value}
    reference: str | None = None
    base: dict[str, Any] = field(default_factory=dict)
    evaluate: EvaluationSpec = EvaluationSpec()
    analysis: AnalysisSpec = AnalysisSpec()

    def overrides(self, variant: str, seed: int) -> list[str]:
        """`--set` items for one run: base, then the variant, then the seed."""
        items = {**self.base, **_config_keys(self.variants[variant]), "seed": seed}
        return [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
                for key, value in items.items()]

    def seeds_of(self, variant: str) -> tuple[int, ...]:
        """The seeds `variant` runs: the study's, or their first N where the variant says `seeds: N`."""
        count = self.variants[variant].get(VARIANT_SEEDS)
        return self.seeds if count is None else self.seeds[:count]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seeds"] = list(self.seeds)
        for section in ("evaluate", "analysis"):
            data[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in data[section].items()}
        return data

    def same_study(self, other: StudySpec) -> bool:
        """Whether `other` describes the same runs: base and variants (seeds may differ: they extend a study).

        Scoring (`evaluate`, `analysis`, `reference`) may change: each run re-scores only the
        parts whose settings changed, so a study is re-probed without retraining.
        """
        def runs(spec: StudySpec) -> tuple[Any, ...]:
            return spec.base, {name: _config_keys(keys) for name, keys in spec.variants.items()}

        return runs(self) == runs(other)


def _config_keys(variant: Mapping[str, Any]) -> dict[str, Any]:
    """A variant's config overrides, without its seed count."""
    return {key: value for key, value in variant.items() if key != VARIANT_SEEDS}


def _check_variant_seeds(name: str, variant: Mapping[str, Any]) -> None:
    count = variant.get(VARIANT_SEEDS)
    if count is not None:
        check_integer(f"study variants.{name}.seeds", count, hint=" (how many of the study's seeds it runs)")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"study {where} must be a mapping of config keys to values, got {value!r}")
    return dict(value)


def _section(cls: type, value: Any, keys: Sequence[str], where: str) -> Any:
    data = _mapping(value, where)
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ConfigError(f"unknown study key {where}.{unknown[0]}; allowed: {', '.join(keys)}")
    hints = {f.name: f.default for f in dataclasses.fields(cls)}
    built = {}
    for key, raw in data.items():
        if key == "eps" and isinstance(raw, str):
            raw = parse_number(raw) or raw  # `2/255`, as everywhere a radius is written
        if isinstance(hints[key], tuple):
            raw = [raw] if isinstance(raw, (str, int, float)) else raw
            if not isinstance(raw, list):
                raise ConfigError(f"study {where}.{key} must be a list, got {raw!r}")
            raw = tuple(raw)
        built[key] = raw
    return cls(**built)


def check_seeds(seeds: Any) -> tuple[int, ...]:
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"study seeds must be a non-empty list of integers, got {seeds!r}")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"study seeds must be integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"study seeds repeat a seed: {seeds!r}")
    return tuple(seeds)


def build_spec(data: Mapping[str, Any], *, seeds: Sequence[int] | None = None) -> StudySpec:
    """A checked `StudySpec` from a parsed study file; `seeds` (from the command line) replaces the file's."""
    unknown = sorted(set(data) - set(_TOP_KEYS), key=str)
    if unknown:
        raise ConfigError(f"unknown study key {unknown[0]}; allowed: {', '.join(_TOP_KEYS)}")
    variants = _mapping(data.get("variants"), "variants")
    if not variants:
        raise ConfigError("a study needs at least one variant under `variants`")
    for name, overrides in variants.items():
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"study variant name {name!r} must be a plain folder name")
        variants[name] = _mapping(overrides, f"variants.{name}")
        _check_variant_seeds(name, variants[name])
    reference = data.get("reference")
    if reference is not None and reference not in variants:
        raise ConfigError(f"study reference {reference!r} is not a variant; variants: {', '.join(variants)}")
    spec = StudySpec(
        seeds=check_seeds(list(seeds) if seeds is not None else data.get("seeds", [0])),
        variants=variants,
        reference=reference,
        base=_mapping(data.get("base"), "base"),
        evaluate=_section(EvaluationSpec, data.get("evaluate"), _EVAL_KEYS, "evaluate"),
        analysis=_section(AnalysisSpec, data.get("analysis"), _ANALYSIS_KEYS, "analysis"),
    )
    _check_scoring(spec)
    return spec


def _check_scoring(spec: StudySpec) -> None:
    from ...attacks import EVAL_ATTACKS
    from ...corruptions import names
    from ...data.splits import SPLITS
    from ...subnets.space import check_rho

    e, a = spec.evaluate, spec.analysis
    for attack in e.attacks:
        if attack not in EVAL_ATTACKS:
            raise ConfigError(f"study evaluate.attacks: unknown attack {attack!r}; allowed: {', '.join(EVAL_ATTACKS)}")
    unknown = [n for n in e.corruption_names if n not in names.ALL]
    if unknown:
        raise ConfigError(f"study evaluate.corruption_names: unknown corruption {unknown[0]!r}")
    for split in e.splits:
        if split not in SPLITS:
            raise ConfigError(f"study evaluate.splits: {split!r} is not one of {', '.join(SPLITS)}")
    for key, value in (("evaluate.n_examples", e.n_examples), ("analysis.subnets", a.subnets),
                       ("analysis.images", a.images)):
        check_integer(f"study {key}", value)
    for rho in a.rho:
        check_rho("study analysis.rho", rho)
    if not isinstance(a.reading, str):
        raise ConfigError(f"study analysis.reading must be a reading's name, got {a.reading!r}")
    reading(a.reading)
    if e.eps is not None and (isinstance(e.eps, bool) or not isinstance(e.eps, (int, float)) or not e.eps > 0):
        raise ConfigError(f"study evaluate.eps must be a radius > 0 such as 2/255, got {e.eps!r}")
    if e.corruption_images is not None:
        check_integer("study evaluate.corruption_images", e.corruption_images, hint=" or null")


def read_spec(path: str | Path, *, seeds: Sequence[int] | None = None) -> StudySpec:
    """Read and check a study file (YAML, safe loader)."""
    return build_spec(read_yaml(path), seeds=seeds)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """`NAME: KEY=VALUE KEY=VALUE` from the command line -> (NAME, {KEY: VALUE})."""
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--variant expects 'NAME: KEY=VALUE ...', got {text!r}")
    return name.strip(), dict(parse_override(item) for item in rest.split())
