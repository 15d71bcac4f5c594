"""Config loading: defaults, YAML + `--set` overrides, round trips, and one-line `ConfigError`s."""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ews.config import Config, dump_config, from_dict, load_config, read_yaml, validate
from ews.errors import ConfigError


def _dotted_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every leaf key of the config dataclasses, dotted (`train.lr`)."""
    keys = []
    for f in dataclasses.fields(cls):
        value = getattr(cls(), f.name)
        if dataclasses.is_dataclass(value):
            keys += _dotted_keys(type(value), prefix + f.name + ".")
        else:
            keys.append(prefix + f.name)
    return keys


ALL_KEYS = _dotted_keys()
SECTIONS = [f.name for f in dataclasses.fields(Config) if dataclasses.is_dataclass(getattr(Config(), f.name))]


def _get(config: Config, key: str):
    node = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _config_error(path=None, overrides=()) -> str:
    """The message of the ConfigError that loading must raise; it is one line."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert message and "\n" not in message, repr(message)
    return message


# --- defaults --------------------------------------------------------------------------------------


def test_defaults() -> None:
    config = load_config()
    assert isinstance(config, Config)
    assert config.method == "ews"
    assert config.data.name == "digits"
    assert config.data.root is None
    assert config.ews.lam == 1.0
    assert config.ews.rho == 0.5
    assert config.ews.K == 10
    # The default moved from `random` to the paper's controller when the search landed.
    assert config.search.strategy == "controller"
    assert config.train.lr == 0.1
    assert config == Config()
    assert validate(Config()) == config  # the dataclass defaults are themselves a valid config


@pytest.mark.parametrize(
    "key",
    ["seed", "method", "data.name", "data.root", "data.limit", "model.name", "train.epochs", "train.batch_size",
     "train.lr", "ews.lam", "ews.rho", "ews.K", "search.strategy"],
)
def test_required_keys_exist(key: str) -> None:
    assert key in ALL_KEYS
    node = yaml.safe_load(dump_config(load_config()))
    for part in key.split("."):
        node = node[part]  # present in the dumped config
    assert node == _get(load_config(), key)


def test_every_default_survives_its_own_override() -> None:
    """`--set KEY=<dumped default>` is accepted for every key: the dotted names are the real ones."""
    defaults = load_config()
    for key in ALL_KEYS:
        text = yaml.safe_dump(_get(defaults, key), default_flow_style=True).removesuffix("...\n").strip()
        assert load_config(overrides=[f"{key}={text}"]) == defaults, key


# --- YAML files and --set --------------------------------------------------------------------------


