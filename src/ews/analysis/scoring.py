"""Score many subnets on images already on the device: true-class confidence and error.

One loop serves the paper's Fig. 1 (mean softmax probability of the true label per
subnet) and Fig. 7 (error per subnet). The images are loaded once; each subnet is
entered once and scored on every input kind before the next, so the cost is the
sliced forward passes alone (`torch.no_grad()`, batched).

BatchNorm: `bn="batch"` (the default) normalises each subnet with the batch statistics
of its own activations, as subnets are trained (running statistics untouched) and
scored by the weak-subnet search and `ews search`; batches are the fixed chunks of the evaluation
subset. `bn="eval"` uses the full network's running statistics sliced to the kept
channels (how a subnet runs in eval mode); they describe the full network, not a
thinned one, and on the demo's ResNet-20s every rho = 0.7 subnet then falls to chance (confidence
~0.1) for vanilla and EWS alike. The full network is always scored in eval mode, as deployed.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..runtime import model_mode
from ..runtime.progress import progress_bar
from ..errors import ConfigError
from ..search.compare import QUANTILES
from ..subnets import BRANCH, SHORTCUT, Subnet, unwrap, use_subnet
from ..subnets.space import residual_blocks
from .inputs import Images

BN_MODES = ("eval", "batch")
_TORCH_MODE = {"eval": "eval", "batch": "train"}


@dataclass(frozen=True)
class Scores:
    """Per subnet (or the full network), over one input kind: mean true-class confidence and error (%)."""

    confidence: Tensor  # (S,) float64, mean softmax probability of the label
    error: Tensor  # (S,) float64, top-1 error in %


def _even(t: Tensor, batch_size: int) -> tuple[Tensor, ...]:
    """At most `batch_size` per chunk, chunks of (nearly) equal size: no tiny last batch to skew batch statistics."""
    return t.tensor_split(max(1, math.ceil(len(t) / batch_size)))


def check_bn(bn: str) -> str:
    if bn not in BN_MODES:
        raise ConfigError(f"BatchNorm mode must be one of {', '.join(BN_MODES)}, got {bn!r}")
    return bn


@torch.no_grad()
def _score_once(model: nn.Module, images: Images, batch_size: int) -> tuple[Tensor, Tensor]:
    """(sum of true-class probabilities, number correct) over all images, on the device."""
    return _totals((model(x), y) for x, y in zip(_even(images.x, batch_size), _even(images.y, batch_size)))


@torch.no_grad()
def _score_from(net: nn.Module, start: nn.Module, images: Images, cached: Images,
                batch_size: int) -> tuple[Tensor, Tensor]:
    """`_score_once`, with `start`'s input read from `cached`: the prefix runs on one image per batch only."""
    def outputs() -> Iterator[tuple[Tensor, Tensor]]:
        with _starting_at(start) as fed:
            for x, h, y in zip(_even(images.x, batch_size), _even(cached.x, batch_size), _even(images.y, batch_size)):
                fed.append(h)
                yield net(x[:1]), y
                fed.clear()
    return _totals(outputs())


