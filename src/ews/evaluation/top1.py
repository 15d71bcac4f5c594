"""The one top-1 scoring loop of a model over a dataset, shared by the clean split and the shift sets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..corruptions.scoring import inference, model_input


def top1_error(model: nn.Module, images: Dataset, *, batch_size: int, device: torch.device,
               keep: Sequence[int] | None = None) -> tuple[float, int]:
    """Top-1 error (%) on every image of `images` and their count, in eval mode without autograd.

    `keep` restricts the logits to those classes first (label k is logit `keep[k]`), as the
    200-class subset benchmarks are scored.
    """
    index = None if keep is None else torch.tensor(keep, device=device)
    wrong = seen = 0
    with inference(model):
        for x, y in DataLoader(images, batch_size=batch_size):
            logits = model(model_input(x, device=device))
            if index is not None:
                logits = logits.index_select(1, index)
            wrong += int((logits.argmax(1).cpu() != torch.as_tensor(y)).sum())
            seen += len(y)
    return round(100.0 * wrong / max(seen, 1), 4), seen
