"""`ews eval --model torchvision:NAME|timm:NAME|module:factory --weights FILE --normalize N`: any classifier."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from ews.cli import main
from ews.errors import CheckpointError, ConfigError, UserError
from ews.evaluation import ExternalModel, load_external

DIGITS = ["--dataset", "digits", "--set", "data.limit=40", "--no-progress", "--device", "cpu"]


def _weights(tmp_path: Path, name: str = "resnet18.pth") -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    path = tmp_path / name
    if path.suffix == ".safetensors":
        save_file(net.state_dict(), str(path))
    else:
        torch.save({"state_dict": net.state_dict(), "epoch": 3}, path)  # as many training scripts save it
    return path, net.eval()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_torchvision_model_is_evaluated_like_a_checkpoint(tmp_path: Path, suffix: str, capsys) -> None:
    weights, _ = _weights(tmp_path, f"resnet18{suffix}")
    assert main(["eval", "--model", "torchvision:resnet18", "--weights", str(weights), "--normalize", "imagenet",
                 "--attacks", "pgd20", "--n-examples", "4", *DIGITS]) == 0
    results = json.loads((tmp_path / "eval-resnet18" / "eval.json").read_text())
    assert results["model"] == "torchvision:resnet18" and results["method"] == "external"
    assert results["normalization"] == "imagenet" and 0 <= results["clean_error"] <= 100
    assert "pgd20_error" in results


def test_the_loaded_model_computes_what_the_original_does(tmp_path: Path) -> None:
    weights, net = _weights(tmp_path)
    trained = load_external(ExternalModel("torchvision:resnet18", weights, "0.5,0.5,0.5/0.25,0.25,0.25", "digits",
                                          ("data.limit=40",)), device=torch.device("cpu"))
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(trained.model(x), net((x - 0.5) / 0.25))


def test_a_user_factory_and_a_timm_model_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_nets.py").write_text(
        "import torch\n\ndef tiny(num_classes):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(0)
    from my_nets import tiny  # noqa: E402

    torch.save(tiny(10).state_dict(), tmp_path / "tiny.pt")
    trained = load_external(ExternalModel("my_nets:tiny", tmp_path / "tiny.pt", "none", "digits", ("data.limit=40",)),
                            device=torch.device("cpu"))
    assert trained.model(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    import timm

    torch.save(timm.create_model("resnet18", num_classes=10).state_dict(), tmp_path / "timm.pt")
    load_external(ExternalModel("timm:resnet18", tmp_path / "timm.pt", "imagenet", "digits", ("data.limit=40",)),
                  device=torch.device("cpu"))


@pytest.mark.parametrize(("args", "error", "message"), [
    (["--model", "torchvision:resnet18"], ConfigError, "needs --weights, --normalize, --dataset"),
    (["--model", "torchvision:nonet", "--weights", "W", "--normalize", "imagenet", "--dataset", "digits"],
     ConfigError, "torchvision has no model 'nonet'"),
    (["--model", "no_such_module:f", "--weights", "W", "--normalize", "imagenet", "--dataset", "digits"],
     ConfigError, "does not resolve: ModuleNotFoundError: .*current folder, then on sys.path: set PYTHONPATH"),
    (["--model", "resnet18", "--weights", "W", "--normalize", "imagenet", "--dataset", "digits"],
     ConfigError, "must be torchvision:NAME, timm:NAME or package.module:factory"),
    (["--model", "torchvision:resnet34", "--weights", "W", "--normalize", "imagenet", "--dataset", "digits"],
     CheckpointError, "do not fit torchvision:resnet34: .*missing \\(e.g. layer1.2.conv1.weight\\)"),
    (["--model", "torchvision:resnet18", "--weights", "W", "--normalize", "bgr", "--dataset", "digits"],
     ConfigError, "--normalize 'bgr' is not one of imagenet, cifar10, cifar100, none"),
    (["--checkpoint", "C", "--normalize", "imagenet"], ConfigError, "--normalize goes with --model"),
    ([], ConfigError, "needs --checkpoint FILE, or --model SPEC"),
])
def test_bad_model_arguments_fail_in_one_line_before_any_work(tmp_path: Path, args, error, message, capsys) -> None:
    weights, _ = _weights(tmp_path)
    args = [str(weights) if a == "W" else a for a in args]
    assert main(["eval", *args, "--set", "data.limit=40", "--device", "cpu", "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), lines
    assert issubclass(error, UserError) and not (tmp_path / "out").exists()


def test_a_user_module_in_the_current_folder_resolves_as_python_m_finds_it(tmp_path: Path, monkeypatch) -> None:
    name = "ews_test_cwd_nets"  # a name no other test imports: sys.modules must not already hold it
    (tmp_path / f"{name}.py").write_text(
        "import torch\n\ndef build(num_classes):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, num_classes))\n")
    torch.save({"1.weight": torch.zeros(10, 3 * 32 * 32), "1.bias": torch.arange(10.0)}, tmp_path / "w.pt")
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert main(["eval", "--model", f"{name}:build", "--weights", "w.pt", "--normalize", "none", *DIGITS]) == 0
    assert json.loads((tmp_path / "eval-w" / "eval.json").read_text())["clean_error"] == pytest.approx(90.0)
    assert sys.path == before  # the folder was importable for the import only
    monkeypatch.delitem(sys.modules, name)


def test_missing_data_says_what_works_in_ews_eval(tmp_path: Path, capsys) -> None:
    weights, _ = _weights(tmp_path)
    args = ["eval", "--model", "torchvision:resnet18", "--weights", str(weights), "--normalize", "imagenet",
            "--dataset", "cifar10", "--set", f"data.root={tmp_path / 'none'}", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "cifar10 folder not found" in lines[0], lines
    assert "ews eval does not download: point data.root at the folder holding it (--set data.root=DIR)" in lines[0]
    assert "ews.data.load('cifar10', root='DIR', train=False, download=True)" in lines[0]
    assert " --download" not in lines[0] and not (tmp_path / "out").exists()


def test_a_checkpoint_whose_data_moved_is_scored_with_set_data_root(tmp_path: Path, capsys) -> None:
    from ews.config import load_config
    from ews.runs.run_dir import RunDir
    from ews.training.trainer import Trainer

    from ..data.fake_cifar import write_cifar10

    write_cifar10(tmp_path / "old", per_batch=8)
    Trainer(load_config(overrides=["data.name=cifar10", f"data.root={tmp_path / 'old'}", "train.epochs=1",
                                   "log.progress=false", "model.options.width=4", "method=vanilla"])
            ).fit(RunDir(tmp_path / "run"))
    (tmp_path / "old").rename(tmp_path / "new")
    eval_args = ["eval", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--device", "cpu", "--no-progress"]
    assert main([*eval_args, "--out", str(tmp_path / "e1")]) == 2
    assert "--set data.root=DIR" in capsys.readouterr().err and not (tmp_path / "e1").exists()
    assert main([*eval_args, "--set", f"data.root={tmp_path / 'new'}", "--out", str(tmp_path / "e2")]) == 0
    assert json.loads((tmp_path / "e2" / "eval.json").read_text())["settings"]["images"] == 8
