"""Invalid configs through the command line: `ews train` exits 2 with one line and starts nothing.

Hypothesis draws a real key with a value of the wrong type, a value out of range, or an
unknown key, hides it among valid overrides, and passes the lot both as `--set` items
and as a YAML file to `--config`. Every draw must be refused before the trainer is built
(it is replaced by a tripwire here) and before `--out` is created.
"""

from __future__ import annotations

import dataclasses
import tempfile
import types
import typing
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ews.cli import main
from ews.config import Config


def _leaves(cls: type = Config, prefix: str = "") -> dict[str, typing.Any]:
    """Every leaf key of the config and its type hint."""
    hints = typing.get_type_hints(cls)
    found: dict[str, typing.Any] = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            found.update(_leaves(hints[f.name], prefix + f.name + "."))
        else:
            found[prefix + f.name] = hints[f.name]
    return found


def _wrong_types(hint: typing.Any) -> list[typing.Any]:
    """Values no field of type `hint` accepts (ints pass for floats, numeric strings too)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    allowed = {typing.get_origin(o) or o for o in options}
    wrong: list[typing.Any] = []
    if str not in allowed:
        wrong.append("some words")
    if list not in allowed:
        wrong.append([1, 2])
    if dict not in allowed:
        wrong.append({"a": 1})
    if bool not in allowed:
        wrong.append(True)
    if not allowed & {int, float, bool}:
        wrong.append(3)
    if float not in allowed:
        wrong.append(2.5)
    if type(None) not in allowed:
        wrong.append(None)
    return wrong


WRONG_TYPE = [(key, value) for key, hint in _leaves().items() for value in _wrong_types(hint)]
OUT_OF_RANGE = [
    ("seed", -1), ("seed", 2**64), ("method", "bogus"), ("data.name", "svhn"), ("data.limit", 0),
    ("data.augment", "sometimes"), ("data.num_workers", -1), ("data.augmix.severity", 11), ("data.augmix.depth", 0),
    ("model.name", "resnet1000"), ("train.epochs", 0), ("train.batch_size", 0), ("train.lr", 0), ("train.lr", -0.1),
    ("train.lr", float("nan")), ("train.lr", float("inf")), ("train.momentum", -1), ("train.schedule", "linear"),
    ("train.milestones", [5, 2]), ("train.warmup_epochs", -1), ("train.device", "tpu"), ("train.mode", "fgsm"),
    ("train.label_smoothing", 1.0), ("train.on_nonfinite", "ignore"), ("train.max_skipped_steps", -1),
    ("train.optimizer", "adam"), ("train.betas", [0.9]), ("train.betas", [0.9, 1.0]),
    ("ews.lam", -1), ("ews.rho", 0), ("ews.rho", 1.5), ("ews.rho_paths", 2.0), ("ews.K", 0), ("ews.subnet_loss", "l2"),
    ("ews.channels", "some"), ("search.strategy", "genetic"), ("search.fraction", 0), ("search.fraction", 1.5),
    ("search.schedule", "hourly"), ("search.subnets_per_step", 0), ("search.lr", 0), ("search.baseline_decay", 1.0),
    ("adversarial.norm", "l1"), ("adversarial.eps", -1), ("adversarial.steps", 0), ("dropout.rate", 1.0),
]
VALID = ["train.epochs=2", "ews.rho=0.7", "seed=4", "method=vanilla", "train.lr=0.05", "data.limit=50",
         "model.options.width=4", "search.strategy=random"]
NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
UNKNOWN = st.builds(lambda section, name: (f"{section}{name}_x", 1),
                    st.sampled_from(["", "data.", "train.", "ews.", "search.", "adversarial.", "log."]), NAME)
BAD = st.one_of(st.sampled_from(WRONG_TYPE), st.sampled_from(OUT_OF_RANGE), UNKNOWN)


def _set_item(key: str, value: typing.Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).removesuffix("...\n").strip()
    return f"{key}={text}"


def _nested(items: list[tuple[str, typing.Any]]) -> dict[str, typing.Any]:
    data: dict[str, typing.Any] = {}
    for key, value in items:
        *sections, leaf = key.split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return data


def _refused(capsys: pytest.CaptureFixture[str], out: Path, argv: list[str]) -> str:
    with mock.patch("ews.training.trainer.Trainer", side_effect=AssertionError("training started on an invalid config")):
        code = main(["train", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ews: error: "), err
    assert not out.exists()
    return lines[0]


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(valid=st.lists(st.sampled_from(VALID), max_size=3, unique=True), bad=BAD, position=st.integers(0, 3))
def test_an_invalid_config_exits_2_in_one_line_and_starts_nothing(
    capsys: pytest.CaptureFixture[str], valid: list[str], bad: tuple[str, typing.Any], position: int
) -> None:
    key, value = bad
    valid = [item for item in valid if item.split("=")[0] != key]  # a later valid value would win
    items = [*valid[:position], _set_item(key, value), *valid[position:]]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        message = _refused(capsys, out, [arg for item in items for arg in ("--set", item)])
        assert key.split(".")[-1] in message or repr(value) in message or str(value) in message, message

        config = Path(folder) / "config.yaml"
        pairs = [tuple(item.split("=", 1)) for item in items]
        config.write_text(yaml.safe_dump(_nested([(k, yaml.safe_load(v)) for k, v in pairs])))
        _refused(capsys, out, ["--config", str(config)])


def test_the_fuzzed_keys_cover_every_section() -> None:
    sections = {key.split(".")[0] for key, _ in WRONG_TYPE}
    assert sections == {f.name for f in dataclasses.fields(Config)}
