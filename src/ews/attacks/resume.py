"""AutoAttack's progress on disk, so a long evaluation that stops (Ctrl-C, a lost job) resumes where it stopped.

What is saved belongs to one evaluation only: `state_digest` fingerprints the settings,
the images, the labels and the model's weights, and a state with another digest is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..runs.checkpoint import atomic_write_bytes, atomic_write_text

STATE_FILE = "autoattack_state.json"
_SAVE_EVERY_S = 60.0


def state_digest(settings: dict[str, Any], tensors: Iterable[tuple[str, Tensor]]) -> str:
    """What a saved AutoAttack state belongs to: settings, images, labels and model weights."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in tensors:
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class AutoAttackProgress:
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
    def open(cls, folder: Path | None, digest: str, n: int) -> AutoAttackProgress:
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
