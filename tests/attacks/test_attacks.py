"""Attacks: our PGD stays in its budget and raises the loss; AutoAttack is stronger, quiet and resumable."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from ews.attacks import STATE_FILE, PGDSettings, adversarial_errors, autoattack, pgd
from ews.attacks import resume
from ews.attacks.autoattack_adapter import AutoAttack
from ews.attacks.error_rates import _masking_warnings
from ews.errors import CheckpointError, ConfigError

EPS = 0.1


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A linear classifier trained briefly on sklearn's 8x8 digits (as 3-channel images), and 48 test images."""
    bunch = load_digits()
    images = torch.tensor(bunch.data, dtype=torch.float32).view(-1, 1, 8, 8).div(16).repeat(1, 3, 1, 1)
    labels = torch.tensor(bunch.target)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        F.cross_entropy(model(images[:1000]), labels[:1000]).backward()
        optimizer.step()
    return model.eval(), images[1000:1048], labels[1000:1048]


def _conv_bn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(4 * 8 * 8, 5))


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize(("loss", "start"), [("ce", "uniform"), ("kl", "normal"), ("ce", "none")])
def test_pgd_stays_in_the_ball_and_the_unit_box_and_raises_the_loss(digits, norm: str, loss: str, start: str) -> None:
    model, x, y = digits
    eps = EPS if norm == "linf" else 4 * EPS
    x_adv = pgd(model, x, y, eps=eps, step_size=eps / 4, steps=10, norm=norm, loss=loss, random_start=start,
                generator=torch.Generator().manual_seed(0))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert size.max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        if loss == "ce":
            assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y) + 0.1
        else:
            kl = F.kl_div(F.log_softmax(model(x_adv), 1), F.log_softmax(model(x), 1), log_target=True,
                          reduction="batchmean")
            assert kl > 0.05


def test_pgd_with_zero_eps_returns_the_input(digits) -> None:
    model, x, y = digits
    assert torch.equal(pgd(model, x, y, eps=0, step_size=0.01, steps=3), x)


def test_pgd_is_reproducible_from_its_generator_and_leaves_the_global_rng(digits) -> None:
    model, x, y = digits
    state = torch.get_rng_state()
    first, second = (pgd(model, x, y, eps=EPS, step_size=0.02, steps=2, generator=torch.Generator().manual_seed(3))
                     for _ in range(2))
    assert torch.equal(first, second) and torch.equal(torch.get_rng_state(), state)


def test_targeted_pgd_moves_predictions_to_the_target(digits) -> None:
    model, x, _ = digits
    target = torch.full((len(x),), 3)
    x_adv = pgd(model, x, target, eps=0.3, step_size=0.05, steps=10, targeted=True)
    with torch.no_grad():
        assert (model(x_adv).argmax(1) == 3).float().mean() > (model(x).argmax(1) == 3).float().mean() + 0.5


def test_pgd_leaves_modes_gradients_and_batchnorm_statistics_alone() -> None:
    model = _conv_bn().train()
    model[4].eval()  # a submodule's own mode must survive too
    model[0].bias.requires_grad_(False)
    grad = torch.ones_like(model[5].weight)
    model[5].weight.grad = grad.clone()
    stats = [b.clone() for b in model[1].buffers()]
    x, y = torch.rand(6, 3, 8, 8), torch.randint(0, 5, (6,))
    pgd(model, x, y, eps=EPS, step_size=0.03, steps=3)
    assert [m.training for m in model] == [True, True, True, True, False, True]
    assert [p.requires_grad for p in model.parameters()] == [True, False, True, True, True, True]
    assert torch.equal(model[5].weight.grad, grad) and model[0].weight.grad is None
    assert all(torch.equal(a, b) for a, b in zip(stats, model[1].buffers()))


def test_pgd_in_train_mode_uses_batch_statistics_when_asked() -> None:
    model = _conv_bn().eval()
    before = model[1].running_mean.clone()
    pgd(model, torch.rand(6, 3, 8, 8), torch.randint(0, 5, (6,)), eps=EPS, step_size=0.03, steps=1, mode="train")
    assert not torch.equal(model[1].running_mean, before) and not model.training


def test_robust_errors_are_ordered_clean_pgd_autoattack(digits) -> None:
    model, x, y = digits
    result = adversarial_errors(model, x, y, eps=EPS, batch_size=24, version="custom",
                                autoattack_attacks=["apgd-ce", "apgd-t"])
    assert result["adv_examples"] == len(x)
    assert result["clean_error"] < result["pgd20_error"] <= result["autoattack_error"] <= 100
    assert result["warnings"] == []
    only_pgd = adversarial_errors(model, x, y, attacks=("pgd20",), eps=EPS, batch_size=24)
    assert "autoattack_error" not in only_pgd and only_pgd["pgd20_error"] == result["pgd20_error"]


def test_autoattack_images_stay_in_budget_and_the_call_is_quiet(digits, capsys, recwarn) -> None:
    model, x, y = digits
    model.train()
    state = torch.get_rng_state()
    x_adv = autoattack(model, x, y, eps=EPS, version="custom", attacks=["apgd-ce"], batch_size=24)
    assert model.training and torch.equal(torch.get_rng_state(), state)
    model.eval()
    assert (x_adv - x).abs().max() <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert (model(x_adv).argmax(1) == y).sum() < (model(x).argmax(1) == y).sum()
    assert capsys.readouterr() == ("", "") and len(recwarn) == 0


