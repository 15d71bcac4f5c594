"""The named readings of rho: one definition each, used alike by the space, EWS, the config and the analysis."""

from __future__ import annotations

import pytest

import ews
from ews.config import load_config
from ews.errors import ConfigError
from ews.models import create
from ews.subnets import DEFAULT_READING, READINGS, SubnetSpace, reading
from ews.training.build import build_space

from ..conftest import tiny_model


@pytest.mark.parametrize(("rho", "paths"),
                         [(0.5, 2), (0.4999995, 2), (0.4, 1), (0.3, 1), (0.25, 1), (0.7, 2), (1.0, 2)])
def test_authors_reading_keeps_paths_as_their_scripts_round(rho: float, paths: int) -> None:
    # ceil(2 * (rho + 1e-6)): their epsilon keeps both paths at 0.5 (and just below it)
    assert reading("authors").kept_paths(rho) == paths


@pytest.mark.parametrize(("name", "rho", "paths"), [("paper-text", 0.5, 1), ("paper-text", 0.7, 2),
                                                     ("default", 0.5, 2), ("default", 0.1, 2)])
def test_paper_text_follows_rho_and_default_keeps_both(name: str, rho: float, paths: int) -> None:
    assert reading(name).kept_paths(rho) == paths


def test_channel_modes_on_a_bottleneck() -> None:
    model = tiny_model("resnet50")  # conv widths (4, 4, 16) in the first block
    keep = {name: SubnetSpace.from_model(model, rho=0.5, reading=name).blocks[0].keep_channels for name in READINGS}
    # authors: ceil(4 * 0.500001) = 3 of conv1's 4
    assert keep == {"default": (2, 2, 16), "paper-text": (2, 2, 8), "authors": (3, 4, 16)}


@pytest.mark.parametrize(("rho", "n", "exact", "authors"), [
    (0.5, 16, 8, 9), (0.5, 32, 16, 17), (0.5, 64, 32, 33),  # ResNet-20's widths: their epsilon keeps one more
    (0.7, 64, 45, 45), (0.7, 10, 7, 8), (0.9, 16, 15, 15), (1.0, 16, 16, 16), (0.01, 4, 1, 1),
])
def test_authors_reading_rounds_channel_counts_as_their_scripts(rho: float, n: int, exact: int, authors: int) -> None:
    # their get_configurations: math.ceil(c * (subnet_width + 1e-6)), capped at c here (rho 1 would ask for c + 1)
    assert (reading("default").kept_channels(rho, n), reading("authors").kept_channels(rho, n)) == (exact, authors)


def test_resnet20_at_half_width_keeps_9_17_33_channels_in_the_authors_reading() -> None:
    model = create("resnet20", num_classes=10)  # stages of 16, 32 and 64 channels
    keep = {name: {SubnetSpace.from_model(model, rho=0.5, reading=name).blocks[i].keep_channels for i in (0, 3, 6)}
            for name in ("default", "authors")}
    assert keep == {"default": {(8, 16), (16, 32), (32, 64)}, "authors": {(9, 16), (17, 32), (33, 64)}}


def test_one_default_everywhere() -> None:
    model = tiny_model("resnet20")
    config = load_config()
    assert config.ews.reading == DEFAULT_READING
    spaces = [SubnetSpace.from_model(model, rho=0.5), ews.EWS(model).space, build_space(config, model),
              SubnetSpace.from_model(model, rho=0.5, reading=READINGS[DEFAULT_READING])]
    assert all(space.blocks == spaces[0].blocks and space.reading == spaces[0].reading for space in spaces)


def test_explicit_keys_override_the_reading_and_are_recorded() -> None:
    config = load_config(overrides=["ews.reading=default", "ews.rho_paths=0.5", "ews.channels=all"])
    space = build_space(config, tiny_model("resnet20"))
    assert all(b.keep_paths == 1 for b in space.blocks) and space.channels == "all"
    assert space.reading.to_dict() == {"name": "default", "paths": "fixed", "rho_paths": 0.5, "channels": "all",
                                       "rounding": "exact"}


@pytest.mark.parametrize("override", ["ews.reading=paper", "ews.channels=some"])
def test_unknown_reading_or_channel_mode_is_a_one_line_config_error(override: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert override.split("=")[1] in str(info.value) and "\n" not in str(info.value)


def test_unknown_reading_name_in_the_api() -> None:
    with pytest.raises(ConfigError, match="unknown reading 'text'; allowed: default, paper-text, authors"):
        SubnetSpace.from_model(tiny_model("resnet20"), reading="text")