def test_yaml_file_then_overrides_later_wins(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nmethod: vanilla\ntrain:\n  epochs: 5\n  lr: 0.05\news:\n  rho: 0.25\n")
    config = load_config(path, ["train.epochs=7", "ews.rho=0.3", "ews.rho=0.7"])
    assert config.seed == 3
    assert config.method == "vanilla"
    assert config.train.epochs == 7  # --set beats the file
    assert config.train.lr == 0.05  # the file beats the default
    assert config.ews.rho == 0.7  # the later --set wins
    assert config.train.batch_size == Config().train.batch_size  # untouched keys keep defaults


def test_set_values_are_typed_by_yaml() -> None:
    config = load_config(overrides=["ews.rho=0.7", "train.deterministic=true", "data.root=null", "data.limit=120"])
    assert config.ews.rho == 0.7 and isinstance(config.ews.rho, float)
    assert config.train.deterministic is True
    assert config.data.root is None
    assert config.data.limit == 120 and isinstance(config.data.limit, int)
    config = load_config(overrides=["data.root=/some/where", "train.deterministic=false", "data.name= digits "])
    assert config.data.root == "/some/where"
    assert config.train.deterministic is False
    assert config.data.name == "digits"


def test_int_is_accepted_for_float_fields() -> None:
    config = load_config(overrides=["ews.rho=1", "ews.lam=2", "train.lr=1"])
    assert config.ews.rho == 1.0 and isinstance(config.ews.rho, float)
    assert config.ews.lam == 2.0 and isinstance(config.ews.lam, float)
    assert isinstance(config.train.lr, float)


def test_fractions_and_lists_are_read_as_users_write_them() -> None:
    config = load_config(overrides=["adversarial.eps=8/255", "adversarial.step_size=2 / 255",
                                    "train.milestones=[100, 150]", "data.extra_train_roots=[a, b]"])
    assert config.adversarial.eps == 8 / 255 and config.adversarial.step_size == 2 / 255
    assert config.train.milestones == [100, 150] and config.data.extra_train_roots == ["a", "b"]


def test_adamw_is_chosen_with_its_betas_and_sgd_stays_the_default() -> None:
    assert (Config().train.optimizer, Config().train.betas) == ("sgd", [0.9, 0.999])
    config = load_config(overrides=["train.optimizer=adamw", "train.betas=[0.8, 0.95]", "train.weight_decay=0.05"])
    assert (config.train.optimizer, config.train.betas) == ("adamw", [0.8, 0.95])
    assert all(isinstance(b, float) for b in load_config(overrides=["train.betas=[0, 0.5]"]).train.betas)


def test_an_unknown_optimizer_names_the_value_and_the_allowed_ones() -> None:
    assert _config_error(overrides=["train.optimizer=adam"]) == "train.optimizer must be one of sgd, adamw, got 'adam'"


def test_nested_model_options() -> None:
    config = load_config(overrides=["model.options.width=8", "model.options.depth=2"])
    assert config.model.options == {"width": 8, "depth": 2}
    config = load_config(overrides=["model.options={width: 4}"])
    assert config.model.options == {"width": 4}


def test_empty_yaml_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert load_config(path) == Config()


# --- round trip ------------------------------------------------------------------------------------


def test_dump_then_from_dict_round_trip(tmp_path: Path) -> None:
    config = load_config(
        overrides=["seed=7", "method=dropout", "data.limit=50", "model.options.width=8", "ews.rho_paths=0.25",
                   "train.schedule=cosine", "train.device=cpu", "search.strategy=random", "search.temperature=2"]
    )
    text = dump_config(config)
    assert from_dict(yaml.safe_load(text)) == config
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert load_config(path) == config
    assert load_config() == from_dict(yaml.safe_load(dump_config(Config())))


def test_sections_defined_in_their_layers_still_import_from_ews_config_without_a_warning() -> None:
    """`ews:` and `search:` live beside the code they configure; user code importing them from here keeps working."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from ews.config import EwsConfig, SearchConfig
    from ews.method import EwsConfig as method_ews
    from ews.search import SearchConfig as search_search

    assert EwsConfig is method_ews and SearchConfig is search_search
    assert Config().ews == EwsConfig() and Config().search == SearchConfig()


# --- every invalid input is a one-line ConfigError naming the key ----------------------------------

BAD_OVERRIDES = [
    # unknown keys
    (["bogus=1"], "bogus"),
    (["train.bogus=1"], "train.bogus"),
    (["ews.gamma=1"], "ews.gamma"),
    (["data.name.x=1"], "data.name"),
    # wrong types
    (["train.epochs=ten"], "train.epochs"),
    (["train.epochs=true"], "train.epochs"),
    (["train.epochs=2.5"], "train.epochs"),
    (["seed=true"], "seed"),
    (["ews.rho=[0.5]"], "ews.rho"),
    (["ews.lam={a: 1}"], "ews.lam"),
    (["ews.lam=true"], "ews.lam"),
    (["train.deterministic=1"], "train.deterministic"),
    (["data.name=3"], "data.name"),
    (["data.root=[a]"], "data.root"),
    (["model.options=3"], "model.options"),
    (["train=3"], "train"),
    (["train=[1, 2]"], "train"),
    # ranges
    (["ews.rho=0"], "ews.rho"),
    (["ews.rho=1.5"], "ews.rho"),
    (["ews.rho=-1"], "ews.rho"),
    (["ews.rho=.nan"], "ews.rho"),
    (["ews.rho_paths=0"], "ews.rho_paths"),
    (["ews.lam=-1"], "ews.lam"),
    (["ews.lam=-0.5"], "ews.lam"),
    (["ews.lam=.nan"], "ews.lam"),
    (["ews.lam=.inf"], "ews.lam"),
    (["ews.K=0"], "ews.K"),
    (["ews.K=-3"], "ews.K"),
    (["train.epochs=0"], "train.epochs"),
    (["train.batch_size=0"], "train.batch_size"),
    (["train.lr=0"], "train.lr"),
    (["train.lr=.nan"], "train.lr"),
    (["data.limit=0"], "data.limit"),
    (["seed=-1"], "seed"),
    (["train.warmup_epochs=5", "train.epochs=5"], "train.warmup_epochs"),
    (["train.milestones=[2]", "train.warmup_epochs=3"], "train.milestones"),
    (["dropout.rate=1"], "dropout.rate"),
    (["search.fraction=0"], "search.fraction"),
    # choices
    (["method=sgd"], "method"),
    (["model.name=resnet1000"], "model.name"),
    (["data.name=svhn"], "data.name"),
    (["train.schedule=linear"], "train.schedule"),
    (["ews.subnet_loss=mse"], "ews.subnet_loss"),
    (["ews.kl_reduction=sum"], "ews.kl_reduction"),
    (["ews.reading=paper"], "ews.reading"),
    (["data.train_limit=0"], "data.train_limit"),
    (["search.strategy=greedy"], "search.strategy"),
    (["search.strategy=l1", "search.before_training=false"], "search strategy 'l1' under the 'epochs' schedule"),
    (["train.device=tpu"], "train.device"),
    (["train.device=cuda:x"], "train.device"),
    (["train.device=cuda:"], "train.device"),
    (["train.mode=pgd"], "train.mode"),
    (["train.awp=true"], "train.awp"),
    (["adversarial.eps=-1"], "adversarial.eps"),
    (["adversarial.eps=1/0"], "adversarial.eps"),
    (["adversarial.norm=l1"], "adversarial.norm"),
    (["adversarial.steps=0"], "adversarial.steps"),
    (["adversarial.awp_gamma=0"], "adversarial.awp_gamma"),
    (["train.label_smoothing=1"], "train.label_smoothing"),
    (["train.optimizer=adam"], "train.optimizer"),
    (["train.betas=0.9"], "train.betas"),
    (["train.betas=[0.9]"], "train.betas"),
    (["train.betas=[0.9, 0.999, 0.5]"], "train.betas"),
    (["train.betas=[0.9, 1.0]"], "train.betas"),
    (["train.betas=[-0.1, 0.999]"], "train.betas"),
    (["train.betas=[.nan, 0.999]"], "train.betas"),
    (["train.betas=[a, 0.999]"], "train.betas[0]"),
    (["train.milestones=[5, 3]"], "train.milestones"),
    (["train.milestones=[0]"], "train.milestones"),
    (["data.augment=cutout"], "data.augment"),
    (["data.autoaugment_policy=mnist"], "data.autoaugment_policy"),
    (["data.augmix.severity=11"], "data.augmix.severity"),
    (["data.augmix.depth=0"], "data.augmix.depth"),
    (["data.extra_train_roots=abc"], "data.extra_train_roots"),
    (["data.extra_train_roots=[1]"], "data.extra_train_roots[0]"),
    (["train.mode=trades", "data.augment=augmix"], "data.augmix.jsd"),
    # the override syntax itself
    (["train.epochs"], "train.epochs"),
    (["=3"], "=3"),
    (["seed=5", "seed.x=1"], "seed"),
]


@pytest.mark.parametrize(("overrides", "names"), BAD_OVERRIDES, ids=[" ".join(o) for o, _ in BAD_OVERRIDES])
def test_bad_override_is_a_one_line_config_error(overrides: list[str], names: str) -> None:
    assert names in _config_error(overrides=overrides)


def test_unknown_key_lists_the_allowed_ones() -> None:
    message = _config_error(overrides=["train.epoch=3"])
    assert "train.epoch" in message and "train.epochs" in message


def test_yaml_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    for text in ("- a\n- b\n", "3\n", "just a string\n"):
        path = tmp_path / "list.yaml"
        path.write_text(text)
        message = _config_error(path)
        assert str(path) in message and "mapping" in message


def test_invalid_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    for text in ("train: {epochs: 3\n", "a: b: c\n", "seed: !!int abc\n", "seed: !!float x\n", "x: !!timestamp y\n"):
        path.write_text(text)
        assert str(path) in _config_error(path), text


def test_bad_value_in_yaml_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("ews:\n  rho: 2\n")
    assert "ews.rho" in _config_error(path)
    path.write_text("train:\n  epochs: 3\n  bogus: 1\n")
    assert "train.bogus" in _config_error(path)
    path.write_text("data:\n  1: 2\n  a: 3\n")  # keys of mixed types
    assert "data." in _config_error(path)


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert str(path) in _config_error(path)
    assert str(tmp_path) in _config_error(tmp_path)  # a folder is not a config file


def test_set_values_with_bad_explicit_tags_are_config_errors() -> None:
    for item in ("seed=!!int abc", "ews.rho=!!float x", "train.lr=!!bool x", "train.epochs=!!timestamp y"):
        key = item.split("=")[0]
        assert key in _config_error(overrides=[item]), item


# --- the YAML loader never runs code ---------------------------------------------------------------


def test_yaml_loader_is_safe(tmp_path: Path) -> None:
    marker = tmp_path / "X"
    for text in (
        f'!!python/object/apply:os.system ["touch {marker}"]\n',
        f'seed: !!python/object/apply:os.system ["touch {marker}"]\n',
    ):
        path = tmp_path / "evil.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError):
            read_yaml(path)
        _config_error(path)
    _config_error(overrides=[f'seed=!!python/object/apply:os.system ["touch {marker}"]'])
    assert not marker.exists()


# --- fuzzing: a valid Config or a ConfigError, nothing else -----------------------------------------

JUNK_KEYS = ["bogus", "data.bogus", "train.lr.x", "ews", "model.options.width", "model.options", "x.y.z",
             "search", "..", "data..name", ".seed", "seed.", "log.progress.z"]
KEYS = st.one_of(
    st.sampled_from(ALL_KEYS),
    st.sampled_from(SECTIONS),
    st.sampled_from(JUNK_KEYS),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz._ ", min_size=1, max_size=12),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, -1.0, float("nan"), float("inf")]),
    st.text(max_size=10),
    st.sampled_from(["ews", "vanilla", "dropout", "digits", "cifar10", "resnet20", "random", "l1", "cpu",
                     "cuda:0", "auto", "cosine", "kl", "ce", "hidden", "iterations"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=3)),
    max_leaves=6,
)
RAW_TEXT = st.one_of(
    st.text(max_size=15),
    st.sampled_from(["!!int abc", "!!float x", "!!bool y", "!!timestamp z", "{", "[1, 2", "a: b: c", "&a [*a]",
                     "!!python/name:os.system", "? [a]\n: 1", "*x", "2001-12-14", "0x1F", "1e400", "~", ""]),
)


def _as_yaml(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).removesuffix("...\n").strip()


OVERRIDES = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"{k}={_as_yaml(v)}", KEYS, VALUES),
        st.builds(lambda k, t: f"{k}={t}", KEYS, RAW_TEXT),
        st.text(max_size=10),  # maybe no `=` at all
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(OVERRIDES)
def test_fuzzed_overrides_give_a_config_or_a_config_error(overrides: list[str]) -> None:
    try:
        config = load_config(overrides=overrides)
    except ConfigError as err:
        message = str(err)
        assert message
        if not any("\n" in item or "\r" in item for item in overrides):
            assert "\n" not in message, message
        return
    assert isinstance(config, Config)
    assert validate(config) is config
    assert 0 < config.ews.rho <= 1 and config.ews.lam >= 0 and math.isfinite(config.ews.lam)
    assert config.ews.K >= 1 and config.train.epochs >= 1
    text = dump_config(config)
    assert dump_config(from_dict(yaml.safe_load(text))) == text


def test_l1_without_a_first_search_is_valid_where_step_0_searches() -> None:
    """The config and `ews.EWS` share one rule: the iteration schedule searches at step 0."""
    config = load_config(overrides=["search.strategy=l1", "search.before_training=false", "search.schedule=iterations"])
    assert config.search.strategy == "l1" and not config.search.before_training