def _totals(batches: Iterable[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    confidence = correct = None
    for logits, y in batches:
        c = logits.float().softmax(1).gather(1, y[:, None]).double().sum()
        k = (logits.argmax(1) == y).sum()
        confidence, correct = (c, k) if confidence is None else (confidence + c, correct + k)
    return confidence, correct


class _Reached(Exception):
    """Raised by a pre-hook to stop a forward pass at a block, carrying the block's input."""

    def __init__(self, value: Tensor) -> None:
        super().__init__()
        self.value = value


@torch.no_grad()
def _block_inputs(net: nn.Module, block: nn.Module, images: Images, batch_size: int) -> Images:
    """The input of `block` for every image, computed once: the forward stops there."""
    def stop(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        raise _Reached(args[0])

    handle = block.register_forward_pre_hook(stop)
    found = []
    try:
        for x in _even(images.x, batch_size):
            try:
                net(x)
            except _Reached as reached:
                found.append(reached.value)
            else:
                raise RuntimeError(f"{type(block).__name__} was never reached in the forward pass")
    finally:
        handle.remove()
    return Images(torch.cat(found), images.y)


@contextmanager
def _starting_at(block: nn.Module) -> Iterator[list[Tensor]]:
    """Within: `block` reads its input from the last tensor put into the yielded list, not from the layer before."""
    fed: list[Tensor] = []
    handle = block.register_forward_pre_hook(lambda module, args: (fed[-1],))
    try:
        yield fed
    finally:
        handle.remove()


def _keeps_whole(net: nn.Module, subnet: Subnet, blocks: int) -> bool:
    """True when `subnet` keeps every path and channel of the first `blocks` residual blocks."""
    for (_, block), choice in zip(residual_blocks(net)[:blocks], subnet.blocks):
        widths = list(block.unit_widths())
        if choice.paths != (BRANCH, SHORTCUT) or [len(c) for c in choice.channels] != widths:
            return False
    return True


def score_subnets(
    model: nn.Module,
    subnets: Sequence[Subnet],
    inputs: Mapping[str, Images],
    *,
    bn: str = "batch",
    batch_size: int = 500,
    progress: bool = False,
    desc: str = "subnets",
    whole_blocks: int = 0,
) -> dict[str, Scores]:
    """Score every subnet on every input kind; returns {kind: Scores of shape (len(subnets),)}.

    `whole_blocks = k` says every subnet keeps the first k residual blocks whole (Fig. 7's
    subnets thin one block only): their output is then computed once per image and
    reused, so each subnet pays only for the blocks from k on.
    """
    check_bn(bn)
    net = unwrap(model)
    if whole_blocks and not all(_keeps_whole(net, s, whole_blocks) for s in subnets):
        raise ValueError(f"whole_blocks={whole_blocks}: a subnet thins one of the first {whole_blocks} blocks")
    # Equal subnets score equally: each is run once. (Half of Fig. 7's draws keep only the
    # shortcut of their block, and those are all the same subnet.)
    position = {subnet: i for i, subnet in enumerate(dict.fromkeys(subnets))}
    unique = list(position)
    sums: dict[str, tuple[list[Tensor], list[Tensor]]] = {kind: ([], []) for kind in inputs}
    with model_mode(net, _TORCH_MODE[bn]):
        start = residual_blocks(net)[whole_blocks][1] if whole_blocks and subnets else None
        if start is not None:
            with use_subnet(net, subnets[0]):  # the shared prefix, in the subnets' BatchNorm mode
                starts = {kind: _block_inputs(net, start, images, batch_size) for kind, images in inputs.items()}
        for subnet in progress_bar(unique, enabled=progress, desc=desc, leave=False, dynamic_ncols=True):
            with use_subnet(net, subnet):
                for kind, images in inputs.items():
                    if start is None:
                        confidence, correct = _score_once(net, images, batch_size)
                    else:
                        confidence, correct = _score_from(net, start, images, starts[kind], batch_size)
                    sums[kind][0].append(confidence)
                    sums[kind][1].append(correct)
    order = [position[subnet] for subnet in subnets]
    return {kind: _scores([confidences[i] for i in order], [corrects[i] for i in order], len(inputs[kind]))
            for kind, (confidences, corrects) in sums.items()}


def score_full(model: nn.Module, inputs: Mapping[str, Images], *, batch_size: int = 500) -> dict[str, Scores]:
    """The full network's scores in eval mode, shape (1,) per input kind."""
    net = unwrap(model)
    with model_mode(net, "eval"):
        found = {kind: _score_once(net, images, batch_size) for kind, images in inputs.items()}
    return {kind: _scores([c], [k], len(inputs[kind])) for kind, (c, k) in found.items()}


def _scores(confidences: list[Tensor], corrects: list[Tensor], n: int) -> Scores:
    if not confidences:
        empty = torch.zeros(0, dtype=torch.float64)
        return Scores(empty, empty)
    confidence = torch.stack(confidences).cpu() / n
    error = 100.0 * (1.0 - torch.stack(corrects).cpu().double() / n)
    return Scores(confidence, error)


def quantiles(values: Tensor, levels: Sequence[float] = QUANTILES) -> dict[str, float]:
    """{str(level): value} with linear interpolation (numpy's default), keyed like `ews search`."""
    q = torch.quantile(values.double(), torch.tensor(levels, dtype=torch.double))
    return {str(level): float(v) for level, v in zip(levels, q)}
