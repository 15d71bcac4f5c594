"""-C set generation: the CIFAR-10-C layout, worker-count independence, atomic files, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from ews.corruptions import generate, names
from ews.corruptions.generate import (
    corrupt,
    dataset_to_uint8,
    write_corrupted_set,
    write_dataset_corruptions,
)
from ews.corruptions.seeding import image_rng
from ews.data import load
from ews.errors import ConfigError, DataError

from .natural import natural_images

N = 5


@pytest.fixture()
def images() -> np.ndarray:
    return natural_images(N, seed=2)


@pytest.fixture()
def labels() -> np.ndarray:
    return np.arange(N) % 3


def _one_line(error: pytest.ExceptionInfo[Exception], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_written_set_has_the_cifar_c_layout(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    paths = write_corrupted_set(
        images, labels, tmp_path, corruptions=["fog", "contrast"], severities=[3, 1, 3], workers=1, progress=False
    )
    assert paths == [tmp_path / "fog.npy", tmp_path / "contrast.npy"]
    # no temp files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contrast.npy", "fog.npy", "labels.npy", "meta.json"]
    written_labels = np.load(tmp_path / "labels.npy")
    assert written_labels.dtype == np.int64
    np.testing.assert_array_equal(written_labels, np.tile(labels, 2))
    fog = np.load(tmp_path / "fog.npy")
    assert fog.shape == (2 * N, 32, 32, 3) and fog.dtype == np.uint8
    for k, severity in enumerate((1, 3)):  # severities sorted and deduplicated: rows [k*N:(k+1)*N]
        for index in range(N):
            rng = image_rng(0, corruption="fog", severity=severity, index=index)
            np.testing.assert_array_equal(fog[k * N + index], corrupt(images[index], "fog", severity, rng=rng))


def test_two_workers_write_the_same_bytes_as_one(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    options = {"corruptions": names.ALL, "severities": [2, 5], "seed": 7, "progress": False}
    # The one-worker run uses OpenCV's thread pool in this process first; workers forked from it
    # deadlock (checked by hand), so a regression to plain fork hangs here.
    write_corrupted_set(images, labels, tmp_path / "one", workers=1, **options)
    write_corrupted_set(images, labels, tmp_path / "two", workers=2, **options)
    for name in (*names.ALL, "labels"):
        assert (tmp_path / "one" / f"{name}.npy").read_bytes() == (tmp_path / "two" / f"{name}.npy").read_bytes()


def test_seed_changes_random_corruptions(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    for seed in (0, 1):
        write_corrupted_set(images, labels, tmp_path / str(seed), corruptions=["shot_noise"], severities=[1],
                            seed=seed, workers=1, progress=False)
    assert not np.array_equal(np.load(tmp_path / "0" / "shot_noise.npy"), np.load(tmp_path / "1" / "shot_noise.npy"))


def test_a_failed_run_keeps_finished_files_and_leaves_no_torn_one(
    tmp_path: Path, images: np.ndarray, labels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = np.zeros(3, np.uint8)
    np.save(tmp_path / "fog.npy", old)
    real = generate._corrupt_range

    def fail_on_fog(images: np.ndarray, name: str, *args: object) -> np.ndarray:
        if name == "fog":
            raise KeyboardInterrupt
        return real(images, name, *args)

    monkeypatch.setattr(generate, "_corrupt_range", fail_on_fog)
    with pytest.raises(KeyboardInterrupt):
        write_corrupted_set(images, labels, tmp_path, corruptions=["contrast", "fog"], workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contrast.npy", "fog.npy", "labels.npy", "meta.json"]
    assert np.load(tmp_path / "contrast.npy").shape == (5 * N, 32, 32, 3)
    np.testing.assert_array_equal(np.load(tmp_path / "fog.npy"), old)


def test_a_dataset_is_converted_exactly_and_brings_its_labels(tmp_path: Path, images: np.ndarray) -> None:
    tensors = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    dataset = TensorDataset(tensors, torch.tensor([4, 1, 0, 2, 3]))
    pixels, targets = dataset_to_uint8(dataset, batch_size=2)
    np.testing.assert_array_equal(pixels, images)
    assert targets.dtype == np.int64 and targets.tolist() == [4, 1, 0, 2, 3]
    write_corrupted_set(dataset, None, tmp_path, corruptions=["brightness"], severities=[1], workers=1, progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), [4, 1, 0, 2, 3])


def test_digits_set_from_the_dataset_name(tmp_path: Path) -> None:
    paths = write_dataset_corruptions("digits", tmp_path, limit=10, corruptions=["pixelate"], severities=[2, 4],
                                      workers=1, progress=False)
    clean, _ = load("digits", train=False, augment="none", limit=10)
    expected = [int(clean[i][1]) for i in range(len(clean))]
    assert np.load(paths[0]).shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), expected * 2)


@pytest.mark.parametrize("name", ["fog", "gaussian_noise", "impulse_noise", "spatter"])
def test_larger_images_take_the_imagenet_c_path_reproducibly(name: str) -> None:
    image = natural_images(1, height=96, width=96)[0]
    first = corrupt(image, name, 3, rng=np.random.default_rng(0))
    assert first.shape == (96, 96, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, corrupt(image, name, 3, rng=np.random.default_rng(0)))


def test_corrupt_does_not_disturb_numpys_global_generator() -> None:
    image = natural_images(1, height=96, width=96)[0]
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    corrupt(image, "motion_blur", 1, rng=np.random.default_rng(0))
    assert np.random.random() == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        ({"name": "rain"}, ConfigError, ("'rain'", "gaussian_noise", "saturate")),
        ({"severity": 0}, ConfigError, ("1..5", "0")),
        ({"severity": 6}, ConfigError, ("1..5", "6")),
        ({"severity": "3"}, ConfigError, ("1..5", "'3'")),
        ({"image": np.zeros((32, 32, 3), np.float32)}, DataError, ("uint8", "float32")),
        ({"image": np.zeros((32, 32), np.uint8)}, DataError, ("(H, W, 3)", "(32, 32)")),
        ({"image": np.zeros((4, 4, 3), np.uint8)}, DataError, ("4x4", "at least 8")),
        ({"image": np.zeros((96, 20, 3), np.uint8)}, DataError, ("96x20", "at least 32")),
    ],
)
def test_corrupt_rejects_bad_arguments_in_one_line(kwargs: dict, error: type[Exception], fragments: tuple) -> None:
    arguments = {"image": np.zeros((32, 32, 3), np.uint8), "name": "fog", "severity": 1, **kwargs}
    with pytest.raises(error) as info:
        corrupt(arguments["image"], arguments["name"], arguments["severity"], rng=np.random.default_rng(0))
    _one_line(info, *fragments)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        ({"corruptions": ["fog", "haze"]}, ConfigError, ("'haze'", "allowed")),
        ({"corruptions": []}, ConfigError, ("no corruption",)),
        ({"severities": [1, 9]}, ConfigError, ("9",)),
        ({"workers": -1}, ConfigError, ("workers", "-1")),
        ({"seed": -3}, ConfigError, ("seed", "-3")),
        ({"labels": [0, 1]}, DataError, ("5 integers",)),
        ({"labels": None}, DataError, ("labels",)),
    ],
)
def test_write_rejects_bad_arguments_in_one_line(
    tmp_path: Path, images: np.ndarray, labels: np.ndarray, kwargs: dict, error: type[Exception], fragments: tuple
) -> None:
    arguments = {"labels": labels, **kwargs}
    with pytest.raises(error) as info:
        write_corrupted_set(images, out=tmp_path / "c", progress=False, **arguments)
    _one_line(info, *fragments)
    assert not (tmp_path / "c").exists()  # checked before anything is written


def test_write_refuses_an_output_path_that_is_a_file(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(DataError) as info:
        write_corrupted_set(images, labels, target, corruptions=["fog"], workers=1, progress=False)
    _one_line(info, str(target), "is a file")


def test_a_dataset_subset_records_its_stratified_limit_in_meta_json(tmp_path: Path) -> None:
    import json

    write_dataset_corruptions("digits", tmp_path / "c", limit=20, corruptions=["gaussian_noise"], severities=[1],
                              workers=1, progress=False)
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert (meta["dataset"], meta["split"], meta["limit"], meta["images"]) == ("digits", "test", 20, 20)
    assert meta["corruptions"] == ["gaussian_noise"] and meta["severities"] == [1]
    assert sorted(set(np.load(tmp_path / "c" / "labels.npy").tolist())) == list(range(10))  # stratified


@pytest.mark.parametrize("limit", [0, 361, 10**6])
def test_a_limit_outside_the_split_is_refused_before_anything_is_written(tmp_path: Path, limit: int) -> None:
    with pytest.raises(DataError, match=f"--limit {limit} must be between 1 and the 360 images") as error:
        write_dataset_corruptions("digits", tmp_path / "c", limit=limit, progress=False)
    assert "\n" not in str(error.value) and not (tmp_path / "c").exists()


PLAIN_SCRIPT = """
import torch, ews
from ews.corruptions.generate import worker_processes_can_start
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
result = ews.evaluate(model, dataset="digits", limit=60, corruptions="digits-c", corruption_images=30)
print(len(result.corruptions), result.errors["corruption"] is not None, worker_processes_can_start())
if __name__ == "__main__":
    print(worker_processes_can_start())
"""


def test_evaluate_with_corruptions_runs_from_a_script_without_a_main_guard(tmp_path: Path) -> None:
    """Spawned workers would run the script again from its top, evaluation included: it corrupts in-process."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "plain.py").write_text(PLAIN_SCRIPT)
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "plain.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    # 19 corruptions scored; workers refused at the unguarded top level, allowed under the guard
    assert done.stdout.split() == [str(len(names.ALL)), "True", "False", "True"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plain.py", "tmp"]  # no cache folder left behind
    assert not any((tmp_path / "tmp").iterdir())
    assert generate.worker_processes_can_start()  # pytest, like the `ews` command, guards its entry point
