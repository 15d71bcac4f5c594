"""The `ews` command line, called in-process: exit codes, one-line errors, and run-folder safety."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
import torch

from ews import __version__
from ews.runs.checkpoint import load_checkpoint
from ews.cli import main
from ews.config import dump_config, load_config

TINY = ["data.limit=120", "train.epochs=1", "log.progress=false", "model.options.width=4", "train.batch_size=32"]
TINY_ARGS = [arg for item in TINY for arg in ("--set", item)]
RUN_FILES = {"checkpoint.pt", "config.yaml", "metrics.jsonl", "report.json"}


def train(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> tuple[int, str, str]:
    """`ews train --out OUT <tiny settings> EXTRA...`; returns (exit code, stdout, stderr)."""
    code = main(["train", "--out", str(out), *TINY_ARGS, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ews: error: ")
    return lines[0]


def metrics(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def finished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "run"
    code, stdout, err = train(capsys, out)
    assert code == 0, err
    return out


# --- bad input: exit 2, one line on stderr, nothing written -----------------------------------------

BAD = [
    ("ews.rho=1.5", "ews.rho"),
    ("ews.lam=-1", "ews.lam"),
    ("ews.K=0", "ews.K"),
    ("train.bogus=3", "train.bogus"),
    ("model.name=resnet1000", "resnet1000"),
    ("data.name=mnist", "mnist"),
    ("model.options.bogus=3", "bogus"),
    ("train.device=tpu", "tpu"),
]


@pytest.mark.parametrize(("item", "named"), BAD, ids=[item for item, _ in BAD])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, named: str
) -> None:
    out = tmp_path / "out"
    code, stdout, err = train(capsys, out, "--set", item)
    assert code == 2
    assert named in one_error_line(err)
    assert stdout == ""
    assert not out.exists()


def test_bad_input_leaves_an_existing_empty_out_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = train(capsys, out, "--set", "ews.rho=1.5")
    assert code == 2 and "ews.rho" in one_error_line(err)
    assert list(out.iterdir()) == []


def test_missing_cifar_root_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, root = tmp_path / "out", tmp_path / "no-such-folder"
    code, _, err = train(capsys, out, "--set", "data.name=cifar10", "--set", f"data.root={root}")
    assert code == 2
    assert str(root) in one_error_line(err)
    assert not out.exists() and not root.exists()  # nothing downloaded or created without --download


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, config = tmp_path / "out", tmp_path / "nope.yaml"
    code, _, err = train(capsys, out, "--config", str(config))
    assert code == 2 and str(config) in one_error_line(err)
    assert not out.exists()


def test_set_without_equals_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = train(capsys, tmp_path / "out", "--set", "train.epochs")
    assert code == 2 and "train.epochs" in one_error_line(err)
    assert not (tmp_path / "out").exists()


# --- a successful run --------------------------------------------------------------------------------


def test_train_writes_a_complete_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, stdout, err = train(capsys, out)
    assert code == 0, err
    assert "clean error" in stdout and str(out) in stdout and "after 1 epoch (" in stdout
    assert RUN_FILES <= {p.name for p in out.iterdir()}

    assert load_config(out / "config.yaml") == load_config(overrides=TINY)

    lines = metrics(out)
    assert [line["epoch"] for line in lines] == [1]
    for key in ("epoch", "train_loss", "train_accuracy", "test_accuracy", "seconds"):
        assert key in lines[0]
    assert 0 <= lines[0]["train_accuracy"] <= 1 and 0 <= lines[0]["test_accuracy"] <= 1

    report = json.loads((out / "report.json").read_text())
    assert 0 <= report["clean_error"] <= 100
    assert report["clean_error"] == pytest.approx(100 * (1 - lines[-1]["test_accuracy"]), abs=1e-3)
    assert isinstance(report["train_seconds"], (int, float)) and report["train_seconds"] >= 0
    assert report["epochs"] == 1

    payload = load_checkpoint(out / "checkpoint.pt")
    assert payload["format_version"] == 1 and payload["epoch"] == 1
    assert payload["config"] == load_config(overrides=TINY).to_dict()


# --- run-folder safety -------------------------------------------------------------------------------


def test_second_train_into_a_finished_run_is_refused(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(finished_run)
    code, stdout, err = train(capsys, finished_run, "--set", "seed=1")
    assert code == 2
    line = one_error_line(err)
    assert str(finished_run) in line and "--overwrite" in line
    assert snapshot(finished_run) == before  # byte-identical


def test_run_in_progress_is_refused(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (finished_run / "report.json").unlink()  # a checkpoint but no report: still training (or crashed)
    before = snapshot(finished_run)
    code, _, err = train(capsys, finished_run)
    assert code == 2
    assert "in progress" in one_error_line(err)
    assert snapshot(finished_run) == before


def test_overwrite_replaces_the_run(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = train(capsys, finished_run, "--overwrite", "--set", "seed=5")
    assert code == 0, err
    assert load_config(finished_run / "config.yaml").seed == 5
    assert [line["epoch"] for line in metrics(finished_run)] == [1]  # the old log is gone, not appended to
    assert load_checkpoint(finished_run / "checkpoint.pt")["config"]["seed"] == 5
    assert json.loads((finished_run / "report.json").read_text())["epochs"] == 1


def test_overwrite_removes_the_old_runs_evaluations_and_searches(finished_run: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    old = ["eval/eval.json", "eval-val/eval.json", "analysis/subnets.json", "search-controller/search.json"]
    for name in [*old, "notes.txt"]:
        (finished_run / name).parent.mkdir(exist_ok=True)
        (finished_run / name).write_text("{}")
    code, _, err = train(capsys, finished_run, "--overwrite", "--set", "seed=5")
    assert code == 0, err
    assert not [name for name in old if (finished_run / name.split("/")[0]).exists()]  # no old run's results
    assert (finished_run / "notes.txt").is_file()  # what the user put there stays
    assert "## Training curves" in (finished_run / "report.md").read_text()  # `ews train` writes the new report


def test_resume_continues_to_more_epochs(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = (finished_run / "metrics.jsonl").read_text()
    code = main(["train", "--out", str(finished_run), "--resume", "--set", "train.epochs=2"])
    _, err = capsys.readouterr()
    assert code == 0, err
    text = (finished_run / "metrics.jsonl").read_text()
    assert text.startswith(first)  # epoch 1 is kept as it was, not retrained
    assert [line["epoch"] for line in metrics(finished_run)] == [1, 2]
    assert load_checkpoint(finished_run / "checkpoint.pt")["epoch"] == 2
    assert json.loads((finished_run / "report.json").read_text())["epochs"] == 2
    assert load_config(finished_run / "config.yaml").train.epochs == 2


def test_resume_without_config_uses_the_run_folder_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, _, err = train(capsys, out, "--set", "method=vanilla", "--set", "seed=3", "--set", "train.lr=0.05")
    assert code == 0, err
    # No --config and none of the tiny settings: the defaults (width 16, EWS, 30 epochs) would not fit.
    code = main(["train", "--out", str(out), "--resume", "--set", "train.epochs=2"])
    _, err = capsys.readouterr()
    assert code == 0, err
    config = load_config(out / "config.yaml")
    assert (config.method, config.seed, config.train.lr) == ("vanilla", 3, 0.05)
    assert config.model.options == {"width": 4} and config.data.limit == 120
    assert config.train.epochs == 2
    assert [line["epoch"] for line in metrics(out)] == [1, 2]


def test_resume_with_another_model_is_refused(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(finished_run)
    code = main(["train", "--out", str(finished_run), "--resume", "--set", "model.options.width=8"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "checkpoint.pt" in one_error_line(err)
    assert snapshot(finished_run) == before


def test_resume_without_checkpoint_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = train(capsys, empty, "--resume")
    assert code == 2 and "checkpoint.pt" in one_error_line(err)
    assert list(empty.iterdir()) == []

    only_config = tmp_path / "only-config"
    only_config.mkdir()
    (only_config / "config.yaml").write_text(dump_config(load_config(overrides=TINY)))
    code = main(["train", "--out", str(only_config), "--resume"])
    _, err = capsys.readouterr()
    assert code == 2 and "checkpoint.pt" in one_error_line(err)
    assert {p.name for p in only_config.iterdir()} == {"config.yaml"}

    missing = tmp_path / "missing"
    code, _, err = train(capsys, missing, "--resume")
    assert code == 2 and "checkpoint.pt" in one_error_line(err)
    assert not missing.exists()


def test_resume_and_overwrite_together_exit_2(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(finished_run)
    for extra in ([], TINY_ARGS):
        code = main(["train", "--out", str(finished_run), "--resume", "--overwrite", *extra])
        _, err = capsys.readouterr()
        assert code == 2
        line = one_error_line(err)
        assert "--resume" in line and "--overwrite" in line
    assert snapshot(finished_run) == before


def test_out_that_is_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "file"
    out.write_text("keep me")
    code, _, err = train(capsys, out)
    assert code == 2 and str(out) in one_error_line(err)
    assert out.read_text() == "keep me"


# --- a checkpoint that would run code is refused ------------------------------------------------------


class _RunsCode:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_checkpoint_that_would_run_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, pwned = tmp_path / "run", tmp_path / "pwned"
    out.mkdir()
    (out / "config.yaml").write_text(dump_config(load_config(overrides=TINY)))
    checkpoint = out / "checkpoint.pt"
    torch.save({"format_version": 1, "epoch": 1, "model": _RunsCode(f"touch {pwned}")}, checkpoint)
    with zipfile.ZipFile(checkpoint) as archive:  # the file really calls os.system when unpickled
        pickled = b"".join(archive.read(name) for name in archive.namelist() if name.endswith("data.pkl"))
    assert b"system" in pickled
    before = snapshot(out)

    code = main(["train", "--out", str(out), "--resume"])
    _, err = capsys.readouterr()
    assert code == 2
    assert str(checkpoint) in one_error_line(err)
    assert not pwned.exists()
    assert snapshot(out) == before


def test_truncated_checkpoint_is_a_one_line_error(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = finished_run / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    code = main(["train", "--out", str(finished_run), "--resume", "--set", "train.epochs=2"])
    _, err = capsys.readouterr()
    assert code == 2 and str(checkpoint) in one_error_line(err)


# --- version and help ---------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"ews {__version__}"


def test_train_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--config", "--set", "--out", "--resume", "--overwrite"):
        assert flag in help_text


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_search_command_writes_search_json_comparing_with_random(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--set", "method=vanilla", "--set", "data.limit=120",
                     "--set", "train.epochs=1", "--set", "log.progress=false", "--set", "model.options.width=4"]) == 0
    out = tmp_path / "search"
    assert main(["search", "--checkpoint", str(run / "checkpoint.pt"), "--steps", "3", "--subnets", "4",
                     "--eval-images", "40", "--out", str(out)]) == 0
    result = json.loads((out / "search.json").read_text())
    assert set(result["strategies"]) == {"controller", "random"}
    assert result["controller_steps"] == 3
    assert result["strategies"]["controller"]["subnets_evaluated"] == 4
    assert result["held_out_images"] == 40
    assert "controller" in capsys.readouterr().out
    assert main(["search", "--checkpoint", str(tmp_path / "missing.pt")]) == 2


@pytest.mark.parametrize("strategy", ["l1", "controller"])
def test_search_on_an_ews_run_with_any_strategy(tmp_path: Path, strategy: str) -> None:
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--set", "data.limit=120", "--set", "train.epochs=1",
                 "--set", "log.progress=false", "--set", "model.options.width=4"]) == 0
    out = tmp_path / strategy
    assert main(["search", "--checkpoint", str(run / "checkpoint.pt"), "--strategy", strategy, "--steps", "2",
                 "--subnets", "3", "--eval-images", "30", "--out", str(out)]) == 0
    assert strategy in json.loads((out / "search.json").read_text())["strategies"]


# --- ews eval and ews corrupt ------------------------------------------------------------------------


def test_corrupt_then_eval_prints_the_table_and_writes_eval_json(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digits-c"
    code = main(["corrupt", "--dataset", "digits", "--out", str(out), "--limit", "30", "--corruptions",
                 "fog,pixelate", "--severities", "1,5", "--workers", "1", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["fog.npy", "labels.npy", "meta.json", "pixelate.npy"]
    capsys.readouterr()
    code = main(["eval", "--checkpoint", str(finished_run / "checkpoint.pt"), "--corruptions", str(out),
                 "--severities", "1", "--no-progress"])
    stdout = capsys.readouterr().out
    assert code == 0 and "| fog |" in stdout
    results = json.loads((finished_run / "eval" / "eval.json").read_text())
    assert set(results["corruptions"]) == {"fog", "pixelate"}


def test_eval_prints_each_warning_once_and_the_autoattack_estimate_without_progress(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    recwarn: pytest.WarningsRecorder,
) -> None:
    """A result's warning is in the printed table once, not again as a Python warning on stderr (other warnings
    still are); --no-progress hides bars, not AutoAttack's time estimate, which the docs promise before it starts."""
    import warnings

    from ews.attacks import error_rates

    def signs(result: dict) -> list[str]:
        warnings.warn("an unrelated library warning (test)")
        return ["a sign of gradient masking (test)"]

    monkeypatch.setattr(error_rates, "_masking_warnings", signs)
    capsys.readouterr()
    code = main(["eval", "--checkpoint", str(finished_run / "checkpoint.pt"), "--attacks", "pgd20,autoattack",
                 "--autoattack-version", "custom", "--autoattack-attacks", "apgd-ce", "--n-examples", "8",
                 "--out", str(tmp_path / "eval"), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.count("a sign of gradient masking (test)") == 1 and "gradient masking" not in err
    assert [str(w.message) for w in recwarn if "(test)" in str(w.message)] == ["an unrelated library warning (test)"]
    assert "AutoAttack custom (apgd-ce) on 8 images: at most ~" in err


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["corrupt", "--dataset", "digits", "--corruptions", "rain"], "rain"),
        (["corrupt", "--dataset", "digits", "--severities", "0-2"], "0"),
        (["corrupt", "--dataset", "mnist"], "mnist"),
        (["eval", "--attacks", "fgsm"], "fgsm"),
        (["eval", "--severities", "6"], "6"),
        (["eval", "--corruptions", "nowhere"], "nowhere"),
    ],
)
def test_eval_and_corrupt_bad_input_exit_2_and_write_nothing(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], names: str
) -> None:
    out = tmp_path / "out"
    extra = ["--checkpoint", str(finished_run / "checkpoint.pt")] if argv[0] == "eval" else []
    assert main([*argv, *extra, "--out", str(out), "--no-progress"]) == 2
    assert names in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_eval_of_a_missing_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in one_error_line(capsys.readouterr().err)


