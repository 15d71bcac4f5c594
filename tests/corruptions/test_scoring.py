"""Model-facing loops on tiny synthetic benchmark folders, against errors counted by hand.

`BrightnessModel` predicts class 1 for bright images, so every expected error below is
the share of images written with the other class's brightness.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from torchvision.transforms import v2

from ews.corruptions import metrics, names
from ews.corruptions.scoring import cifar_c_errors, imagenet_c_errors, imagenet_p_flip
from ews.errors import ConfigError, DataError

from .synthetic import (
    BRIGHT,
    DARK,
    BrightnessModel,
    cifar_images,
    write_cifar_c,
    write_frames,
    write_imagenet_c,
    write_video,
)

LABELS = np.array([0, 1, 0, 1])
RAMP = [0, 1, 2, 3, 4]  # wrong images per severity: errors 0, 25, 50, 75, 100 %
RAMP_ERRORS = {"1": 0.0, "2": 25.0, "3": 50.0, "4": 75.0, "5": 100.0}


def _model() -> BrightnessModel:
    return BrightnessModel().train()  # the loops must switch to eval mode and back


# ----- CIFAR-10-C -----


def test_cifar_errors_per_severity_and_a_copied_file_scores_the_same(tmp_path: Path) -> None:
    folder = write_cifar_c(tmp_path / "c", {"gaussian_noise": cifar_images(LABELS, RAMP),
                                             "fog": cifar_images(LABELS, [0] * 5)}, np.tile(LABELS, 5))
    shutil.copy(folder / "gaussian_noise.npy", folder / "my_noise.npy")
    model = _model()
    with pytest.warns(UserWarning, match="13 of the 15 benchmark corruptions are missing"):
        result = cifar_c_errors(model, folder, batch_size=3, progress=False)
    assert result["corruptions"] == {"gaussian_noise": RAMP_ERRORS, "fog": dict.fromkeys(RAMP_ERRORS, 0.0),
                                     "my_noise": RAMP_ERRORS}
    assert result["corruption_error"] is None and result["extra_corruption_error"] is None
    assert len(result["warnings"]) == 1 and result["severities"] == [1, 2, 3, 4, 5]
    assert model.training


@pytest.mark.parametrize(("meta", "name"), [('{"dataset": "digits", "split": "test"}', "digits-C"),
                                            (None, "CIFAR-10-C"), ("not json", "CIFAR-10-C")])
def test_the_progress_bar_names_the_set_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meta: str | None,
                                               name: str) -> None:
    """A set `ews` generated names its dataset (digits-C, not CIFAR-C); a released one its folder."""
    folder = write_cifar_c(tmp_path / "CIFAR-10-C", {"fog": cifar_images(LABELS, RAMP)}, np.tile(LABELS, 5))
    if meta is not None:
        (folder / "meta.json").write_text(meta)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with pytest.warns(UserWarning, match="benchmark corruptions are missing"):
        cifar_c_errors(_model(), folder, batch_size=3, progress=True)
    assert f"{name}: " in terminal.getvalue() and "CIFAR-C:" not in terminal.getvalue()


def test_corruption_scores_are_rounded_to_four_places(tmp_path: Path) -> None:
    """1 of 3 images wrong is 33.3333 %, as eval.json writes every rate, not 33.333333333333336."""
    labels = np.array([0, 1, 0])
    folder = write_cifar_c(tmp_path / "c", {"fog": cifar_images(labels, [1, 1, 1, 1, 1])}, np.tile(labels, 5))
    with pytest.warns(UserWarning):
        result = cifar_c_errors(_model(), folder, batch_size=3, progress=False)
    assert result["corruptions"]["fog"] == dict.fromkeys(RAMP_ERRORS, 33.3333)


def _rounded(expected: object) -> object:
    """Scores as reported: to 4 decimal places."""
    return pytest.approx(expected, abs=5e-5)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cifar_means_over_the_15_and_the_4_extra(tmp_path: Path) -> None:
    files = {name: cifar_images(LABELS, RAMP) for name in names.BENCHMARK}
    files["fog"] = cifar_images(LABELS, [4] * 5)  # 100 % at every severity
    files.update({name: cifar_images(LABELS, [1] * 5) for name in names.EXTRA})  # 25 %
    folder = write_cifar_c(tmp_path / "c", files, LABELS)  # N labels, tiled
    result = cifar_c_errors(_model(), folder, progress=False)
    assert list(result["corruptions"]) == list(names.ALL) and result["warnings"] == []
    assert result["corruption_error"] == pytest.approx((14 * 50.0 + 100.0) / 15)
    assert result["extra_corruption_error"] == pytest.approx(25.0)
    subset = cifar_c_errors(_model(), folder, severities=[4, 2], progress=False)
    assert subset["corruptions"]["gaussian_noise"] == {"2": 25.0, "4": 75.0} and subset["severities"] == [2, 4]
    assert subset["corruption_error"] == pytest.approx((14 * 50.0 + 100.0) / 15)


@pytest.mark.filterwarnings("ignore:corruption_error not reported")
def test_cifar_results_do_not_depend_on_label_tiling_or_batch_size(tmp_path: Path) -> None:
    images = {"snow": cifar_images(LABELS, [3, 0, 4, 1, 2])}
    tiled = cifar_c_errors(_model(), write_cifar_c(tmp_path / "a", images, np.tile(LABELS, 5)), progress=False)
    short = cifar_c_errors(_model(), write_cifar_c(tmp_path / "b", images, LABELS), batch_size=1, progress=False)
    assert tiled["corruptions"] == short["corruptions"] == {"snow": {"1": 75.0, "2": 0.0, "3": 100.0, "4": 25.0,
                                                                     "5": 50.0}}


def test_cifar_checks_everything_before_scoring(tmp_path: Path) -> None:
    folder = write_cifar_c(tmp_path / "c", {"fog": cifar_images(LABELS, RAMP),
                                             "zzz": np.zeros((20, 4, 4), dtype=np.uint8)}, LABELS)
    model = _model()
    with pytest.raises(DataError, match="zzz.npy"):
        cifar_c_errors(model, folder, progress=False)
    assert model.calls == 0
    with pytest.raises(ConfigError, match="severity must be an integer in 1..5, got 0"):
        cifar_c_errors(model, folder, severities=[0, 6], progress=False)


def test_cifar_labels_beyond_the_model_outputs(tmp_path: Path) -> None:
    folder = write_cifar_c(tmp_path / "c", {"fog": cifar_images(LABELS, RAMP)}, np.array([0, 1, 0, 7]))
    model = _model()
    with pytest.raises(DataError, match="has label 7 but the model predicts 2 classes"):
        cifar_c_errors(model, folder, progress=False)
    assert model.training


# ----- ImageNet-C -----


def test_imagenet_c_errors_and_normalised_scores_of_a_partial_set(tmp_path: Path) -> None:
    root = write_imagenet_c(tmp_path / "c", {
        "fog": {1: {"n01": [DARK], "n02": [BRIGHT]}, 2: {"n01": [BRIGHT, DARK], "n02": [BRIGHT]}},
        "mine": {1: {"n01": [BRIGHT], "n02": [DARK]}, 2: {"n01": [DARK], "n02": [BRIGHT]}},
    })
    model = _model()
    with pytest.warns(UserWarning, match="corruption_error and mCE not reported"):
        result = imagenet_c_errors(model, root, clean_error=10.0, severities=(1, 2), progress=False, num_workers=0)
    assert result["corruptions"] == {"fog": {"1": 0.0, "2": 33.3333}, "mine": {"1": 100.0, "2": 0.0}}  # 4 places
    assert result["ce"] == _rounded({"fog": (50 / 3) / 0.819324})  # no AlexNet normaliser for "mine"
    assert result["relative_ce"] == _rounded({"fog": (50 / 3 - 10.0) / (0.819324 - 0.4348)})
    assert result["mce"] is None and result["relative_mce"] is None and result["corruption_error"] is None
    assert model.training


def test_imagenet_c_mce_needs_all_15_at_all_5_severities(tmp_path: Path) -> None:
    half_wrong = {"n01": [BRIGHT], "n02": [BRIGHT]}  # 50 % error
    root = write_imagenet_c(tmp_path / "c", {name: dict.fromkeys(names.SEVERITIES, half_wrong)
                                             for name in names.BENCHMARK})
    kwargs = {"transform": v2.PILToTensor(), "progress": False, "num_workers": 0, "batch_size": 64}
    result = imagenet_c_errors(_model(), root, clean_error=20.0, **kwargs)
    expected = {name: [50.0] * 5 for name in names.BENCHMARK}
    assert result["corruption_error"] == pytest.approx(50.0) and result["warnings"] == []
    assert result["mce"] == pytest.approx(metrics.mce(expected))
    assert result["relative_mce"] == pytest.approx(metrics.relative_mce(expected, clean_error=20.0))
    with pytest.warns(UserWarning, match="only 1, 2 were scored"):
        subset = imagenet_c_errors(_model(), root, clean_error=None, severities=(1, 2), **kwargs)
    assert subset["corruption_error"] == pytest.approx(50.0) and subset["mce"] is None
    assert subset["relative_ce"] is None


def test_imagenet_c_class_count_must_match_the_model(tmp_path: Path) -> None:
    root = write_imagenet_c(tmp_path / "c", {"fog": {1: {"n01": [DARK], "n02": [BRIGHT]}}})
    with pytest.raises(DataError, match="has 2 classes but the model predicts 3"):
        imagenet_c_errors(BrightnessModel(3), root, clean_error=None, severities=(1,), progress=False, num_workers=0)
    with pytest.raises(ConfigError, match="clean_error is a percentage"):
        imagenet_c_errors(BrightnessModel(), root, clean_error=140.0, severities=(1,), progress=False)


# ----- ImageNet-P -----

FLIP, STEADY = [DARK, BRIGHT, BRIGHT, DARK], [DARK] * 4  # classes 0 1 1 0 and 0 0 0 0


def _imagenet_p(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    write_frames(root / "rotate" / "n01" / "a", FLIP)  # consecutive: 2 of 3 flip; 2 apart: 2 of 2
    write_frames(root / "rotate" / "n02" / "b", STEADY)
    write_frames(root / "gaussian_noise" / "n01" / "a", [DARK, BRIGHT, DARK, DARK])  # vs first: 1 of 3 flips
    return root


@pytest.mark.parametrize("batch_size", [3, 64])
def test_flip_probability_per_perturbation_rule(tmp_path: Path, batch_size: int) -> None:
    model = _model()
    result = imagenet_p_flip(model, _imagenet_p(tmp_path), batch_size=batch_size, progress=False, num_workers=0)
    assert result["flip_probability"] == _rounded({"gaussian_noise": 100 / 3, "rotate": 100 / 3})
    assert result["mean_flip_probability"] == _rounded(100 / 3)
    assert result["flip_rate"] is None and result["mfr"] is None and result["difficulty"] == 1
    assert model.training


def test_difficulty_and_flip_rates(tmp_path: Path) -> None:
    alexnet = {"gaussian_noise": 0.5, "rotate": 0.25}
    result = imagenet_p_flip(_model(), _imagenet_p(tmp_path), alexnet_fp=alexnet, difficulty=2, progress=False,
                             num_workers=0)
    assert result["flip_probability"] == _rounded({"gaussian_noise": 100 / 3, "rotate": 50.0})
    assert result["flip_rate"] == _rounded({"gaussian_noise": 200 / 3, "rotate": 200.0})
    assert result["mfr"] is None  # 2 of the benchmark's 10 perturbations: no mFR


def test_mfr_averages_the_benchmarks_ten_and_leaves_other_sequences_out(tmp_path: Path) -> None:
    root = tmp_path / "p"
    for name in names.PERTURBATIONS:
        write_frames(root / name / "n01" / "a", STEADY)
    write_frames(root / "rotate" / "n02" / "b", FLIP)  # rotate: 2 of the 6 consecutive pairs flip
    write_frames(root / "speckle_noise" / "n01" / "a", FLIP)  # an extra of the release: 2 of 3 flip vs the first
    alexnet = {**{name: 0.5 for name in names.PERTURBATIONS}, "speckle_noise": 0.5}
    result = imagenet_p_flip(_model(), root, alexnet_fp=alexnet, progress=False, num_workers=0)
    assert result["flip_rate"]["speckle_noise"] == _rounded(400 / 3)
    assert result["mfr"] == _rounded(200 / 3 / 10)  # only rotate flips: FR (1/3) / 0.5, the other nine 0
    assert result["mean_flip_probability"] == _rounded(100 / 3 / 10)


def test_a_missing_alexnet_entry_fails_before_any_sequence_is_scored(tmp_path: Path) -> None:
    model = _model()
    (tmp_path / "alex.json").write_text('{"rotate": 0.2}')
    with pytest.raises(DataError, match="no entry for gaussian_noise"):
        imagenet_p_flip(model, _imagenet_p(tmp_path), alexnet_fp=tmp_path / "alex.json", progress=False)
    with pytest.raises(ConfigError, match="difficulty must be >= 1"):
        imagenet_p_flip(model, _imagenet_p(tmp_path), difficulty=0, progress=False)
    assert model.calls == 0


def test_sequences_too_short_for_the_difficulty(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="rotate: a sequence has 4 frames; 5 are needed"):
        imagenet_p_flip(_model(), _imagenet_p(tmp_path), difficulty=4, progress=False, num_workers=0)


def test_video_sequences_score_like_frame_folders(tmp_path: Path) -> None:
    if not write_video(tmp_path / "p" / "tilt" / "n01" / "a.avi", FLIP):
        pytest.skip("this OpenCV build cannot write MJPG .avi files")
    write_frames(tmp_path / "p" / "tilt" / "n02" / "b", STEADY)
    result = imagenet_p_flip(_model(), tmp_path / "p", progress=False, num_workers=0)
    assert result["flip_probability"] == _rounded({"tilt": 100 / 3})
