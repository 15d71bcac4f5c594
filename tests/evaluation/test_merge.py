"""A second evaluation into one folder: joined where every shared setting agrees, refused where a number would
change its meaning (the whole flow through `ews eval` is in test_files.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ews.errors import RunFolderError
from ews.evaluation.merge import earlier_results, merged_results, weights_fingerprint

WHO = {"checkpoint": "runs/x/checkpoint.pt", "weights_sha256": "ab" * 32, "dataset": "digits", "model": "resnet20",
       "method": "ews", "split": "test"}
BASE = {"dataset": "digits", "split": "test", "images": 360, "threat_model": None, "seed": 0, "batch_size": 256}
PGD = {**BASE, "attacks": ["pgd20"], "eps": 8 / 255, "norm": "linf", "n_examples": 50}


def _folder(tmp_path: Path, settings: dict, **numbers: object) -> Path:
    (tmp_path / "eval.json").write_text(json.dumps({**WHO, **numbers, "settings": settings}))
    return tmp_path


@pytest.mark.parametrize("settings, match", [
    ({**PGD, "eps": 1 / 255}, "eps 8/255; this evaluation uses eps 1/255"),
    ({**PGD, "n_examples": 20}, "n_examples 50; this evaluation uses n_examples 20"),
    ({**BASE, "threat_model": "corruptions"}, "threat_model"),
    ({**BASE, "seed": 1}, "seed 0; this evaluation uses seed 1"),
])
def test_a_setting_that_differs_is_refused_naming_both_values(tmp_path: Path, settings: dict, match: str) -> None:
    folder = _folder(tmp_path, {**PGD, "threat_model": "linf"}, pgd20_error=60.0)
    with pytest.raises(RunFolderError, match=match) as caught:
        earlier_results(folder, WHO, settings)
    assert "--overwrite" in str(caught.value) and "\n" not in str(caught.value)
    assert earlier_results(folder, WHO, settings, overwrite=True) == {}


def test_other_measurements_join_and_keep_their_own_settings(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {**PGD, "shifts": {"cifar10.1": "a"}}, clean_error=5.0, pgd20_error=60.0,
                     shifts={"cifar10.1": {"error": 9.0}}, warnings=["w"])
    new_settings = {**BASE, "threat_model": "linf", "attacks": ["autoattack"], "eps": 8 / 255, "norm": "linf",
                    "n_examples": 50, "shifts": {"cifar10.2": "b"}}
    earlier = earlier_results(folder, WHO, new_settings)
    merged = merged_results(earlier, {**WHO, "clean_error": 5.0, "autoattack_error": 70.0, "warnings": ["w", "v"],
                                      "shifts": {"cifar10.2": {"error": 7.0}}, "settings": new_settings})
    assert merged["pgd20_error"] == 60.0 and merged["autoattack_error"] == 70.0
    assert merged["settings"]["attacks"] == ["pgd20", "autoattack"] and merged["settings"]["threat_model"] == "linf"
    assert merged["shifts"] == {"cifar10.1": {"error": 9.0}, "cifar10.2": {"error": 7.0}}
    assert merged["settings"]["shifts"] == {"cifar10.1": "a", "cifar10.2": "b"} and merged["warnings"] == ["w", "v"]


def test_a_shift_set_read_from_another_folder_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {**BASE, "shifts": {"cifar10.1": "a"}}, shifts={"cifar10.1": {"error": 9.0}})
    with pytest.raises(RunFolderError, match="shifts"):
        earlier_results(folder, WHO, {**BASE, "shifts": {"cifar10.1": "elsewhere", "cifar10.2": "b"}})


@pytest.mark.parametrize("who, match", [
    ({**WHO, "weights_sha256": "cd" * 32}, "of other weights"),
    ({**WHO, "split": "val"}, "of split test, this evaluation is of split val"),
])
def test_results_of_other_weights_or_another_split_are_refused(tmp_path: Path, who: dict, match: str) -> None:
    with pytest.raises(RunFolderError, match=match):
        earlier_results(_folder(tmp_path, BASE, clean_error=5.0), who, BASE)


def test_a_folder_without_a_weights_record_or_readable_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "eval.json").write_text(json.dumps({"checkpoint": "x", "clean_error": 5.0}))
    with pytest.raises(RunFolderError, match="without a record of the weights"):
        earlier_results(tmp_path, WHO, BASE)
    (tmp_path / "eval.json").write_text("{torn")
    with pytest.raises(RunFolderError, match="cannot be read"):
        earlier_results(tmp_path, WHO, BASE)


def test_the_weights_fingerprint_follows_the_bytes_not_the_path(tmp_path: Path) -> None:
    (tmp_path / "a.pt").write_bytes(b"weights")
    (tmp_path / "b.pt").write_bytes(b"weights")
    (tmp_path / "c.pt").write_bytes(b"weightz")
    assert weights_fingerprint(tmp_path / "a.pt") == weights_fingerprint(tmp_path / "b.pt")
    assert weights_fingerprint(tmp_path / "a.pt") != weights_fingerprint(tmp_path / "c.pt")
