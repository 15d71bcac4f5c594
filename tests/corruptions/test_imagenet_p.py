"""ImageNet-P reading: frame folders and videos, the noise rule's names, the AlexNet flip table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ews.corruptions.imagenet_p import (
    Sequences,
    check_alexnet_flips,
    is_noise,
    read_alexnet_flips,
    read_imagenet_p,
    read_sequence,
)
from ews.errors import DataError

from .synthetic import BRIGHT, DARK, to_uint8, write_frames, write_png, write_video


def test_frame_folders_are_sequences_in_sorted_order(tmp_path: Path) -> None:
    write_frames(tmp_path / "p" / "rotate" / "n02" / "seq_b", [DARK, BRIGHT])
    write_frames(tmp_path / "p" / "rotate" / "n01" / "seq_a", [DARK, DARK, BRIGHT])
    write_frames(tmp_path / "p" / "gaussian_noise" / "n01" / "s", [DARK, DARK])
    (tmp_path / "p" / "empty" / "n01").mkdir(parents=True)
    data = read_imagenet_p(tmp_path / "p")
    assert list(data.sequences) == ["gaussian_noise", "rotate"]
    assert [p.name for p in data.sequences["rotate"]] == ["seq_a", "seq_b"]
    frames = read_sequence(data.sequences["rotate"][0])
    assert frames.shape == (3, 3, 8, 8) and frames.dtype == torch.uint8
    assert frames[:, 0, 0, 0].tolist() == [to_uint8(DARK), to_uint8(DARK), to_uint8(BRIGHT)]
    flipped = Sequences(data.sequences["rotate"], transform=lambda x: x.flip(0))[0]
    assert torch.equal(flipped, frames.flip(0))


def test_an_mjpg_video_is_read_as_rgb_frames(tmp_path: Path) -> None:
    path = tmp_path / "p" / "tilt" / "n01" / "clip.avi"
    if not write_video(path, [DARK, BRIGHT, DARK, BRIGHT]):
        pytest.skip("this OpenCV build cannot write MJPG .avi files")
    assert read_imagenet_p(tmp_path / "p").sequences == {"tilt": [path]}
    frames = read_sequence(path)
    assert frames.shape == (4, 3, 16, 16) and frames.dtype == torch.uint8
    means = frames.float().mean(dim=(1, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([DARK, BRIGHT, DARK, BRIGHT]), atol=0.03)


def test_unreadable_or_short_sequences(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(DataError, match="bad.mp4 has 0 readable frames"):
        read_sequence(tmp_path / "bad.mp4")
    write_frames(tmp_path / "one", [DARK])
    with pytest.raises(DataError, match="1 readable frames"):
        read_sequence(tmp_path / "one")
    write_frames(tmp_path / "mixed", [DARK])
    write_png(tmp_path / "mixed" / "frame001.png", DARK, size=4)
    with pytest.raises(DataError, match="frames of different sizes"):
        read_sequence(tmp_path / "mixed")
    (tmp_path / "mixed" / "frame002.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="mixed has an unreadable image"):
        read_sequence(tmp_path / "mixed")


def test_missing_or_empty_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_imagenet_p(tmp_path / "nope")
    (tmp_path / "p" / "rotate" / "n01").mkdir(parents=True)
    with pytest.raises(DataError, match="no PERTURBATION/WNID"):
        read_imagenet_p(tmp_path / "p")


def test_noise_names_include_the_harder_released_levels() -> None:
    assert is_noise("gaussian_noise") and is_noise("shot_noise_3") and is_noise("speckle_noise")
    assert not is_noise("rotate") and not is_noise("motion_blur") and not is_noise("gaussian_blur")


def test_alexnet_flip_table_from_json_yaml_or_mapping(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"rotate": 0.1, "tilt": 1}))
    (tmp_path / "a.yaml").write_text("rotate: 0.1\ntilt: 1\n")
    assert read_alexnet_flips(tmp_path / "a.json") == {"rotate": 0.1, "tilt": 1.0}
    assert read_alexnet_flips(str(tmp_path / "a.yaml")) == {"rotate": 0.1, "tilt": 1.0}
    assert read_alexnet_flips({"rotate": 0.25}) == {"rotate": 0.25}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rotate: 12.5\n", "rotate = 12.5; expected a probability in (0, 1] (divide percentages by 100)"),
        ("rotate: 0\n", "rotate = 0"),
        ("rotate: fast\n", "rotate = 'fast'"),
        ("- 0.1\n", "must map perturbation names"),
        ("rotate: [0.1\n", "not a readable JSON/YAML file"),
    ],
)
def test_bad_alexnet_flip_tables(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "a.yaml").write_text(text)
    with pytest.raises(DataError) as info:
        read_alexnet_flips(tmp_path / "a.yaml")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_the_table_must_cover_every_perturbation_found(tmp_path: Path) -> None:
    write_frames(tmp_path / "p" / "rotate" / "n01" / "s", [DARK, DARK])
    write_frames(tmp_path / "p" / "scale" / "n01" / "s", [DARK, DARK])
    data = read_imagenet_p(tmp_path / "p")
    with pytest.raises(DataError, match="no entry for scale"):
        check_alexnet_flips({"rotate": 0.1}, data, source="alex.json")
