"""AutoAttack (Croce & Hein 2020) through the `pyautoattack` package, the attack authors' own code: the
paper's AutoAttack column (Table 4), run one attack at a time, with a time estimate, progress and resume.

The library's warnings (its gradient-masking and randomness checks) are collected and
handed on as `RobustnessWarning`s; its progress log reaches stderr only when asked.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from pyautoattack import AutoAttack
from torch import Tensor, nn
from tqdm import tqdm

from ..runtime import model_mode, module_device
from ..runtime import progress as bars
from ..subnets import unwrap
from .choices import check_autoattack
from .resume import AutoAttackProgress, state_digest

_LIBRARY_NORMS = {"linf": "Linf", "l2": "L2"}
LIBRARY_LOGGER = logging.getLogger("auto-attack")  # the logger pyautoattack reports through
# What the user should know without progress bars, on the package's logger `ews.attacks` (the `ews` CLI shows it).
_NOTES = logging.getLogger("ews.attacks")


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
def library_messages(verbose: bool) -> Iterator[list[str]]:
    """Collect pyautoattack's warnings; its progress log reaches stderr only when `verbose`."""
    found: list[str] = []
    handlers: list[logging.Handler] = [_Collect(found)]
    if verbose:
        handlers.append(logging.StreamHandler())
    saved = (LIBRARY_LOGGER.level, LIBRARY_LOGGER.propagate)
    LIBRARY_LOGGER.setLevel(logging.DEBUG if verbose else logging.WARNING)
    LIBRARY_LOGGER.propagate = False
    for handler in handlers:
        LIBRARY_LOGGER.addHandler(handler)
    try:
        yield found
    finally:
        for handler in handlers:
            LIBRARY_LOGGER.removeHandler(handler)
        LIBRARY_LOGGER.setLevel(saved[0])
        LIBRARY_LOGGER.propagate = saved[1]


def library_adversary(model: nn.Module, *, eps: float, norm: str, version: str, attacks: Sequence[str] | None,
                      seed: int, device: torch.device, num_classes: int) -> AutoAttack:
    """The library's attack, with targeted attacks limited to the classes the model has."""
    adversary = AutoAttack(model, attacks=None if attacks is None else list(attacks), device=device, eps=eps,
                           norm=_LIBRARY_NORMS[norm], seed=seed, version=version)
    adversary.apgd_targeted.n_target_classes = min(adversary.apgd_targeted.n_target_classes, num_classes - 1)
    adversary.fab.n_target_classes = min(adversary.fab.n_target_classes, num_classes - 1)
    return adversary


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


def run_autoattack(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, norm: str, version: str,
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
        digest = state_digest(settings, [("x", x), ("y", y), *net.state_dict().items()])
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
        progress = AutoAttackProgress.open(state_dir, digest, len(x))
        progress.restore(x_adv)
        with library_messages(verbose) as found:
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
    check_autoattack(eps=eps, norm=norm, version=version, attacks=attacks, batch_size=batch_size)
    x_adv, _, found = run_autoattack(
        model, x, y, eps=eps, norm=norm, version=version, attacks=attacks, batch_size=batch_size, seed=seed,
        state_dir=None if state_dir is None else Path(state_dir), device=module_device(model, device), verbose=verbose,
        progress_bar=progress,
    )
    for message in found:
        warnings.warn(message, RobustnessWarning, stacklevel=2)
    return x_adv

