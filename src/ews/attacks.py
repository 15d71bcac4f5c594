"""Adversarial attacks on [0, 1] images: our PGD and an AutoAttack adapter (paper Sec. 3.4, Table 4).

Models take pixels in [0, 1] and normalise inside (their own `Normalize` layer), so every attack
works in pixel space and every adversarial image stays in [0, 1] and in the eps-ball
around its clean image. Errors are in percent.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import pickle
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pyautoattack import AutoAttack, checks
from torch import Tensor, nn
from tqdm import tqdm

from .errors import CheckpointError, ConfigError
from .runs.checkpoint import atomic_write_bytes, atomic_write_text
from .runtime import model_mode, module_device
from .runtime import progress as bars
from .subnets import unwrap

NORMS = ("linf", "l2")
LOSSES = ("ce", "kl")
STARTS = ("uniform", "normal", "none")
TRAIN_EPS = 8 / 255  # the CIFAR-10 L-inf budget of every Table 4 row
TRAIN_STEP_SIZE = 2 / 255
TRAIN_STEPS = 10  # PGD-10 for adversarial training (Sec. 4.2)
EVAL_STEPS = 20  # the PGD-20 column of Table 4
TRADES_START_STD = 1e-3  # TRADES' own start: x + 0.001 * N(0, 1)
AUTOATTACK_VERSIONS = ("standard", "plus", "rand", "custom")
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
EVAL_ATTACKS = ("pgd20", "autoattack")
STATE_FILE = "autoattack_state.json"
# AutoAttack (APGD, Square) is strictly stronger than PGD-20; PGD-20 finding far fewer
# adversarial examples means its gradients mislead it (Croce & Hein 2020, Sec. 5).
MASKING_MARGIN = 10.0
_LIBRARY_NORMS = {"linf": "Linf", "l2": "L2"}
_LOGGER = logging.getLogger("auto-attack")  # the logger pyautoattack reports through
_NOTES = logging.getLogger(__name__)  # what the user should know without progress bars (the `ews` CLI shows it)
_SAVE_EVERY_S = 60.0


def _check_choice(what: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def _check_number(what: str, value: object, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value >= 0 or not math.isfinite(value):
        raise ConfigError(f"{what} must be {'an integer' if integer else 'a finite number'} >= 0, got {value!r}")


@dataclass(frozen=True)
class PGDSettings:
    """One PGD budget: the training default is PGD-10, L-inf eps 8/255, step 2/255 (Table 4)."""

    eps: float = TRAIN_EPS
    step_size: float = TRAIN_STEP_SIZE
    steps: int = TRAIN_STEPS
    norm: str = "linf"

    def __post_init__(self) -> None:
        _check_number("PGD eps", self.eps)
        _check_number("PGD step size", self.step_size)
        _check_number("PGD steps", self.steps, integer=True)
        _check_choice("PGD norm", self.norm, NORMS)


@contextmanager
def _input_gradients_only(model: nn.Module) -> Iterator[None]:
    """Autograd on (even under no_grad / inference_mode), parameters frozen: attacks need d loss / d x only."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _autograd_ready(t: Tensor | None) -> Tensor | None:
    """Detached, and copied if it was made under inference_mode (such tensors cannot enter autograd)."""
    if t is None:
        return None
    return t.clone() if t.is_inference() else t.detach()


def _per_sample(values: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, 1, ...) to broadcast over a batch shaped like `like`."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def _l2(t: Tensor) -> Tensor:
    return _per_sample(t.flatten(1).norm(dim=1), t)


