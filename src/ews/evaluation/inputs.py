"""The images `ews.evaluate` scores: float (C, H, W) tensors in [0, 1], checked before and while scoring.

A model run on images it was not meant to see gives numbers without any exception: x255
floats or normalised tensors score near chance, and uint8 pixels would be scaled twice
by a corruption set generated from them. An (H, W, C) array (numpy's and PIL's layout)
fails deep inside the first convolution. So a spread sample of the split is checked
before any long work, and every batch of the clean pass as it streams (a min and a max,
cheap beside the forward pass), so no image of the split escapes the range check.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DataError

SAMPLE = 16  # images checked before scoring, spread evenly over the split (the first and last among them)
EXPECTED = "ews scores float (C, H, W) images in [0, 1]"
_CONVERT = "torchvision's v2.ToImage() then v2.ToDtype(torch.float32, scale=True) does it"


def check_images(images: Dataset, *, name: str, hint: str) -> None:
    """A spread sample of `images`: each a float (C, H, W) tensor in [0, 1]; `hint` says how to fix the range."""
    count = len(images)
    if count == 0:
        raise DataError(f"{name} has no images")
    for index in sorted({round(i * (count - 1) / (SAMPLE - 1)) for i in range(SAMPLE)}):
        image = _as_image(images[index][0], name=name, index=index)
        check_range(image, name=name, where=f"image {index}", hint=hint)


def check_range(x: Tensor, *, name: str, where: str, hint: str) -> None:
    """Refuse float pixels outside [0, 1] (or NaN) in `x`, an image or a batch, naming `where` they are."""
    if x.numel() == 0 or not x.dtype.is_floating_point:
        return
    low, high = (float(v) for v in torch.aminmax(x.detach()))
    if not (low >= 0 and high <= 1):  # NaN fails both comparisons
        raise DataError(f"{name} {where}: pixels span [{low:.3g}, {high:.3g}], not [0, 1]; {hint}")


def _as_image(image: object, *, name: str, index: int) -> Tensor:
    """`image` as a tensor if it is a float (C, H, W) array; else a one-line `DataError` saying what to change."""
    where = f"{name} image {index}"
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image)  # as the DataLoader will collate it
    if not isinstance(image, Tensor):
        kind = type(image)
        raise DataError(f"{where} is of type {kind.__module__}.{kind.__qualname__}, not a tensor; "
                        f"{EXPECTED}: {_CONVERT}")
    shape, dtype = tuple(image.shape), str(image.dtype).removeprefix("torch.")
    if image.ndim != 3:
        raise DataError(f"{where} has shape {shape}; {EXPECTED}")
    fixes = []
    if shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4):
        fixes.append("permute (H, W, C) to (C, H, W)")
    if image.dtype == torch.uint8:
        fixes.append("divide 0..255 by 255")
    elif not image.dtype.is_floating_point:
        fixes.append("convert to float in [0, 1]")
    if fixes:
        raise DataError(f"{where} is {dtype} of shape {shape}; {EXPECTED}: {' and '.join(fixes)} ({_CONVERT})")
    return image