# --- ews report STUDY --reference: a study paired with another of its variants ---------------------------

@pytest.fixture
def study_folder(tmp_path: Path) -> Path:
    """A study folder as `ews sweep` leaves it (study.json and its report), from made-up scores."""
    from ews.analysis.study.report import write_study_report
    from ews.analysis.study.results import study_results

    from ..analysis.study.fakes import three_variants

    spec, runs = three_variants()
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study.json").write_text(json.dumps(study_results(spec, runs, wall_seconds=1.0)))
    write_study_report(folder)
    return folder


def test_report_reference_writes_its_own_folder_and_leaves_the_study_alone(
        study_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(study_folder)
    assert main(["report", str(study_folder), "--reference", "ews-random"]) == 0
    assert snapshot(study_folder) == before
    paired = study_folder / "vs-ews-random"
    assert json.loads((paired / "study.json").read_text())["reference"] == "ews-random"
    text = (paired / "study.md").read_text()
    assert "## Paired differences to ews-random" in text
    assert "| ews | -0.33 [" in text  # ews minus ews-random over seeds 1-3: -0.5, +0.5, -1.0
    assert (paired / "study.png").is_file() and str(paired / "study.html") in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "expected"), [
    (["--reference", "ews-l1"], "'ews-l1' is not a variant of this study; its variants: vanilla, ews, ews-random"),
    (["--reference", "ews", "--out", "SELF"], "is the study folder itself"),
])
def test_report_reference_bad_input_is_one_line_and_writes_nothing(
        study_folder: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str) -> None:
    before = snapshot(study_folder)
    args = [str(study_folder) if a == "SELF" else a for a in extra]
    assert main(["report", str(study_folder), *args]) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert snapshot(study_folder) == before and not list(study_folder.glob("vs-*"))


def test_report_reference_needs_a_study_folder(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["report", str(finished_run), "--reference", "ews"]) == 2
    assert "--reference needs one study folder" in one_error_line(capsys.readouterr().err)
