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
    while True:
        if hasattr(model, "_orig_mod"):
            return True
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return False
        model = inner


class SharedStem:
    """Within the context, full passes remember their stem outputs; `run` reuses them for subnet passes.

    Works for models with `stem` / `forward_from_stem` methods (every `ews` ResNet),
    through DistributedDataParallel; a `torch.compile`d model or any other model simply
    runs the subnet pass whole. The input must be the same tensor object the full pass saw.
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
        """`net(x)`, starting from the stem output of a full pass on this very `x` when there was one."""
        seen = self._stems.get(id(x))
        if seen is None or seen[0] is not x:
            return net(x)
        return net.forward_from_stem(seen[1])