def test_autoattack_progress_gives_an_estimate_then_each_attacks_robust_accuracy(digits, capsys) -> None:
    model, x, y = digits
    autoattack(model, x, y, eps=EPS, version="custom", attacks=["apgd-ce", "apgd-t"], batch_size=24, progress=True)
    err = capsys.readouterr().err
    assert f"on {len(x)} images: at most ~" in err and " min here" in err  # before any attack ran
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("robust accuracy after")]
    assert [line.split(":")[0] for line in lines] == ["robust accuracy after apgd-ce", "robust accuracy after apgd-t"]
    assert all("points left)" in line and "s elapsed" in line for line in lines)
    assert err.index("at most ~") < err.index("robust accuracy after apgd-ce")


def test_autoattack_resumes_after_an_interruption(digits, tmp_path, monkeypatch) -> None:
    model, x, y = digits
    settings = {"eps": EPS, "version": "custom", "attacks": ["apgd-ce", "apgd-t"], "batch_size": 8}
    uninterrupted = autoattack(model, x, y, **settings)
    monkeypatch.setattr(resume, "_SAVE_EVERY_S", 0.0)
    run = AutoAttack.run_standard_evaluation
    calls = []

    def stop_at_the_third_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return run(self, *args, **kwargs)

    monkeypatch.setattr(AutoAttack, "run_standard_evaluation", stop_at_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        autoattack(model, x, y, state_dir=tmp_path, **settings)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["current"] == "apgd-ce" and len(state["todo"]) > 0
    resumed = autoattack(model, x, y, state_dir=tmp_path, **settings)
    assert torch.equal(resumed, uninterrupted)
    calls.clear()
    assert torch.equal(autoattack(model, x, y, state_dir=tmp_path, **settings), uninterrupted) and not calls


def test_a_state_folder_of_another_evaluation_is_refused(digits, tmp_path) -> None:
    model, x, y = digits
    autoattack(model, x[:8], y[:8], eps=EPS, version="custom", attacks=["apgd-ce"], state_dir=tmp_path)
    with pytest.raises(CheckpointError, match="another evaluation"):
        autoattack(model, x[:8], y[:8], eps=EPS / 2, version="custom", attacks=["apgd-ce"], state_dir=tmp_path)


class _NoGradient(torch.autograd.Function):
    """Identity forward, zero backward: the simplest gradient masking."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


class _Masked(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(_NoGradient.apply(x))


def test_masked_gradients_random_and_probability_outputs_are_flagged(digits) -> None:
    model, x, y = digits
    masked = adversarial_errors(_Masked(model), x, y, eps=0.02, batch_size=24, version="custom",
                                autoattack_attacks=["apgd-t"])  # the library checks gradients with DLR losses
    assert any("zero gradient" in w for w in masked["warnings"])
    assert any("PGD-20 changed no correct prediction" in w for w in masked["warnings"])
    noisy = nn.Sequential(model, nn.Dropout(0.5))
    noisy[1].eval = lambda: noisy[1]  # a layer that stays random in eval mode
    noisy[1].train = lambda mode=True: noisy[1]
    assert any("randomized" in w for w in adversarial_errors(noisy, x, y, attacks=("pgd20",), eps=EPS)["warnings"])
    softmax = nn.Sequential(model, nn.Softmax(dim=1))
    assert any("probability" in w for w in adversarial_errors(softmax, x, y, attacks=("pgd20",), eps=EPS)["warnings"])


def test_bad_settings_are_one_line_config_errors(digits) -> None:
    model, x, y = digits
    with pytest.raises(ConfigError, match="PGD eps must be"):
        PGDSettings(eps=-1.0)
    with pytest.raises(ConfigError, match="PGD norm must be one of linf, l2, got 'l3'"):
        pgd(model, x, y, eps=EPS, step_size=0.01, steps=1, norm="l3")
    with pytest.raises(ConfigError, match="attacks must be given exactly when version is 'custom'"):
        autoattack(model, x, y, eps=EPS, version="custom")
    with pytest.raises(ConfigError, match="attack must be one of pgd20, autoattack"):
        adversarial_errors(model, x, y, attacks=("fgsm",))


def test_pgd_far_below_autoattack_is_flagged_as_gradient_masking() -> None:
    masked = _masking_warnings({"clean_error": 10.0, "pgd20_error": 20.0, "autoattack_error": 45.0})
    assert len(masked) == 1 and "gradient masking" in masked[0]
    assert _masking_warnings({"clean_error": 10.0, "pgd20_error": 40.0, "autoattack_error": 45.0}) == []


def test_pgd_works_inside_no_grad_and_inference_mode(digits) -> None:
    model, x, y = digits
    expected = pgd(model, x, y, eps=EPS, step_size=0.03, steps=3, random_start="none")
    with torch.no_grad():
        assert torch.equal(pgd(model, x, y, eps=EPS, step_size=0.03, steps=3, random_start="none"), expected)
    with torch.inference_mode():
        x_inf, y_inf = x.clone(), y.clone()
        assert torch.equal(pgd(model, x_inf, y_inf, eps=EPS, step_size=0.03, steps=3, random_start="none"), expected)