def _noise(shape: tuple[int, ...], like: Tensor, kind: str, generator: torch.Generator | None) -> Tensor:
    """Uniform [0, 1) or standard normal noise placed like `like`, drawn from `generator` (global RNG if None)."""
    device = like.device if generator is None else generator.device
    draw = torch.rand if kind == "uniform" else torch.randn
    return draw(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _start(x: Tensor, *, eps: float, norm: str, kind: str, generator: torch.Generator | None) -> Tensor:
    """The first perturbation: uniform in the ball (Madry et al.'s AT), TRADES' small Gaussian, or none."""
    if kind == "none":
        return torch.zeros_like(x)
    if kind == "normal":
        return TRADES_START_STD * _noise(x.shape, x, "normal", generator)
    if norm == "linf":
        return eps * (2 * _noise(x.shape, x, "uniform", generator) - 1)
    direction = _noise(x.shape, x, "normal", generator)
    # Radius eps * U^(1/d) makes the point uniform in the d-dimensional ball, not just on its sphere.
    radius = eps * _noise((len(x),), x, "uniform", generator) ** (1 / x[0].numel())
    return direction / _l2(direction).clamp_min(1e-12) * _per_sample(radius, x)


def _project(x_adv: Tensor, x: Tensor, *, eps: float, norm: str) -> Tensor:
    """Back into the eps-ball around `x`, then into [0, 1] (which only shrinks the perturbation)."""
    if norm == "linf":
        x_adv = torch.clamp(x_adv, x - eps, x + eps)
    else:
        delta = x_adv - x
        x_adv = x + delta * (eps / _l2(delta).clamp_min(1e-12)).clamp(max=1.0)
    return x_adv.clamp(0.0, 1.0)


def _ascent_direction(grad: Tensor, norm: str) -> Tensor:
    """Steepest ascent under the norm: the sign for L-inf, the unit gradient for L2."""
    if norm == "linf":
        return grad.sign()
    return grad / _l2(grad).clamp_min(1e-12)


def _attack_loss(logits: Tensor, target: Tensor, loss: str) -> Tensor:
    """Summed over the batch, so each image's gradient is its own loss's gradient."""
    if loss == "ce":
        return F.cross_entropy(logits, target, reduction="sum")
    return F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(target, dim=1), log_target=True, reduction="sum")


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None,
    *,
    eps: float,
    step_size: float,
    steps: int,
    norm: str = "linf",
    loss: str = "ce",
    random_start: str = "uniform",
    targeted: bool = False,
    reference: Tensor | None = None,
    mode: str | None = "eval",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Projected gradient ascent on the loss within the `norm` ball of radius `eps` (Madry et al. 2018).

    `loss='ce'` attacks the labels `y` (AT); `loss='kl'` maximises KL(p(x) || p(x'))
    against `reference` logits, by default the model's own on `x` (TRADES, Zhang et al.
    2019; `y` may be None). `random_start`: 'uniform' in the ball (AT), 'normal' =
    x + 0.001 N(0, 1) (TRADES' code) or 'none'. `targeted` descends the loss towards
    `y` instead. The model runs in `mode` (None: as it is); its modes, parameters and
    their `.grad` are as before afterwards. x: (B, C, H, W) in [0, 1]; returns a
    detached tensor like `x`, in [0, 1] and within `eps` of `x`; `eps = 0` returns `x`.
    """
    PGDSettings(eps=eps, step_size=step_size, steps=steps, norm=norm)
    _check_choice("PGD loss", loss, LOSSES)
    _check_choice("PGD random start", random_start, STARTS)
    if loss == "ce" and y is None:
        raise ValueError("PGD with loss='ce' needs the labels y")
    if eps == 0:
        return x.detach().clone()
    net = unwrap(model)
    with model_mode(net, mode), _input_gradients_only(net):
        x, y, reference = (_autograd_ready(t) for t in (x, y, reference))
        if loss == "kl" and reference is None:
            with torch.no_grad():
                reference = net(x)
        target = y if loss == "ce" else reference.detach()
        sign = -1.0 if targeted else 1.0
        x_adv = _project(x + _start(x, eps=eps, norm=norm, kind=random_start, generator=generator), x, eps=eps, norm=norm)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(_attack_loss(net(x_adv), target, loss), x_adv)
            step = sign * step_size * _ascent_direction(grad, norm)
            x_adv = _project(x_adv.detach() + step, x, eps=eps, norm=norm)
    return x_adv.detach()


class _Collect(logging.Handler):
    """Keeps the warnings pyautoattack logs (its gradient-masking and randomness checks)."""

    def __init__(self, found: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.found:
            self.found.append(message)


@contextmanager
def _library_messages(verbose: bool) -> Iterator[list[str]]:
    """Collect pyautoattack's warnings; its progress log reaches stderr only when `verbose`."""
    found: list[str] = []
    handlers: list[logging.Handler] = [_Collect(found)]
    if verbose:
        handlers.append(logging.StreamHandler())
    saved = (_LOGGER.level, _LOGGER.propagate)
    _LOGGER.setLevel(logging.DEBUG if verbose else logging.WARNING)
    _LOGGER.propagate = False
    for handler in handlers:
        _LOGGER.addHandler(handler)
    try:
        yield found
    finally:
        for handler in handlers:
            _LOGGER.removeHandler(handler)
        _LOGGER.setLevel(saved[0])
        _LOGGER.propagate = saved[1]


def _digest(settings: dict[str, Any], tensors: Iterable[tuple[str, Tensor]]) -> str:
    """What a saved AutoAttack state belongs to: settings, images, labels and model weights."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in tensors:
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class _Progress:
    """AutoAttack progress, saved so a long evaluation resumes where it stopped.

    pyautoattack 0.2's own `state_path` cannot resume (it writes the attack set as a
    string and then refuses it) and returns only the images of the resumed run, so we
    keep our own: robust flags, finished attacks, the indices the current attack still
    has to visit, and each batch's successful adversarial images in its own file.
    """

    folder: Path | None
    digest: str
    robust: Tensor  # (N,) bool
    done: list[str] = field(default_factory=list)
    current: str | None = None
    todo: list[int] = field(default_factory=list)
    parts: int = 0
    saved_at: float = 0.0

    @classmethod
    def open(cls, folder: Path | None, digest: str, n: int) -> _Progress:
        progress = cls(folder, digest, torch.ones(n, dtype=torch.bool))
        state = None if folder is None else folder / STATE_FILE
        if state is None or not state.is_file():
            return progress
        try:
            data = json.loads(state.read_text())
            if data["digest"] != digest:
                raise CheckpointError(
                    f"{state} belongs to another evaluation (model, images or AutoAttack settings differ): "
                    "delete it or choose another state folder"
                )
            progress.robust = torch.tensor(data["robust"], dtype=torch.bool)
            progress.done, progress.current, progress.todo, progress.parts = (
                data["done"], data["current"], data["todo"], data["parts"]
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{state} is not an AutoAttack state file ({error})") from None
        return progress

    def _part(self, index: int) -> Path:
        assert self.folder is not None
        return self.folder / f"autoattack_adv_{index:05d}.pt"

    def restore(self, x_adv: Tensor) -> None:
        """Write the adversarial images found before an interruption into `x_adv`."""
        for index in range(self.parts):
            try:
                part = torch.load(self._part(index), weights_only=True)
                x_adv[part["indices"]] = part["images"].to(x_adv.device, x_adv.dtype)
            except (OSError, RuntimeError, KeyError, pickle.UnpicklingError) as error:
                raise CheckpointError(f"cannot resume AutoAttack from {self._part(index)}: {error}") from None

    def todo_for(self, attack: str) -> Tensor:
        if self.current != attack:
            self.current, self.todo = attack, self.robust.nonzero().flatten().tolist()
        return torch.tensor(self.todo, dtype=torch.long)

    def record(self, broken: Tensor, images: Tensor, todo: Tensor, *, now: float) -> None:
        self.robust[broken] = False
        self.todo = todo.tolist()
        if self.folder is None:
            return
        if broken.numel():
            buffer = io.BytesIO()
            torch.save({"indices": broken.cpu(), "images": images.detach().cpu()}, buffer)
            atomic_write_bytes(self._part(self.parts), buffer.getvalue())
            self.parts += 1
        if now - self.saved_at >= _SAVE_EVERY_S:
            self.save(now=now)

    def finish(self, attack: str, *, now: float) -> None:
        self.done.append(attack)
        self.current, self.todo = None, []
        self.save(now=now)

    def save(self, *, now: float) -> None:
        if self.folder is None:
            return
        self.saved_at = now
        data = {"digest": self.digest, "robust": self.robust.tolist(), "done": self.done,
                "current": self.current, "todo": self.todo, "parts": self.parts}
        atomic_write_text(self.folder / STATE_FILE, json.dumps(data))


def library_adversary(model: nn.Module, *, eps: float, norm: str, version: str, attacks: Sequence[str] | None,
               seed: int, device: torch.device, num_classes: int) -> AutoAttack:
    """The library's attack, with targeted attacks limited to the classes the model has."""
    adversary = AutoAttack(model, attacks=None if attacks is None else list(attacks), device=device, eps=eps,
                           norm=_LIBRARY_NORMS[norm], seed=seed, version=version)
    adversary.apgd_targeted.n_target_classes = min(adversary.apgd_targeted.n_target_classes, num_classes - 1)
    adversary.fab.n_target_classes = min(adversary.fab.n_target_classes, num_classes - 1)
    return adversary


def check_autoattack_choice(*, version: str, attacks: Sequence[str] | None) -> None:
    """AutoAttack's version and, for 'custom', its attack list: checkable before a model is loaded."""
    _check_choice("AutoAttack version", version, AUTOATTACK_VERSIONS)
    if (version == "custom") != (attacks is not None):
        raise ConfigError("--autoattack-attacks: AutoAttack attacks must be given exactly when version is 'custom'")
    for attack in attacks or ():
        _check_choice("AutoAttack attack", attack, AUTOATTACK_ATTACKS)


def _check_autoattack(*, eps: float, norm: str, version: str, attacks: Sequence[str] | None, batch_size: int) -> None:
    _check_number("AutoAttack eps", eps)
    _check_choice("AutoAttack norm", norm, NORMS)
    check_autoattack_choice(version=version, attacks=attacks)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size must be an integer >= 1, got {batch_size!r}")


def passes_per_image(adversary: AutoAttack, attack: str, num_classes: int) -> float:
    """Forward-backward passes one image costs in `attack` if it stays robust (the library's settings)."""
    a, t, f, s = adversary.apgd, adversary.apgd_targeted, adversary.fab, adversary.square
    return {
        "apgd-ce": a.n_iter * a.n_restarts * a.eot_iter,
        "apgd-dlr": a.n_iter * a.n_restarts * a.eot_iter,
        "apgd-t": t.n_iter * t.n_target_classes * t.n_restarts * t.eot_iter,
        "fab": f.n_iter * f.n_restarts * num_classes,  # the gradient of every logit per step
        "fab-t": f.n_iter * f.n_target_classes,  # the library runs one restart per target
        "square": s.n_queries * s.n_restarts / 3,  # forward passes only
    }[attack]


def seconds_per_pass(net: nn.Module, x: Tensor, device: torch.device) -> float:
    """Measured time of one forward-backward pass per image on this machine (after one warm-up)."""
    xb = x.to(device).requires_grad_(True)
    for _ in range(2):
        start = time.perf_counter()
        torch.autograd.grad(net(xb).sum(), xb)  # the input's gradient only: parameters' .grad stay as they are
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / len(x)


def _announce(adversary: AutoAttack, net: nn.Module, x: Tensor, *, version: str, batch_size: int,
              num_classes: int, device: torch.device, progress_bar: bool) -> None:
    """The up-front estimate: an upper bound, as each attack runs only on the images still robust.

    It is information, not progress: with progress it is printed to stderr, without it
    logged at INFO on `ews.attacks`, which the `ews` CLI prints (`--no-progress` keeps it)
    and a library caller sees only if it configures logging.
    """
    per_pass = seconds_per_pass(net, x[:batch_size], device)
    passes = sum(passes_per_image(adversary, attack, num_classes) for attack in adversary.attacks_to_run)
    minutes = passes * per_pass * len(x) / 60
    message = (f"AutoAttack {version} ({', '.join(adversary.attacks_to_run)}) on {len(x)} images: at most "
               f"~{minutes:.1f} min here if no image breaks, usually far less; time grows with --n-examples, "
               "and --autoattack-version custom --autoattack-attacks apgd-ce,apgd-t is the cheaper check")
    if progress_bar:
        tqdm.write(message, file=sys.stderr)
    else:
        _NOTES.info(message)


def _run_autoattack(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, version: str,
                    attacks: Sequence[str] | None, batch_size: int, seed: int, state_dir: Path | None,
                    device: torch.device, verbose: bool, progress_bar: bool = False) -> tuple[Tensor, Tensor, list[str]]:
    """(adversarial images, robust flags (N,) bool, the library's warnings); see `autoattack`."""
    net = unwrap(model)
    x_adv = x.detach().clone()
    y_cpu = y.cpu()
    with model_mode(net, "eval"), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        with torch.no_grad():
            num_classes = net(x[:1].to(device)).shape[1]
        settings = {"eps": eps, "norm": norm, "version": version, "attacks": attacks, "seed": seed}
        digest = _digest(settings, [("x", x), ("y", y), *net.state_dict().items()])
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
        progress = _Progress.open(state_dir, digest, len(x))
        progress.restore(x_adv)
        with _library_messages(verbose) as found:
            adversary = library_adversary(net, eps=eps, norm=norm, version=version, attacks=attacks, seed=seed,
                                   device=device, num_classes=num_classes)
            if progress_bar or _NOTES.isEnabledFor(logging.INFO):
                _announce(adversary, net, x, version=version, batch_size=batch_size, num_classes=num_classes,
                          device=device, progress_bar=progress_bar)
            start = time.monotonic()
            for attack in list(adversary.attacks_to_run):
                if attack in progress.done:
                    continue
                adversary.attacks_to_run = [attack]
                todo = progress.todo_for(attack)
                with bars.progress_bar(total=len(todo), unit="img", desc=f"AutoAttack {attack}",
                                       enabled=progress_bar) as bar:
                    while todo.numel():
                        chunk, todo = todo[:batch_size], todo[batch_size:]
                        images, predicted = adversary.run_standard_evaluation(x[chunk], y[chunk], batch_size=batch_size)
                        broken = predicted.cpu() != y_cpu[chunk]
                        x_adv[chunk[broken]] = images[broken].to(x_adv.device)
                        progress.record(chunk[broken], images[broken], todo, now=time.monotonic())
                        bar.update(len(chunk))
                progress.finish(attack, now=time.monotonic())
                if progress_bar:
                    left = int(progress.robust.sum())
                    tqdm.write(f"robust accuracy after {attack}: {100 * left / len(x):.2f}% ({left} of {len(x)} "
                               f"points left), {time.monotonic() - start:.1f} s elapsed", file=sys.stderr)
    return x_adv, progress.robust.clone(), found


class RobustnessWarning(UserWarning):
    """A sign that a robustness number may be unreliable (gradient masking, randomness, probabilities as output)."""


def autoattack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: str = "linf",
    version: str = "standard",
    attacks: Sequence[str] | None = None,
    batch_size: int = 250,
    seed: int = 0,
    state_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    verbose: bool = False,
    progress: bool = False,
) -> Tensor:
    """AutoAttack (Croce & Hein 2020) adversarial images, the paper's AutoAttack column (Table 4).

    Runs the `pyautoattack` package, the attack authors' code, one attack at a time on
    the images still classified correctly. With `state_dir`, progress is saved there and
    an interrupted evaluation resumes (same model, images and settings, else
    `CheckpointError`). The model runs in eval mode, restored after; the global RNG is
    left as it was. `version='custom'` needs `attacks` (from `AUTOATTACK_ATTACKS`). The
    library's warnings become `RobustnessWarning`s; its progress log is printed only
    when `verbose`. With fewer than 10 classes the targeted attacks use all the other
    classes. x: (N, C, H, W) in [0, 1] on any device; the result is shaped and placed like x.
    `progress` prints to stderr an upper-bound time estimate first, a bar per attack and,
    after each, the robust accuracy, the points left and the time elapsed; without it the
    estimate goes to the `ews.attacks` logger at INFO (the `ews` CLI prints it).
    """
    _check_autoattack(eps=eps, norm=norm, version=version, attacks=attacks, batch_size=batch_size)
    x_adv, _, found = _run_autoattack(
        model, x, y, eps=eps, norm=norm, version=version, attacks=attacks, batch_size=batch_size, seed=seed,
        state_dir=None if state_dir is None else Path(state_dir), device=module_device(model, device), verbose=verbose,
        progress_bar=progress,
    )
    for message in found:
        warnings.warn(message, RobustnessWarning, stacklevel=2)
    return x_adv


