"""Sharing the stem between a full pass and the subnet passes that follow it on the same input.

Everything before the first residual block lies outside the subnet space, so a subnet
pass on an input the full network has just seen would recompute the very same stem
output (same weights; in training mode the same BatchNorm batch statistics, in eval
mode the same running ones). At CIFAR resolution the stem is cheap in FLOPs but not in
time (a full-resolution convolution, BatchNorm and ReLU, forward and backward): about
3% of a ResNet-18 step on the CPU. Reusing it also sends the subnet's gradient
through the stem in the same backward pass as the full network's.
"""

from __future__ import annotations

from types import TracebackType

from torch import Tensor, nn

from .execute import unwrap
from .space import residual_blocks


def _compiled(model: nn.Module) -> bool:
    """True when a `torch.compile` wrapper sits anywhere in the wrapper chain."""
    while isinstance(model, nn.Module):
        if hasattr(model, "_orig_mod"):
            return True
        model = getattr(model, "module", None)
    return False


class SharedStem:
    """Within the context, `run` starts subnet passes from a stem output computed once per input.

    With `enabled`, full passes record their stem outputs (hooks; also through
    DistributedDataParallel, not for a `torch.compile`d model, which would recompile),
    so a subnet pass on the same input computes no stem at all. Otherwise the first
    `run` on an input computes the stem and later runs on it reuse it (the search scores
    many subnets on one batch). The input must be the very same tensor object; models
    without `stem` / `forward_from_stem` methods simply run whole.
    """

    def __init__(self, model: nn.Module, *, enabled: bool = True) -> None:
        inner = unwrap(model)
        self.enabled = enabled and hasattr(inner, "forward_from_stem") and not _compiled(model)
        self._inner = inner
        self._stems: dict[int, tuple[Tensor, Tensor]] = {}
        self._pending: Tensor | None = None
        self._hooks: list = []

    def __enter__(self) -> SharedStem:
        if self.enabled:
            first = residual_blocks(self._inner)[0][1]

            def model_input(module: nn.Module, args: tuple) -> None:
                self._pending = args[0] if first.active is None else None

            def stem_output(module: nn.Module, args: tuple) -> None:
                if self._pending is not None and first.active is None:
                    self._stems[id(self._pending)] = (self._pending, args[0])
                self._pending = None

            self._hooks = [self._inner.register_forward_pre_hook(model_input),
                           first.register_forward_pre_hook(stem_output)]
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks, self._stems, self._pending = [], {}, None

    def run(self, net: nn.Module, x: Tensor) -> Tensor:
        """`net(x)`, from the stem output recorded or computed for this very `x`."""
        if not hasattr(net, "forward_from_stem"):
            return net(x)
        seen = self._stems.get(id(x))
        if seen is None or seen[0] is not x:
            seen = self._stems[id(x)] = (x, net.stem(x))
        return net.forward_from_stem(seen[1])
