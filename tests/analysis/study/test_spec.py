"""Study files: every mistake is a one-line error before anything is trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from ews.analysis.study import build_spec, plan_study, read_spec
from ews.analysis.study.spec import parse_variant
from ews.config import load_config
from ews.errors import ConfigError, RunFolderError

STUDY = {"seeds": [1, 2], "reference": "vanilla", "base": {"data.name": "digits", "train.epochs": 2},
         "variants": {"vanilla": {"method": "vanilla"}, "ews": {"method": "ews", "ews.rho_paths": 1.0}},
         "evaluate": {"corruptions": "digits-c", "attacks": ["pgd20"], "n_examples": 50}}


def test_overrides_build_each_runs_config() -> None:
    spec = build_spec(STUDY)
    config = load_config(overrides=spec.overrides("ews", 2))
    assert (config.method, config.ews.rho_paths, config.seed, config.train.epochs) == ("ews", 1.0, 2, 2)
    assert spec.evaluate.attacks == ("pgd20",) and spec.evaluate.splits == ("test",)


def test_command_line_seeds_replace_the_files() -> None:
    assert build_spec(STUDY, seeds=[3, 4, 5]).seeds == (3, 4, 5)


def test_a_variant_runs_the_first_n_seeds_where_it_says_seeds(tmp_path: Path) -> None:
    variants = {**STUDY["variants"], "side": {"method": "dropout", "seeds": 1}}
    spec = build_spec({**STUDY, "seeds": [4, 5], "variants": variants})
    assert spec.seeds_of("side") == (4,) and spec.seeds_of("ews") == (4, 5)
    assert "seeds=1" not in " ".join(spec.overrides("side", 4))
    names = [item.name for item in plan_study(None, spec, out=tmp_path / "s")]
    assert names == ["vanilla/seed4", "ews/seed4", "side/seed4", "vanilla/seed5", "ews/seed5"]
    other = {**variants, "side": {"method": "dropout", "seeds": 2}}
    assert spec.same_study(build_spec({**STUDY, "variants": other}))  # more seeds extend the study


@pytest.mark.parametrize("change, message", [
    ({"seeds": []}, "non-empty list"),
    ({"seeds": [1, 1]}, "repeat"),
    ({"seeds": [1, "a"]}, "integers"),
    ({"reference": "dropout"}, "reference 'dropout' is not a variant"),
    ({"variants": {}}, "at least one variant"),
    ({"variants": {"a/b": {}}}, "plain folder name"),
    ({"evaluate": {"attacks": ["fgsm"]}}, "unknown attack 'fgsm'"),
    ({"evaluate": {"splits": ["training"]}}, "'training' is not one of test, val, train"),
    ({"evaluate": {"n_examples": 0}}, "n_examples must be an integer >= 1"),
    ({"analysis": {"rho": [1.5]}}, "rho"),
    ({"analysis": {"depth": 3}}, "unknown study key analysis.depth"),
    ({"budget": 3}, "unknown study key budget"),
    ({"variants": {"vanilla": {"seeds": 0}}}, "variants.vanilla.seeds must be an integer >= 1"),
])
def test_bad_study_files_are_one_line_errors(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        build_spec({**STUDY, **change})
    assert "\n" not in str(error.value)


def test_a_variant_key_that_is_no_config_key_fails_before_anything_is_written(tmp_path: Path) -> None:
    spec = build_spec({**STUDY, "variants": {**STUDY["variants"], "bad": {"ews.lamda": 1}}})
    with pytest.raises(ConfigError, match="study variant bad: .*lamda"):
        plan_study(None, spec, out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_val_split_needs_held_out_images(tmp_path: Path) -> None:
    spec = build_spec({**STUDY, "evaluate": {"splits": ["val", "test"]}})
    with pytest.raises(ConfigError, match="data.val_images"):
        plan_study(None, spec, out=tmp_path / "s")


def test_variants_must_be_scored_on_the_same_images(tmp_path: Path) -> None:
    spec = build_spec({**STUDY, "variants": {"vanilla": {"method": "vanilla"}, "small": {"data.limit": 100}}})
    with pytest.raises(ConfigError, match="other images"):
        plan_study(None, spec, out=tmp_path / "s")


def test_a_folder_holding_another_study_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "s"
    out.mkdir()
    (out / "study.yaml").write_text("variants: {vanilla: {method: vanilla}}\n")
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="another study"):
        plan_study(None, build_spec(STUDY), out=out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "study.yaml"]


def test_the_committed_study_builds_every_runs_config() -> None:
    spec = read_spec(Path(__file__).parents[3] / "configs" / "studies" / "digits.yaml")
    assert len(spec.seeds) >= 5 and spec.reference == "vanilla" and "val" in spec.evaluate.splits
    for variant in spec.variants:
        load_config(overrides=spec.overrides(variant, spec.seeds[0]))


def test_parse_variant() -> None:
    assert parse_variant("both: method=ews ews.rho_paths=1.0") == ("both", {"method": "ews", "ews.rho_paths": 1.0})
    with pytest.raises(ConfigError, match="NAME: KEY=VALUE"):
        parse_variant("method=ews")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[3] / "configs" / "studies").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_shipped_study_plans_without_error(path: Path, tmp_path: Path) -> None:
    """A study file's mistakes (an unknown key, a bad value, a model name) surface before hours of training."""
    spec = read_spec(path)
    runs = plan_study(None, spec, out=tmp_path / "study")
    assert len(runs) == sum(len(spec.seeds_of(variant)) for variant in spec.variants)
    assert not (tmp_path / "study").exists()  # planning writes nothing


def test_the_attack_radius_is_an_evaluation_setting_written_as_a_fraction() -> None:
    spec = build_spec({**STUDY, "evaluate": {**STUDY["evaluate"], "eps": "2/255"}})
    assert spec.evaluate.eps == 2 / 255
    assert spec.same_study(build_spec(STUDY))  # a new radius re-scores the runs, it does not retrain them
    with pytest.raises(ConfigError, match="evaluate.eps must be a radius > 0"):
        build_spec({**STUDY, "evaluate": {"eps": "big"}})