def _predicts(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int, device: torch.device) -> Tensor:
    """(N,) bool on the CPU: whether the model classifies each image correctly."""
    with torch.no_grad():
        return torch.cat([
            (model(xb.to(device)).argmax(1) == yb.to(device)).cpu()
            for xb, yb in zip(x.split(batch_size), y.split(batch_size))
        ])


def _error(correct: Tensor) -> float:
    """Error (%) from a count, rounded to 4 places as every rate in eval.json: a float32 mean would give
    94.9999999254942 for 19 of 20."""
    return round(100.0 * int((~correct).sum()) / max(correct.numel(), 1), 4)


def _pgd_robust(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, step_size: float, norm: str,
                batch_size: int, device: torch.device, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    robust = []
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        xb, yb = xb.to(device), yb.to(device)
        adv = pgd(model, xb, yb, eps=eps, step_size=step_size, steps=EVAL_STEPS, norm=norm, generator=generator)
        with torch.no_grad():
            robust.append((model(adv).argmax(1) == yb).cpu())
    return torch.cat(robust)


def _masking_warnings(result: dict[str, Any]) -> list[str]:
    """Gradient-masking signs, in the spirit of AutoAttack's checks.py."""
    found = []
    clean, pgd20, auto = result["clean_error"], result.get("pgd20_error"), result.get("autoattack_error")
    if pgd20 is not None and auto is not None and auto - pgd20 > MASKING_MARGIN:
        found.append(f"PGD-20 error {pgd20:.2f}% is {auto - pgd20:.1f} points below AutoAttack's {auto:.2f}%: "
                     "a sign of gradient masking, trust the AutoAttack number")
    if pgd20 is not None and auto is not None and auto < pgd20:
        found.append(f"AutoAttack error {auto:.2f}% is below PGD-20's {pgd20:.2f}%: check its eps, norm and attacks")
    if pgd20 is not None and clean < 100.0 and pgd20 == clean:
        found.append("PGD-20 changed no correct prediction: zero or uninformative gradients (gradient masking?)")
    return found


def adversarial_errors(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attacks: Sequence[str] = EVAL_ATTACKS,
    eps: float = TRAIN_EPS,
    norm: str = "linf",
    step_size: float | None = None,
    version: str = "standard",
    autoattack_attacks: Sequence[str] | None = None,
    batch_size: int = 250,
    device: torch.device | str | None = None,
    state_dir: str | Path | None = None,
    seed: int = 0,
    verbose: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Clean, PGD-20 and AutoAttack error (%) of `model` on `(x, y)`: the three columns of Table 4.

    An image counts as robust only if it is classified correctly both clean and under
    attack. PGD-20 starts uniformly in the ball with step `step_size` (default eps/4,
    the paper's 2/255 at 8/255). Returns `clean_error`, `pgd20_error` /
    `autoattack_error` for the attacks asked, `adv_examples` (N) and `warnings`:
    AutoAttack's own checks (randomness across two passes in eval mode, probabilities
    instead of logits, zero gradients) and ours comparing the attacks (gradient masking).
    `version` / `autoattack_attacks`, `state_dir` (resume) and `progress` are passed to `autoattack`.
    """
    attacks = tuple(attacks)
    for attack in attacks:
        _check_choice("attack", attack, EVAL_ATTACKS)
    step_size = eps / 4 if step_size is None else step_size
    PGDSettings(eps=eps, step_size=step_size, steps=EVAL_STEPS, norm=norm)
    _check_autoattack(eps=eps, norm=norm, version=version, attacks=autoattack_attacks, batch_size=batch_size)
    device = module_device(model, device)
    net = unwrap(model)
    with model_mode(net, "eval"):
        clean = _predicts(net, x, y, batch_size=batch_size, device=device)
        result: dict[str, Any] = {"adv_examples": len(x), "clean_error": _error(clean)}
        with _library_messages(verbose) as found:
            first, labels = x[:batch_size].to(device), y[:batch_size].to(device)
            checks.check_randomized(net, first, labels, bs=batch_size, logger=_LOGGER)
            checks.check_range_output(net, first, logger=_LOGGER)
        if "pgd20" in attacks:
            robust = _pgd_robust(net, x, y, eps=eps, step_size=step_size, norm=norm, batch_size=batch_size,
                                 device=device, seed=seed)
            result["pgd20_error"] = _error(clean & robust)
        if "autoattack" in attacks:
            _, robust, library = _run_autoattack(
                net, x, y, eps=eps, norm=norm, version=version, attacks=autoattack_attacks, batch_size=batch_size, seed=seed,
                state_dir=None if state_dir is None else Path(state_dir), device=device, verbose=verbose,
                progress_bar=progress,
            )
            result["autoattack_error"] = _error(clean & robust)
            found += [message for message in library if message not in found]
    result["warnings"] = found + _masking_warnings(result)
    return result
