"""The one top-1 scoring loop of a model over a dataset, shared by the clean split and the shift sets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..corruptions.scoring import inference, model_input
from .inputs import EXPECTED, check_range

_STREAM_HINT = f"every image must be in range, not only those checked before scoring: {EXPECTED}"


def top1_error(model: nn.Module, images: Dataset, *, batch_size: int, device: torch.device,
               keep: Sequence[int] | None = None, name: str = "the dataset") -> tuple[float, int]:
    """Top-1 error (%) on every image of `images` and their count, in eval mode without autograd.

    `keep` restricts the logits to those classes first (label k is logit `keep[k]`), as the
    200-class subset benchmarks are scored. Every batch is checked for pixels outside
    [0, 1] as it streams, so a split whose later images are scaled differently fails
    (naming them) instead of being scored.
    """
    index = None if keep is None else torch.tensor(keep, device=device)
    wrong = seen = 0
    with inference(model):
        for x, y in DataLoader(images, batch_size=batch_size):
            inputs = model_input(x, device=device)
            check_range(inputs, name=name, where=f"images {seen}..{seen + len(inputs) - 1}", hint=_STREAM_HINT)
            logits = model(inputs)
            if index is not None:
                logits = logits.index_select(1, index)
            wrong += int((logits.argmax(1).cpu() != torch.as_tensor(y)).sum())
            seen += len(y)
    return round(100.0 * wrong / max(seen, 1), 4), seen
